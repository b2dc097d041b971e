"""Role briefings for Principle 1 (5.1.1-1, 5.1.1-1.1, 5.1.1-2, 5.1.1-2.2): the threats that
concern one role, what they look like in this system, and what that role does about them.

The story: read the run → pick the findings that concern the role → group them by threat, with
the threat library's summary (as the run recorded it), the findings here (asset, residual risk,
treatment, why it applies) and the actions (missing controls to put in place, planned ones to
finish, implemented ones to keep, each described from the library) → one notebook of slides →
HTML (the saikit-report template) and slides (nbconvert's reveal.js SlidesExporter with the
saikit-slides template, which loads nothing from the network).

Which findings concern a role is data, not judgement made here: the threat must bear on a
provision the catalogue binds the role to, and the finding must sit on an asset of a kind the
role looks after (`LENSES`). End-users hear about the unresolved findings on what they use, in
the communication pack's words for each kind of harm (kit.export.pack.HARMS).

Every string from the run reaches the page escaped: slides are HTML outputs built here with
html.escape, never markdown.

Example: ``write_briefing(load_run("runs/x/latest"), "developer", Target(out, "briefing"))``
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from kit.errors import did_you_mean, fail
from kit.files import write_atomic
from kit.runs.rundata import RunData
from kit.vocab import BANDS, ROLES, UNRESOLVED

END_USER = "end_user"
AUDIENCES = (*ROLES, END_USER)
SLIDES_TEMPLATE = "saikit-slides"
PRINCIPLE_1 = ("5.1.1-1", "5.1.1-1.1", "5.1.1-2", "5.1.1-2.2")


@dataclass(frozen=True)
class Lens:
    """What a role looks after, and what it is asked to do, in the kit's own words."""

    title: str
    looks_after: frozenset[str]  # asset types
    duty: str


LENSES = {
    "developer": Lens(
        "Developers",
        frozenset(
            {"model", "prompt", "agent", "tool", "dataset", "third_party_component", "application"}
        ),
        "You build, train and change the models, prompts, agents and tools: the controls "
        "below are yours to design in, test and keep working through every release.",
    ),
    "system_operator": Lens(
        "System Operators",
        frozenset(
            {"api", "application", "infrastructure", "log_store", "vector_store", "agent", "tool"}
        ),
        "You run and expose the system: the controls below are yours to switch on, watch "
        "and keep in force in production, and to raise when they are missing.",
    ),
    "data_custodian": Lens(
        "Data Custodians",
        frozenset({"dataset", "vector_store", "log_store"}),
        "You decide who may use which data and how: the controls below protect the data "
        "you are responsible for, from collection to disposal.",
    ),
    END_USER: Lens(
        "End-users",
        frozenset({"application", "api", "agent", "user_group"}),
        "You use the system: these are the risks still open on what you use, and what you "
        "can do yourself.",
    ),
}


@dataclass
class Topic:
    """One threat in a briefing: what it is, its findings here, and what to do."""

    threat_id: str
    threat: str
    category: str
    summary: str
    band: str
    score: int
    findings: list[dict] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    provisions: list[str] = field(default_factory=list)


@dataclass
class Briefing:
    """A role's briefing for one run."""

    role: str
    system_name: str
    run_id: str
    edition: str
    topics: list[Topic]
    principle: list[tuple[str, str]]  # (provision, the kit's summary)

    @property
    def finding_ids(self) -> list[str]:
        return [f["finding_id"] for t in self.topics for f in t.findings]


def check_role(run: RunData, role: str | None) -> str:
    """The role asked for, if the organisation holds it (or it is end_user); else InputError."""
    held = list(run.config.get("system", {}).get("roles", []))
    allowed = [*held, END_USER]
    if not role:
        raise fail(
            "--role", None, "", f"a briefing is for one audience; choose from: {', '.join(allowed)}"
        )
    if role not in allowed:
        raise fail(
            "--role",
            None,
            "",
            f"'{role}' is not a role this system holds{did_you_mean(str(role), allowed)}; "
            f"choose from: {', '.join(allowed)}",
        )
    return role


def build_briefing(run: RunData, role: str) -> Briefing:
    """The briefing of `role` (one the system holds, or end_user) from the run's findings."""
    from kit.compliance.catalogue import load_catalogue

    role = check_role(run, role)
    edition = run.manifest.get("edition")
    catalogue = load_catalogue(edition) if edition else load_catalogue()
    lens = LENSES[role]
    described = run.threats
    threats, controls = described["threats"], described["controls"]
    topics: dict[str, Topic] = {}
    for r in run.register.to_dict("records"):  # highest residual first
        if r["asset_type"] not in lens.looks_after:
            continue
        provisions = [p.strip() for p in str(r["provisions"]).split(",") if p.strip()]
        if role == END_USER:
            if r["treatment"] not in UNRESOLVED:
                continue
        elif not any(_binds(catalogue, p, role) for p in provisions):
            continue
        t = topics.get(r["threat_id"])
        if t is None:
            described_t = threats.get(r["threat_id"], {})
            t = topics[r["threat_id"]] = Topic(
                r["threat_id"],
                r["threat"],
                r["category"],
                " ".join(str(described_t.get("summary", "")).split()),
                r["residual_band"],
                int(r["residual_score"]),
                provisions=provisions,
            )
        t.findings.append(r)
    for t in topics.values():
        t.actions = _actions(t, role, controls)
    principle = [(p, catalogue.provision(p).summary) for p in PRINCIPLE_1]
    return Briefing(
        role, run.system_name, run.run_id, run.edition_title(), list(topics.values()), principle
    )


def _binds(catalogue, provision: str, role: str) -> bool:
    try:
        return role in catalogue.provision(provision).stakeholders
    except KeyError:
        return False


def _split(text) -> list[str]:
    return [x.strip() for x in str(text or "").split(",") if x.strip()]


def _actions(topic: Topic, role: str, controls: dict) -> list[str]:
    """Missing controls to put in place, planned ones to finish, implemented ones to keep."""
    if role == END_USER:
        from kit.export.pack import HARMS

        harm = HARMS.get(topic.category)
        return [harm[2]] if harm else ["Report anything unexpected to the system's operator."]

    def named(cid: str) -> str:
        c = controls.get(cid)
        return f"{c['name']}: {' '.join(c['description'].split())}" if c else cid

    seen: dict[str, str] = {}
    for kind, verb in (
        ("controls_missing", "Put in place"),
        ("controls_planned", "Finish the planned"),
        ("controls_implemented", "Keep working"),
    ):
        for f in topic.findings:
            for cid in _split(f[kind]):
                seen.setdefault(cid, verb)
    if not seen:
        return ["No library control addresses this threat: raise it for a risk decision."]
    return [f"{verb} {named(cid)}" for cid, verb in seen.items()]


# ---------------------------------------------------------------- the notebook of slides


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _slide(body: str, key: str, kind: str = "slide"):
    cell = nbformat.v4.new_code_cell("", id=f"briefing-{key}")
    cell.metadata["slideshow"] = {"slide_type": kind}
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": f'<div class="saikit-slide">{body}</div>'}
        )
    ]
    return cell


def _band(band: str, score) -> str:
    cls = f"band v-{band}" if band in BANDS else "band"
    return f'<span class="{cls}">{_e(band)} {_e(score)}</span>'


def briefing_notebook(b: Briefing):
    """The briefing as a notebook: one slide per threat after an opening slide, each cell an
    HTML output built from escaped text (no code runs, no markdown is interpreted)."""
    lens = LENSES[b.role]
    nb = nbformat.v4.new_notebook(
        metadata={"title": f"{b.system_name}: AI security briefing for {lens.title}"}
    )
    asks = "".join(f"<li><strong>{_e(p)}</strong> {_e(s)}</li>" for p, s in b.principle)
    opening = (
        f'<p class="kicker">AI security briefing · {_e(b.edition)} · Principle 1</p>'
        f"<h2>{_e(b.system_name)}: for {_e(lens.title)}</h2>"
        f"<p>{_e(lens.duty)}</p>"
        f"<p>{len(b.topics)} threat(s) concern you here, across {len(b.finding_ids)} "
        f"finding(s) of run {_e(b.run_id)}.</p>"
        f'<p class="note">What Principle 1 asks, which this briefing serves:</p>'
        f'<ul class="note">{asks}</ul>'
    )
    nb.cells.append(_slide(opening, "opening"))
    if not b.topics:
        nb.cells.append(
            _slide(
                "<h3>Nothing to brief</h3><p>No finding of this run concerns this role.</p>",
                "none",
            )
        )
    for i, t in enumerate(b.topics, start=1):
        here = "".join(
            f"<li><code>{_e(f['finding_id'])}</code> on {_e(f['asset_id'])}: "
            f"{_band(f['residual_band'], f['residual_score'])} {_e(f['treatment'])}. "
            f"Why: {_e(f['explanation'])}</li>"
            for f in t.findings
        )
        todo = "".join(f"<li>{_e(a)}</li>" for a in t.actions)
        body = (
            f"<h3>{i}. {_e(t.threat)} {_band(t.band, t.score)}</h3>"
            f'<p class="threat-summary">{_e(t.summary)}</p>'
            f"<h4>What it looks like here</h4><ul>{here}</ul>"
            f"<h4>What you do</h4><ul>{todo}</ul>"
            f'<p class="note">Provisions: {_e(", ".join(t.provisions))}</p>'
        )
        nb.cells.append(_slide(body, f"t{i}"))
    closing = (
        "<h3>Record this briefing</h3><p>Keep this file with the date it was given and who "
        "attended, as evidence for provisions 5.1.1-1 and 5.1.1-2; report anything that "
        "looks like these threats to the system's owner.</p>"
    )
    nb.cells.append(_slide(closing, "closing"))
    return nb


# ---------------------------------------------------------------- writing


def slides_html(nb) -> str:
    """The notebook as reveal.js slides (nbconvert's SlidesExporter, saikit-slides template)."""
    from nbconvert import SlidesExporter

    from kit.export.report import template_dir

    exporter = SlidesExporter(
        template_name=SLIDES_TEMPLATE,
        extra_template_basedirs=[str(template_dir())],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "briefing"}})
    return body


def write_briefing(run: RunData, role: str, folder: Path, stem: str) -> dict[str, Path]:
    """Write `<stem>-<role>.html`, `.slides.html` and `.ipynb`; return them by name."""
    from kit.export.report import offline_problems, render_html

    b = build_briefing(run, role)
    nb = briefing_notebook(b)
    nb.metadata["saikit"] = {"briefing": {"role": role, "findings": b.finding_ids}}
    base = folder / f"{stem}-{role.replace('_', '-')}"
    pages = {
        base.with_suffix(".html"): render_html(nb),
        Path(f"{base}.slides.html"): slides_html(nb),
    }
    for path, page in pages.items():
        problems = offline_problems(page)
        if problems:
            raise fail(str(path), None, "", "the briefing would fetch: " + "; ".join(problems[:3]))
    written = {p.name: write_atomic(p, page) for p, page in pages.items()}
    nb_path = base.with_suffix(".ipynb")
    written[nb_path.name] = write_atomic(nb_path, nbformat.writes(nb) + "\n")
    return written
