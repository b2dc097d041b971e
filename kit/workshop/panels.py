"""What the workshop shows of a state: the headline, the findings table and the pictures.

Plain functions of an Analysis that return HTML (every user string escaped) or PNG bytes. The
pictures are drawn from what they show and kept by it (`Pictures`), so an edit that leaves a
picture as it was costs no drawing.
"""

from __future__ import annotations

import html
import io
from collections import OrderedDict

from kit.analysis import Analysis
from kit.vocab import BAND_COLOURS, OPEN_ACTIONS, band


def residual_summary(analysis: Analysis) -> dict[str, int | str]:
    """Totals the workshop headline shows: findings, residual total and highest, open actions."""
    findings = analysis.assessment.findings
    scores = [f.residual_score for f in findings]
    top = max(scores, default=0)
    return {
        "findings": len(findings),
        "total": sum(scores),
        "highest": top,
        "highest_band": band(top) if top else "none",
        "actions": sum(f.treatment in OPEN_ACTIONS for f in findings),
        "appetite": analysis.model.system.risk_appetite,
    }


def findings_html(analysis: Analysis, before: Analysis | None = None, limit: int = 12) -> str:
    """The top findings by residual risk as an HTML table (every value escaped).

    With `before`, a column shows how each residual score moved in the last change.
    """
    old = {f.id: f.residual_score for f in before.assessment.findings} if before else {}
    rows = []
    for f in analysis.assessment.findings[:limit]:
        b = band(f.residual_score)
        delta = ""
        if before is not None:
            if f.id not in old:
                delta = "<span class='sk-up'>new</span>"
            elif old[f.id] != f.residual_score:
                diff = f.residual_score - old[f.id]
                arrow, cls = ("▲", "sk-up") if diff > 0 else ("▼", "sk-down")
                delta = f"<span class='{cls}'>{arrow}{abs(diff)}</span>"
        missing = ", ".join(f.controls_missing[:3]) + (" …" if len(f.controls_missing) > 3 else "")
        rows.append(
            "<tr>"
            f"<td><span class='sk-band' style='background:{BAND_COLOURS[b]}'>{b}</span></td>"
            f"<td class='sk-num'><b>{f.residual_score}</b> {delta}</td>"
            f"<td class='sk-num'>{f.score}</td>"
            f"<td><b>{html.escape(f.match.threat.name)}</b><br>"
            f"<span class='sk-id'>{html.escape(f.id)}</span></td>"
            f"<td>{html.escape(f.treatment)}</td>"
            f"<td class='sk-small'>{html.escape(missing) or '—'}</td>"
            "</tr>"
        )
    gone = sorted(set(old) - {f.id for f in analysis.assessment.findings})
    more = len(analysis.assessment.findings) - limit
    foot = []
    if more > 0:
        foot.append(f"{more} more finding(s) below these")
    if gone:
        foot.append("no longer raised: " + ", ".join(html.escape(g) for g in gone))
    return (
        "<table class='sk-findings'><thead><tr><th>residual</th><th>score</th><th>inherent</th>"
        "<th>finding</th><th>treatment</th><th>missing controls</th></tr></thead>"
        f"<tbody>{''.join(rows) or '<tr><td colspan=6>no findings</td></tr>'}</tbody></table>"
        + (f"<div class='sk-small'>{'; '.join(foot)}</div>" if foot else "")
    )


def png(fig, dpi: int = 96) -> bytes:
    """A figure as PNG bytes (the figures lay themselves out: no second pass)."""
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


def asset_scene(analysis: Analysis):
    """What the asset picture draws (see kit.graph.plots.graph_scene): its cache key."""
    from kit.graph.plots import graph_scene

    return graph_scene(analysis.graph)


def heatmap_scene(analysis: Analysis):
    """What the heatmaps draw (see kit.risk.plots.heatmap_scene): their cache key."""
    from kit.risk.plots import heatmap_scene

    return heatmap_scene(analysis.assessment, appetite=analysis.model.system.risk_appetite)


class Pictures:
    """The workshop's asset picture as PNG bytes, drawn only for what has not been drawn before.

    Each picture is kept by its scene, the plain data it draws, so undoing an edit or going
    back to an earlier choice shows the picture drawn then. The last `keep` of each are kept.
    """

    def __init__(self, keep: int = 32):
        self.keep = keep
        self._drawn: dict[str, OrderedDict] = {"assets": OrderedDict()}
        self.drawings = 0  # how many pictures were drawn (not taken from the cache)

    def assets(self, analysis: Analysis) -> bytes:
        from kit.graph.plots import draw_scene

        return self._get("assets", asset_scene(analysis), draw_scene)

    def clear(self) -> None:
        for kept in self._drawn.values():
            kept.clear()

    def _get(self, kind: str, scene, draw) -> bytes:
        kept = self._drawn[kind]
        if scene in kept:
            kept.move_to_end(scene)
            return kept[scene]
        kept[scene] = png(draw(scene))
        self.drawings += 1
        while len(kept) > self.keep:
            kept.popitem(last=False)
        return kept[scene]


def heatmap_html(analysis: Analysis) -> str:
    """The inherent and residual heatmaps as HTML tables, the same scene the report's picture
    draws (kit.risk.plots): counts per likelihood × impact cell, band colours and their score
    ranges, and a heavy line closing off the cells above the risk appetite. Text, not pixels:
    sharp on any projector, and redrawn in no time."""
    from kit.risk.plots import APPETITE_LINE, BAND_RANGES, above_appetite

    inherent, residual, findings, appetite, _ = heatmap_scene(analysis)
    line = f"3px solid {APPETITE_LINE}"
    grids = []
    for name, counts in (("Inherent", inherent), ("Residual", residual)):
        rows = []
        for lk in range(5, 0, -1):
            cells = [f"<th class='sk-hm-axis'>{lk}</th>"]
            for im in range(1, 6):
                style = [f"background:{BAND_COLOURS[band(lk * im)]}"]
                if above_appetite(lk, im, appetite):
                    if lk == 1 or not above_appetite(lk - 1, im, appetite):
                        style.append(f"border-bottom:{line}")
                    if im == 1 or not above_appetite(lk, im - 1, appetite):
                        style.append(f"border-left:{line}")
                n = counts[lk - 1][im - 1]
                cells.append(f"<td style='{';'.join(style)}'>{n or ''}</td>")
            rows.append(f"<tr>{''.join(cells)}</tr>")
        axis = "".join(f"<th class='sk-hm-axis'>{im}</th>" for im in range(1, 6))
        grids.append(
            f"<div class='sk-hm'><div class='sk-hm-title'>{name} risk ({findings} findings)"
            "</div><table class='sk-hm-grid'><tbody>"
            f"<tr><th class='sk-hm-label' rowspan=6>likelihood</th></tr>{''.join(rows)}"
            f"<tr><th></th><th></th>{axis}</tr>"
            "<tr><th></th><th></th><th class='sk-hm-label' colspan=5>impact</th></tr>"
            "</tbody></table></div>"
        )
    legend = "".join(
        f"<span class='sk-hm-key'><i style='background:{BAND_COLOURS[b]}'></i>{b} {lo}–{hi}</span>"
        for b, (lo, hi) in BAND_RANGES.items()
    )
    legend += (
        f"<span class='sk-hm-key'><i class='sk-hm-line' style='border-bottom:{line}'></i>"
        f"risk appetite: {html.escape(appetite)}</span>"
    )
    return (
        f"<div class='sk-heatmaps'>{''.join(grids)}</div><div class='sk-hm-legend'>{legend}</div>"
    )
