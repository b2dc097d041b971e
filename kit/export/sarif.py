"""A run's findings as SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One result per open action (a finding above the appetite with no decision in date), or with
`--all` per finding, located at the asset's line in the system file, so a review shows it
beside the asset. Each threat raised is a rule: its name, the run's summary of it, help that
lists its controls, provisions and references, tags (category, taxonomy IDs, provisions) and a
`security-severity` GitHub sorts by. A finding's stable ID is its partial fingerprint, so a
viewer tracks it across runs; a decided finding (accepted, transferred, avoided, false
positive) carries an external suppression with the decision's justification.

Example: ``sarif(source_of("sarif", "latest"))["runs"][0]["results"][0]["ruleId"]``
"""

from __future__ import annotations

import os
from pathlib import Path

from kit import __version__
from kit.export.interchange import Source, findings, split
from kit.vocab import DECIDED

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
# A residual band → the SARIF level of its result.
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def sarif(source: Source) -> dict:
    """The SARIF log of a run's findings (open actions only, unless `source.all_findings`)."""
    run = source.run
    rows = findings(run, source.all_findings)
    described = run.threats
    rules, index = [], {}
    for r in rows:
        if r["threat_id"] not in index:
            index[r["threat_id"]] = len(rules)
            rules.append(_rule(r, described))
    lines = asset_lines(source.system_file)
    uri = artifact_uri(source.system_file) if source.system_file else None
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "saikit",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"saikit/{run.system_id}/{run.run_id}"},
                "results": [_result(r, index, uri, lines) for r in rows],
                "properties": {
                    "system": run.system_id,
                    "run": run.run_id,
                    "edition": run.manifest.get("edition", ""),
                    "scope": "all findings" if source.all_findings else "open actions",
                },
            }
        ],
    }


def asset_lines(system_file: Path | None) -> dict[str, int]:
    """The line of each asset (its `- id:` entry) in the system file; empty when it is gone
    or no longer reads."""
    if system_file is None:
        return {}
    from kit.errors import InputError
    from kit.model import yamlio

    try:
        doc = yamlio.load_file(system_file)
    except InputError:
        return {}
    assets = doc.data.get("assets") if isinstance(doc.data, dict) else None
    if not isinstance(assets, list):
        return {}
    return {
        str(a["id"]): doc.line(("assets", i)) or 1
        for i, a in enumerate(assets)
        if isinstance(a, dict) and "id" in a
    }


def artifact_uri(path: Path) -> str:
    """The system file as SARIF names it: relative to where saikit runs (a repository root,
    as code scanning expects) when it lies below it, else an absolute file URI."""
    full = path.resolve()
    try:
        return full.relative_to(Path(os.getcwd()).resolve()).as_posix()
    except ValueError:
        return full.as_uri()


def _rule(r: dict, described: dict) -> dict:
    summary = described["threats"].get(r["threat_id"], {}).get("summary") or r["threat"]
    controls = described.get("controls", {})
    mitigations = sorted(
        {
            c
            for k in ("controls_implemented", "controls_planned", "controls_missing")
            for c in split(r[k])
        }
    )
    references = split(r["references"])
    provisions = split(r["provisions"])
    help_lines = [
        summary,
        "",
        "Controls that lower it: "
        + (", ".join(controls.get(c, {}).get("name") or c for c in mitigations) or "none named"),
        "ETSI TS 104 223 provisions: " + (", ".join(provisions) or "none"),
        "References: " + (", ".join(references) or "none"),
    ]
    markdown = [
        summary,
        "",
        "**Controls that lower it**",
        *[f"- `{c}`: {controls.get(c, {}).get('name') or c}" for c in mitigations],
        "",
        f"**ETSI TS 104 223 provisions**: {', '.join(provisions) or 'none'}",
        "",
        f"**References**: {', '.join(references) or 'none'}",
    ]
    return {
        "id": r["threat_id"],
        "name": r["threat"],
        "shortDescription": {"text": r["threat"]},
        "fullDescription": {"text": summary},
        "help": {"text": "\n".join(help_lines), "markdown": "\n".join(markdown)},
        "defaultConfiguration": {"level": LEVELS[r["inherent_band"]]},
        "properties": {
            "tags": [
                "security",
                "ai",
                r["category"],
                *[ref.split(" ")[0] for ref in references],
                *[f"etsi-{p}" for p in provisions],
            ],
            "precision": "medium",
            "security-severity": _severity(r["inherent_score"]),
        },
    }


def _severity(score: int) -> str:
    """A 1-25 risk score on the 0.0-10.0 scale GitHub reads as `security-severity`."""
    return f"{score * 10 / 25:.1f}"


def _result(r: dict, index: dict, uri: str | None, lines: dict[str, int]) -> dict:
    text = (
        f"{r['threat']} on '{r['asset_id']}': residual risk {r['residual_band']} "
        f"({r['residual_score']} of 25), {r['treatment']}. {r['explanation']}"
    ).strip()
    location = {
        "logicalLocations": [
            {
                "name": r["asset_id"],
                "fullyQualifiedName": f"assets/{r['asset_id']}",
                "kind": "object",
            }
        ]
    }
    if uri is not None:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": lines.get(r["asset_id"], 1)},
        }
    result = {
        "ruleId": r["threat_id"],
        "ruleIndex": index[r["threat_id"]],
        "level": LEVELS[r["residual_band"]],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"saikitFindingId/v1": r["finding_id"]},
        "properties": {
            "finding": r["finding_id"],
            "asset": r["asset_id"],
            "treatment": r["treatment"],
            "residual-score": r["residual_score"],
            "inherent-score": r["inherent_score"],
            "security-severity": _severity(r["residual_score"]),
        },
    }
    if r["treatment"] in DECIDED:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": r["justification"] or r["treatment"],
            }
        ]
    return result
