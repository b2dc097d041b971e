"""Compliance with ETSI TS 104 223: every provision, for every role the organisation holds.

`assess` gives one row per provision and role. A provision that does not bind a role is "not
applicable" for it. Otherwise an automatic check (kit.compliance_checks) decides when there is
one; an attestation from the system file decides when there is not, or when the check needs run
history that is missing; with neither the provision is "not assessed". `summary` and `gaps` are
views of that table.

Example: ``gaps(assess(analyse("system.yaml"), today=date(2026, 11, 26)))``
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pandas as pd

from kit import tables
from kit.analysis import Analysis
from kit.compliance.catalogue import Catalogue, Provision, load_catalogue
from kit.compliance.checks import CHECKS, HISTORY_CHECKS, Inputs, Result, one_line
from kit.compliance.facts import RunFacts
from kit.errors import InputError, Problem, did_you_mean
from kit.model.schema import Attestation, SystemModel
from kit.vocab import (
    ATTESTED_AS,
    MET,
    MODALS,
    NOT_APPLICABLE,
    NOT_ASSESSED,
    NOT_MET,
    PARTIAL,
    PHASES,
    ROLES,
    STATUS_RANK,
    STATUSES,
)

__all__ = [
    "CHECKS",
    "COLUMNS",
    "HISTORY_CHECKS",
    "RunFacts",
    "assess",
    "gaps",
    "summary",
    "write_csv",
]

COLUMNS = [
    "provision",
    "principle",
    "principle_title",
    "phase",
    "modal",
    "role",
    "status",
    "status_rank",
    "method",
    "evidence",
    "reason",
]


def assess(
    analysis: Analysis, facts: RunFacts | None = None, today: dt.date | None = None
) -> pd.DataFrame:
    """The compliance table: one row per provision and held role, columns as in COLUMNS.

    Raises InputError when an attestation names a provision the catalogue does not have.
    """
    catalogue = load_catalogue()
    model = analysis.model
    today = today or dt.date.today()
    _check_attestations(model, catalogue)
    inputs = Inputs(model, analysis.graph, analysis.assessment, analysis.library, facts, today)
    results = {pid: check(inputs) for pid, check in CHECKS.items()}
    roles = [r for r in ROLES if r in model.system.roles]
    rows = []
    for provision in catalogue.provisions:
        title = catalogue.principle(provision.principle).title
        for role in roles:
            status, method, evidence, reason = _decide(
                provision, role, results.get(provision.id), model, today
            )
            rows.append(
                {
                    "provision": provision.id,
                    "principle": provision.principle,
                    "principle_title": title,
                    "phase": provision.phase,
                    "modal": provision.modal,
                    "role": role,
                    "status": status,
                    "status_rank": STATUS_RANK[status],
                    "method": method,
                    "evidence": one_line(evidence, 2000),
                    "reason": one_line(reason, 300),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _check_attestations(model: SystemModel, catalogue: Catalogue) -> None:
    known = catalogue.ids
    problems = [
        Problem(
            model.system.id,
            None,
            f"attestations[{i}].provision",
            f"unknown provision '{a.provision}'{did_you_mean(a.provision, known)}",
        )
        for i, a in enumerate(model.attestations)
        if a.provision not in known
    ]
    if problems:
        raise InputError(problems)


def _decide(
    provision: Provision, role: str, result: Result | None, model: SystemModel, today: dt.date
) -> tuple[str, str, str, str]:
    """(status, method, evidence, reason) for one provision and role."""
    if role not in provision.stakeholders:
        bound = ", ".join(provision.stakeholders)
        return NOT_APPLICABLE, "none", "", f"{provision.id} binds {bound}, not the {role}"
    attestation = _attestation(model, provision.id, role)
    if result is not None and not (result[0] == NOT_ASSESSED and attestation):
        status, evidence, reason = result
        if attestation is not None:
            evidence = f"{evidence} | also attested: {_describe(attestation)}".lstrip(" |")
            attested = ATTESTED_AS[attestation.status]
            # An attestation sees what no check can: a check that passes never overrides a
            # "partial" or "not met" someone attested.
            if attested in (PARTIAL, NOT_MET) and STATUS_RANK[attested] < STATUS_RANK[status]:
                reason = f"attested {attested} on {attestation.date}, which stands over the check: {reason}"
                status = attested
        return status, "automatic", evidence, reason
    if attestation is not None:
        status, evidence, reason = _from_attestation(
            attestation, model.system.review_interval_days, today
        )
        if result is not None:  # a run-history check without history yields to the attestation
            reason = f"{result[2]}; {reason}"
        return status, "attestation", evidence, reason
    return NOT_ASSESSED, "none", "", "no automatic check and no attestation"


def _attestation(model: SystemModel, provision_id: str, role: str) -> Attestation | None:
    """The latest attestation for this provision that covers the role (role-specific wins ties)."""
    candidates = [
        a for a in model.attestations if a.provision == provision_id and a.role in (None, role)
    ]
    return max(candidates, key=lambda a: (a.date, a.role is not None), default=None)


def _describe(a: Attestation) -> str:
    text = f"{a.status} on {a.date} by {a.owner or 'no owner'}"
    return f"{text}: {a.evidence}" if a.evidence else text


def _from_attestation(a: Attestation, interval: int, today: dt.date) -> Result:
    """An attestation's status, capped at partial when it is stale or lacks evidence or owner."""
    status = ATTESTED_AS[a.status]
    shortfalls = []
    if not a.evidence:
        shortfalls.append("no evidence")
    if not a.owner:
        shortfalls.append("no owner")
    age = (today - a.date).days
    if age > interval:
        shortfalls.append(f"{age} days old, beyond the {interval}-day review interval")
    reason = f"attested {a.status.replace('_', ' ')} on {a.date} by {a.owner or 'no owner'}"
    if shortfalls and status in (MET, NOT_APPLICABLE):
        status = PARTIAL
        reason += f"; counts as partial: {', '.join(shortfalls)}"
    elif shortfalls:
        reason += f"; {', '.join(shortfalls)}"
    evidence = a.evidence or ""
    if a.note:
        evidence = f"{evidence} (note: {a.note})".strip()
    return status, evidence, reason


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of each status by principle and role: one row per (principle, role), in order."""
    keys = ["principle", "principle_title", "role"]
    if df.empty:
        return pd.DataFrame(columns=[*keys, *STATUSES])
    counts = (
        df.groupby(keys, sort=False)["status"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=list(STATUSES), fill_value=0)
        .reset_index()
    )
    counts.columns.name = None
    role_order = {r: i for i, r in enumerate(ROLES)}
    counts = counts.sort_values(
        ["principle", "role"], key=lambda s: s.map(role_order) if s.name == "role" else s
    )
    return counts.reset_index(drop=True)


def provision_key(provision_id: str) -> tuple[int, ...]:
    """Numeric sort key: '5.2.10-1.2' → (5, 2, 10, 1, 2), so 5.2.10 sorts after 5.2.9."""
    return tuple(int(part) for part in re.split(r"[.-]", provision_id))


def gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Rows not met or partial: shall before should, then by phase, provision number and role."""
    open_ = df[df["status"].isin([NOT_MET, PARTIAL])]
    order = sorted(
        open_.index,
        key=lambda i: (
            MODALS.index(open_.at[i, "modal"]),
            PHASES.index(open_.at[i, "phase"]),
            provision_key(open_.at[i, "provision"]),
            ROLES.index(open_.at[i, "role"]),
        ),
    )
    return open_.loc[order].reset_index(drop=True)


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table to `path` as kit.tables writes every CSV (formulas inert, atomic).

    Raises InputError when `path` is a directory or its directory does not exist.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(
            [Problem(str(target), None, "", "is a directory; give a file name for the CSV")]
        )
    if not target.parent.is_dir():
        raise InputError(
            [Problem(str(target), None, "", f"directory {target.parent} does not exist")]
        )
    return tables.write_csv(df, target)
