"""What the portfolio dashboard shows: one function per section, each a table or a figure.

The portfolio notebook stays thin: a cell calls one of these on the `Portfolio` that
`open_portfolio` returns and displays the result. Every number comes from the systems' rows
(kit.portfolio.summary), written by the portfolio run; nothing is assessed here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kit.vocab import BAND_COLOURS, BANDS, SEVERITY

FAILED = "failed"
ROWS = "systems.json"


@dataclass
class Portfolio:
    """One portfolio run's rows, and the runs before it (for the trend)."""

    run_dir: Path
    run_id: str
    time: str
    rows: list[dict]
    history: list[dict]  # earlier runs' systems.json documents, oldest first

    @property
    def assessed(self) -> list[dict]:
        """The rows of systems that were assessed (not failed)."""
        return [r for r in self.rows if r["status"] != FAILED]


def open_portfolio(portfolio_run: str, dashboard_store: str = "") -> Portfolio:
    """The rows of the portfolio run in `portfolio_run`, with the earlier runs of the store."""
    from kit.workbook import show_everything

    show_everything()  # a dashboard, like the report, never cuts a cell with "..."
    doc = _read(Path(portfolio_run) / ROWS)
    history = []
    if dashboard_store:
        from kit.runs.store import Store

        for run in Store(Path(dashboard_store)).runs():
            if run.resolve() != Path(portfolio_run).resolve() and (run / ROWS).exists():
                history.append(_read(run / ROWS))
    return Portfolio(Path(portfolio_run), doc["run"], doc["time"], doc["systems"], history)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def totals(rows: list[dict]) -> dict:
    """Counts over some rows: systems, failed, open actions, overdue reviews, systems per worst
    residual band."""
    ok = [r for r in rows if r["status"] != FAILED]
    out = {
        "systems": len(rows),
        "failed": len(rows) - len(ok),
        "open actions": sum(len(r["open_actions"]) for r in ok),
        "overdue reviews": sum(len(r["overdue_reviews"]) for r in ok),
    }
    for b in reversed(BANDS):
        out[f"worst {b}"] = sum(r["worst_band"] == b for r in ok)
    return out


def title_block(pf: Portfolio):
    """An HTML heading: when the portfolio was run and what it holds (all escaped)."""
    from IPython.display import HTML

    from kit.workbook import title_table

    t = totals(pf.rows)
    rows = [
        ("Portfolio run", pf.run_id),
        ("Assessed", pf.time),
        ("Systems", f"{t['systems']} ({t['failed']} failed)"),
        ("Open actions", t["open actions"]),
        ("Overdue reviews", t["overdue reviews"]),
    ]
    return HTML(title_table(rows))


def systems_by_band(pf: Portfolio) -> pd.DataFrame:
    """One row per system: findings per residual band and open actions, worst systems first."""
    columns = ["system", "name", "owner", "risk appetite", *reversed(BANDS), "open actions"]
    rows = [
        {
            "system": r["system"],
            "name": r["name"],
            "owner": r["owner"],
            "risk appetite": r["risk_appetite"],
            **{b: r["bands"][b] for b in BANDS},
            "open actions": len(r["open_actions"]),
            "_worst": SEVERITY.get(r["worst_band"], 0),
        }
        for r in pf.assessed
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows).sort_values(
        ["_worst", "critical", "high", "open actions", "system"],
        ascending=[False, False, False, False, True],
    )
    return df[columns].reset_index(drop=True)


def band_chart(pf: Portfolio, limit: int = 30):
    """Stacked bars: each system's findings by residual band (the `limit` worst systems)."""
    from kit.graph.plots import Picture

    df = systems_by_band(pf).head(limit).iloc[::-1]
    fig = Picture(figsize=(9, 1.2 + 0.32 * max(len(df), 1)), layout="constrained")
    ax = fig.add_subplot()
    left = pd.Series(0, index=df.index)
    for b in BANDS:
        ax.barh(df["system"], df[b], left=left, color=BAND_COLOURS[b], label=b)
        left = left + df[b]
    ax.set_xlabel("findings by residual band")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.headline("Systems by residual risk", ax, fontsize=10)
    return fig


def open_actions(pf: Portfolio, limit: int = 100) -> pd.DataFrame:
    """Findings someone must act on now, across systems, highest residual risk first."""
    columns = ["system", "finding", "residual band", "score", "treatment"]
    rows = [
        {
            "system": r["system"],
            "finding": a["finding_id"],
            "residual band": a["residual_band"],
            "score": a["residual_score"],
            "treatment": a["treatment"],
        }
        for r in pf.assessed
        for a in r["open_actions"]
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    df = pd.DataFrame(rows).sort_values(
        ["score", "system", "finding"], ascending=[False, True, True]
    )
    return df.head(limit).reset_index(drop=True)


def compliance_matrix(pf: Portfolio) -> pd.DataFrame:
    """Systems × principles: the share of applicable provisions met (each at its worst status
    over the roles it binds), in %."""
    principles = sorted({int(p) for r in pf.assessed for p in r["principles"]})
    table = {
        r["system"]: {
            f"P{p}": (
                None
                if r["principles"].get(str(p)) is None
                else round(100 * r["principles"][str(p)])
            )
            for p in principles
        }
        for r in pf.assessed
    }
    return pd.DataFrame.from_dict(table, orient="index", columns=[f"P{p}" for p in principles])


def compliance_heatmap(pf: Portfolio, limit: int = 40):
    """The compliance matrix as a heatmap (the first `limit` systems)."""
    import numpy as np
    from matplotlib import colormaps

    from kit.graph.plots import Picture

    df = compliance_matrix(pf).head(limit)
    fig = Picture(
        figsize=(2 + 0.55 * max(len(df.columns), 1), 1.2 + 0.3 * max(len(df), 1)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    grid = df.to_numpy(dtype=float, na_value=np.nan) / 100 if len(df) else np.zeros((1, 1))
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        cmap=colormaps["RdYlGn"].with_extremes(bad="#e0e0e0"),
        vmin=0,
        vmax=1,
        aspect="auto",
    )
    ax.set_xticks(range(len(df.columns)), list(df.columns))
    ax.set_yticks(range(len(df)), list(df.index))
    fig.colorbar(image, ax=ax, label="share of provisions met", shrink=0.8)
    fig.headline("Compliance: systems × principles", ax, fontsize=10)
    return fig


def overdue_reviews(pf: Portfolio) -> pd.DataFrame:
    """Owners with risk decisions past their review date: owner, system, finding, review by."""
    columns = ["owner", "system", "finding", "review by"]
    rows = [
        {
            "owner": o["decision_owner"] or "— no owner —",
            "system": r["system"],
            "finding": o["finding_id"],
            "review by": o["review_by"],
        }
        for r in pf.assessed
        for o in r["overdue_reviews"]
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(rows).sort_values(["owner", "review by", "system"]).reset_index(drop=True)


def trend(pf: Portfolio) -> pd.DataFrame:
    """The totals of every portfolio run of the store, oldest first, this one last."""
    docs = [*pf.history, {"time": pf.time, "run": pf.run_id, "systems": pf.rows}]
    return pd.DataFrame([{"run": d["time"], **totals(d["systems"])} for d in docs])


def trend_chart(pf: Portfolio):
    """Open actions and systems whose worst residual band is high or critical, run by run."""
    from kit.graph.plots import Picture

    df = trend(pf)
    fig = Picture(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    x = range(len(df))
    ax.plot(x, df["open actions"], marker="o", label="open actions")
    ax.plot(
        x,
        df["worst critical"] + df["worst high"],
        marker="s",
        label="systems with high or critical residual risk",
    )
    ax.set_xticks(list(x), [t[:16].replace("T", " ") for t in df["run"]], rotation=30, ha="right")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.headline("Trend over portfolio runs", ax, fontsize=10)
    return fig


def failures(pf: Portfolio) -> pd.DataFrame:
    """Systems that could not be assessed or run, with their located errors."""
    rows = [
        {"system file": r["path"], "error": e}
        for r in pf.rows
        if r["status"] == FAILED
        for e in (r["errors"] or ["failed"])
    ]
    return pd.DataFrame(rows, columns=["system file", "error"])


def failures_table(pf: Portfolio):
    """`failures` as an HTML table (escaped) that shows each error whole, never cut short."""
    from IPython.display import HTML

    return HTML(failures(pf).to_html(index=False, escape=True, classes="dataframe"))
