"""Pictures of compliance: provisions by status for each principle.

One bar per principle, one segment per status, counted in provisions (the roll-up of
`assessment.by_provision`: a provision's worst status across the roles it binds). The number
in a segment is the segment's length, so text and colour always agree; "not assessed" is grey
and hatched, so it never reads as "not met"; "not applicable" provisions are counted beside the
bar, not drawn.
"""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from kit.graph.plots import Picture
from kit.vocab import MET, NOT_APPLICABLE, NOT_ASSESSED, NOT_MET, PARTIAL, STATUS_COLOURS

LABEL_WIDTH = 42
# Drawn left to right: what is settled first, then what needs work, then what nobody looked at.
DRAWN = (MET, PARTIAL, NOT_MET, NOT_ASSESSED)
HATCH = {NOT_ASSESSED: "///"}
_PLAIN = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"}


def counts(df: pd.DataFrame) -> pd.DataFrame:
    """Per principle: how many provisions stand at each status (rolled up over roles)."""
    from kit.compliance.assessment import by_provision

    rolled = by_provision(df)
    table = (
        rolled.groupby(["principle", "principle_title"], sort=True)["status"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=[*DRAWN, NOT_APPLICABLE], fill_value=0)
        .reset_index()
    )
    table.columns.name = None
    return table


def principle_label(number: int, title: str, width: int = LABEL_WIDTH) -> str:
    """'P1 Raise awareness of AI security threats and risks', folded at spaces into lines of
    at most `width` characters (a longer word keeps its own line): never cut."""
    return textwrap.fill(f"P{number} {title}", width, break_long_words=False)


def status_chart(df: pd.DataFrame, title: str = "") -> Figure:
    """Stacked bars of provisions by status, one bar per principle (P1 at the top).

    Returns the Figure (never shown).
    """
    table = counts(df)
    # 13 principles fit the height a wide picture prints at (kit.graph.plots.PRINT_BOX_IN)
    fig = Picture(figsize=(9.5, 1.3 + 0.36 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(table)))
    left = [0] * len(table)
    for status in DRAWN:
        widths = table[status].tolist()
        ax.barh(
            ys,
            widths,
            left=left,
            color=STATUS_COLOURS[status],
            edgecolor="#555555",
            linewidth=0.6,
            hatch=HATCH.get(status),
            height=0.7,
        )
        for y, x0, w in zip(ys, left, widths, strict=True):
            if w:
                ax.text(
                    x0 + w / 2,
                    y,
                    str(w),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if status == NOT_MET else "#1a1a1a",
                    # a number on hatching sits on a patch of plain background, to stay legible
                    bbox=_PLAIN if status in HATCH else None,
                )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    widest = max(left, default=0)
    for y, total, na in zip(ys, left, table[NOT_APPLICABLE], strict=True):
        if na:
            ax.text(total + 0.15, y, f"+{na} n/a", va="center", fontsize=9, color="#555555")
    ax.set_yticks(
        ys,
        [
            principle_label(n, t)
            for n, t in zip(table["principle"], table["principle_title"], strict=True)
        ],
        fontsize=9,
        linespacing=1.0,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, widest + 1.6)
    ax.set_xlabel("provisions (worst status across the roles each binds)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(
        handles=[
            Patch(facecolor=STATUS_COLOURS[s], edgecolor="#555555", hatch=HATCH.get(s), label=s)
            for s in DRAWN
        ],
        loc="lower right",
        fontsize=9,
        frameon=False,
        ncols=len(DRAWN),
        bbox_to_anchor=(1, 1.06),
    )
    fig.headline(title or "Provisions by status, per principle", ax, fontsize=11)
    return fig
