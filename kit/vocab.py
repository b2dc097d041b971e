"""The words the whole kit shares, each spelled once: roles, phases, risk bands and their colours,
treatments, provision statuses, and the formats of finding and flow IDs.

Every other module imports these rather than writing the words again, so a spelling can change
in one place. Imports nothing from the kit: it is the first stage of all.
"""

from __future__ import annotations

from typing import Literal, get_args

# ---------------------------------------------------------------- who and when (ETSI TS 104 223)

Role = Literal["developer", "system_operator", "data_custodian"]
ROLES: tuple[str, ...] = get_args(Role)  # the roles an organisation can hold
# The standard's other stakeholders: an organisation never holds these roles, but it passes
# End-users their duties (5.2.1-4) and informs or supports both groups.
END_USER, AFFECTED_ENTITY = "end_user", "affected_entity"
Stakeholder = Literal[
    "developer", "system_operator", "data_custodian", "end_user", "affected_entity"
]
STAKEHOLDERS: tuple[str, ...] = get_args(Stakeholder)
BINDABLE = (*ROLES, END_USER)  # whom a provision can bind (Affected Entities are only involved)
# Each stakeholder as the standard writes it.
STAKEHOLDER_TITLES = {
    "developer": "Developer",
    "system_operator": "System Operator",
    "data_custodian": "Data Custodian",
    "end_user": "End-user",
    "affected_entity": "Affected Entity",
}

Phase = Literal["design", "development", "deployment", "maintenance", "end_of_life"]
PHASES: tuple[str, ...] = get_args(Phase)

Modal = Literal["shall", "should"]
MODALS: tuple[str, ...] = get_args(Modal)

# ---------------------------------------------------------------- risk bands

Band = Literal["low", "medium", "high", "critical"]
BANDS: tuple[str, ...] = get_args(Band)
SEVERITY = {b: i + 1 for i, b in enumerate(BANDS)}  # a band as 1-4, for sorting
BAND_COLOURS = {"low": "#9bd39b", "medium": "#ffe08a", "high": "#f4a259", "critical": "#e05252"}


def band(score: int) -> str:
    """The band of a 1..25 score: low ≤ 4 < medium ≤ 9 < high ≤ 16 < critical."""
    if score <= 4:
        return "low"
    if score <= 9:
        return "medium"
    if score <= 16:
        return "high"
    return "critical"


# ---------------------------------------------------------------- treatments (the register's words)

ACTION_REQUIRED = "action required"  # above the appetite, no decision yet
WITHIN_APPETITE = "within appetite"
REVIEW_OVERDUE = "review overdue"  # a decision whose review date has passed
# A decision's status in the system file → the treatment the register shows.
DECIDED_AS = {
    "accepted": "accepted",
    "transferred": "transferred",
    "avoided": "avoided",
    "false_positive": "false positive",
    "mitigating": "mitigating",
}
TREATMENTS = (ACTION_REQUIRED, WITHIN_APPETITE, REVIEW_OVERDUE, *DECIDED_AS.values())
# Findings someone must act on now: counted as "open actions" everywhere.
OPEN_ACTIONS = frozenset({ACTION_REQUIRED, REVIEW_OVERDUE})
# Findings whose risk still stands: operators and end-users must hear about them (5.1.3-2).
UNRESOLVED = frozenset({ACTION_REQUIRED, REVIEW_OVERDUE, "accepted", "transferred", "mitigating"})
# Treatments by which a risk counts as managed (a decision was taken and is in date).
DECIDED = frozenset({"accepted", "transferred", "avoided", "false positive"})

# ---------------------------------------------------------------- provision statuses

MET, PARTIAL, NOT_MET = "met", "partial", "not met"
NOT_APPLICABLE, NOT_ASSESSED = "not applicable", "not assessed"
STATUSES = (MET, PARTIAL, NOT_MET, NOT_APPLICABLE, NOT_ASSESSED)
# Lower needs attention sooner; sorting by it puts gaps first and non-applicable rows last.
STATUS_RANK = {NOT_MET: 0, NOT_ASSESSED: 1, PARTIAL: 2, MET: 3, NOT_APPLICABLE: 4}
# Why a row is or is not in scope (the `scope` column): "not applicable" has three sources.
APPLIES = "applies"
NOT_BOUND = "role not bound"  # the provision does not bind this role
NOT_TRIGGERED = "not triggered"  # nothing in the system calls for it
NOT_RECORDED = "not recorded"  # the fact that would call for it is not recorded
SCOPES = (APPLIES, NOT_BOUND, NOT_TRIGGERED, NOT_RECORDED)
# Where a verdict came from (the `source` column).
AUTOMATIC, ATTESTED, BOTH, NO_SOURCE = "automatic", "attested", "both", "none"
SOURCES = (AUTOMATIC, ATTESTED, BOTH, NO_SOURCE)
# An attestation's status as the system file spells it (a YAML key) → the provision status.
ATTESTED_AS = {"met": MET, "partial": PARTIAL, "not_met": NOT_MET, "not_applicable": NOT_APPLICABLE}
STATUS_COLOURS = {
    MET: "#9bd39b",
    PARTIAL: "#ffe08a",
    NOT_MET: "#e05252",
    NOT_ASSESSED: "#d9d9d9",
    NOT_APPLICABLE: "#f2f2f2",
}

# ---------------------------------------------------------------- ID formats


def finding_id(threat_id: str, asset_id: str) -> str:
    """A finding's stable ID: `<threat-id>@<asset-id>`."""
    return f"{threat_id}@{asset_id}"


def flow_id(source: str, kind: str, target: str) -> str:
    """A flow's ID as the change summaries and explanations show it: `a-trains->b`."""
    return f"{source}-{kind}->{target}"


# ---------------------------------------------------------------- what documentation came with a component

# What documentation an asset taken from outside came with (`documentation:` in the system file).
# `none` (or an empty list) says it came with none; leaving the field out says nobody recorded it.
Documentation = Literal[
    "model-card", "data-card", "licence", "security-policy", "sbom", "usage-guide", "none"
]
DOCUMENTATION: tuple[str, ...] = get_args(Documentation)
