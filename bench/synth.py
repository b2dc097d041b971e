"""Synthetic AI systems of any size, for benchmarks and scale checks.

`synthetic_data(n)` makes the plain document of a system with `n` assets and about three flows per
asset; `synthetic_system(n)` validates it into a SystemModel; `write_system(path, n)` writes it as
a system file. The same seed always gives the same system.

The system is a federation of products of about fifty assets each. Within a product the type mix
and the flows look like a real AI estate (datasets train models, models serve APIs, applications
serve user groups, agents invoke tools, everything depends on infrastructure and logs somewhere);
one flow in ten joins two products, so the graph has one large connected part, as real estates do.
Every flow respects kit.model.FLOW_RULES.

Example:
    python bench/synth.py 10000 /tmp/synthetic-10k.yaml
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import yaml

from kit.model.schema import FLOW_RULES, SystemModel

PRODUCT_SIZE = 50
ACYCLIC = {"trains", "fine_tunes", "depends_on"}  # kit.model refuses loops of these
CROSS_PRODUCT = 0.1

# Assets per hundred, by type.
TYPE_MIX: dict[str, int] = {
    "dataset": 26,
    "model": 8,
    "prompt": 4,
    "vector_store": 4,
    "log_store": 5,
    "api": 10,
    "application": 12,
    "agent": 4,
    "tool": 8,
    "third_party_component": 7,
    "infrastructure": 6,
    "user_group": 6,
}

# Outgoing flows each type tends to have: (kind, target type, weight).
FLOW_HABITS: dict[str, list[tuple[str, str, int]]] = {
    "dataset": [
        ("trains", "model", 5),
        ("fine_tunes", "model", 1),
        ("indexes", "vector_store", 2),
        ("retrieves", "application", 1),
        ("depends_on", "infrastructure", 1),
    ],
    "vector_store": [
        ("retrieves", "application", 2),
        ("retrieves", "agent", 2),
        ("retrieves", "model", 1),
        ("depends_on", "infrastructure", 1),
    ],
    "log_store": [
        ("fine_tunes", "model", 1),
        ("retrieves", "application", 2),
        ("depends_on", "infrastructure", 1),
    ],
    "prompt": [("prompts", "model", 3), ("prompts", "agent", 2)],
    "model": [
        ("serves", "api", 4),
        ("serves", "application", 2),
        ("fine_tunes", "model", 1),
        ("logs_to", "log_store", 1),
        ("depends_on", "infrastructure", 2),
    ],
    "api": [
        ("serves", "application", 3),
        ("serves", "user_group", 2),
        ("logs_to", "log_store", 1),
        ("depends_on", "infrastructure", 1),
        ("invokes", "third_party_component", 1),
    ],
    "application": [
        ("serves", "user_group", 3),
        ("prompts", "model", 1),
        ("invokes", "api", 2),
        ("writes", "dataset", 1),
        ("logs_to", "log_store", 1),
        ("depends_on", "infrastructure", 1),
    ],
    "agent": [
        ("invokes", "tool", 4),
        ("prompts", "model", 2),
        ("writes", "vector_store", 1),
        ("serves", "user_group", 1),
        ("logs_to", "log_store", 1),
    ],
    "tool": [
        ("serves", "agent", 2),
        ("invokes", "third_party_component", 2),
        ("writes", "dataset", 1),
        ("logs_to", "log_store", 1),
    ],
    "third_party_component": [
        ("serves", "api", 2),
        ("serves", "application", 2),
        ("retrieves", "agent", 1),
        ("indexes", "vector_store", 1),
    ],
    "infrastructure": [("logs_to", "log_store", 1)],
    "user_group": [
        ("prompts", "application", 3),
        ("invokes", "api", 2),
        ("prompts", "agent", 1),
        ("writes", "dataset", 1),
    ],
}

PERMISSIONS = [
    "tickets.create",
    "tickets.read",
    "crm.read",
    "crm.write",
    "mail.send",
    "files.read",
    "files.write",
    "payments.refund",
    "search.query",
    "db.read",
    "db.write",
    "admin.*",
]
OWNERS = [
    "Data Platform",
    "ML Engineering",
    "Product Security",
    "Support Platform",
    "Risk Analytics",
    "Cloud Platform",
    "Growth",
    "Customer Operations",
]


def _check_habits() -> None:
    for source, habits in FLOW_HABITS.items():
        for kind, target, _ in habits:
            sources, targets = FLOW_RULES[kind]
            if source not in sources or target not in targets:
                raise AssertionError(f"synth habit {source} -{kind}-> {target} breaks FLOW_RULES")


_check_habits()


def synthetic_data(n: int, seed: int = 0) -> dict:
    """The plain document (as loaded from YAML) of a synthetic system with `n` assets.

    Parameters
    ----------
    n : number of assets (at least 12, one of each type)
    seed : random seed; the same (n, seed) always gives the same document

    Returns
    -------
    dict with `system`, `assets` and `flows`, about 3 flows per asset.
    """
    if n < len(TYPE_MIX):
        raise ValueError(f"n must be at least {len(TYPE_MIX)}")
    rng = random.Random(seed)
    types = _types(n, rng)
    assets = [_asset(i, t, rng) for i, t in enumerate(types)]
    by_type_product: dict[tuple[str, int], list[int]] = {}
    by_type: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        by_type_product.setdefault((t, i // PRODUCT_SIZE), []).append(i)
        by_type.setdefault(t, []).append(i)
    flows: list[dict] = []
    seen: set[tuple[int, str, int]] = set()
    for i, t in enumerate(types):
        habits = FLOW_HABITS[t]
        weights = [w for *_, w in habits]
        for _ in range(_out_degree(t, rng)):
            kind, target_type, _w = rng.choices(habits, weights)[0]
            pool = by_type_product.get((target_type, i // PRODUCT_SIZE))
            if not pool or rng.random() < CROSS_PRODUCT:
                pool = by_type[target_type]
            j = pool[rng.randrange(len(pool))]
            if j == i or (i, kind, j) in seen:
                continue
            if kind in ACYCLIC and types[j] == t and j < i:
                continue  # base models come before the models tuned from them: no loops
            seen.add((i, kind, j))
            flows.append(_flow(assets[i], assets[j], kind, rng))
    return {
        "system": {
            "id": f"synthetic-{n}",
            "name": f"Synthetic estate of {n:,} assets",
            "purpose": "A generated system for benchmarks and scale checks.",
            "ai_type": "agentic",
            "roles": ["developer", "system_operator", "data_custodian"],
        },
        "assets": assets,
        "flows": flows,
    }


def synthetic_system(n: int, seed: int = 0) -> SystemModel:
    """A validated SystemModel of `n` synthetic assets (see synthetic_data)."""
    return SystemModel.model_validate(synthetic_data(n, seed))


def write_system(path: str | Path, n: int, seed: int = 0) -> Path:
    """Write the synthetic system of `n` assets as a system file at `path`; return the path."""
    path = Path(path)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(
        synthetic_data(n, seed), Dumper=dumper, sort_keys=False, default_flow_style=None, width=200
    )
    path.write_text(
        f"# Synthetic system of {n} assets, seed {seed} (bench/synth.py)\n{text}", encoding="utf-8"
    )
    return path


def _types(n: int, rng: random.Random) -> list[str]:
    # One of each type first, so even tiny systems are complete; then the mix, dealt smoothly
    # (each next asset is of the type furthest behind its share) and shuffled.
    total = sum(TYPE_MIX.values())
    counts = dict.fromkeys(TYPE_MIX, 0)
    block = []
    for k in range(total):
        t = max(TYPE_MIX, key=lambda t: TYPE_MIX[t] * (k + 1) / total - counts[t])
        counts[t] += 1
        block.append(t)
    rest = [block[k % total] for k in range(n - len(TYPE_MIX))]
    rng.shuffle(rest)
    return list(TYPE_MIX) + rest


def _out_degree(asset_type: str, rng: random.Random) -> int:
    if asset_type == "infrastructure":
        return rng.choice((0, 1))
    return rng.choice((1, 2, 3, 3, 4, 4, 5))


def _asset(i: int, asset_type: str, rng: random.Random) -> dict:
    a: dict = {"id": f"{asset_type.replace('_', '-')}-{i:06d}", "type": asset_type}
    if rng.random() < 0.9:
        a["owner"] = rng.choice(OWNERS)
    if asset_type not in ("user_group", "infrastructure", "log_store") and rng.random() < 0.8:
        a["version"] = f"{rng.randrange(1, 6)}.{rng.randrange(20)}.{rng.randrange(10)}"
    if asset_type in ("dataset", "model", "prompt", "vector_store") and rng.random() < 0.6:
        a["sha256"] = f"{rng.getrandbits(256):064x}"
    if asset_type == "dataset":
        a["sensitivity"] = rng.choice(("public", "internal", "confidential", "personal"))
        a["environment"] = "production" if rng.random() < 0.2 else "development"
        if rng.random() < 0.15:
            a["source"] = "public"
            if rng.random() < 0.5:
                a["provenance"] = {
                    "url": f"https://data.example.org/sets/{i}",
                    "retrieved": "2026-01-15",
                }
    if asset_type == "third_party_component":
        a["source"] = "third_party"
        a["provider"] = f"Vendor {rng.randrange(40)}"
    if asset_type in ("api", "application", "user_group"):
        a["exposure"] = rng.choices(("internal", "partner", "public"), (7, 1, 2))[0]
    if asset_type in ("tool", "agent"):
        a["permissions"] = sorted(rng.sample(PERMISSIONS, rng.randrange(1, 4)))
    if rng.random() < 0.1:
        a["criticality"] = "high"
    return a


def _flow(source: dict, target: dict, kind: str, rng: random.Random) -> dict:
    f: dict = {"from": source["id"], "to": target["id"], "kind": kind}
    granted = target.get("permissions") if kind == "invokes" else source.get("permissions")
    if granted and rng.random() < 0.7:
        f["permissions"] = [rng.choice(granted)]
    outside = {"third_party_component", "user_group"}
    if (source["type"] in outside or target["type"] in outside) and rng.random() < 0.3:
        f["crosses_boundary"] = True
    return f


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(f"synthetic-{size}.yaml")
    write_system(out, size)
    print(f"wrote {out} ({size} assets)")
