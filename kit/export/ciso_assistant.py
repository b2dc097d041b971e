"""The provision catalogue as a CISO Assistant framework library (YAML), so a GRC team can audit
a system against ETSI TS 104 223 in CISO Assistant.

One framework: each principle a non-assessable node (depth 1), each provision an assessable
node below it (depth 2) whose `ref_id` is the provision ID and whose description is saikit's own
summary (never ETSI's text), with its modal verb and phase in `annotation`. The stakeholder
roles are the implementation groups (Developer, System Operator, Data Custodian), and each
provision belongs to the groups of the roles it binds, so an audit can be scoped to the roles an
organisation holds. URNs follow CISO Assistant's form, `urn:saikit:risk:<kind>:<library>:<id>`.

From a run, one audit file per role the organisation holds is written beside the library, in
the form CISO Assistant's data import wizard (and its CLI) reads an audit: a CSV with the
columns `urn, assessable, ref_id, name, description, compliance_result, requirement_progress,
observations`, one row per provision binding that role, the run's status as
`compliance_result` and its reason and evidence as `observations`. Import the library, create an
audit of the framework scoped to the role's implementation group, then import the file into it.

Example: ``library(Source(None))["objects"]["framework"]["requirement_nodes"][1]["ref_id"]``
"""

from __future__ import annotations

from kit import __version__
from kit.export.interchange import Source
from kit.vocab import (
    BINDABLE,
    MET,
    NOT_APPLICABLE,
    NOT_ASSESSED,
    NOT_MET,
    PARTIAL,
    STAKEHOLDER_TITLES,
)

PACKAGER = "saikit"
# saikit's provision status → CISO Assistant's compliance result.
RESULTS = {
    MET: "compliant",
    PARTIAL: "partially_compliant",
    NOT_MET: "non_compliant",
    NOT_APPLICABLE: "not_applicable",
    NOT_ASSESSED: "not_assessed",
}
AUDIT_COLUMNS = (
    "urn",
    "assessable",
    "ref_id",
    "name",
    "description",
    "compliance_result",
    "requirement_progress",
    "observations",
)
# Implementation groups: the stakeholders a provision can bind (the roles, and End-users).
GROUPS = {s: STAKEHOLDER_TITLES[s] for s in BINDABLE}


def library_id(edition_id: str) -> str:
    """The library's name in URNs: 'etsi-ts-104-223-v1.1.1' → 'etsi-ts-104-223-v1-1-1'."""
    return edition_id.replace(".", "-")


def library(source: Source) -> dict:
    """The CISO Assistant library of the catalogue (the run's edition when from a run)."""
    from kit.compliance.catalogue import load_catalogue

    edition = source.run.manifest.get("edition") if source.run is not None else None
    cat = load_catalogue(edition) if edition else load_catalogue()
    e = cat.edition
    lib = library_id(e.id)

    def urn(kind: str, ident: str) -> str:
        return f"urn:{PACKAGER}:risk:{kind}:{lib}" + (f":{ident}" if ident else "")

    nodes = []
    for principle in cat.principles:
        parent = urn("req_node", principle.section)
        nodes.append(
            {
                "urn": parent,
                "assessable": False,
                "depth": 1,
                "ref_id": principle.section,
                "name": f"Principle {principle.number}: {principle.title}"[:200],
            }
        )
        for p in cat.provisions:
            if p.principle != principle.number:
                continue
            nodes.append(
                {
                    "urn": urn("req_node", p.id.lower()),
                    "assessable": True,
                    "depth": 2,
                    "parent_urn": parent,
                    "ref_id": p.id,
                    "description": p.summary,
                    "annotation": f"{p.modal}; {p.phase.replace('_', ' ')} phase; binds "
                    + ", ".join(GROUPS[s] for s in p.stakeholders),
                    "implementation_groups": list(p.stakeholders),
                }
            )
    name = f"{e.document} {e.version}"
    return {
        "urn": urn("library", ""),
        "locale": "en",
        "ref_id": lib,
        "name": f"{name} (saikit summaries)",
        "description": f"{e.title}. The provision IDs, principles, modal verbs and stakeholders "
        "are facts from the standard; every provision description is saikit's own summary, not "
        "ETSI's text. Read the standard itself for the requirements' wording.",
        "copyright": f"Structure and IDs: ETSI ({name}). Summaries: saikit {__version__}.",
        "version": 1,
        "publication_date": _date(e.published),
        "provider": "ETSI",
        "packager": PACKAGER,
        "objects": {
            "framework": {
                "urn": urn("framework", ""),
                "ref_id": lib,
                "name": name,
                "description": e.title,
                "implementation_groups_definition": [
                    {"ref_id": role, "name": title, "description": f"Provisions binding a {title}"}
                    for role, title in GROUPS.items()
                ],
                "requirement_nodes": nodes,
            }
        },
    }


def _date(published: str) -> str:
    """A publication month ('2025-04') as the date CISO Assistant reads ('2025-04-01')."""
    return published if len(published) == 10 else f"{published}-01"


def audits(source: Source) -> dict[str, str]:
    """From a run: per role held, the audit CSV text CISO Assistant imports ({suffix: text})."""
    import pandas as pd

    from kit.tables import csv_text

    if source.run is None or source.run.provisions is None:
        return {}
    lib = library(source)
    urns = {
        n["ref_id"]: n["urn"]
        for n in lib["objects"]["framework"]["requirement_nodes"]
        if n["assessable"]
    }
    out = {}
    prov = source.run.provisions
    for role in GROUPS:
        rows = prov[prov["role"] == role]
        if rows.empty:
            continue
        table = pd.DataFrame(
            [
                {
                    "urn": urns[r.provision],
                    "assessable": True,
                    "ref_id": r.provision,
                    "name": r.provision,
                    "description": r.principle_title,
                    "compliance_result": RESULTS[r.status],
                    "requirement_progress": "to_do" if r.status == NOT_ASSESSED else "done",
                    "observations": " ".join(
                        f"{r.reason}. Evidence: {r.evidence}".split()
                        if str(r.evidence).strip()
                        else str(r.reason).split()
                    ),
                }
                for r in rows.itertuples(index=False)
            ],
            columns=list(AUDIT_COLUMNS),
        )
        out[f".audit-{role.replace('_', '-')}.csv"] = csv_text(table)
    return out
