"""What the workbook's notebooks show: one function per section, each returning a table or figure.

Notebooks stay thin: a cell calls one of these and displays the result. Every function takes
the `Workbook` that `open_system` returns, so the same views serve the notebooks, the reports
and the workshop.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from kit.analysis import Analysis, analyse_model
from kit.compliance.catalogue import load_catalogue
from kit.inputs import config_sha256, load_checked
from kit.vocab import BANDS, NOT_ASSESSED, NOT_MET, OPEN_ACTIONS, STATUSES


@dataclass
class Workbook:
    """The system under review and everything computed from it."""

    path: Path
    analysis: Analysis
    config_sha256: str
    facts: object = None  # kit.compliance.RunFacts from the run store, when a run gave one

    @property
    def model(self):
        return self.analysis.model

    @cached_property
    def provisions(self) -> pd.DataFrame:
        from kit.compliance.assessment import assess

        return assess(self.analysis, self.facts)


class Shown:
    """A picture as the workbook shows it: vector (SVG, text kept as text) with a sentence that
    describes what it shows, which the report uses as the image's alt text."""

    def __init__(self, figure, alt: str) -> None:
        self.figure, self.alt = figure, alt

    def svg(self) -> str:
        import io

        import matplotlib

        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "saikit"}):
            self.figure.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    def _repr_mimebundle_(self, include=None, exclude=None):
        from kit.graph.plots import print_page

        width, height = (float(x) for x in self.figure.get_size_inches())
        meta = {"alt": self.alt, "width_in": round(width, 3), "page": print_page(width, height)}
        return {"image/svg+xml": self.svg(), "text/plain": self.alt}, {"image/svg+xml": meta}


def open_system(
    system_path: str = "", config_sha256_expected: str = "", library_dirs=(), run_store: str = ""
) -> Workbook:
    """Load and assess the system a notebook was given (the bundled example when empty).

    Raises RuntimeError when the file no longer matches the hash the run started with.
    """
    from kit.resources import default_system

    path = Path(system_path) if system_path else default_system()
    model, library = load_checked(path, library_dirs)
    digest = config_sha256(model)
    if config_sha256_expected and digest != config_sha256_expected:
        raise RuntimeError(
            f"{path} changed after the run started (hash {digest[:12]}, expected "
            f"{config_sha256_expected[:12]}); run `saikit run` again"
        )
    show_everything()
    facts = None
    if run_store:
        from kit import audit
        from kit.compliance.facts import facts_for_run
        from kit.runs.store import Store

        facts = facts_for_run(audit.read(Store(Path(run_store)).audit_path), model, digest)
    return Workbook(path, analyse_model(model, library), digest, facts)


def show_everything() -> None:
    """Let pandas show every row, column and character of a table: a report must never cut a
    cell with "..." or hide columns behind one (the report wraps long text instead)."""
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)
    pd.set_option("display.max_rows", None)
    pd.set_option("display.width", None)


def title_block(wb: Workbook, section: str):
    """An HTML heading naming the system, configuration hash, time and edition (all escaped)."""
    from IPython.display import HTML

    m = wb.model.system
    rows = [
        ("System", m.name),
        ("Section", section),
        ("Configuration SHA-256", wb.config_sha256),
        ("Assessed", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("Standard", load_catalogue().edition.document + " " + load_catalogue().edition.version),
        ("Roles held", ", ".join(m.roles)),
        ("Risk appetite", m.risk_appetite),
    ]
    return HTML(title_table(rows))


def title_table(rows) -> str:
    """(label, value) rows as the escaped HTML table that heads a notebook."""
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table class='saikit-title'>{cells}</table>"


# ---------------------------------------------------------------- design (principles 1, 2, 4)


def business_case(wb: Workbook) -> pd.DataFrame:
    """Why the system exists and how much risk it may carry (5.1.2-1, 5.1.3-1.3)."""
    s = wb.model.system
    return pd.DataFrame(
        [
            ("purpose", s.purpose),
            ("business requirement", s.business_requirement or "— not recorded —"),
            ("AI type", s.ai_type),
            ("roles held", ", ".join(s.roles)),
            ("owner", s.owner or "—"),
            ("risk appetite", s.risk_appetite),
            ("review interval (days)", s.review_interval_days),
            ("human oversight", s.human_oversight or "— not recorded —"),
            ("prohibited uses", "; ".join(s.prohibited_uses) or "— none listed —"),
        ],
        columns=["item", "value"],
    )


def data_needs(wb: Workbook) -> pd.DataFrame:
    """The data the system uses: sensitivity, source, custodian, provenance (5.1.2-5, 5.2.4-2)."""
    rows = []
    for a in wb.model.assets:
        if a.type in ("dataset", "vector_store", "log_store"):
            rows.append(
                {
                    "asset": a.id,
                    "type": a.type,
                    "sensitivity": a.sensitivity,
                    "source": a.source,
                    "environment": a.environment,
                    "custodian": a.custodian or "",
                    "provenance": a.provenance.url if a.provenance else "",
                    "retrieved": a.provenance.retrieved.isoformat()
                    if a.provenance and a.provenance.retrieved
                    else "",
                }
            )
    return pd.DataFrame(rows)


def external_components(wb: Workbook) -> pd.DataFrame:
    """Everything sourced from outside, with its supplier assessment (5.1.2-4, 5.1.2-7, 5.2.3)."""
    rows = []
    for a in wb.model.assets:
        if a.source != "internal" or a.type == "third_party_component":
            dd = a.due_diligence
            rows.append(
                {
                    "asset": a.id,
                    "type": a.type,
                    "source": a.source,
                    "provider": a.provider or "",
                    "version": a.version or "",
                    "due diligence": dd.date.isoformat() if dd else "none recorded",
                    "evidence": dd.evidence if dd else "",
                }
            )
    return pd.DataFrame(rows)


def permissions(wb: Workbook) -> pd.DataFrame:
    """Permissions granted to tools, agents and others, against what their flows use (5.1.2-6)."""
    from kit.graph.analyses import permission_excess

    excess = permission_excess(wb.analysis.graph)
    used: dict[str, set[str]] = {}
    for f in wb.model.flows:
        used.setdefault(f.source, set()).update(f.permissions)
        used.setdefault(f.target, set()).update(f.permissions)
    rows = [
        {
            "asset": a.id,
            "type": a.type,
            "granted": ", ".join(a.permissions),
            "used by flows": ", ".join(sorted(used.get(a.id, set()) & set(a.permissions))),
            "excess": "; ".join(excess.get(a.id, [])) or "none",
            "human approval": {True: "yes", False: "no"}.get(a.human_approval, "not recorded"),
        }
        for a in wb.model.assets
        if a.permissions
    ]
    return pd.DataFrame(
        rows, columns=["asset", "type", "granted", "used by flows", "excess", "human approval"]
    )


def provisions_for(wb: Workbook, principles: list[int]) -> pd.DataFrame:
    """The provision-by-role assessment rows of some principles: each verdict with its source,
    reason, evidence and the facts behind it (the CSV has every column)."""
    df = wb.provisions
    shown = ["provision", "role", "modal", "status", "source", "reason", "evidence", "facts"]
    return df[df["principle"].isin(principles)][shown].reset_index(drop=True)


# ---------------------------------------------------------------- inventory (principles 5, 7, 8)


def inventory(wb: Workbook) -> pd.DataFrame:
    """Every asset with the attributes that track, authenticate and version it (5.2.1)."""
    rows = [
        {
            "asset": a.id,
            "type": a.type,
            "name": a.name or "",
            "owner": a.owner or "",
            "version": a.version or "",
            "sha256": (a.sha256[:12] + "…") if a.sha256 else "",
            "source": a.source,
            "provider": a.provider or "",
            "environment": a.environment,
            "exposure": a.exposure,
            "status": a.status,
        }
        for a in wb.model.assets
    ]
    return pd.DataFrame(rows)


def asset_picture(wb: Workbook):
    """The layered asset graph, assets with inventory gaps marked."""
    from kit.graph.analyses import inventory_gaps as gaps
    from kit.graph.plots import draw_graph

    m = wb.model
    types: dict[str, int] = {}
    for a in m.assets:
        types[a.type] = types.get(a.type, 0) + 1
    gapped = sorted(gaps(wb.analysis.graph))
    alt = (
        f"Asset graph of {m.system.name}: {len(m.assets)} assets "
        f"({', '.join(f'{n} {t.replace(chr(95), chr(32))}' for t, n in sorted(types.items()))}) "
        f"joined by {len(m.flows)} flows, data on the left flowing to models, services and "
        f"users on the right. "
        + (
            f"{len(gapped)} asset(s) ringed in red for inventory gaps: {', '.join(gapped)}."
            if gapped
            else "No asset has an inventory gap."
        )
    )
    return Shown(draw_graph(wb.analysis.graph), alt)


def graph_findings(wb: Workbook) -> pd.DataFrame:
    """Interdependency analyses as one table: analysis, asset, reason."""
    from kit.graph.analyses import analyses

    rows = []
    for name, result in analyses(wb.analysis.graph).items():
        if name == "inventory_gaps":
            continue
        if isinstance(result, dict):
            for asset, reasons in result.items():
                for reason in reasons if isinstance(reasons, list) else [reasons]:
                    rows.append(
                        {"analysis": name.replace("_", " "), "asset": asset, "reason": reason}
                    )
        else:
            for item in result:
                protection = [
                    w
                    for w, on in (
                        ("authenticated", item["authenticated"]),
                        ("encrypted", item["encrypted"]),
                    )
                    if on
                ]
                rows.append(
                    {
                        "analysis": name.replace("_", " "),
                        "asset": item["flow"],
                        "reason": f"{item['kind']} flow crosses a trust boundary; "
                        + (", ".join(protection) or "neither authenticated nor encrypted"),
                    }
                )
    return pd.DataFrame(rows, columns=["analysis", "asset", "reason"])


def blast_radii(wb: Workbook, limit: int = 10) -> pd.DataFrame:
    """The assets whose compromise reaches furthest, and what they reach."""
    from kit.graph.analyses import blast_radius, blast_radius_sizes

    sizes = sorted(blast_radius_sizes(wb.analysis.graph).items(), key=lambda kv: (-kv[1], kv[0]))[
        :limit
    ]
    rows = [
        {
            "asset": a,
            "reaches": n,
            "assets reached": ", ".join(sorted(blast_radius(wb.analysis.graph, a))),
        }
        for a, n in sizes
    ]
    return pd.DataFrame(rows, columns=["asset", "reaches", "assets reached"])


def inventory_gaps(wb: Workbook) -> pd.DataFrame:
    """Assets missing an owner, a version, a hash or (public data) provenance."""
    from kit.graph.analyses import inventory_gaps as gaps

    rows = [{"asset": a, "missing": "; ".join(g)} for a, g in gaps(wb.analysis.graph).items()]
    return pd.DataFrame(rows, columns=["asset", "missing"])


# ---------------------------------------------------------------- threat model (principle 3)


def risk_summary(wb: Workbook) -> pd.DataFrame:
    """Findings by residual band and treatment."""
    reg = wb.analysis.register
    if reg.empty:
        return pd.DataFrame(columns=["residual_band", "treatment", "findings"])
    out = (
        reg.groupby(["residual_severity", "residual_band", "treatment"])
        .size()
        .reset_index(name="findings")
    )
    return out.sort_values("residual_severity", ascending=False).drop(columns="residual_severity")


def risk_heatmaps(wb: Workbook):
    """Inherent and residual likelihood × impact heatmaps, the risk appetite marked."""
    from kit.risk.plots import heatmaps

    reg = wb.analysis.register
    appetite = wb.model.system.risk_appetite

    def by_band(stage: str) -> str:
        counts = reg[f"{stage}_band"].value_counts()
        return ", ".join(f"{int(counts[b])} {b}" for b in reversed(BANDS) if counts.get(b, 0))

    alt = (
        f"Two five-by-five grids of likelihood (rows) against impact (columns) for "
        f"{wb.model.system.name}, each cell coloured by its risk band and numbered with its "
        f"findings. Before controls (inherent): {by_band('inherent') or 'no findings'}. "
        f"After implemented controls (residual): {by_band('residual') or 'no findings'}. "
        f"A heavy line closes off the cells above the {appetite} risk appetite."
    )
    return Shown(heatmaps(wb.analysis.assessment, wb.model.system.name, appetite=appetite), alt)


def findings(wb: Workbook, limit: int | None = None) -> pd.DataFrame:
    """The register's main columns, highest residual risk first."""
    cols = [
        "finding_id",
        "threat",
        "residual_band",
        "residual_score",
        "inherent_score",
        "treatment",
        "controls_implemented",
        "controls_missing",
    ]
    reg = wb.analysis.register[cols]
    return reg.head(limit) if limit else reg


def explanations(wb: Workbook, limit: int | None = None) -> pd.DataFrame:
    """Why each finding applies (all of them unless `limit`): the assets and flows that made
    it fire."""
    reg = wb.analysis.register[["finding_id", "explanation", "factors"]]
    return reg.head(limit) if limit else reg


def open_actions(wb: Workbook) -> pd.DataFrame:
    """Findings above the appetite with no decision, and accepted risks past their review date."""
    reg = wb.analysis.register
    todo = reg[reg["treatment"].isin(OPEN_ACTIONS)]
    return todo[["finding_id", "residual_band", "residual_score", "treatment", "controls_missing"]]


def stale_decisions(wb: Workbook) -> pd.DataFrame:
    """Decisions that no longer match a raised finding (reported, never fatal)."""
    rows = [
        {"finding": d.finding, "status": d.status, "owner": d.owner or ""}
        for d in wb.analysis.assessment.stale_decisions
    ]
    return pd.DataFrame(rows, columns=["finding", "status", "owner"])


def register(wb: Workbook) -> pd.DataFrame:
    """The full risk register (a DataFrame; `register_cards` shows it)."""
    return wb.analysis.register


def register_cards(wb: Workbook):
    """The full risk register as one card per finding: every column, within a page's width."""
    from IPython.display import HTML

    from kit.risk.cards import register_cards as cards

    return HTML(cards(wb.analysis.register))


# ---------------------------------------------------------------- compliance


def compliance_summary(wb: Workbook) -> pd.DataFrame:
    """Counts of provision statuses by principle and role."""
    from kit.compliance.assessment import summary

    return summary(wb.provisions)


def compliance_heatmap(wb: Workbook):
    """Provisions by status for each principle, rolled up over the roles each binds."""
    from kit.compliance.plots import counts, status_chart

    table = counts(wb.provisions)
    total = table[list(STATUSES)].sum()
    worst = table.sort_values([NOT_MET, NOT_ASSESSED], ascending=False).iloc[0]
    alt = (
        f"Bars of the {int(total.sum())} ETSI provisions by status for each of the "
        f"{len(table)} principles, for {wb.model.system.name}; each provision counted once, at "
        "its worst status across the roles it binds: "
        + ", ".join(f"{int(total[s])} {s}" for s in STATUSES)
        + f". Most not met: principle {int(worst['principle'])} ({int(worst[NOT_MET])} not met,"
        f" {int(worst[NOT_ASSESSED])} not assessed)."
    )
    return Shown(status_chart(wb.provisions, wb.model.system.name), alt)


def compliance_gaps(wb: Workbook) -> pd.DataFrame:
    """Rows not met, partly met or missing a triggering fact, shall before should, in lifecycle
    order, with where each verdict came from and the facts behind it."""
    from kit.compliance.assessment import gaps

    return gaps(wb.provisions)[["provision", "role", "status", "source", "reason", "facts"]]


def compliance_by_provision(wb: Workbook) -> pd.DataFrame:
    """One line per provision: its worst status across the roles it binds, and whom it involves."""
    from kit.compliance.assessment import by_provision

    table = by_provision(wb.provisions)
    return table[["provision", "modals", "roles", "involves", "status", "source", "reason"]]


# ---------------------------------------------------------------- lifecycle (principles 10-13)


def logging_plan(wb: Workbook) -> pd.DataFrame:
    """Each model, API, application, agent and tool with the log stores it sends to (5.4.2)."""
    logs: dict[str, list[str]] = {}
    for f in wb.model.flows:
        if f.kind == "logs_to":
            logs.setdefault(f.source, []).append(f.target)
    rows = [
        {
            "asset": a.id,
            "type": a.type,
            "exposure": a.exposure,
            "logs to": ", ".join(logs.get(a.id, [])) or "— none —",
        }
        for a in wb.model.assets
        if a.type in ("model", "api", "application", "agent", "tool") and a.status == "active"
    ]
    return pd.DataFrame(rows, columns=["asset", "type", "exposure", "logs to"])


def retired_assets(wb: Workbook) -> pd.DataFrame:
    """Retired assets and how their data and models were disposed of (5.5.1)."""
    rows = [
        {"asset": a.id, "type": a.type, "disposal": a.disposal or "— no disposal record —"}
        for a in wb.model.assets
        if a.status == "retired"
    ]
    return pd.DataFrame(rows, columns=["asset", "type", "disposal"])


def attestations(wb: Workbook, today: dt.date | None = None) -> pd.DataFrame:
    """Attestations with their age against the system's review interval."""
    today = today or dt.date.today()
    limit = wb.model.system.review_interval_days
    rows = []
    for a in sorted(wb.model.attestations, key=lambda a: a.provision):
        age = (today - a.date).days
        rows.append(
            {
                "provision": a.provision,
                "status": a.status,
                "role": a.role or "all",
                "owner": a.owner or "",
                "date": a.date.isoformat(),
                "age (days)": age,
                "current": "yes" if age <= limit else f"no: older than {limit} days",
                "evidence": a.evidence or "— none —",
            }
        )
    return pd.DataFrame(rows)
