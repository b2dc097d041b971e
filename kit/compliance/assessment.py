"""Compliance with ETSI TS 104 223: every provision, for every role the organisation holds.

`assess` gives one row per provision and role, and one for End-users where a provision binds
them (a duty the organisation passes on and attests). How a row is decided:

- the provision does not bind the role: "not applicable", scope "role not bound";
- an automatic check (kit.compliance.checks) and an attestation combine: the check decides, and
  an attestation can lower it (a "partial" or "not met" attestation stands over a passing check)
  or settle what the check cannot see (no run history, or "not applicable" because nothing in
  the system triggers the provision or the triggering fact is not recorded);
- with neither, "not assessed".

Every row records its source (automatic, attested, both, none) and the facts behind it (assets,
controls, run history, attestation). `by_provision` rolls the roles up into one line per
provision; `summary`, `totals` and `gaps` are views.

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
from kit.compliance.checks import CHECKS, HISTORY_CHECKS, Inputs, Result, Verdict, one_line
from kit.compliance.facts import RunFacts
from kit.errors import InputError, Problem, did_you_mean
from kit.model.schema import Attestation, SystemModel
from kit.vocab import (
    APPLIES,
    ATTESTED,
    ATTESTED_AS,
    AUTOMATIC,
    BOTH,
    END_USER,
    MET,
    MODALS,
    NO_SOURCE,
    NOT_APPLICABLE,
    NOT_ASSESSED,
    NOT_BOUND,
    NOT_MET,
    NOT_RECORDED,
    NOT_TRIGGERED,
    PARTIAL,
    PHASES,
    ROLES,
    STAKEHOLDERS,
    STATUS_RANK,
    STATUSES,
)

__all__ = [
    "CHECKS",
    "COLUMNS",
    "HISTORY_CHECKS",
    "RunFacts",
    "assess",
    "by_provision",
    "gaps",
    "summary",
    "totals",
    "write_csv",
]

# What a row says of its provision, the same in the per-role table and the roll-up.
ABOUT = ["provision", "principle", "principle_title", "phase", "modal", "modals"]
COLUMNS = [
    *ABOUT,
    "role",
    "status",
    "status_rank",
    "scope",
    "source",
    "evidence",
    "facts",
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
    verdicts = {pid: check(inputs) for pid, check in CHECKS.items()}
    held = [r for r in ROLES if r in model.system.roles]
    rows = []
    for provision in catalogue.provisions:
        title = catalogue.principle(provision.principle).title
        # End-users hold no role in the organisation; their duties are listed where they exist.
        roles = held + ([END_USER] if END_USER in provision.stakeholders else [])
        for role in roles:
            row = _decide(provision, role, verdicts.get(provision.id), model, today)
            rows.append(
                {
                    "provision": provision.id,
                    "principle": provision.principle,
                    "principle_title": title,
                    "phase": provision.phase,
                    "modal": provision.modal,
                    "modals": "+".join(provision.modals),
                    "role": role,
                    **row,
                    "status_rank": STATUS_RANK[row["status"]],
                    "evidence": one_line(row["evidence"], 2000),
                    "facts": one_line(row["facts"], 2000),
                    "reason": one_line(row["reason"], 300),
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
    provision: Provision, role: str, verdict: Verdict | None, model: SystemModel, today: dt.date
) -> dict[str, str]:
    """status, scope, source, evidence, facts and reason for one provision and role."""
    if role not in provision.stakeholders:
        bound = ", ".join(provision.stakeholders)
        return _row(
            NOT_APPLICABLE,
            NOT_BOUND,
            NO_SOURCE,
            "",
            f"{provision.id} binds {bound}, not the {role}",
        )
    attestation = _attestation(model, provision.id, role)
    attested_facts = f"attestation: {_describe(attestation)}" if attestation else ""
    if role == END_USER:
        verdict = None  # the checks see the organisation's system, not what End-users do
    if verdict is None or verdict.status == NOT_ASSESSED and attestation is None:
        if attestation is None:
            reason = (
                verdict.reason
                if verdict is not None
                else "an End-user duty: pass it on (terms of use, guidance) and attest that you did"
                if role == END_USER
                else "no automatic check and no attestation"
            )
            if verdict is None:
                return _row(NOT_ASSESSED, APPLIES, NO_SOURCE, "", reason)
            return _row(NOT_ASSESSED, APPLIES, AUTOMATIC, "", reason, _trail(verdict))
        status, evidence, reason = _from_attestation(
            attestation, model.system.review_interval_days, today
        )
        return _row(status, _scope(status), ATTESTED, evidence, reason, attested_facts)
    facts = "; ".join(f for f in (_trail(verdict), attested_facts) if f)
    if attestation is None:
        return _row(
            verdict.status,
            verdict.scope or APPLIES,
            AUTOMATIC,
            verdict.evidence,
            verdict.reason,
            facts,
        )
    if verdict.status in (NOT_ASSESSED, NOT_APPLICABLE):
        # The check cannot see it (no run history), or found nothing that triggers it: the
        # attestation covers what the check could not.
        status, evidence, reason = _from_attestation(
            attestation, model.system.review_interval_days, today
        )
        return _row(status, _scope(status), BOTH, evidence, f"{verdict.reason}; {reason}", facts)
    status, reason = verdict.status, verdict.reason
    evidence = f"{verdict.evidence} | also attested: {_describe(attestation)}".lstrip(" |")
    attested = ATTESTED_AS[attestation.status]
    # An attestation sees what no check can: a check that passes never overrides a "partial"
    # or "not met" someone attested.
    if attested in (PARTIAL, NOT_MET) and STATUS_RANK[attested] < STATUS_RANK[status]:
        reason = f"attested {attested} on {attestation.date}, which stands over the check: {reason}"
        status = attested
    return _row(status, APPLIES, BOTH, evidence, reason, facts)


def _row(
    status: str, scope: str, source: str, evidence: str, reason: str, facts: str = ""
) -> dict[str, str]:
    return {
        "status": status,
        "scope": scope,
        "source": source,
        "evidence": evidence,
        "facts": facts,
        "reason": reason,
    }


def _scope(status: str) -> str:
    """The scope of an attested status: an attested "not applicable" says nothing triggers it."""
    return NOT_TRIGGERED if status == NOT_APPLICABLE else APPLIES


def _trail(v: Verdict) -> str:
    """The facts a check used, as one line: 'assets: …; controls: …; run history: …'."""
    parts = []
    if v.assets:
        parts.append(f"assets: {', '.join(v.assets)}")
    if v.controls:
        parts.append(f"controls: {', '.join(v.controls)}")
    if v.history:
        parts.append(v.history)
    return "; ".join(parts)


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


def _open(df: pd.DataFrame) -> pd.Series:
    """Rows a reviewer must look at: not met, partial, or "not applicable" for want of a fact."""
    return df["status"].isin([NOT_MET, PARTIAL]) | (
        df["status"].eq(NOT_APPLICABLE) & df["scope"].eq(NOT_RECORDED)
    )


def gaps(df: pd.DataFrame) -> pd.DataFrame:
    """Rows not met or partial, and "not applicable" rows whose triggering fact is not recorded:
    shall before should, then by phase, provision number and role."""
    open_ = df[_open(df)]
    order = sorted(
        open_.index,
        key=lambda i: (
            MODALS.index(open_.at[i, "modal"]),
            PHASES.index(open_.at[i, "phase"]),
            provision_key(open_.at[i, "provision"]),
            STAKEHOLDERS.index(open_.at[i, "role"]),
        ),
    )
    return open_.loc[order].reset_index(drop=True)


PROVISION_COLUMNS = [
    *ABOUT,
    "roles",
    "involves",
    "status",
    "status_rank",
    "scope",
    "source",
    "reason",
]


def by_provision(df: pd.DataFrame) -> pd.DataFrame:
    """One line per provision: the worst status across the roles it binds (End-users included),
    which roles those are, and whom it involves without binding. A provision that binds none of
    the roles held is "not applicable" with scope "role not bound"."""
    catalogue = load_catalogue()
    involves = {p.id: ", ".join(p.involves) for p in catalogue.provisions}
    groups: dict[str, list[dict]] = {}  # by provision, in the table's order (plain Python: a
    for row in df.to_dict("records"):  # portfolio rolls up thousands of tables)
        groups.setdefault(row["provision"], []).append(row)
    lines = []
    for pid, rows in groups.items():
        bound = [r for r in rows if r["scope"] != NOT_BOUND]
        worst = min(bound or rows, key=lambda r: r["status_rank"])  # the first of the worst
        lines.append(
            {
                **{k: rows[0][k] for k in ABOUT},
                "roles": ", ".join(r["role"] for r in bound),
                "involves": involves.get(pid, ""),
                "status": worst["status"],
                "status_rank": worst["status_rank"],
                "scope": worst["scope"],
                "source": "+".join(dict.fromkeys(r["source"] for r in bound))
                if bound
                else NO_SOURCE,
                "reason": worst["reason"]
                if len(bound) <= 1
                else f"{worst['role']}: {worst['reason']}",
            }
        )
    return pd.DataFrame(lines, columns=PROVISION_COLUMNS)


def totals(df: pd.DataFrame) -> dict[str, int]:
    """How many provisions (not rows) stand at each status, rolled up over roles."""
    counts = by_provision(df)["status"].value_counts()
    return {s: int(counts.get(s, 0)) for s in STATUSES}


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
