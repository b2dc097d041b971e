"""A run's open actions as an OSCAL Plan of Action and Milestones (POA&M), beside the OSCAL
catalog and assessment results (kit.export.oscal).

Two kinds of item, both read from the run:

- each finding that is an open action (above the appetite with no decision, or a decision past
  its review date) becomes a risk (the threat and its explanation, status open, its residual
  score and band as characterisation, the run's missing and planned controls as recommended and
  planned remediations, the review date as deadline when one was set) and a POA&M item for it;
- each provision the run found not met, for a role the organisation holds, becomes a POA&M
  item whose finding targets the provision's control in saikit's OSCAL catalog.

UUIDs are version-5 UUIDs of stable names (kit.export.oscal.stable_uuid), so the same run gives
the same document apart from its `last-modified` time. Checked with compliance-trestle's OSCAL
models in the tests.

Example: ``poam(source_of("poam", "latest"))["plan-of-action-and-milestones"]["poam-items"]``
"""

from __future__ import annotations

import datetime as dt

from kit.export.interchange import Source, findings, split
from kit.export.oscal import NS, OSCAL_VERSION, control_id, stable_uuid
from kit.vocab import NOT_MET


def _prop(name: str, value) -> dict:
    return {"name": name, "value": str(value), "ns": NS}


def poam(source: Source) -> dict:
    """The OSCAL POA&M document of a run's open actions and unmet provisions."""
    run = source.run
    stamp = (source.timestamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    key = (run.system_id, run.run_id)
    risks, items, results = [], [], []
    controls = run.threats.get("controls", {})
    for r in findings(run, all_findings=False):
        risk_uuid = stable_uuid("poam-risk", *key, r["finding_id"])
        remediations = [
            {
                "uuid": stable_uuid("poam-remediation", *key, r["finding_id"], c),
                "lifecycle": lifecycle,
                "title": controls.get(c, {}).get("name") or c,
                "description": controls.get(c, {}).get("description") or c,
                "props": [_prop("control", c)],
            }
            for column, lifecycle in (
                ("controls_missing", "recommendation"),
                ("controls_planned", "planned"),
            )
            for c in split(r[column])
        ]
        risk = {
            "uuid": risk_uuid,
            "title": f"{r['threat']} on {r['asset_id']}",
            "description": run.threats["threats"].get(r["threat_id"], {}).get("summary")
            or r["threat"],
            "statement": r["explanation"] or r["threat"],
            "props": [
                _prop("finding", r["finding_id"]),
                _prop("treatment", r["treatment"].replace(" ", "-")),
                *[_prop("provision", p) for p in split(r["provisions"])],
            ],
            "status": "open",
            "characterizations": [
                {
                    "origin": {
                        "actors": [{"type": "tool", "actor-uuid": stable_uuid("tool", "saikit")}]
                    },
                    "facets": [
                        {
                            "name": "likelihood",
                            "system": NS,
                            "value": str(r["residual_likelihood"]),
                        },
                        {"name": "impact", "system": NS, "value": str(r["residual_impact"])},
                        {
                            "name": "risk",
                            "system": NS,
                            "value": f"{r['residual_band']} ({r['residual_score']})",
                        },
                    ],
                }
            ],
            **({"remediations": remediations} if remediations else {}),
        }
        if r["review_by"]:
            risk["deadline"] = f"{r['review_by']}T00:00:00+00:00"
        risks.append(risk)
        items.append(
            {
                "uuid": stable_uuid("poam-item", *key, r["finding_id"]),
                "title": f"{r['treatment'].capitalize()}: {r['threat']} on {r['asset_id']}",
                "description": f"Residual risk {r['residual_band']} ({r['residual_score']} of 25) "
                f"above the appetite; {r['treatment']}.",
                "props": [_prop("finding", r["finding_id"])],
                "related-risks": [{"risk-uuid": risk_uuid}],
            }
        )
    prov = run.provisions
    for p in prov.itertuples(index=False) if prov is not None else ():
        if p.status != NOT_MET:
            continue
        finding_uuid = stable_uuid("poam-finding", *key, p.provision, p.role)
        results.append(
            {
                "uuid": finding_uuid,
                "title": f"{p.provision} not met for the {p.role.replace('_', ' ')}",
                "description": " ".join(str(p.reason).split()) or NOT_MET,
                "props": [_prop("role", p.role), _prop("modal", p.modal)],
                "target": {
                    "type": "statement-id",
                    "target-id": f"{control_id(p.provision)}_smt",
                    "status": {"state": "not-satisfied", "reason": "fail"},
                },
            }
        )
        items.append(
            {
                "uuid": stable_uuid("poam-item", *key, p.provision, p.role),
                "title": f"Meet {p.provision} as {p.role.replace('_', ' ')}",
                "description": " ".join(str(p.reason).split()) or NOT_MET,
                "props": [_prop("provision", p.provision), _prop("role", p.role)],
                "related-findings": [{"finding-uuid": finding_uuid}],
            }
        )
    if not items:  # OSCAL needs one item: say there is nothing to do
        items.append(
            {
                "uuid": stable_uuid("poam-item", *key, "none"),
                "title": "No open actions",
                "description": "Every finding is within the appetite or decided, and no provision is unmet.",
            }
        )
    body = {
        "uuid": stable_uuid("poam", *key),
        "metadata": {
            "title": f"{' '.join(run.system_name.split())}: plan of action and milestones",
            "last-modified": stamp.isoformat(timespec="seconds"),
            "version": run.run_id,
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("system", run.system_id), _prop("run", run.run_id)],
        },
        "system-id": {
            "identifier-type": "http://ietf.org/rfc/rfc4122",
            "id": stable_uuid("system", run.system_id),
        },
        **({"risks": risks} if risks else {}),
        **({"findings": results} if results else {}),
        "poam-items": items,
    }
    return {"plan-of-action-and-milestones": body}


def validate(document: dict) -> None:
    """Check a POA&M document with compliance-trestle's OSCAL models (the `oscal` extra)."""
    from trestle.oscal.poam import PlanOfActionAndMilestones

    PlanOfActionAndMilestones.model_validate(document["plan-of-action-and-milestones"])
