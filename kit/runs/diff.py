"""Comparing runs: what a configuration change did to the risk picture."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunDiff:
    """Findings raised, resolved and re-scored, and provisions whose status moved."""

    a: str
    b: str
    changes: list[str] = field(default_factory=list)
    raised: list[tuple[str, dict]] = field(default_factory=list)
    resolved: list[tuple[str, dict]] = field(default_factory=list)
    rescored: list[tuple[str, dict, dict]] = field(default_factory=list)
    # Same residual score, different treatment (a decision taken, lapsed or withdrawn).
    retreated: list[tuple[str, dict, dict]] = field(default_factory=list)
    provisions: list[tuple[str, str, str]] = field(default_factory=list)


def _load(run: Path, name: str) -> dict:
    path = run / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def diff_runs(a: Path, b: Path) -> RunDiff:
    """Compare run `a` (older) with run `b` (newer)."""
    fa, fb = _load(a, "findings.json"), _load(b, "findings.json")
    out = RunDiff(a.name, b.name, _load(b, "manifest.json").get("changes", []))
    out.raised = [
        (k, fb[k]) for k in sorted(fb.keys() - fa.keys(), key=lambda k: -fb[k]["residual_score"])
    ]
    out.resolved = [
        (k, fa[k]) for k in sorted(fa.keys() - fb.keys(), key=lambda k: -fa[k]["residual_score"])
    ]
    for k in sorted(fa.keys() & fb.keys()):
        if fa[k]["residual_score"] != fb[k]["residual_score"]:
            out.rescored.append((k, fa[k], fb[k]))
        elif fa[k]["treatment"] != fb[k]["treatment"]:
            out.retreated.append((k, fa[k], fb[k]))
    pa, pb = _load(a, "provisions.json"), _load(b, "provisions.json")
    out.provisions = [
        (k, pa.get(k, "—"), pb.get(k, "—"))
        for k in sorted(pa.keys() | pb.keys())
        if pa.get(k) != pb.get(k)
    ]
    return out


def render_diff(d: RunDiff) -> str:
    """The diff as text for the terminal."""
    lines = [f"from {d.a}", f"  to {d.b}"]
    if d.changes:
        lines.append("configuration changes:")
        lines += [f"  {c}" for c in d.changes]
    lines.append(f"findings raised: {len(d.raised)}")
    lines += [
        f"  + {k}  {v['residual_band']} ({v['residual_score']})  {v['treatment']}"
        for k, v in d.raised
    ]
    lines.append(f"findings resolved: {len(d.resolved)}")
    lines += [f"  - {k}  was {v['residual_band']} ({v['residual_score']})" for k, v in d.resolved]
    lines.append(f"findings re-scored: {len(d.rescored)}")
    lines += [
        f"  ~ {k}  {x['residual_score']} → {y['residual_score']}"
        + (f"  ({x['treatment']} → {y['treatment']})" if x["treatment"] != y["treatment"] else "")
        for k, x, y in d.rescored
    ]
    lines.append(f"findings whose treatment changed (same score): {len(d.retreated)}")
    lines += [
        f"  = {k}  {x['treatment']} → {y['treatment']}  (residual {y['residual_score']})"
        for k, x, y in d.retreated
    ]
    lines.append(f"provisions whose status moved: {len(d.provisions)}")
    lines += [f"  {k}: {x} → {y}" for k, x, y in d.provisions]
    return "\n".join(lines)
