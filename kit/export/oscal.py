"""The catalogue as an OSCAL catalog and a run's provision results as OSCAL assessment-results.

OSCAL 1.2.1 JSON, built as plain data so that writing needs nothing beyond the kit. With the
`oscal` extra installed (compliance-trestle), `validate` checks both documents against
trestle's pydantic models of the OSCAL schemas.

Catalog: one group per principle, one control per provision. A control's ID is `etsi-` plus
the provision ID (OSCAL IDs must start with a letter); its `label` property carries the bare
provision ID, other properties its modal verb, phase and the stakeholders it binds, and its
statement part saikit's own summary (never ETSI's text).

Assessment results: one result for the run; for every provision and role the organisation
holds where the provision binds that role, an observation (how it was assessed, the evidence)
and a finding whose target is the control's statement. OSCAL has two states: "met" is
satisfied, everything else not-satisfied, with saikit's exact status in a property.
UUIDs are version-5 UUIDs of stable names, so exporting the same run twice gives the same
document apart from its `last-modified` time.
"""

from __future__ import annotations

import datetime as dt
import uuid

from kit import __version__
from kit.compliance.catalogue import Catalogue, load_catalogue
from kit.runs.rundata import RunData
from kit.vocab import MET, NOT_BOUND, NOT_MET

OSCAL_VERSION = "1.2.1"  # the version compliance-trestle 5.2 models
NS = "urn:saikit:oscal"  # the namespace of saikit's own property names
_ROOT = uuid.uuid5(uuid.NAMESPACE_URL, "urn:saikit:oscal")
_STATE = {MET: ("satisfied", "pass"), NOT_MET: ("not-satisfied", "fail")}
# A verdict's source (vocab.SOURCES) → OSCAL observation methods.
_METHODS = {"automatic": ["TEST"], "attested": ["EXAMINE"], "both": ["TEST", "EXAMINE"]}


def stable_uuid(*parts: str) -> str:
    """A version-5 UUID of a stable name: the same parts always give the same UUID."""
    return str(uuid.uuid5(_ROOT, "/".join(parts)))


def control_id(provision_id: str) -> str:
    """The OSCAL control ID of a provision: '5.1.2-1' → 'etsi-5.1.2-1'."""
    return f"etsi-{provision_id}"


def _now(stamp: dt.datetime | None) -> str:
    return (stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")


def _prop(name: str, value: str, ns: bool = True) -> dict:
    return {"name": name, "value": value, **({"ns": NS} if ns else {})}


def _props(*props: dict) -> list[dict]:
    """The properties that have a value (OSCAL forbids empty ones)."""
    return [p for p in props if str(p["value"]).strip()]


# ---------------------------------------------------------------- catalog


def catalog(edition: str | None = None, timestamp: dt.datetime | None = None) -> dict:
    """The provision catalogue as an OSCAL catalog document ({"catalog": {...}})."""
    cat: Catalogue = load_catalogue(edition) if edition else load_catalogue()
    e = cat.edition
    groups = []
    for principle in cat.principles:
        controls = [_control(p) for p in cat.provisions if p.principle == principle.number]
        groups.append(
            {
                "id": f"principle-{principle.number}",
                "class": "principle",
                "title": f"Principle {principle.number}: {principle.title}",
                "props": [
                    _prop("label", principle.section, ns=False),
                    _prop("phase", principle.phase),
                    *[_prop("primarily-applies-to", s) for s in principle.primarily_applies_to],
                ],
                "controls": controls,
            }
        )
    return {
        "catalog": {
            "uuid": stable_uuid("catalog", e.id),
            "metadata": {
                "title": f"{e.document} {e.version}: {e.title} (saikit provision catalogue)",
                "last-modified": _now(timestamp),
                "version": f"{e.version}+saikit.{__version__}",
                "oscal-version": OSCAL_VERSION,
                "props": [_prop("edition", e.id), _prop("published", e.published)],
                "remarks": "Provision IDs, principles, modal verbs and stakeholders are facts from "
                "the standard; every summary is saikit's own wording, not ETSI's text.",
            },
            "groups": groups,
        }
    }


def _control(p) -> dict:
    cid = control_id(p.id)
    return {
        "id": cid,
        "class": "provision",
        "title": p.id,
        "props": [
            _prop("label", p.id, ns=False),
            _prop("modal", p.modal),
            _prop("phase", p.phase),
            *[_prop("stakeholder", s) for s in p.stakeholders],
            *[_prop("involves", s) for s in p.involves],
        ],
        "parts": [{"id": f"{cid}_smt", "name": "statement", "prose": p.summary}],
    }


# ---------------------------------------------------------------- assessment results


def assessment_results(run: RunData, timestamp: dt.datetime | None = None) -> dict:
    """The run's provision-by-role results as an OSCAL assessment-results document."""
    prov = run.provisions
    if prov is None:
        from kit.errors import fail

        raise fail(
            str(run.path), None, "", "the run recorded no provision results (provisions.csv)"
        )
    m = run.manifest
    collected = m.get("time") or _now(timestamp)
    observations, findings = [], []
    for r in prov.itertuples(index=False):
        if r.scope == NOT_BOUND:  # not the role's provision: nothing was assessed
            continue
        key = (run.system_id, run.run_id, r.provision, r.role)
        obs_uuid = stable_uuid("observation", *key)
        evidence = " ".join(str(r.evidence).split())
        facts = " ".join(str(r.facts).split())
        observations.append(
            {
                "uuid": obs_uuid,
                "title": f"{r.provision} for the {r.role.replace('_', ' ')}",
                "description": " ".join(str(r.reason).split()) or r.status,
                "props": [
                    _prop("source", r.source),
                    _prop("scope", r.scope.replace(" ", "-")),
                    _prop("role", r.role),
                ],
                "methods": _METHODS.get(r.source, ["UNKNOWN"]),
                "types": ["control-objective"],
                **({"relevant-evidence": [{"description": evidence}]} if evidence else {}),
                **({"remarks": f"Facts behind the verdict: {facts}"} if facts else {}),
                "collected": collected,
            }
        )
        state, reason = _STATE.get(r.status, ("not-satisfied", "other"))
        findings.append(
            {
                "uuid": stable_uuid("finding", *key),
                "title": f"{r.provision} ({r.role.replace('_', ' ')}): {r.status}",
                "description": " ".join(str(r.reason).split()) or r.status,
                "props": [
                    _prop("status", r.status.replace(" ", "-")),
                    _prop("role", r.role),
                    _prop("modal", r.modal),
                    _prop("phase", r.phase),
                ],
                "target": {
                    "type": "statement-id",
                    "target-id": f"{control_id(r.provision)}_smt",
                    "status": {"state": state, "reason": reason},
                },
                "related-observations": [{"observation-uuid": obs_uuid}],
            }
        )
    result = {
        "uuid": stable_uuid("result", run.system_id, run.run_id),
        "title": f"saikit run {run.run_id}",
        "description": f"Every provision of {run.edition_title()} that binds a role "
        f"{run.system_name} holds, as assessed by saikit run {run.run_id}.",
        "start": collected,
        "end": collected,
        "props": _props(
            _prop("run", run.run_id), _prop("config-sha256", m.get("config_sha256", ""))
        ),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
        **({"observations": observations, "findings": findings} if findings else {}),
    }
    return {
        "assessment-results": {
            "uuid": stable_uuid("assessment-results", run.system_id, run.run_id),
            "metadata": {
                "title": f"{_one_line(run.system_name)}: {run.edition_title()} assessment results",
                "last-modified": _now(timestamp),
                "version": run.run_id,
                "oscal-version": OSCAL_VERSION,
                "props": _props(
                    _prop("system", run.system_id), _prop("edition", m.get("edition", ""))
                ),
            },
            "import-ap": {
                "href": f"urn:saikit:assessment-plan:{run.system_id}",
                "remarks": "saikit writes no assessment plan: the plan is to assess every "
                "provision of the catalogue (catalog.json) for each role held.",
            },
            "results": [result],
        }
    }


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unnamed system"


# ---------------------------------------------------------------- validation


def validate(document: dict) -> None:
    """Check a catalog or assessment-results document with compliance-trestle's OSCAL models.

    Raises ImportError when the `oscal` extra is not installed and pydantic's ValidationError
    when the document breaks the OSCAL schema.
    """
    if "catalog" in document:
        from trestle.oscal.catalog import Catalog

        Catalog.model_validate(document["catalog"])
    elif "assessment-results" in document:
        from trestle.oscal.assessment_results import AssessmentResults

        AssessmentResults.model_validate(document["assessment-results"])
    else:
        raise ValueError("neither an OSCAL catalog nor assessment-results document")


def trestle_available() -> bool:
    """True when compliance-trestle (the `oscal` extra) can be imported."""
    try:
        import trestle.oscal  # noqa: F401
    except ImportError:
        return False
    return True
