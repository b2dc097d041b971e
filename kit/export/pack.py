"""The communication pack (5.1.3-2, 5.3.1-2.1): unresolved threats, told to the people they affect.

A short document for System Operators and End-users, in Markdown and HTML: which threats remain
unresolved, how serious each is, what it could do in plain words, and what to do about it.
Operators get one entry per finding with the recommended actions (the missing and planned
controls, by name, from the threat library); End-users get the same threats grouped by the kind
of harm, with what they can do themselves.

"Unresolved" is the compliance check's own definition (kit.vocab.UNRESOLVED), and the
finding IDs the pack carries go into the audit trail, where the 5.1.3-2 check looks for them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from kit.runs.rundata import RunData
from kit.vocab import BAND_COLOURS, BANDS, OPEN_ACTIONS, UNRESOLVED

SERIOUSNESS = {"low": "minor", "medium": "moderate", "high": "serious", "critical": "severe"}
# For End-users, by threat category: (heading, what it means, what they can do).
HARMS = {
    "confidentiality": (
        "Information could be exposed",
        "Someone could get at information held or produced by the system, such as records, "
        "conversations or the model itself.",
        "Share only what the service asks for. If you see information that is not yours, stop "
        "and report it.",
    ),
    "privacy": (
        "Personal information could be revealed",
        "Details about people whose data the system learned from or handles could be worked "
        "out or leaked.",
        "Give no more personal detail than the task needs, and ask the operator how your data "
        "is used and kept.",
    ),
    "integrity": (
        "Results could be wrong or manipulated",
        "Someone could tamper with the data, model or instructions behind the system so that "
        "its answers or decisions are wrong.",
        "Treat results as advice, check important ones another way, and report results that "
        "look wrong or one-sided.",
    ),
    "misuse": (
        "The system could be turned against its purpose",
        "Crafted inputs could make the system ignore its rules, reveal what it should not, or "
        "act in ways nobody intended.",
        "Be wary of results that ask you to do something unusual, and report behaviour that "
        "seems to follow hidden instructions.",
    ),
    "availability": (
        "The service could slow down or stop",
        "Heavy or abusive use could make the system slow, costly or unavailable.",
        "Keep another way to get the task done if the service is unavailable.",
    ),
    "supply_chain": (
        "Parts supplied by others could be compromised",
        "Models, data or software the system takes from outside could carry hidden flaws.",
        "Nothing for you to do; the operator is responsible. Report anything unexpected.",
    ),
}


@dataclass(frozen=True)
class Place:
    """One unresolved finding: the threat on one asset, with its risk and status."""

    finding_id: str
    asset: str
    band: str
    score: int
    treatment: str
    status: str


@dataclass(frozen=True)
class Entry:
    """One threat, with every asset on which it stays unresolved, in the pack's words."""

    threat: str
    category: str
    impact: str
    places: tuple[Place, ...]
    actions: tuple[str, ...]

    @property
    def band(self) -> str:
        return max((p.band for p in self.places), key=BANDS.index)

    @property
    def score(self) -> int:
        return max(p.score for p in self.places)

    @property
    def finding_ids(self) -> list[str]:
        return [p.finding_id for p in self.places]


def unresolved(run: RunData) -> list[Entry]:
    """The run's unresolved findings grouped by threat, the highest residual risk first."""
    described = run.threats  # as the run's library described them, never today's
    threats, controls = described["threats"], described["controls"]
    names = {a["id"]: a.get("name") or a["id"] for a in run.config.get("assets", [])}
    rows: dict[str, list] = {}
    for r in run.register.itertuples(index=False):  # already highest residual first
        if r.treatment in UNRESOLVED:
            rows.setdefault(r.threat_id, []).append(r)
    entries = []
    for threat_id, group in rows.items():
        threat = threats.get(threat_id)
        places = tuple(
            Place(
                r.finding_id,
                names.get(r.asset_id, r.asset_id),
                r.residual_band,
                int(r.residual_score),
                r.treatment,
                _status(r),
            )
            for r in group
        )
        entries.append(
            Entry(
                threat=group[0].threat,
                category=group[0].category,
                impact=_one_line(threat["summary"]) if threat else f"See threat {threat_id}.",
                places=places,
                actions=tuple(_actions(group, names, controls)),
            )
        )
    return entries


def _status(r) -> str:
    owner = r.decision_owner or "no named owner"
    why = f": {_one_line(r.justification)}" if r.justification else ""
    review = f" until {r.review_by}" if r.review_by else ""
    return {
        "action required": "above the risk appetite with no decision yet: action is needed",
        "review overdue": f"accepted earlier, but its review date ({r.review_by}) has passed: "
        f"it must be decided again",
        "accepted": f"accepted by {owner}{review}{why}",
        "mitigating": f"being reduced ({owner}{review}){why}",
        "transferred": f"transferred ({owner}){why}",
    }.get(r.treatment, r.treatment)


def _actions(group: list, names: dict[str, str], controls: dict[str, dict]) -> list[str]:
    """Missing controls to put in place and planned ones to finish, each with where it applies."""

    def named(cid: str) -> tuple[str, str]:
        c = controls.get(cid)
        return (c["name"], _one_line(c["description"])) if c else (cid, "")

    def where(assets: list[str]) -> str:
        return "" if len(group) == 1 else f" (on {'; '.join(assets)})"

    missing: dict[str, list[str]] = {}
    planned: dict[str, list[str]] = {}
    for r in group:
        for cid in _split(r.controls_missing):
            missing.setdefault(cid, []).append(names.get(r.asset_id, r.asset_id))
        for cid in _split(r.controls_planned):
            planned.setdefault(cid, []).append(names.get(r.asset_id, r.asset_id))
    out = []
    for cid, assets in missing.items():
        name, what = named(cid)
        out.append(f"Put in place {name}{where(assets)}" + (f": {what}" if what else "."))
    for cid, assets in planned.items():
        out.append(
            f"Finish the planned {named(cid)[0]}{where(assets)} and record it as implemented."
        )
    if not out:
        done = sorted({named(c)[0] for r in group for c in _split(r.controls_implemented)})
        out.append(
            f"Keep the controls in place ({', '.join(done)}) and watch for changes that "
            "raise the risk."
            if done
            else "No library control addresses this threat: decide how to treat it."
        )
    return out


def _split(text: str) -> list[str]:
    return [x.strip() for x in str(text).split(",") if x.strip()]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------- rendering


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _intro(run: RunData, entries: list[Entry]) -> tuple[str, str]:
    places = [p for e in entries for p in e.places]
    urgent = sum(p.treatment in OPEN_ACTIONS for p in places)
    lead = (
        (
            f"{_plural(len(entries), 'threat')} to this system, on "
            f"{_plural(len({p.asset for p in places}), 'part')} of it, are not resolved: the risk "
            f"is still there. {_urgency(urgent, len(places))} This notice says what each threat "
            f"could do and what should be done about it."
        )
        if entries
        else (
            "No threat to this system is unresolved at this run: every finding is within the "
            "risk appetite, avoided, or shown to be a false positive."
        )
    )
    m = run.manifest
    meta = (
        f"For System Operators and End-users. Run {run.run_id} of {m.get('time', '')[:10]}, "
        f"assessed against {run.edition_title()} (provisions 5.1.3-2 and 5.3.1-2.1)."
    )
    return meta, lead


def _urgency(urgent: int, total: int) -> str:
    if urgent == 0:
        return "Each has a decision that is in date."
    if urgent == total:
        return "All of them need a decision now." if total > 1 else "It needs a decision now."
    return f"{urgent} of the {total} cases need a decision now."


def _by_harm(entries: list[Entry]) -> list[tuple[str, list[Entry]]]:
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.category, []).append(e)
    order = sorted(groups, key=lambda c: (-max(BANDS.index(e.band) for e in groups[c]), c))
    return [(c, groups[c]) for c in order]


def _serious(band: str, score: int) -> str:
    return f"{SERIOUSNESS[band]} (residual risk {band}, {score} of 25)"


OPERATORS = (
    "You run or integrate the system. For each threat: how serious it is, where it "
    "applies and with what status, what could happen, and what to do."
)
END_USERS = (
    "You use the system or are affected by its results. Most of this needs nothing from "
    "you; it says what could go wrong and how to protect yourself."
)


_MD_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
_MD_LINE_START = re.compile(r"^(?:([#+=-])|(\d+)([.)]))")


def md(text) -> str:
    """Text made literal in Markdown: one line, with every character that could start markup
    (emphasis, code, links, HTML, entities, tables) and any block marker at its start escaped."""
    escaped = _MD_INLINE.sub(r"\\\1", _one_line(text))
    return _MD_LINE_START.sub(
        lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), escaped
    )


def render_markdown(run: RunData, entries: list[Entry]) -> str:
    """The pack as Markdown; every value from a file is escaped."""
    meta, lead = _intro(run, entries)
    system = run.config.get("system", {})
    lines = [f"# Security notice: {md(run.system_name)}", "", f"*{md(meta)}*", ""]
    if system.get("purpose"):
        lines += [md(system["purpose"]), ""]
    lines += [f"**{md(lead)}**", "", "## For System Operators", "", md(OPERATORS), ""]
    for n, e in enumerate(entries, 1):
        lines += [
            f"### {n}\\. {md(e.threat)}",
            "",
            f"**How serious:** {md(_serious(e.band, e.score))}",
            "",
            f"**What could happen:** {md(e.impact)}",
            "",
            "**Where, and its status:**",
            "",
        ]
        lines += [
            f"- {md(p.asset)}: {md(SERIOUSNESS[p.band])}, {md(p.status)} (`{p.finding_id}`)"
            for p in e.places
        ]
        lines += ["", "**Recommended actions:**", ""] + [f"- {md(a)}" for a in e.actions] + [""]
    lines += ["## For End-users", "", md(END_USERS), ""]
    for category, group in _by_harm(entries):
        heading, means, advice = HARMS.get(category, (category, "", ""))
        lines += [f"### {md(heading)}", "", md(means), ""]
        lines += [
            f"- {md(e.threat)} ({md(SERIOUSNESS[e.band])}): "
            f"{md(', '.join(dict.fromkeys(p.asset for p in e.places)))}"
            for e in group
        ]
        lines += ["", f"**What you can do:** {md(advice)}", ""]
    lines += [
        "## Contact",
        "",
        md(
            f"Questions and reports about this system: {system.get('owner') or 'the system owner'}."
        ),
        "",
    ]
    return "\n".join(lines)


def _h(text) -> str:
    return html.escape(_one_line(text), quote=True)


PACK_CSS = """
body { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: #1c2430;
  max-width: 46rem; margin: 2rem auto; padding: 0 1.2rem; line-height: 1.5; }
h1 { color: #1f2d3d; border-bottom: 3px solid #1f2d3d; padding-bottom: .3rem;
  margin-bottom: .4rem; }
h2 { color: #0f6e74; margin-top: 2rem; border-bottom: 1px solid #d5dbe3; }
h3 { margin: 1.3rem 0 .3rem; }
.meta { color: #5b6675; font-size: .9rem; margin-top: 0; }
dl { display: grid; grid-template-columns: 9.5rem 1fr; gap: .2rem .8rem; margin: .3rem 0; }
dt { color: #5b6675; } dd { margin: 0; }
.band { padding: 0 .35rem; border-radius: 2px; }
.critical { color: #fff; }
code { font-size: .8rem; color: #5b6675; }
.lead { font-weight: 600; }
dd ul { margin: 0; padding-left: 1.1rem; }
section.threat { break-inside: avoid; }
@page { size: A4; margin: 16mm; }
@media print { body { margin: 0; max-width: none; } h3, dl { break-inside: avoid; } }
""" + "".join(f".{b} {{ background: {c}; }}\n" for b, c in BAND_COLOURS.items())


def render_html(run: RunData, entries: list[Entry]) -> str:
    """The pack as a self-contained HTML page with no scripts; every value is escaped."""
    meta, lead = _intro(run, entries)
    system = run.config.get("system", {})
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        f"<title>Security notice: {_h(run.system_name)}</title>",
        f"<style>{PACK_CSS}</style></head><body>",
        f"<h1>Security notice: {_h(run.system_name)}</h1>",
        f'<p class="meta">{_h(meta)}</p>',
    ]
    if system.get("purpose"):
        out.append(f"<p>{_h(system['purpose'])}</p>")
    out += [
        f'<p class="lead">{_h(lead)}</p>',
        "<h2>For System Operators</h2>",
        f"<p>{_h(OPERATORS)}</p>",
    ]
    for n, e in enumerate(entries, 1):
        places = "".join(
            f'<li>{_h(p.asset)}: <span class="band {p.band}">{_h(SERIOUSNESS[p.band])}</span>, '
            f"{_h(p.status)} <code>{_h(p.finding_id)}</code></li>"
            for p in e.places
        )
        actions = "".join(f"<li>{_h(a)}</li>" for a in e.actions)
        out += [
            f'<section class="threat"><h3>{n}. {_h(e.threat)}</h3><dl>',
            f'<dt>How serious</dt><dd><span class="band {e.band}">{_h(SERIOUSNESS[e.band])}'
            f"</span> (residual risk {_h(e.band)}, {e.score} of 25)</dd>",
            f"<dt>What could happen</dt><dd>{_h(e.impact)}</dd>",
            f"<dt>Where, and its status</dt><dd><ul>{places}</ul></dd>",
            f"<dt>Recommended actions</dt><dd><ul>{actions}</ul></dd></dl></section>",
        ]
    out += ["<h2>For End-users</h2>", f"<p>{_h(END_USERS)}</p>"]
    for category, group in _by_harm(entries):
        heading, means, advice = HARMS.get(category, (category, "", ""))
        items = "".join(
            f'<li>{_h(e.threat)} (<span class="band {e.band}">{_h(SERIOUSNESS[e.band])}</span>): '
            f"{_h(', '.join(dict.fromkeys(p.asset for p in e.places)))}</li>"
            for e in group
        )
        out += [
            f"<h3>{_h(heading)}</h3><p>{_h(means)}</p><ul>{items}</ul>",
            f"<p><strong>What you can do:</strong> {_h(advice)}</p>",
        ]
    out += [
        "<h2>Contact</h2>",
        f"<p>Questions and reports about this system: "
        f"{_h(system.get('owner') or 'the system owner')}.</p>",
        "</body></html>",
    ]
    return "\n".join(out) + "\n"
