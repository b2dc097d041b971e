"""A system, or a run, as an OWASP TM-BOM (threat-model.schema.json v1.0.2 of the OWASP Threat
Model Library project).

What goes where:

- scope: the system's name and purpose; criticality and tier from its most critical asset, data
  sensitivity from its assets' sensitivities, exposure external when any asset is not internal;
- trust zones from exposure (as for OTM), a trust boundary for every pair of zones a flow joins;
- user groups are actors, datasets / vector stores / log stores / prompts data stores, every
  other asset a component; flows are data flows;
- from a run: the threats raised (with the assets they affect and one generic threat persona,
  since saikit's threats name none), the controls they name (active when implemented anywhere,
  scheduled when planned, else suggested) and one risk per finding, scored as the register
  scores it (residual likelihood, impact, score and band);
- TM-BOM's names allow only `[0-9a-z-]`, so saikit's IDs are carried whole in `extensions`
  (with each asset and flow), and `saikit import tmbom` gets the same system back.

Example: ``tmbom(source_of("tmbom", "examples/credit-risk.yaml"))["scope"]["tier"]``
"""

from __future__ import annotations

import re

from kit.export.interchange import ZONES, Source, findings, split, zone_id
from kit.vocab import flow_id

SCHEMA = (
    "https://github.com/OWASP/www-project-threat-model-library/blob/v1.0.2/threat-model.schema.json"
)
EXTENSION = "saikit.example/system-file"  # `.example` is reserved (RFC 2606): never anyone's
DATA_STORES = {
    "dataset": "object",
    "vector_store": "document",
    "log_store": "time_series",
    "prompt": "document",
}
SENSITIVITY = {
    "personal": ["pii"],
    "special_category": ["pii", "phi"],
    "confidential": ["biz"],
    "internal": ["op"],
}
CRITICALITY = {
    "low": ("low", "non_critical"),
    "medium": ("moderate", "important"),
    "high": ("high", "business_critical"),
}
LIKELIHOOD = ("rare", "unlikely", "possible", "likely", "certain")  # 1-5
IMPACT = ("negligible", "minor", "moderate", "major", "severe")  # 1-5
PRIORITY = {1: "low", 2: "medium", 3: "high", 4: "critical"}  # residual severity → priority
PERSONA = "adversary"
SENSITIVE = frozenset({"confidential", "personal", "special_category"})


def name(text: str) -> str:
    """A TM-BOM symbolic name for a saikit ID ('claims_db.v2' → 'claims-db-v2')."""
    return re.sub(r"[^0-9a-z-]+", "-", text.lower()).strip("-") or "x"


def tmbom(source: Source) -> dict:
    """The TM-BOM document of the source's system (with threats, controls and risks from a run)."""
    model = source.model
    s = model.system
    names = _unique({a.id: name(a.id) for a in model.assets})
    kind_of = {a.id: _kind(a.type) for a in model.assets}
    worst = max((a.criticality for a in model.assets), key=list(CRITICALITY).index)
    sensitivity = sorted({x for a in model.assets for x in SENSITIVITY.get(a.sensitivity, [])})
    zone = {a.id: zone_id(a.exposure) for a in model.assets}

    def element(a, **fields) -> dict:
        """An actor, component or data store: its names, `fields`, and its trust zone."""
        return {
            "symbolic_name": names[a.id],
            "title": a.name or a.id,
            "description": a.description or "",
            **fields,
            "trust_zone": zone[a.id],
        }

    flows = _unique(
        {
            flow_id(f.source, f.kind, f.target): name(flow_id(f.source, f.kind, f.target))
            for f in model.flows
        }
    )
    doc = {
        "$schema": SCHEMA,
        "version": "1",
        "scope": {
            "title": s.name,
            "description": s.purpose,
            "business_criticality": CRITICALITY[worst][0],
            "data_sensitivity": sensitivity,
            "exposure": "internal"
            if all(a.exposure == "internal" for a in model.assets)
            else "external",
            "tier": CRITICALITY[worst][1],
        },
        "description": s.business_requirement or s.purpose,
        "trust_zones": [
            {
                "symbolic_name": zone_id(e),
                "title": ZONES[e][0],
                "description": f"Assets whose exposure is {e}.",
            }
            for e in ZONES
            if any(a.exposure == e for a in model.assets)
        ],
        "trust_boundaries": [
            {"trust_zone_a": a, "trust_zone_b": b}
            for a, b in sorted(
                {
                    tuple(sorted((zone[f.source], zone[f.target])))
                    for f in model.flows
                    if zone[f.source] != zone[f.target]
                }
            )
        ],
        "actors": [element(a, type="user") for a in model.assets if kind_of[a.id] == "actor"],
        "components": [element(a) for a in model.assets if kind_of[a.id] == "component"],
        "data_stores": [
            {
                **element(a, type=DATA_STORES[a.type]),
                **({"vendor": a.provider} if a.provider else {}),
            }
            for a in model.assets
            if kind_of[a.id] == "data_store"
        ],
        "data_sets": [],
        "data_flows": [
            {
                "symbolic_name": flows[flow_id(f.source, f.kind, f.target)],
                "title": flow_id(f.source, f.kind, f.target),
                "description": f.description or f"{f.source} {f.kind} {f.target}",
                "source": {"type": kind_of[f.source], "object": names[f.source]},
                "destination": {"type": kind_of[f.target], "object": names[f.target]},
                "has_sensitive_data": model.asset_by_id[f.source].sensitivity in SENSITIVE,
                "encrypted": f.encrypted,
            }
            for f in model.flows
        ],
        "extensions": {
            EXTENSION: {
                "system": s.model_dump(
                    mode="json", exclude_defaults=True, exclude={"decisions_file"}
                ),
                "assets": {
                    names[a.id]: a.model_dump(mode="json", exclude_defaults=True)
                    for a in model.assets
                },
                "flows": {
                    flows[flow_id(f.source, f.kind, f.target)]: f.model_dump(
                        mode="json", by_alias=True, exclude_defaults=True
                    )
                    for f in model.flows
                },
            }
        },
    }
    if source.run is not None:
        _add_threats(doc, source, names)
    return doc


def _kind(asset_type: str) -> str:
    if asset_type == "user_group":
        return "actor"
    return "data_store" if asset_type in DATA_STORES else "component"


def _unique(names: dict[str, str]) -> dict[str, str]:
    """The names made unique in order ('a-b', 'a-b' → 'a-b', 'a-b-2')."""
    out, taken = {}, set()
    for key, n in names.items():
        candidate, i = n, 2
        while candidate in taken:
            candidate, i = f"{n}-{i}", i + 1
        taken.add(candidate)
        out[key] = candidate
    return out


def _add_threats(doc: dict, source: Source, names: dict[str, str]) -> None:
    rows = findings(source.run)
    described = source.run.threats
    threats = _unique({r["threat_id"]: name(r["threat_id"]) for r in rows})
    affected: dict[str, list[str]] = {}
    for r in rows:
        affected.setdefault(r["threat_id"], []).append(names[r["asset_id"]])
    doc["threat_personas"] = [
        {
            "symbolic_name": PERSONA,
            "title": "Any adversary",
            "description": "saikit's threats name no persona: whoever can reach the asset.",
            "is_person": True,
            "skill_level": "engineer",
            "access_level": "user",
            "malicious_intent": True,
            "applicability_to_org": "moderate",
        }
    ]
    firsts = {}
    for r in rows:
        firsts.setdefault(r["threat_id"], r)
    doc["threats"] = [
        {
            "symbolic_name": threats[tid],
            "title": r["threat"],
            "description": described["threats"].get(tid, {}).get("summary") or r["threat"],
            "components_affected": sorted(set(affected[tid])),
            "threat_persona": PERSONA,
            "event": r["threat"],
            "sources": ["adversary"],
        }
        for tid, r in firsts.items()
    ]
    controls: dict[str, dict] = {}
    for r in rows:
        for col, status in (
            ("controls_missing", "suggested"),
            ("controls_planned", "scheduled"),
            ("controls_implemented", "active"),
        ):
            for c in split(r[col]):
                entry = controls.setdefault(c, {"threats": set(), "status": status, "severity": 0})
                entry["threats"].add(threats[r["threat_id"]])
                entry["status"] = max(
                    entry["status"], status, key=("suggested", "scheduled", "active").index
                )
                entry["severity"] = max(entry["severity"], r["residual_severity"])
    names_of = described.get("controls", {})
    doc["controls"] = [
        {
            "symbolic_name": name(c),
            "title": names_of.get(c, {}).get("name") or c,
            "description": names_of.get(c, {}).get("description") or c,
            "threats": sorted(e["threats"]),
            "status": e["status"],
            "priority": PRIORITY[e["severity"]],
        }
        for c, e in sorted(controls.items())
    ]
    risks = _unique({r["finding_id"]: name(r["finding_id"].replace("@", "-at-")) for r in rows})
    doc["risks"] = [
        {
            "symbolic_name": risks[r["finding_id"]],
            "title": f"{r['threat']} on {r['asset_id']}",
            "description": r["explanation"] or r["threat"],
            "threats": [threats[r["threat_id"]]],
            "likelihood": LIKELIHOOD[r["residual_likelihood"] - 1],
            "impact": IMPACT[r["residual_impact"] - 1],
            "impact_description": f"{r['treatment']}; residual {r['residual_band']} ({r['residual_score']} of 25)",
            "score": r["residual_score"],
            "level": r["residual_band"],
        }
        for r in rows
    ]
