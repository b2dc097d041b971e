"""Pictures of risk: the inherent-versus-residual heatmap.

`heatmap_scene` is the plain data the picture draws (counts per cell, the appetite, the title);
`draw_heatmaps` draws a scene. A caller that redraws often keeps pictures by their scene.
"""

from __future__ import annotations

from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from kit.graph.plots import Picture
from kit.risk.scoring import Assessment
from kit.vocab import BAND_COLOURS, BANDS, SEVERITY, band

# The lowest and highest score of each band (kit.vocab.band), as the legends show them.
BAND_RANGES = {
    b: (min(s for s in range(1, 26) if band(s) == b), max(s for s in range(1, 26) if band(s) == b))
    for b in BANDS
}
APPETITE_LINE = "#1a1a1a"


def heatmap_scene(assessment: Assessment, title: str = "", *, appetite: str | None = None):
    """What the heatmaps draw: (inherent counts, residual counts, findings, appetite, title).

    Counts are 5×5 tuples indexed [likelihood - 1][impact - 1].
    """
    grids = []
    for residual in (False, True):
        counts = [[0] * 5 for _ in range(5)]
        for f in assessment.findings:
            lk = f.residual_likelihood if residual else f.likelihood
            im = f.residual_impact if residual else f.impact
            counts[lk - 1][im - 1] += 1
        grids.append(tuple(tuple(row) for row in counts))
    return (grids[0], grids[1], len(assessment.findings), appetite, title)


def heatmaps(assessment: Assessment, title: str = "", *, appetite: str | None = None):
    """Two 5×5 likelihood × impact grids, inherent and residual, with finding counts in cells.

    A legend names the bands and their score ranges; with `appetite` (a band, the system's
    risk_appetite) a heavy line closes off the cells above it, where a finding needs action.
    """
    return draw_heatmaps(heatmap_scene(assessment, title, appetite=appetite))


def draw_heatmaps(scene) -> Picture:
    """Draw a `heatmap_scene`. Text is at least 10 pt at the picture's own size (10 × 4.9 in)."""
    inherent, residual, findings, appetite, title = scene
    fig = Picture(figsize=(10, 4.9), layout="constrained")
    axes = fig.subplots(1, 2)
    cmap = ListedColormap([BAND_COLOURS[b] for b in BANDS])
    grid = [[SEVERITY[band((i + 1) * (j + 1))] for j in range(5)] for i in range(5)]
    for ax, counts, name in zip(axes, (inherent, residual), ("Inherent", "Residual"), strict=True):
        ax.imshow(grid, cmap=cmap, vmin=0.5, vmax=4.5, origin="lower")
        for i in range(5):
            for j in range(5):
                if counts[i][j]:
                    ax.text(
                        j,
                        i,
                        str(counts[i][j]),
                        ha="center",
                        va="center",
                        fontsize=14,
                        fontweight="bold",
                        color="#1a1a1a",
                    )
        if appetite:
            _appetite_line(ax, appetite)
        ax.set_xticks(range(5), [str(n) for n in range(1, 6)], fontsize=11)
        ax.set_yticks(range(5), [str(n) for n in range(1, 6)], fontsize=11)
        ax.tick_params(length=0)
        ax.set_xlabel("impact", fontsize=11)
        ax.set_ylabel("likelihood", fontsize=11)
        ax.set_title(f"{name} risk ({findings} findings)", fontsize=12)
    handles = [
        Patch(facecolor=BAND_COLOURS[b], label=f"{b} {BAND_RANGES[b][0]}–{BAND_RANGES[b][1]}")
        for b in BANDS
    ]
    if appetite:
        handles.append(
            Line2D([], [], color=APPETITE_LINE, lw=3, label=f"risk appetite: {appetite}")
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=10,
        frameon=False,
        handlelength=1.6,
        columnspacing=1.2,
    )
    if title:
        fig.headline(title)
    return fig


def above_appetite(likelihood: int, impact: int, appetite: str) -> bool:
    """Whether a finding in this cell is above the risk appetite (a band): it needs action."""
    return SEVERITY[band(likelihood * impact)] > SEVERITY[appetite]


def _appetite_line(ax, appetite: str) -> None:
    """A heavy line along the border between cells within the appetite and cells above it."""
    above = [[above_appetite(i + 1, j + 1, appetite) for j in range(5)] for i in range(5)]
    for i in range(5):
        for j in range(5):
            if not above[i][j]:
                continue
            # cell (row i = likelihood, column j = impact) spans j±0.5, i±0.5
            if i == 0 or not above[i - 1][j]:
                ax.plot([j - 0.5, j + 0.5], [i - 0.5, i - 0.5], color=APPETITE_LINE, lw=3)
            if j == 0 or not above[i][j - 1]:
                ax.plot([j - 0.5, j - 0.5], [i - 0.5, i + 0.5], color=APPETITE_LINE, lw=3)
    ax.set_xlim(-0.5, 4.5)
    ax.set_ylim(-0.5, 4.5)
