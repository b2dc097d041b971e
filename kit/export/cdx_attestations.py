"""The provision catalogue and a run's verdicts as CycloneDX 1.6 standards and attestations.

- `definitions.standards`: ETSI TS 104 223 as a standard; each principle a top-level requirement
  and each provision a requirement below it (its ID as `identifier`, saikit's own summary as
  `text`, never ETSI's), one level per stakeholder role listing the provisions that bind it;
- `declarations`: saikit as a self-assessor; one attestation per role the organisation holds,
  mapping each provision that binds the role to a claim about the system (met or partial) or a
  counter-claim (not met), with a conformance score (met 1, partial 0.5, not met 0; none for a
  provision no check or attestation could assess) and the run's reason as rationale; each
  claim's evidence is the evidence the run recorded for it.

Built as plain dicts (cyclonedx-python-lib does not model declarations), checked in the tests
with cyclonedx-python-lib's bundled copy of the published CycloneDX 1.6 JSON schema. UUIDs and
bom-refs derive from stable names, so the same run gives the same document.

Example: ``attestations(source_of("cdx-attestations", "latest"))["declarations"]["attestations"]``
"""

from __future__ import annotations

import uuid

from kit import __version__
from kit.export.interchange import Source
from kit.vocab import BINDABLE, MET, NOT_APPLICABLE, NOT_MET, PARTIAL, STAKEHOLDER_TITLES

SCORE = {MET: 1.0, PARTIAL: 0.5, NOT_MET: 0.0}
_NAMESPACE = uuid.UUID("5b0c7a52-4f4e-4b8e-9a55-5a1b1c0d2e10")  # saikit's, as in kit.export.bom
ROLE_TITLES = {s: STAKEHOLDER_TITLES[s] for s in BINDABLE}


def standard(edition: str | None = None) -> dict:
    """The catalogue as a CycloneDX 1.6 `standard` object."""
    from kit.compliance.catalogue import load_catalogue

    cat = load_catalogue(edition) if edition else load_catalogue()
    e = cat.edition
    requirements = [
        {
            "bom-ref": f"principle:{p.number}",
            "identifier": p.section,
            "title": f"Principle {p.number}: {p.title}",
            "properties": [{"name": "saikit:phase", "value": p.phase}],
        }
        for p in cat.principles
    ]
    requirements += [
        {
            "bom-ref": requirement_ref(p.id),
            "identifier": p.id,
            "title": f"{p.id} ({p.modal})",
            "text": p.summary,
            "parent": f"principle:{p.principle}",
            "properties": [
                {"name": "saikit:modal", "value": p.modal},
                {"name": "saikit:phase", "value": p.phase},
                *[{"name": "saikit:stakeholder", "value": s} for s in p.stakeholders],
            ],
        }
        for p in cat.provisions
    ]
    return {
        "bom-ref": f"standard:{e.id}",
        "name": e.document,
        "version": e.version,
        "description": f"{e.title}. Provision IDs, principles, modal verbs and stakeholders are "
        "facts from the standard; every summary is saikit's own wording, not ETSI's text.",
        "owner": "ETSI",
        "requirements": requirements,
        "levels": [
            {
                "bom-ref": f"level:{role}",
                "identifier": role,
                "title": title,
                "description": f"The provisions that bind a {title}.",
                "requirements": [
                    requirement_ref(p.id) for p in cat.provisions if role in p.stakeholders
                ],
            }
            for role, title in ROLE_TITLES.items()
        ],
    }


def requirement_ref(provision_id: str) -> str:
    return f"provision:{provision_id}"


def attestations(source: Source) -> dict:
    """The CycloneDX 1.6 document: the standard, and the run's verdicts as attestations."""
    run = source.run
    prov = run.provisions
    if prov is None:
        from kit.errors import fail

        raise fail(
            str(run.path), None, "", "the run recorded no provision results (provisions.csv)"
        )
    system_ref = f"system:{run.system_id}"
    created = run.manifest.get("time")
    claims, evidence, by_role = [], [], {}
    for r in prov.itertuples(index=False):
        if r.status == NOT_APPLICABLE:
            continue
        key = f"{r.role}:{r.provision}"
        entry = {"requirement": requirement_ref(r.provision)}
        conformance = {"rationale": " ".join(f"{r.status}: {r.reason}".split())}
        if r.status in SCORE:
            conformance["score"] = SCORE[r.status]
            claim = {
                "bom-ref": f"claim:{key}",
                "target": system_ref,
                "predicate": f"{run.system_name} meets provision {r.provision} as a "
                f"{ROLE_TITLES[r.role]}" + (" in part" if r.status == PARTIAL else ""),
                "reasoning": " ".join(str(r.reason).split()) or r.status,
            }
            if str(r.evidence).strip():
                evidence.append(
                    {
                        "bom-ref": f"evidence:{key}",
                        "propertyName": f"saikit:{r.source}",
                        "description": " ".join(str(r.evidence).split()),
                        **({"created": created} if created else {}),
                    }
                )
                claim["evidence"] = [f"evidence:{key}"]
            claims.append(claim)
            entry["counterClaims" if r.status == NOT_MET else "claims"] = [claim["bom-ref"]]
        entry["conformance"] = conformance
        by_role.setdefault(r.role, []).append(entry)
    s = standard(run.manifest.get("edition") or None)
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:"
        + str(uuid.uuid5(_NAMESPACE, f"attestations/{run.system_id}/{run.run_id}")),
        "version": 1,
        "metadata": {
            **({"timestamp": _stamp(source)} if _stamp(source) else {}),
            "tools": {
                "components": [{"type": "application", "name": "saikit", "version": __version__}]
            },
            "component": {"type": "application", "bom-ref": system_ref, "name": run.system_name},
            "properties": [{"name": "saikit:run", "value": run.run_id}],
        },
        "definitions": {"standards": [s]},
        "declarations": {
            "assessors": [
                {
                    "bom-ref": "assessor:saikit",
                    "thirdParty": False,
                    "organization": {"name": run.system_name},
                }
            ],
            "attestations": [
                {
                    "summary": f"{run.edition_title()} as assessed by saikit run {run.run_id} for the "
                    f"{ROLE_TITLES[role]} role",
                    "assessor": "assessor:saikit",
                    "map": entries,
                }
                for role, entries in by_role.items()
            ],
            "claims": claims,
            **({"evidence": evidence} if evidence else {}),
        },
    }
    return doc


def _stamp(source: Source) -> str | None:
    if source.timestamp is None:
        return None
    return source.timestamp.isoformat(timespec="seconds")
