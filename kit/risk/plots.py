"""Pictures of risk: the inherent-versus-residual heatmap."""

from __future__ import annotations

from matplotlib.colors import ListedColormap

from kit.graph.plots import Picture
from kit.risk.scoring import Assessment
from kit.vocab import BAND_COLOURS, BANDS, SEVERITY, band


def heatmaps(assessment: Assessment, title: str = ""):
    """Two 5×5 likelihood × impact grids, inherent and residual, with finding counts in cells."""
    fig = Picture(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    cmap = ListedColormap([BAND_COLOURS[b] for b in BANDS])
    for ax, residual in zip(axes, (False, True), strict=True):
        counts = [[0] * 5 for _ in range(5)]
        for f in assessment.findings:
            lk = f.residual_likelihood if residual else f.likelihood
            im = f.residual_impact if residual else f.impact
            counts[lk - 1][im - 1] += 1
        grid = [[SEVERITY[band((i + 1) * (j + 1))] for j in range(5)] for i in range(5)]
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
                        fontsize=12,
                        fontweight="bold",
                        color="#1a1a1a",
                    )
        ax.set_xticks(range(5), [str(n) for n in range(1, 6)])
        ax.set_yticks(range(5), [str(n) for n in range(1, 6)])
        ax.set_xlabel("impact")
        ax.set_ylabel("likelihood")
        ax.set_title(
            ("Residual" if residual else "Inherent")
            + f" risk ({len(assessment.findings)} findings)"
        )
    if title:
        fig.headline(title)
    return fig
