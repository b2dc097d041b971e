"""Risk: inherent and residual scores, treatment against the appetite, decisions, the register.

Inherent risk is likelihood × impact on 5 × 5 scales after the threat's factors; implemented
controls on the finding's asset (or on any asset its evidence names) lower likelihood or impact
by the effect the threat declares, giving residual risk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from kit.graph import AssetGraph
from kit.model.schema import Decision, SystemModel
from kit.threats.engine import Match
from kit.threats.library import Library
from kit.vocab import (
    ACTION_REQUIRED,
    DECIDED_AS,
    REVIEW_OVERDUE,
    SEVERITY,
    TREATMENTS,
    WITHIN_APPETITE,
    band,
)


def _clamp(x: int) -> int:
    return max(1, min(5, x))


@dataclass(slots=True)  # not frozen: a frozen dataclass is 4x slower to make, and there are many
class Finding:
    """A scored threat on one asset, with its treatment (treat as read-only)."""

    match: Match
    likelihood: int
    impact: int
    residual_likelihood: int
    residual_impact: int
    controls_implemented: tuple[str, ...]
    controls_planned: tuple[str, ...]
    controls_missing: tuple[str, ...]
    decision: Decision | None
    treatment: str

    @property
    def id(self) -> str:
        return self.match.id

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    @property
    def residual_score(self) -> int:
        return self.residual_likelihood * self.residual_impact


@dataclass
class Assessment:
    """Findings of one system plus the decisions that no longer match a finding."""

    findings: list[Finding]
    stale_decisions: list[Decision] = field(default_factory=list)
    overdue_reviews: list[str] = field(default_factory=list)


def applied_controls(model: SystemModel) -> dict[str, dict[str, str]]:
    """asset → control → 'implemented' or 'planned' (implemented wins over planned)."""
    out: dict[str, dict[str, str]] = {}
    for use in model.controls:
        for asset in use.assets:
            current = out.setdefault(asset, {})
            if current.get(use.control) != "implemented":
                current[use.control] = use.status
    return out


def assess(
    graph: AssetGraph, library: Library, matches: list[Match], today: dt.date | None = None
) -> Assessment:
    """Score every match, apply controls and decisions, and decide each finding's treatment."""
    model = graph.model
    today = today or dt.date.today()
    decisions = {d.finding: d for d in model.decisions}
    appetite = SEVERITY[model.system.risk_appetite]
    on: dict[str, dict[str, set[str]]] = {}  # control → status → assets it is applied to
    for asset, controls in applied_controls(model).items():
        for control, status in controls.items():
            on.setdefault(control, {"implemented": set(), "planned": set()})[status].add(asset)
    findings: list[Finding] = []
    ids: list[str] = []  # each finding's ID and rank, for sorting
    ranks: list[int] = []
    threat = None
    for m in matches:  # the engine gives them threat by threat
        if m.threat is not threat:
            threat = m.threat
            # Controls applied nowhere need no evidence: they are missing for every finding.
            in_use = [mit for mit in threat.controls if mit.control in on]
            unused = tuple(mit.control for mit in threat.controls if mit.control not in on)
            scored: dict[int, tuple] = {}  # id(factors) → _score(...); factor tuples are shared
        found = None if in_use else scored.get(id(m.factors))
        if found is None:
            found = _score(threat, m, in_use, unused, on)
            found += (_treatment(SEVERITY[band(found[2] * found[3])], appetite, None, today),)
            if not in_use:
                scored[id(m.factors)] = found
        lk, im, rl, ri, implemented, planned, missing, treatment = found
        decision = decisions.get(m.id) if decisions else None
        if decision is not None:
            treatment = _treatment(SEVERITY[band(rl * ri)], appetite, decision, today)
        ids.append(m.id)
        ranks.append(-32 * rl * ri - lk * im)  # residual first, then inherent (both ≤ 25)
        findings.append(
            Finding(m, lk, im, rl, ri, implemented, planned, missing, decision, treatment)
        )
    raised = set(ids)
    stale = [d for d in model.decisions if d.finding not in raised]
    overdue = [f.id for f in findings if f.treatment == "review overdue"]
    # Highest residual first, then highest inherent, then by ID: two sorts on plain keys (a
    # stable sort keeps the ID order within a rank), far cheaper than comparing tuples.
    order = sorted(range(len(findings)), key=ids.__getitem__)
    order.sort(key=ranks.__getitem__)
    findings = [findings[i] for i in order]
    return Assessment(findings, stale, overdue)


def _score(t, m: Match, in_use: list, unused: tuple, on: dict) -> tuple:
    """(likelihood, impact, residual likelihood, residual impact, implemented, planned, missing)."""
    lk = _clamp(t.likelihood + sum(f.likelihood for f in m.factors))
    im = _clamp(t.impact + sum(f.impact for f in m.factors))
    implemented, planned, missing = [], [], list(unused)
    dl = di = 0
    if in_use:
        related = m.related_assets
        for mit in in_use:
            where = on[mit.control]
            if not where["implemented"].isdisjoint(related):
                implemented.append(mit.control)
                dl += mit.likelihood
                di += mit.impact
            elif not where["planned"].isdisjoint(related):
                planned.append(mit.control)
            else:
                missing.append(mit.control)
        missing.sort(key=[mit.control for mit in t.controls].index)
    rl, ri = _clamp(lk + dl), _clamp(im + di)
    return lk, im, rl, ri, tuple(implemented), tuple(planned), tuple(missing)


def _treatment(severity: int, appetite: int, decision: Decision | None, today: dt.date) -> str:
    """What the finding needs now, in the register's words."""
    if decision is not None and decision.status != "open":
        if decision.review_by is not None and decision.review_by < today:
            return REVIEW_OVERDUE
        return DECIDED_AS[decision.status]
    return ACTION_REQUIRED if severity > appetite else WITHIN_APPETITE


def needing_decision(treatments) -> dict[str, int]:
    """How many findings need a decision now, the one count every surface shows (CLI, notebooks,
    workshop, pack, report): `open` = above the appetite with no decision (`action required`)
    plus accepted risks past their review date (`review overdue`), with both parts.

    Example: ``needing_decision(register["treatment"])["open"]``
    """
    treatments = list(treatments)
    action = sum(t == ACTION_REQUIRED for t in treatments)
    overdue = sum(t == REVIEW_OVERDUE for t in treatments)
    return {"open": action + overdue, ACTION_REQUIRED: action, REVIEW_OVERDUE: overdue}


def needing_decision_sentence(treatments) -> str:
    """The count as the sentence every surface prints, e.g. '9 finding(s) need a decision:
    8 above the risk appetite with none, 1 accepted risk past its review date'."""
    n = needing_decision(treatments)
    return (
        f"{n['open']} finding(s) need a decision: {n[ACTION_REQUIRED]} above the risk appetite "
        f"with none, {n[REVIEW_OVERDUE]} accepted risk(s) past the review date"
    )


REGISTER_COLUMNS = {
    "finding_id": "stable ID: <threat-id>@<asset-id>",
    "threat_id": "threat library ID",
    "threat": "threat name",
    "category": "integrity, confidentiality, privacy, availability, misuse or supply_chain",
    "asset_id": "the asset the finding attaches to",
    "asset_type": "its type",
    "inherent_likelihood": "1-5 after factors",
    "inherent_impact": "1-5 after factors",
    "inherent_score": "likelihood × impact, 1-25",
    "inherent_band": "low / medium / high / critical",
    "inherent_severity": "the band as 1-4, for sorting",
    "residual_likelihood": "1-5 after implemented controls",
    "residual_impact": "1-5 after implemented controls",
    "residual_score": "1-25",
    "residual_band": "low / medium / high / critical",
    "residual_severity": "the band as 1-4, for sorting",
    "treatment": ", ".join(TREATMENTS),
    "decision": "the recorded decision's status, if any",
    "decision_owner": "who owns the decision",
    "review_by": "when an accepted risk must be reviewed",
    "justification": "why the decision was taken",
    "controls_implemented": "mitigating controls in place",
    "controls_planned": "mitigating controls planned",
    "controls_missing": "mitigating controls not applied",
    "factors": "circumstances that raised or lowered the base scores",
    "explanation": "the assets and flows that made the threat apply",
    "provisions": "ETSI TS 104 223 provisions the threat bears on",
    "references": "MITRE ATLAS / OWASP / NIST entries, with edition",
}


def register(assessment: Assessment, model: SystemModel):
    """The risk register as a pandas DataFrame: one row per finding, highest residual first."""
    import pandas as pd

    rows = []
    for f in assessment.findings:
        t, a, d = f.match.threat, model.asset_by_id[f.match.asset_id], f.decision
        rows.append(
            {
                "finding_id": f.id,
                "threat_id": t.id,
                "threat": t.name,
                "category": t.category,
                "asset_id": a.id,
                "asset_type": a.type,
                "inherent_likelihood": f.likelihood,
                "inherent_impact": f.impact,
                "inherent_score": f.score,
                "inherent_band": band(f.score),
                "inherent_severity": SEVERITY[band(f.score)],
                "residual_likelihood": f.residual_likelihood,
                "residual_impact": f.residual_impact,
                "residual_score": f.residual_score,
                "residual_band": band(f.residual_score),
                "residual_severity": SEVERITY[band(f.residual_score)],
                "treatment": f.treatment,
                "decision": d.status if d else "",
                "decision_owner": (d.owner or "") if d else "",
                "review_by": d.review_by.isoformat() if d and d.review_by else "",
                "justification": (d.justification or "") if d else "",
                "controls_implemented": ", ".join(f.controls_implemented),
                "controls_planned": ", ".join(f.controls_planned),
                "controls_missing": ", ".join(f.controls_missing),
                "factors": "; ".join(x.reason for x in f.match.factors),
                "explanation": f.match.explanation,
                "provisions": ", ".join(t.provisions),
                "references": ", ".join(r.label for r in t.references),
            }
        )
    return pd.DataFrame(rows, columns=list(REGISTER_COLUMNS))
