"""The automatic compliance checks: one small function per provision the system file can show.

Each check reads the model, its asset graph and assessed findings, the threat library and, for a
few, the run history, and returns (status, evidence, reason). The reason is one line naming the
assets involved, so a reviewer can verify it against the system file. A check with nothing to
look at returns "not applicable": either nothing in the system triggers the provision, or the
fact that would trigger it is not recorded (`not_recorded`, which the gaps view keeps). A
run-history check without history returns "not assessed".

Registered checks return a `Verdict`: the result plus its trail, the facts the check used (the
assets it judged, the controls it found and the run history it read), gathered as it runs.

Two verdicts are used. Coverage (inventory, documentation, monitoring): every asset in scope
passes → met, some do → partial, none do → not met. Strict (a security control on an exposed or
sensitive asset): any asset failing → not met.

Example: ``CHECKS["5.2.2-2"](inputs)`` → ``("met", "score-api: rate_limit_per_minute=300", ...)``
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property, wraps

from kit.compliance.facts import RunFacts
from kit.graph import AssetGraph
from kit.graph.analyses import blast_radius, environment_mixing, inventory_gaps, permission_excess
from kit.model.schema import Asset, SystemModel
from kit.risk.scoring import Assessment, applied_controls
from kit.threats.library import Library
from kit.vocab import (
    ACTION_REQUIRED,
    DECIDED,
    MET,
    NOT_APPLICABLE,
    NOT_ASSESSED,
    NOT_MET,
    NOT_RECORDED,
    NOT_TRIGGERED,
    PARTIAL,
    UNRESOLVED,
)

NO_HISTORY = "no run history: run `saikit run`"

Result = tuple[str, str, str]  # (status, evidence, reason)


@dataclass
class Trail:
    """The facts one check used, gathered while it runs (see `check`)."""

    assets: dict[str, None] = field(default_factory=dict)  # judged, in order, once each
    controls: dict[str, None] = field(default_factory=dict)  # "control on asset (status)"
    history: str = ""  # the run history read, described
    not_recorded: bool = False  # "not applicable" because a triggering fact is not recorded


@dataclass(frozen=True)
class Verdict:
    """What a registered check returns: its result and the facts behind it."""

    status: str
    evidence: str
    reason: str
    assets: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    history: str = ""
    scope: str = ""  # for "not applicable": NOT_TRIGGERED or NOT_RECORDED


_TRAIL: ContextVar[Trail | None] = ContextVar("compliance_trail", default=None)


def _note_assets(ids: Iterable[str]) -> None:
    trail = _TRAIL.get()
    if trail is not None:
        trail.assets.update(dict.fromkeys(ids))


SENSITIVE = frozenset({"confidential", "personal", "special_category"})
DATA_TYPES = ("dataset", "vector_store", "log_store")


@dataclass(frozen=True)
class Inputs:
    """What a check may read: the model, graph, findings, library, run history and today's date."""

    model: SystemModel
    graph: AssetGraph
    assessment: Assessment
    library: Library
    history: RunFacts | None
    today: dt.date

    @property
    def facts(self) -> RunFacts | None:
        """The run history; reading it puts it in the check's trail."""
        trail = _TRAIL.get()
        if trail is not None and not trail.history:
            trail.history = _describe_history(self.history)
        return self.history

    def assets(self, *types: str) -> list[Asset]:
        """Active assets of the given types (all types when none are named), in file order."""
        return [
            a for a in self.model.assets if a.status == "active" and (not types or a.type in types)
        ]

    @cached_property
    def applied(self) -> dict[str, dict[str, str]]:
        """asset → control → 'implemented' or 'planned' (implemented wins)."""
        return applied_controls(self.model)

    def control(self, asset_id: str, controls: Iterable[str]) -> tuple[str, str] | None:
        """(control, status) of the best of `controls` on the asset (implemented first), or None."""
        on_asset = self.applied.get(asset_id, {})
        found = [(on_asset[c], c) for c in sorted(controls) if c in on_asset]
        if not found:
            return None
        status, control = min(found, key=lambda sc: sc[0] != "implemented")
        trail = _TRAIL.get()
        if trail is not None:
            trail.controls[f"{control} on {asset_id} ({status})"] = None
        return control, status

    def controls_for(self, *provisions: str) -> set[str]:
        """IDs of the library controls that declare they help meet any of `provisions`."""
        return {
            cid for cid, c in self.library.controls.items() if set(c.provisions) & set(provisions)
        }


Check = Callable[[Inputs], Result]
CHECKS: dict[str, Callable[[Inputs], Verdict]] = {}
HISTORY_CHECKS: set[str] = set()


def check(provision_id: str, *, history: bool = False) -> Callable[[Check], Check]:
    """Register a check for a provision; `history` checks report not assessed without run facts."""

    def register(fn: Check) -> Callable[[Inputs], Verdict]:
        @wraps(fn)
        def run(inp: Inputs) -> Verdict:
            trail = Trail()
            token = _TRAIL.set(trail)
            try:
                if history and inp.facts is None:
                    status, evidence, reason = NOT_ASSESSED, "", NO_HISTORY
                else:
                    status, evidence, reason = fn(inp)
            finally:
                _TRAIL.reset(token)
            known = {a.id for a in inp.model.assets}
            scope = ""
            if status == NOT_APPLICABLE:
                scope = NOT_RECORDED if trail.not_recorded else NOT_TRIGGERED
            return Verdict(
                status,
                evidence,
                reason,
                assets=tuple(a for a in trail.assets if a in known),
                controls=tuple(trail.controls),
                history=trail.history,
                scope=scope,
            )

        CHECKS[provision_id] = run
        if history:
            HISTORY_CHECKS.add(provision_id)
        return run

    return register


# ------------------------------------------------------------------------------------ helpers


def names(ids: Iterable[str], limit: int = 5) -> str:
    """'a, b, c' or 'a, b, c, d, e and 3 more'."""
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def one_line(text: str, limit: int = 160) -> str:
    """Text on one line, cut to `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def every(
    rows: list[tuple[str, bool, str]],
    noun: str,
    good: str,
    bad: str,
    *,
    empty: str,
    strict: bool = False,
) -> Result:
    """A verdict over (item, passes, what was seen) rows; evidence lists all, reason the failures.

    `good` and `bad` complete "N of N {noun} {good}: items" and "K of N {noun} {bad}: items".
    """
    if not rows:
        return NOT_APPLICABLE, "", empty
    _note_assets(item.split(" (")[0] for item, _, _ in rows)  # "orphan (no owner)" → "orphan"
    failing = [item for item, ok, _ in rows if not ok]
    evidence = "; ".join(f"{item}: {seen}" for item, _, seen in rows)
    total = len(rows)
    if not failing:
        return MET, evidence, f"{total} of {total} {noun} {good}: {names(i for i, _, _ in rows)}"
    status = NOT_MET if strict or len(failing) == total else PARTIAL
    return status, evidence, f"{len(failing)} of {total} {noun} {bad}: {names(failing)}"


def _control_seen(inp: Inputs, asset_id: str, controls: set[str]) -> tuple[bool, str]:
    """Whether an implemented control of `controls` is on the asset, and what was seen."""
    found = inp.control(asset_id, controls)
    if found is None:
        return False, f"none of {names(sorted(controls), 3)}"
    control, status = found
    return status == "implemented", f"{control} {status}"


# Text that holds a place rather than a fact: "TBD", "TODO", "n/a", "pending, nothing deleted".
_PLACEHOLDER = re.compile(
    r"^\W*(?:tbd|tbc|todo|to do|fixme|n/?a|none|unknown|pending|later|xxx+|\?+|-+)\b|^\W*$",
    re.IGNORECASE,
)


def stated(text: str | None) -> bool:
    """Whether a free-text fact is filled in: not empty and not a placeholder."""
    return bool(text) and not _PLACEHOLDER.match(text)


def not_recorded(reason: str) -> Result:
    """ "Not applicable" because the fact that would trigger the provision is not recorded: the
    gaps view keeps it, and an attestation can settle it."""
    trail = _TRAIL.get()
    if trail is not None:
        trail.not_recorded = True
    return NOT_APPLICABLE, "", f"not recorded: {reason}"


def unstated(assets: Iterable[Asset], fact: str) -> list[str]:
    """IDs of the assets whose file leaves `fact` out (so it holds only the schema's default)."""
    return [a.id for a in assets if fact not in a.model_fields_set]


def _describe_history(facts: RunFacts | None) -> str:
    if facts is None:
        return "no run history"
    if facts.last_run_time is None:
        return "run history: no published run"
    config = (facts.last_run_config_sha256 or "")[:12]
    return f"run history: last run {facts.last_run_time:%Y-%m-%d %H:%M} (configuration {config})"


def _run_age(inp: Inputs) -> int | None:
    """Days since the last run, or None without one."""
    last = inp.facts.last_run_time if inp.facts else None
    return None if last is None else (inp.today - last.date()).days


# ------------------------------------------------------------------------ 5.1.1 awareness


def _briefings(inp: Inputs) -> Result:
    """Every role held has had a briefing on this system's threats (`saikit export briefing`)
    within the review interval: material fitted to what the role does, with the mitigations."""
    briefed = dict(inp.facts.briefed)
    interval = inp.model.system.review_interval_days
    rows = []
    for role in inp.model.system.roles:
        when = briefed.get(role)
        if when is None:
            rows.append((role, False, "no briefing exported"))
            continue
        age = (inp.today - dt.date.fromisoformat(when)).days
        fresh = age <= interval
        rows.append(
            (role, fresh, f"briefing exported {when}" + ("" if fresh else f", {age} days ago"))
        )
    return every(
        rows,
        "roles held",
        f"were briefed within the {interval}-day review interval",
        "have no briefing within the review interval",
        empty="no role held",
    )


@check("5.1.1-1.1", history=True)
def role_briefings_fit_each_role(inp: Inputs) -> Result:
    """Training fitted to each role: a role briefing from this system's threats, per role held."""
    return _briefings(inp)


@check("5.1.1-2", history=True)
def staff_told_current_threats_and_mitigations(inp: Inputs) -> Result:
    """Staff hear the current threats and their mitigations: a recent briefing per role held."""
    return _briefings(inp)


# ------------------------------------------------------------------------ 5.1.2 secure design


@check("5.1.2-1")
def business_requirement_recorded(inp: Inputs) -> Result:
    """The business need is recorded; the risk register holds its AI security risks."""
    requirement = inp.model.system.business_requirement
    findings = len(inp.assessment.findings)
    if not stated(requirement):
        shown = one_line(requirement, 60) if requirement else "empty"
        return (
            NOT_MET,
            f"system.business_requirement: {shown}",
            "system.business_requirement is not filled in",
        )
    return (
        MET,
        f"system.business_requirement: {one_line(requirement, 120)}; register: {findings} findings",
        f"business requirement recorded; its AI security risks are the {findings} findings of the "
        "risk register",
    )


@check("5.1.2-3", history=True)
def audit_trail_covers_models_datasets_prompts(inp: Inputs) -> Result:
    """A run is in the audit trail and every model, dataset and prompt carries a version or hash."""
    if inp.facts.last_run_time is None:
        return NOT_MET, "run history: no published run", "no run in the audit trail yet"
    last = inp.facts.last_run_time.date().isoformat()
    rows = [
        (
            a.id,
            bool(a.version or a.sha256),
            f"version {a.version or '-'}, sha256 {'yes' if a.sha256 else 'no'}",
        )
        for a in inp.assets("model", "dataset", "prompt")
    ]
    status, evidence, reason = every(
        rows,
        "models, datasets and prompts",
        "carry a version or sha256",
        "carry neither version nor sha256",
        empty="no model, dataset or prompt",
    )
    if status == NOT_APPLICABLE:
        status = MET
    return status, f"last run {last}; {evidence}", f"audit trail has runs (last {last}); {reason}"


@check("5.1.2-4")
def external_components_have_due_diligence(inp: Inputs) -> Result:
    """Every component from outside (public or third-party, except data) has due diligence."""
    rows = [
        (
            a.id,
            a.due_diligence is not None and stated(a.due_diligence.evidence),
            f"due diligence {a.due_diligence.date} ({one_line(a.due_diligence.evidence, 60)})"
            if a.due_diligence
            else f"{a.source} {a.type}, no due_diligence",
        )
        for a in inp.assets()
        if a.type not in ("dataset", "user_group")
        and (a.source != "internal" or a.type == "third_party_component")
    ]
    return every(
        rows,
        "external components",
        "have due_diligence recorded",
        "have no due_diligence",
        empty="no public or third-party component in the inventory",
    )


@check("5.1.2-6")
def permissions_no_wider_than_flows(inp: Inputs) -> Result:
    """Every permission granted to an asset is used by one of its flows (permission_excess)."""
    excess = permission_excess(inp.graph)
    rows = []
    for asset in inp.assets():
        if not asset.permissions:
            continue
        extra = excess.get(asset.id, [])
        if extra:
            rows.append(
                (
                    f"{asset.id} ({', '.join(extra)})",
                    False,
                    f"unused by any flow: {', '.join(extra)}",
                )
            )
        else:
            rows.append((asset.id, True, f"{', '.join(asset.permissions)} all used by its flows"))
    return every(
        rows,
        "assets granted permissions",
        "hold only permissions their flows need",
        "hold permissions no flow needs",
        empty="no asset is granted permissions",
        strict=True,
    )


@check("5.1.2-7")
def external_providers_have_due_diligence(inp: Inputs) -> Result:
    """Every external provider (named in `provider`, or a third-party source) had due diligence."""
    providers: dict[str, list[Asset]] = {}
    for a in inp.assets():
        if a.provider:
            providers.setdefault(a.provider, []).append(a)
        elif a.source == "third_party":
            providers.setdefault(f"unnamed provider of {a.id}", []).append(a)
    rows = []
    for provider, assets in providers.items():
        done = [a for a in assets if a.due_diligence]
        seen = (
            f"due diligence {done[0].due_diligence.date} on {done[0].id}"
            if done
            else f"no due_diligence on {names(a.id for a in assets)}"
        )
        rows.append((provider, bool(done), seen))
    return every(
        rows,
        "external providers",
        "have due diligence recorded",
        "have no due diligence",
        empty="no asset names an external provider",
    )


# --------------------------------------------------------------------- 5.1.3 threats and risk


@check("5.1.3-1", history=True)
def threat_model_run_and_reviewed(inp: Inputs) -> Result:
    """A threat-model run exists, within the review interval, with no decision review overdue."""
    age, interval = _run_age(inp), inp.model.system.review_interval_days
    if age is None:
        return NOT_MET, "run history: no published run", "no threat-model run in the run history"
    last = inp.facts.last_run_time.date().isoformat()
    overdue = inp.assessment.overdue_reviews
    evidence = (
        f"last run {last} ({age} days ago); review interval {interval} days; "
        f"overdue decision reviews: {names(overdue) or 'none'}"
    )
    if age > interval:
        return (
            PARTIAL,
            evidence,
            f"last threat-model run {last} is older than the {interval}-day review interval",
        )
    if overdue:
        return (
            PARTIAL,
            evidence,
            f"{len(overdue)} risk decisions are past their review date: {names(overdue)}",
        )
    return (
        MET,
        evidence,
        f"threat model run {last}, within the {interval}-day review interval; no decision overdue",
    )


@check("5.1.3-1.1", history=True)
def threat_model_current_with_configuration(inp: Inputs) -> Result:
    """The last threat-model run assessed the configuration as it is now."""
    facts = inp.facts
    if facts.config_sha256 is None:
        return NOT_ASSESSED, "", "no fingerprint of the current configuration"
    if facts.last_run_config_sha256 is None or facts.last_run_time is None:
        return NOT_MET, "run history: no published run", "no threat-model run in the run history"
    last = facts.last_run_time.date().isoformat()
    now, then = facts.config_sha256[:12], facts.last_run_config_sha256[:12]
    evidence = f"current configuration {now}; last run {last} assessed {then}"
    if facts.config_sha256 == facts.last_run_config_sha256:
        return MET, evidence, f"the last run ({last}) assessed the current configuration {now}"
    return (
        NOT_MET,
        evidence,
        f"configuration changed since the last threat-model run ({last}): {then} → {now}",
    )


@check("5.1.3-1.2")
def superfluous_modalities_managed(inp: Inputs) -> Result:
    """A model offering modalities the system does not use has a restriction or a risk decision."""
    models = [a for a in inp.assets("model") if a.modalities_offered]
    if not models:
        return not_recorded("no model records modalities_offered")
    flagged = [m for m in models if set(m.modalities_offered) - set(m.modalities_used)]
    if not flagged:
        return (
            MET,
            "; ".join(f"{m.id}: uses every modality it offers" for m in models),
            (f"every model uses all the modalities it offers: {names(m.id for m in models)}"),
        )
    verdicts = {m.id: _modality_risk_managed(inp, m) for m in flagged}
    evidence = "; ".join(f"{mid}: {seen}" for mid, (_, seen) in verdicts.items())
    unmanaged = [mid for mid, (state, _) in verdicts.items() if state == NOT_MET]
    pending = [mid for mid, (state, _) in verdicts.items() if state == PARTIAL]
    if unmanaged:
        reason = f"unused modalities without a restriction or risk decision on {names(unmanaged)}"
        return NOT_MET, evidence, reason
    if pending:
        reason = f"unused modalities of {names(pending)}: restriction planned, not implemented"
        return PARTIAL, evidence, reason
    return MET, evidence, f"unused modalities of {names(verdicts)} are restricted or decided"


def _modality_risk_managed(inp: Inputs, model: Asset) -> tuple[str, str]:
    """(met / partial / not met, what was seen) for one model with unused modalities."""
    extra = ", ".join(x for x in model.modalities_offered if x not in model.modalities_used)
    control = inp.control(model.id, inp.controls_for("5.1.3-1.2"))
    findings = _findings_on(inp, model.id, "5.1.3-1.2")
    decided = [f for f in findings if f.treatment in DECIDED]
    mitigating = [f for f in findings if f.treatment == "mitigating"]
    if control and control[1] == "implemented":
        return MET, f"offers {extra} unused; {control[0]} implemented"
    if decided:
        return MET, f"offers {extra} unused; {decided[0].id} {decided[0].treatment}"
    if control:
        return PARTIAL, f"offers {extra} unused; {control[0]} planned"
    if mitigating:
        return PARTIAL, f"offers {extra} unused; {mitigating[0].id} mitigating"
    return NOT_MET, f"offers {extra} unused; no restriction control or risk decision"


def _findings_on(inp: Inputs, asset_id: str, provision: str) -> list:
    """Findings on an asset whose threat bears on `provision`."""
    return [
        f
        for f in inp.assessment.findings
        if f.match.asset_id == asset_id and provision in f.match.threat.provisions
    ]


@check("5.1.3-1.3")
def findings_above_appetite_are_treated(inp: Inputs) -> Result:
    """No finding above the risk appetite is left without a decision or enough controls."""
    findings = inp.assessment.findings
    appetite = inp.model.system.risk_appetite
    if not findings:
        return NOT_APPLICABLE, "", "the threat model raised no findings"
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.treatment] = counts.get(f.treatment, 0) + 1
    evidence = "treatments: " + ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
    action = [f.id for f in findings if f.treatment == ACTION_REQUIRED]
    overdue = [f.id for f in findings if f.treatment == "review overdue"]
    if action:
        return (
            NOT_MET,
            evidence,
            (
                f"{len(action)} of {len(findings)} findings exceed the {appetite} appetite with no "
                f"decision: {names(action, 3)}"
            ),
        )
    if overdue:
        return (
            PARTIAL,
            evidence,
            f"{len(overdue)} risk decisions are past their review date: {names(overdue, 3)}",
        )
    return (
        MET,
        evidence,
        f"all {len(findings)} findings are within the {appetite} appetite or decided",
    )


@check("5.1.3-2", history=True)
def unresolved_findings_communicated(inp: Inputs) -> Result:
    """Every finding whose risk stands was in an exported communication pack."""
    sent = inp.facts.communicated_findings
    rows = [
        (
            f.id,
            f.id in sent,
            f"{f.treatment}; {'in' if f.id in sent else 'not in'} a communication pack",
        )
        for f in inp.assessment.findings
        if f.treatment in UNRESOLVED
    ]
    return every(
        rows,
        "unresolved findings",
        "were in an exported communication pack",
        "were never communicated",
        empty="no unresolved finding to communicate",
    )


# ---------------------------------------------------------------------- 5.1.4 human oversight


@check("5.1.4-1")
def human_oversight_described(inp: Inputs) -> Result:
    """The system records how people oversee it."""
    oversight = inp.model.system.human_oversight
    if not stated(oversight):
        shown = one_line(oversight, 60) if oversight else "empty"
        return (
            NOT_MET,
            f"system.human_oversight: {shown}",
            "system.human_oversight is not filled in",
        )
    return (
        MET,
        f"system.human_oversight: {one_line(oversight, 120)}",
        "human oversight capability recorded in system.human_oversight",
    )


@check("5.1.4-3")
def human_oversight_backed_by_technical_measures(inp: Inputs) -> Result:
    """Where oversight is a control, every acting asset has human approval built in."""
    approval = inp.controls_for("5.1.4-3")
    relies = stated(inp.model.system.human_oversight) or any(
        a.human_approval or inp.control(a.id, approval) for a in inp.assets()
    )
    if not relies:
        return (
            NOT_APPLICABLE,
            "",
            "human oversight is not relied on as a control "
            "(no human_oversight, human_approval or human-approval control)",
        )
    rows = []
    for a in inp.assets():
        control = inp.control(a.id, approval)
        if "action" not in a.outputs and control is None and not a.human_approval:
            continue
        if a.human_approval:
            rows.append((a.id, True, "human_approval: true"))
        else:  # false, or not recorded (unknown is not "no", but it is no evidence either)
            ok, seen = _control_seen(inp, a.id, approval)
            stated_as = "not recorded" if a.human_approval is None else "false"
            rows.append(
                (
                    a.id,
                    ok,
                    f"outputs {', '.join(a.outputs) or '-'}; human_approval {stated_as}; {seen}",
                )
            )
    if not rows:  # oversight is described, yet nothing is built for people to oversee with
        return (
            NOT_MET,
            f"system.human_oversight: {one_line(inp.model.system.human_oversight, 80)}",
            "human oversight is relied on (system.human_oversight) but no asset has it built in "
            "(human_approval or an implemented human-approval control)",
        )
    return every(
        rows,
        "acting or approval-gated assets",
        "require human approval",
        "act with no human approval recorded",
        empty="",  # not reached: an empty list is answered above
    )


# ------------------------------------------------------------------------------ 5.2.1 assets


@check("5.2.1-1")
def inventory_owned_and_connected(inp: Inputs) -> Result:
    """Every asset has an owner and, while in use, a flow recording its connections
    (graph.inventory_gaps). A retired asset has no flows by design: only its owner counts."""
    gaps = inventory_gaps(inp.graph)
    rows = []
    for a in inp.model.assets:
        needed = ("owner", "flows") if a.status == "active" else ("owner",)
        missing = [
            {"owner": "no owner", "flows": "no flow"}[g] for g in gaps.get(a.id, []) if g in needed
        ]
        if missing:
            rows.append((f"{a.id} ({', '.join(missing)})", False, ", ".join(missing)))
        else:
            rows.append((a.id, True, f"owner {a.owner or '-'}, connected"))
    return every(
        rows,
        "assets",
        "have an owner and at least one flow",
        "lack an owner or a flow",
        empty="the inventory is empty",
    )


@check("5.2.1-2")
def assets_versioned(inp: Inputs) -> Result:
    """Every active asset that should carry a version does (graph.inventory_gaps)."""
    gaps = inventory_gaps(inp.graph)
    rows = []
    for a in inp.assets():
        if a.type == "user_group":
            continue
        unversioned = "version" in gaps.get(a.id, [])
        seen = (
            f"version {a.version}"
            if a.version
            else ("no version" if unversioned else f"no version expected for {a.type}")
        )
        rows.append((a.id, not unversioned, seen))
    return every(
        rows, "assets", "record a version", "record no version", empty="no versionable asset"
    )


ACCESS_CONTROLS = frozenset({"authentication", "access-control", "retrieval-access-control"})


@check("5.2.1-4")
def sensitive_data_access_protected(inp: Inputs) -> Result:
    """Every sensitive data store has authentication or an implemented access control.

    Only controls that decide who may read count; redaction, minimisation or encryption at rest
    bear on 5.2.1-4 too, but they protect the data, not access to it."""
    controls = inp.controls_for("5.2.1-4") & ACCESS_CONTROLS
    rows = []
    for a in inp.assets(*DATA_TYPES):
        if a.sensitivity not in SENSITIVE:
            continue
        if a.authentication not in (None, "none"):
            rows.append((a.id, True, f"{a.sensitivity}; authentication {a.authentication}"))
            continue
        ok, seen = _control_seen(inp, a.id, controls)
        rows.append((a.id, ok, f"{a.sensitivity}; {seen}"))
    unclassified = unstated(inp.assets(*DATA_TYPES), "sensitivity")
    if not rows and unclassified:
        return not_recorded(
            f"no data store is sensitive, but {names(unclassified)} record no sensitivity"
        )
    return every(
        rows,
        "sensitive data stores",
        "are access-protected",
        "have no implemented access protection",
        empty="no confidential or personal data store",
        strict=True,
    )


@check("5.2.1-4.2")
def confidential_weights_and_training_data_protected(inp: Inputs) -> Result:
    """Sensitive models and the sensitive data that trains them carry an implemented protection."""
    controls = inp.controls_for("5.2.1-4.2", "5.2.1-4")
    trains = {f.source for f in inp.model.flows if f.kind in ("trains", "fine_tunes")}
    rows = []
    for a in inp.assets():
        in_scope = a.type == "model" or (a.type in DATA_TYPES and a.id in trains)
        if not in_scope or a.sensitivity not in SENSITIVE:
            continue
        ok, seen = _control_seen(inp, a.id, controls)
        rows.append((a.id, ok, f"{a.type}, {a.sensitivity}; {seen}"))
    in_scope = [
        a for a in inp.assets() if a.type == "model" or (a.type in DATA_TYPES and a.id in trains)
    ]
    unclassified = unstated(in_scope, "sensitivity")
    if not rows and unclassified:
        return not_recorded(
            f"no model or training data is confidential, but {names(unclassified)} record no sensitivity"
        )
    return every(
        rows,
        "sensitive models and training datasets",
        "carry an implemented protection",
        "carry no implemented protection",
        empty="no confidential model weights or training data",
    )


# ------------------------------------------------------------------------ 5.2.2 infrastructure

RATE_LIMITING = "rate-limiting"  # the issue asks for rate limits, not any 5.2.2-2 control
_EXPOSABLE = (
    "model",
    "dataset",
    "vector_store",
    "log_store",
    "tool",
    "agent",
    "third_party_component",
)


@check("5.2.2-1")
def apis_and_exposed_assets_authenticated(inp: Inputs) -> Result:
    """Every API and every externally exposed model, data store or tool requires authentication,
    and every flow crossing a trust boundary is authenticated."""
    rows = [
        (
            a.id,
            a.authentication not in (None, "none"),
            f"{a.type}, {a.exposure}; authentication {a.authentication or '-'}",
        )
        for a in inp.assets()
        if a.type == "api" or (a.type in _EXPOSABLE and a.exposure != "internal")
    ]
    rows += [
        (
            f.id,
            f.authenticated,
            "crosses boundary; " + ("authenticated" if f.authenticated else "unauthenticated"),
        )
        for f in inp.model.flows
        if f.crosses_boundary
    ]
    return every(
        rows,
        "APIs, exposed assets and boundary flows",
        "are authenticated",
        "are unauthenticated",
        empty="no API, externally exposed asset or boundary-crossing flow",
        strict=True,
    )


@check("5.2.2-2")
def external_apis_rate_limited(inp: Inputs) -> Result:
    """Every API or model you offer to partners or the public is rate-limited."""
    rows = []
    for a in inp.assets("api", "model"):
        if a.exposure == "internal" or a.source != "internal":
            continue
        if a.rate_limited:
            rows.append((a.id, True, f"{a.exposure}; {_rate_limit(a)}"))
        else:
            ok, seen = _control_seen(inp, a.id, {RATE_LIMITING})
            rows.append((a.id, ok, f"{a.exposure}; {_rate_limit(a)}; {seen}"))
    return every(
        rows,
        "partner or public APIs",
        "are rate-limited",
        "are not rate-limited",
        empty="no API or model offered to partners or the public",
        strict=True,
    )


def _rate_limit(a: Asset) -> str:
    """The rate limit as the file states it: a figure in a window, 'limited', none or unknown."""
    if a.rate_limit_per_minute:
        return f"rate_limit_per_minute={a.rate_limit_per_minute}"
    if a.rate_limit is None:
        return "no rate limit recorded"
    if isinstance(a.rate_limit, str):
        return f"rate_limit: {a.rate_limit}"
    return f"rate_limit: {a.rate_limit.requests} per {a.rate_limit.per}"


@check("5.2.2-3")
def training_data_confined_to_development(inp: Inputs) -> Result:
    """Non-public training data stays in development (graph.environment_mixing)."""
    mixing = environment_mixing(inp.graph)
    trains = {f.source for f in inp.model.flows if f.kind in ("trains", "fine_tunes")}
    rows = []
    for a in inp.assets(*DATA_TYPES):
        if a.id not in trains or a.sensitivity == "public":
            continue
        reasons = mixing.get(a.id, [])
        seen = "; ".join(reasons) or f"{a.sensitivity}, held and read in development only"
        rows.append((a.id, not reasons, seen))
    return every(
        rows,
        "non-public training datasets",
        "stay in the development environment",
        "reach outside the development environment",
        empty="no non-public data trains a model",
        strict=True,
    )


# ------------------------------------------------------------------- 5.2.3 supply chain

# The document without which a model or component from outside counts as poorly documented:
# a model card for a model; for code and services a security policy, an SBOM or a usage guide.
KEY_DOCUMENTS = {"model": {"model-card"}}
OTHER_KEY_DOCUMENTS = {"security-policy", "sbom", "usage-guide"}


@check("5.2.3-2")
def poorly_documented_components_justified(inp: Inputs) -> Result:
    """Every model or component from outside (data is 5.2.4-2's) came with its key document, or
    the choice to use it anyway is justified in writing: its due-diligence record."""
    rows, unrecorded = [], []
    for a in inp.assets():
        if a.type in ("user_group", *DATA_TYPES) or (
            a.source == "internal" and a.type != "third_party_component"
        ):
            continue
        justified = a.due_diligence is not None and stated(a.due_diligence.evidence)
        why = (
            f"justified in due diligence {a.due_diligence.date} "
            f"({one_line(a.due_diligence.evidence, 60)})"
            if justified
            else "no written justification (due_diligence)"
        )
        if a.documents is None:
            unrecorded.append((a.id, justified, f"documentation not recorded; {why}"))
            continue
        key = KEY_DOCUMENTS.get(a.type, OTHER_KEY_DOCUMENTS)
        came = ", ".join(sorted(a.documents)) or "none"
        if a.documents & key:
            rows.append((a.id, True, f"came with {came}"))
        else:
            rows.append((a.id, justified, f"poorly documented (came with {came}); {why}"))
    if not rows and unrecorded and not any(ok for _, ok, _ in unrecorded):
        return not_recorded(
            f"{names(i for i, _, _ in unrecorded)}, from outside, record no documentation"
        )
    return every(
        rows + unrecorded,
        "models and components from outside",
        "came documented or are justified in writing",
        "are poorly documented or unrecorded, with no written justification",
        empty="no model or component from outside",
    )


# ------------------------------------------------------------------- 5.2.4 documentation


@check("5.2.4-1", history=True)
def design_audit_trail_kept(inp: Inputs) -> Result:
    """The audit trail records the system design as it is now."""
    facts = inp.facts
    if facts.last_run_time is None:
        return (
            NOT_MET,
            "run history: no published run",
            "no run in the audit trail records the design",
        )
    last = facts.last_run_time.date().isoformat()
    evidence = f"last run {last}; configuration {(facts.last_run_config_sha256 or '-')[:12]}"
    if facts.config_sha256 and facts.config_sha256 != facts.last_run_config_sha256:
        return (
            PARTIAL,
            evidence,
            f"the audit trail's last run ({last}) records an earlier design; run again",
        )
    return MET, evidence, f"the audit trail records the current design (last run {last})"


@check("5.2.4-1.2")
def model_hashes_recorded(inp: Inputs) -> Result:
    """Every model you hold the artefact of (all but third-party hosted ones) has a SHA-256."""
    rows = [
        (
            a.id,
            bool(a.sha256),
            f"{a.source}, format {a.format or '-'}; sha256 {'recorded' if a.sha256 else 'missing'}",
        )
        for a in inp.assets("model")
        if not (a.source == "third_party" and not (a.artifact or a.format))
    ]
    return every(
        rows,
        "models whose artefact you hold",
        "have a sha256",
        "have no sha256",
        empty="no model whose artefact you hold (hosted models only)",
    )


def _public_training_data(inp: Inputs) -> list[Asset]:
    """Public datasets whose data reaches a model or a vector store."""
    out = []
    for a in inp.assets("dataset"):
        reached = blast_radius(inp.graph, a.id)
        if a.source == "public" and any(
            inp.model.asset_by_id[r].type in ("model", "vector_store") for r in reached
        ):
            out.append(a)
    return out


@check("5.2.4-2")
def public_data_source_recorded(inp: Inputs) -> Result:
    """Every public dataset that feeds a model or index records where it came from."""
    rows = [
        (
            a.id,
            bool(a.provenance and a.provenance.url),
            f"provenance.url {a.provenance.url}" if a.provenance else "no provenance",
        )
        for a in _public_training_data(inp)
    ]
    return every(
        rows,
        "public datasets feeding a model or index",
        "record a source URL",
        "record no source",
        empty="no public dataset feeds a model or vector store",
    )


@check("5.2.4-2.1")
def public_data_url_and_retrieval_time(inp: Inputs) -> Result:
    """Every public dataset that feeds a model or index records its URL and retrieval date."""
    rows = []
    for a in _public_training_data(inp):
        p = a.provenance
        ok = bool(p and p.url and p.retrieved)
        retrieved = p.retrieved if p and p.retrieved else "no"
        seen = f"url {'yes' if p and p.url else 'no'}, retrieved {retrieved}"
        rows.append((a.id, ok, seen))
    return every(
        rows,
        "public datasets feeding a model or index",
        "record source URL and retrieval date",
        "lack a source URL or retrieval date",
        empty="no public dataset feeds a model or vector store",
    )


@check("5.2.4-3", history=True)
def prompt_changes_audited(inp: Inputs) -> Result:
    """The current version of every prompt appears in the audit trail."""
    audited = inp.facts.audited_prompts
    rows = [
        (
            a.id,
            a.id in audited,
            f"version {a.version or '-'} {'in' if a.id in audited else 'not in'} the audit trail",
        )
        for a in inp.assets("prompt")
    ]
    return every(
        rows,
        "prompts",
        "have their current version in the audit trail",
        "have a current version missing from the audit trail",
        empty="no prompt in the inventory",
    )


# ------------------------------------------------------------------------- 5.4.2 monitoring


@check("5.4.2-1")
def actions_logged(inp: Inputs) -> Result:
    """Every API, agent and user-facing asset logs to a log store (or has audit logging)."""
    users = {a.id for a in inp.model.assets if a.type == "user_group"}
    serves_users = {f.source for f in inp.model.flows if f.kind == "serves" and f.target in users}
    log_stores = {a.id for a in inp.model.assets if a.type == "log_store"}
    controls = inp.controls_for("5.4.2-1")
    rows = []
    for a in inp.assets():
        if a.type not in ("api", "agent") and a.id not in serves_users:
            continue
        sinks = [
            f.target
            for f in inp.model.flows
            if f.source == a.id and f.kind == "logs_to" and f.target in log_stores
        ]
        if sinks:
            rows.append((a.id, True, f"logs_to {', '.join(sinks)}"))
        else:
            ok, seen = _control_seen(inp, a.id, controls)
            rows.append((a.id, ok, f"no logs_to flow; {seen}"))
    return every(
        rows,
        "APIs, agents and user-facing assets",
        "log their actions",
        "log nowhere",
        empty="no API, agent or user-facing asset",
    )


@check("5.4.2-2")
def logs_analysed(inp: Inputs) -> Result:
    """Every log store is read for analysis by some asset, or carries an implemented monitoring
    control. Logs that only train or fine-tune a model are data, not analysis."""
    controls = inp.controls_for("5.4.2-2")
    rows = []
    for a in inp.assets("log_store"):
        readers = [
            e.target
            for e in inp.graph.out_edges.get(a.id, ())
            if e.kind not in ("depends_on", "trains", "fine_tunes")
        ]
        if readers:
            rows.append((a.id, True, f"read by {names(readers, 3)}"))
        else:
            ok, seen = _control_seen(inp, a.id, controls)
            rows.append((a.id, ok, f"read by no asset; {seen}"))
    return every(
        rows,
        "log stores",
        "are analysed",
        "are neither read nor monitored",
        empty="no log store",
    )


MODEL_MONITORING = frozenset({"monitoring", "model-integrity-monitoring"})


@check("5.4.2-4")
def models_monitored(inp: Inputs) -> Result:
    """Every active model carries an implemented performance or integrity monitoring control.

    Reviewing feedback before retraining bears on 5.4.2-4 too, but it watches the input, not
    the model."""
    controls = inp.controls_for("5.4.2-4") & MODEL_MONITORING
    rows = [(a.id, *_control_seen(inp, a.id, controls)) for a in inp.assets("model")]
    return every(
        rows,
        "models",
        "are monitored",
        "are not monitored",
        empty="no model in the inventory",
    )


# ------------------------------------------------------------------------ 5.5.1 end of life


@check("5.5.1-2")
def retired_assets_disposed(inp: Inputs) -> Result:
    """Every retired asset records how its data and configuration were disposed of."""
    rows = [
        (
            a.id,
            stated(a.disposal),
            f"disposal: {one_line(a.disposal, 80)}" if a.disposal else "no disposal record",
        )
        for a in inp.model.assets
        if a.status == "retired"
    ]
    return every(
        rows,
        "retired assets",
        "record their disposal",
        "have no disposal record",
        empty="no retired asset",
        strict=True,
    )
