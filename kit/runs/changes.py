"""What changed between two canonical configurations, one line per change."""

from __future__ import annotations

import json

from kit.vocab import flow_id


def config_changes(old: dict | None, new: dict) -> list[str]:
    """What changed between two canonical configurations, one line per change."""
    if old is None:
        return ["first run"]
    out: list[str] = []
    for section, key in (
        ("assets", "id"),
        ("flows", None),
        ("controls", None),
        ("attestations", None),
        ("decisions", "finding"),
    ):
        before, after = _keyed(old.get(section, []), key), _keyed(new.get(section, []), key)
        for k in sorted(after.keys() - before.keys()):
            out.append(f"{section}: added {k}")
        for k in sorted(before.keys() - after.keys()):
            out.append(f"{section}: removed {k}")
        for k in sorted(before.keys() & after.keys()):
            changed = sorted(
                f for f in set(before[k]) | set(after[k]) if before[k].get(f) != after[k].get(f)
            )
            if changed:
                out.append(f"{section}: {k} changed {', '.join(changed)}")
    sys_changed = sorted(
        f
        for f in set(old["system"]) | set(new["system"])
        if old["system"].get(f) != new["system"].get(f)
    )
    if sys_changed:
        out.append(f"system: changed {', '.join(sys_changed)}")
    return out


def _keyed(items: list[dict], key: str | None) -> dict[str, dict]:
    return {str(i[key]) if key else _label(i): i for i in items}


def _label(item: dict) -> str:
    if "from" in item:
        return flow_id(item["from"], item["kind"], item["to"])
    if "control" in item:
        return f"{item['control']} on {','.join(item['assets'])}"
    if "provision" in item:
        return f"{item['provision']}" + (f" ({item['role']})" if item.get("role") else "")
    return json.dumps(item, sort_keys=True)
