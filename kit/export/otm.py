"""A system, or a run, as an Open Threat Model (OTM 0.2.0, IriusRisk's open format).

What goes where:

- trust zones: one per exposure the assets have (internal, partner, public), rated 100/50/0;
- components: every asset, its OTM `type` the saikit asset type, its parent the zone of its
  exposure, and its saikit fields under `attributes.saikit` so that `saikit import otm` gets
  the same asset back;
- dataflows: every flow, named by its kind, with its fields under `attributes.saikit`;
- from a run: `threats` (one per threat raised, likelihood and impact of its worst finding on
  OTM's 0-100 scale), `mitigations` (the controls the threats name) and, on each component, the
  threats raised on it with their state (the finding's treatment) and their controls.

Example: ``otm(source_of("otm", "examples/credit-risk.yaml"))["components"][0]["type"]``
"""

from __future__ import annotations

from kit import __version__
from kit.export.interchange import ZONES, Source, findings, split, zone_id
from kit.vocab import DECIDED_AS, OPEN_ACTIONS, WITHIN_APPETITE, flow_id

OTM_VERSION = "0.2.0"
SCALE = 20  # saikit's 1-5 scales → OTM's 0-100
# A finding's treatment → the state of its threat on the component (IriusRisk's states).
STATES = {
    **dict.fromkeys(OPEN_ACTIONS, "EXPOSED"),
    WITHIN_APPETITE: "EXPOSED",
    DECIDED_AS["mitigating"]: "PARTLY_MITIGATED",
    DECIDED_AS["accepted"]: "ACCEPTED",
    DECIDED_AS["transferred"]: "ACCEPTED",
    DECIDED_AS["avoided"]: "NOT_APPLICABLE",
    DECIDED_AS["false_positive"]: "NOT_APPLICABLE",
}


def otm(source: Source) -> dict:
    """The OTM document of the source's system (with its threats when the source is a run)."""
    model = source.model
    s = model.system
    doc = {
        "otmVersion": OTM_VERSION,
        "project": {
            "name": s.name,
            "id": s.id,
            "description": s.purpose,
            "owner": s.owner,
            "tags": ["saikit", s.ai_type],
            "attributes": {
                "generator": f"saikit {__version__}",
                "saikit": {"system": s.model_dump(mode="json", exclude_defaults=True)},
            },
        },
        "trustZones": [
            {
                "id": zone_id(e),
                "name": ZONES[e][0],
                "type": "saikit-exposure",
                "risk": {"trustRating": ZONES[e][1]},
            }
            for e in ZONES
            if any(a.exposure == e for a in model.assets)
        ],
        "components": [
            {
                "id": a.id,
                "name": a.name or a.id,
                "type": a.type,
                "description": a.description,
                "parent": {"trustZone": zone_id(a.exposure)},
                "tags": list(a.tags),
                "attributes": {"saikit": a.model_dump(mode="json", exclude_defaults=True)},
            }
            for a in model.assets
        ],
        "dataflows": [
            {
                "id": flow_id(f.source, f.kind, f.target),
                "name": f.kind,
                "description": f.description,
                "source": f.source,
                "destination": f.target,
                "tags": [f.kind] + (["crosses-boundary"] if f.crosses_boundary else []),
                "attributes": {
                    "saikit": f.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                },
            }
            for f in model.flows
        ],
    }
    if source.run is not None:
        _add_threats(doc, source)
    return doc


def _add_threats(doc: dict, source: Source) -> None:
    rows = findings(source.run)
    described = source.run.threats
    worst: dict[str, dict] = {}
    for r in rows:
        w = worst.get(r["threat_id"])
        if w is None or r["inherent_score"] > w["inherent_score"]:
            worst[r["threat_id"]] = r
    doc["threats"] = [
        {
            "id": tid,
            "name": r["threat"],
            "description": described["threats"].get(tid, {}).get("summary"),
            "categories": [r["category"]],
            "risk": {
                "likelihood": r["inherent_likelihood"] * SCALE,
                "impact": r["inherent_impact"] * SCALE,
            },
            "tags": split(r["references"]),
            "attributes": {"provisions": split(r["provisions"])},
        }
        for tid, r in sorted(worst.items())
    ]
    named = sorted(
        {c for r in rows for k in _CONTROL_STATES for c in split(r[k])}
        | set(described.get("controls", {}))
    )
    doc["mitigations"] = [
        {
            "id": c,
            "name": described.get("controls", {}).get(c, {}).get("name") or c,
            "description": described.get("controls", {}).get(c, {}).get("description"),
            # saikit weighs a control per threat (its effect on likelihood or impact), not alone
            "riskReduction": 0,
        }
        for c in named
    ]
    by_asset: dict[str, list[dict]] = {}
    for r in rows:
        by_asset.setdefault(r["asset_id"], []).append(
            {
                "threat": r["threat_id"],
                "state": STATES.get(r["treatment"], "EXPOSED"),
                "mitigations": [
                    {"mitigation": c, "state": state}
                    for k, state in _CONTROL_STATES.items()
                    for c in split(r[k])
                ],
            }
        )
    for c in doc["components"]:
        if c["id"] in by_asset:
            c["threats"] = by_asset[c["id"]]


# A control's place in a finding → its OTM mitigation state.
_CONTROL_STATES = {
    "controls_implemented": "IMPLEMENTED",
    "controls_planned": "REQUIRED",
    "controls_missing": "RECOMMENDED",
}
