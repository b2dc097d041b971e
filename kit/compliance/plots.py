"""Pictures of compliance: the coverage heatmap of principles by role."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kit.graph.plots import Picture
from kit.vocab import MET, NOT_APPLICABLE, PARTIAL, ROLES

LABEL_WIDTH = 34


def coverage(df: pd.DataFrame) -> pd.DataFrame:
    """Per principle and role: met, partial and applicable counts and the share met (partial = ½).

    Applicable counts every row but "not applicable", so "not assessed" lowers the share.
    """
    rows = df.assign(
        met=df["status"].eq(MET).astype(int),
        partial=df["status"].eq(PARTIAL).astype(int),
        applicable=df["status"].ne(NOT_APPLICABLE).astype(int),
    )
    out = (
        rows.groupby(["principle", "principle_title", "role"], sort=False)[
            ["met", "partial", "applicable"]
        ]
        .sum()
        .reset_index()
    )
    share = (out["met"] + 0.5 * out["partial"]) / out["applicable"].where(out["applicable"] > 0)
    return out.assign(share=share)


def principle_label(number: int, title: str, width: int = LABEL_WIDTH) -> str:
    """'P1 Raise awareness of AI security…' cut to `width` characters."""
    label = f"P{number} {title}"
    return label if len(label) <= width else label[: width - 1].rstrip() + "…"


def coverage_heatmap(df: pd.DataFrame, title: str = "") -> Figure:
    """Principles × roles heatmap of the table: colour = share met, text = met/applicable.

    Cells where nothing applies are left grey and marked "n.a.". Returns the Figure (never shown).
    """
    cov = coverage(df)
    roles = [r for r in ROLES if r in set(cov["role"])]
    principles = cov[["principle", "principle_title"]].drop_duplicates().sort_values("principle")
    grid = np.full((len(principles), len(roles)), np.nan)
    text = [["n.a."] * len(roles) for _ in range(len(principles))]
    row_of = {p: i for i, p in enumerate(principles["principle"])}
    for r in cov.itertuples(index=False):
        i, j = row_of[r.principle], roles.index(r.role)
        if r.applicable:
            grid[i, j] = r.share
            text[i][j] = f"{r.met}/{r.applicable}"
    fig = Picture(
        figsize=(3.2 + 1.9 * len(roles), 0.9 + 0.42 * len(principles)), layout="constrained"
    )
    ax = fig.add_subplot()
    cmap = _colour_map()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(principles)):
        for j in range(len(roles)):
            dark = not np.isnan(grid[i, j]) and (grid[i, j] < 0.2 or grid[i, j] > 0.85)
            ax.text(
                j,
                i,
                text[i][j],
                ha="center",
                va="center",
                fontsize=9,
                color="white" if dark else "#1a1a1a",
            )
    ax.set_xticks(range(len(roles)), [r.replace("_", " ") for r in roles])
    ax.set_yticks(
        range(len(principles)),
        [principle_label(n, t) for n, t in principles.itertuples(index=False)],
    )
    fig.colorbar(image, ax=ax, label="share met (partial counts half)", shrink=0.8)
    fig.headline(title or "Provisions met of applicable, by principle and role", ax, fontsize=10)
    return fig


def _colour_map():
    from matplotlib import colormaps

    return colormaps["RdYlGn"].with_extremes(bad="#e0e0e0")
