"""What moved since the workshop began: findings raised, resolved and re-scored, and provisions
whose status moved, between the system as opened and as it stands now.

The comparison has the shape `saikit diff` gives two runs (kit.runs.diff.RunDiff, its findings
described as a run's findings.json describes them), so a facilitator closes a workshop with the
same summary a rerun would give. `note_html` makes it a short standalone HTML note, which
`save_note` writes into the system's run store and records in its audit trail.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

from kit import audit
from kit.analysis import Analysis
from kit.files import sha256_file, write_atomic
from kit.runs import rundata
from kit.runs.diff import RunDiff
from kit.vocab import BAND_COLOURS

NOTES = "workshop-notes"  # the folder of the run store that keeps the notes


def provision_statuses(analysis: Analysis, today: dt.date | None = None) -> dict[str, str]:
    """Each provision's status per role, as a run's provisions.json keys it."""
    from kit.compliance.assessment import assess

    return rundata.provision_statuses(assess(analysis, None, today))


class Since:
    """The start of a workshop, to compare later states with (the start is assessed once)."""

    def __init__(self, start: Analysis, today: dt.date | None = None):
        self.start = start
        self.today = today
        self._findings = rundata.finding_facts(start)
        self._provisions: dict[str, str] | None = None

    def compare(self, now: Analysis, changes: list[str], provisions: bool = True) -> RunDiff:
        """What moved from the start to `now`; `changes` are the edits made, one line each.

        Without `provisions`, only the findings are compared (the compliance assessment is
        the slower part).
        """
        fa, fb = self._findings, rundata.finding_facts(now)
        out = RunDiff("workshop start", "now", list(changes))
        out.raised = sorted(
            ((k, fb[k]) for k in fb.keys() - fa.keys()), key=lambda kv: -kv[1]["residual_score"]
        )
        out.resolved = sorted(
            ((k, fa[k]) for k in fa.keys() - fb.keys()), key=lambda kv: -kv[1]["residual_score"]
        )
        out.rescored = [
            (k, fa[k], fb[k])
            for k in sorted(fa.keys() & fb.keys())
            if (fa[k]["residual_score"], fa[k]["treatment"])
            != (fb[k]["residual_score"], fb[k]["treatment"])
        ]
        if provisions:
            if self._provisions is None:
                self._provisions = provision_statuses(self.start, self.today)
            pa, pb = self._provisions, provision_statuses(now, self.today)
            out.provisions = [
                (k, pa.get(k, "—"), pb.get(k, "—"))
                for k in sorted(pa.keys() | pb.keys())
                if pa.get(k) != pb.get(k)
            ]
        return out


def moved_html(d: RunDiff, provisions: bool = True) -> str:
    """The comparison as an HTML fragment (every user string escaped)."""

    def finding(k: str, v: dict) -> str:
        b = v["residual_band"]
        return (
            f"<span class='sk-band' style='background:{BAND_COLOURS[b]}'>{b}</span> "
            f"<b>{v['residual_score']}</b> {html.escape(v['threat'])} "
            f"<span class='sk-id'>{html.escape(k)}</span>"
        )

    def section(title: str, items: list[str]) -> str:
        body = "".join(f"<li>{i}</li>" for i in items) or "<li class='sk-small'>none</li>"
        return f"<div class='sk-moved-h'>{title} ({len(items)})</div><ul>{body}</ul>"

    parts = [
        section("Changes made", [html.escape(c) for c in d.changes]),
        section("Findings raised", [finding(k, v) for k, v in d.raised]),
        section("Findings resolved", [finding(k, v) for k, v in d.resolved]),
        section(
            "Findings re-scored",
            [
                f"{finding(k, b)} was {a['residual_score']}"
                + (
                    f" · {html.escape(a['treatment'])} → {html.escape(b['treatment'])}"
                    if a["treatment"] != b["treatment"]
                    else ""
                )
                for k, a, b in d.rescored
            ],
        ),
    ]
    if provisions:
        parts.append(
            section(
                "Provisions whose status moved",
                [
                    f"<b>{html.escape(k)}</b>: {html.escape(a)} → {html.escape(b)}"
                    for k, a, b in d.provisions
                ],
            )
        )
    return f"<div class='sk-moved'>{''.join(parts)}</div>"


_NOTE_CSS = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #1a1a1a;
  line-height: 1.4; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } .sk-sub { color: #555; margin-top: 0; }
.sk-moved-h { font-weight: 600; margin-top: 1rem; } ul { margin: .3rem 0; }
.sk-band { padding: 1px 6px; border-radius: 8px; font-size: .8rem; }
.sk-id { color: #666; font-family: monospace; font-size: .85rem; } .sk-small { color: #666; }
"""


def note_html(d: RunDiff, system_name: str, file: str, when: dt.datetime) -> str:
    """The comparison as a short standalone HTML page for the workshop's record."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Workshop note: {html.escape(system_name)}</title>"
        f"<style>{_NOTE_CSS}</style></head><body>"
        f"<h1>Workshop note: {html.escape(system_name)}</h1>"
        f"<p class='sk-sub'>{html.escape(file)} · saved {when.isoformat(timespec='seconds')}"
        " · what moved since the workshop began</p>"
        f"{moved_html(d)}</body></html>\n"
    )


def save_note(store, d: RunDiff, model, file: Path, when: dt.datetime | None = None) -> Path:
    """Write the note into `<store>/workshop-notes/` and record it in the store's audit trail
    (event `workshop-note`, with its SHA-256); return its path."""
    when = when or dt.datetime.now(dt.UTC)
    path = Path(store.root) / NOTES / f"{when.strftime('%Y%m%dT%H%M%S%fZ')}-{model.system.id}.html"
    write_atomic(path, note_html(d, model.system.name, str(file), when))
    audit.append(
        store.audit_path,
        "workshop-note",
        system=model.system.id,
        file=str(file.resolve()),
        note=str(path.relative_to(store.root)),
        sha256=sha256_file(path),
    )
    return path
