"""The register as tables people circulate: XLSX, CSV and JSON (with its JSON Schema).

XLSX and CSV turn every text cell that a spreadsheet would evaluate as a formula inert with
`kit.tables.neutralise` (CSV is written by `kit.tables.write_csv`, as every CSV saikit writes);
JSON is read by programs, not spreadsheets, and keeps the text as recorded.

Example: ``write_xlsx(load_run("runs/credit-risk/latest"), Path("register.xlsx"))``
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd

from kit.files import write_atomic
from kit.resources import PACKAGE
from kit.risk.scoring import REGISTER_COLUMNS
from kit.runs.rundata import INTEGER_COLUMNS, RunData
from kit.tables import neutralise
from kit.tables import write_csv as write_table
from kit.vocab import BAND_COLOURS, BANDS, OPEN_ACTIONS, STATUS_COLOURS

SHEETS = ("Register", "Decisions", "Provisions", "Assets")
REGISTER_FORMAT = "saikit-register"
REGISTER_FORMAT_VERSION = 1

BAND_FILLS = {b: c.lstrip("#").upper() for b, c in BAND_COLOURS.items()}
STATUS_FILLS = {s: c.lstrip("#").upper() for s, c in STATUS_COLOURS.items()}
HEADER_FILL, HEADER_FONT = "1F2D3D", "FFFFFF"
# Text columns long enough to wrap rather than widen.
WRAPPED = {
    "threat",
    "justification",
    "explanation",
    "factors",
    "references",
    "evidence",
    "reason",
    "description",
    "principle_title",
    "controls_implemented",
    "controls_planned",
    "controls_missing",
    "provisions",
}


# ---------------------------------------------------------------- the tables


def tables(run: RunData) -> dict[str, pd.DataFrame]:
    """The four tables of an export, by sheet name: Register, Decisions, Provisions, Assets."""
    return {
        "Register": run.register,
        "Decisions": decisions_table(run),
        "Provisions": provisions_table(run),
        "Assets": assets_table(run),
    }


def decisions_table(run: RunData) -> pd.DataFrame:
    """Each recorded decision beside the finding's current treatment and residual risk."""
    reg = run.register.set_index("finding_id")
    rows = []
    for d in run.config.get("decisions", []):
        found = d["finding"] in reg.index
        r = reg.loc[d["finding"]] if found else None
        rows.append(
            {
                "finding_id": d["finding"],
                "decision": d["status"],
                "decision_owner": d.get("owner") or "",
                "decided_on": d.get("date") or "",
                "review_by": d.get("review_by") or "",
                "justification": d.get("justification") or "",
                "treatment": r["treatment"] if found else "",
                "residual_band": r["residual_band"] if found else "",
                "residual_severity": int(r["residual_severity"]) if found else 0,
                "residual_score": int(r["residual_score"]) if found else 0,
                "current": "yes" if found else "no: matches no finding in this run",
            }
        )
    columns = [
        "finding_id",
        "decision",
        "decision_owner",
        "decided_on",
        "review_by",
        "justification",
        "treatment",
        "residual_band",
        "residual_severity",
        "residual_score",
        "current",
    ]
    return pd.DataFrame(rows, columns=columns)


def provisions_table(run: RunData) -> pd.DataFrame:
    """The run's provision-by-role assessment (empty when the run had no compliance stage)."""
    df = run.provisions
    if df is None:
        return pd.DataFrame(columns=["provision", "role", "status", "reason"])
    return df


def assets_table(run: RunData) -> pd.DataFrame:
    """The inventory with each asset's findings count and highest residual risk."""
    reg = run.register
    stats = (
        reg.assign(open=reg["treatment"].isin(OPEN_ACTIONS))
        .groupby("asset_id")
        .agg(
            findings=("finding_id", "size"), top=("residual_severity", "max"), open=("open", "sum")
        )
        .to_dict(orient="index")
    )
    rows = []
    for a in run.config.get("assets", []):
        mine = stats.get(a["id"], {"findings": 0, "top": 0, "open": 0})
        top = int(mine["top"])
        rows.append(
            {
                "asset_id": a["id"],
                "type": a["type"],
                "name": a.get("name") or "",
                "description": a.get("description") or "",
                "owner": a.get("owner") or "",
                "custodian": a.get("custodian") or "",
                "source": a.get("source") or "",
                "provider": a.get("provider") or "",
                "sensitivity": a.get("sensitivity") or "",
                "environment": a.get("environment") or "",
                "exposure": a.get("exposure") or "",
                "criticality": a.get("criticality") or "",
                "version": a.get("version") or "",
                "sha256": a.get("sha256") or "",
                "status": a.get("status") or "",
                "findings": int(mine["findings"]),
                "highest_residual_band": BANDS[top - 1] if top else "",
                "highest_residual_severity": top,
                "open_actions": int(mine["open"]),
            }
        )
    columns = [
        "asset_id",
        "type",
        "name",
        "description",
        "owner",
        "custodian",
        "source",
        "provider",
        "sensitivity",
        "environment",
        "exposure",
        "criticality",
        "version",
        "sha256",
        "status",
        "findings",
        "highest_residual_band",
        "highest_residual_severity",
        "open_actions",
    ]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- XLSX


def write_xlsx(run: RunData, path: Path) -> Path:
    """Write the four tables as one workbook, styled for circulation; return the path."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, df in tables(run).items():
        _sheet(wb.create_sheet(name), df)
    _about_sheet(wb.create_sheet("Run"), run)
    wb.properties.title = f"Risk register: {_xlsx_text(run.system_name)}"
    wb.properties.creator = "saikit"
    wb.properties.subject = run.edition_title()
    buf = io.BytesIO()
    wb.save(buf)
    return write_atomic(path, buf.getvalue())


def _sheet(ws, df: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    header_font = Font(bold=True, color=HEADER_FONT)
    ws.append(list(df.columns))
    for cell in ws[1]:
        cell.fill, cell.font = header_fill, header_font
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    fills = {k: PatternFill("solid", fgColor=v) for k, v in {**BAND_FILLS, **STATUS_FILLS}.items()}
    wrap = Alignment(vertical="top", wrap_text=True)
    top = Alignment(vertical="top")
    alert = Font(bold=True, color="9C0006")
    coloured = [i for i, c in enumerate(df.columns, 1) if c.endswith("_band") or c == "status"]
    for row in df.itertuples(index=False):
        ws.append([_xlsx_value(v) for v in row])
    for col_idx, name in enumerate(df.columns, 1):
        letter = get_column_letter(col_idx)
        ws.column_dimensions[letter].width = _width(name, df[name])
        align = wrap if name in WRAPPED else top
        for (cell,) in ws.iter_rows(min_row=2, min_col=col_idx, max_col=col_idx):
            cell.alignment = align
            if col_idx in coloured and cell.value in fills:
                cell.fill = fills[cell.value]
            elif name == "treatment" and cell.value in OPEN_ACTIONS:
                cell.font = alert
    ws.freeze_panes = "B2"
    if len(df.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(df.columns))}{max(1, len(df) + 1)}"
    ws.row_dimensions[1].height = 30


def _about_sheet(ws, run: RunData) -> None:
    from openpyxl.styles import Font

    m = run.manifest
    rows = [
        ("System", run.system_name),
        ("System ID", run.system_id),
        ("Run", run.run_id),
        ("Run time (UTC)", m.get("time", "")),
        ("Configuration SHA-256", m.get("config_sha256", "")),
        ("Standard", run.edition_title()),
        ("saikit version", m.get("kit_version", "")),
        ("Findings", len(run.register)),
        (
            "Note",
            "Text cells that began with = + - @ tab or carriage return start with an "
            "apostrophe so that no spreadsheet evaluates them.",
        ),
    ]
    for k, v in rows:
        ws.append([k, _xlsx_value(v)])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 80


def _xlsx_text(value: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # XML cannot carry most control characters; show them rather than fail the export.
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)[:32767]


def _xlsx_value(value):
    if isinstance(value, str):
        return _xlsx_text(neutralise(value))
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _width(name: str, values: pd.Series) -> float:
    sample = [len(str(v)) for v in values.head(300)]
    longest = max([len(name), *sample])
    cap = 60 if name in WRAPPED else 44
    return float(max(8, min(cap, longest + 2)))


# ---------------------------------------------------------------- CSV


def write_csv(run: RunData, out_dir: Path) -> dict[str, Path]:
    """Write register.csv, decisions.csv, provisions.csv and assets.csv; return them by name."""
    return {
        f"{sheet.lower()}.csv": write_table(df, out_dir / f"{sheet.lower()}.csv")
        for sheet, df in tables(run).items()
    }


# ---------------------------------------------------------------- JSON


def register_document(run: RunData) -> dict:
    """The register as a JSON document that `register_schema()` validates."""
    lists = {"controls_implemented", "controls_planned", "controls_missing", "provisions"}
    findings = []
    for row in run.register.to_dict(orient="records"):
        item = {}
        for col in REGISTER_COLUMNS:
            v = row[col]
            if col in INTEGER_COLUMNS:
                item[col] = int(v)
            elif col in lists:
                item[col] = [x for x in str(v).split(", ") if x]
            else:
                item[col] = str(v)
        findings.append(item)
    m = run.manifest
    return {
        "format": REGISTER_FORMAT,
        "format_version": REGISTER_FORMAT_VERSION,
        "run": {
            "id": run.run_id,
            "system": run.system_id,
            "system_name": run.system_name,
            "time": m.get("time", ""),
            "config_sha256": m.get("config_sha256", ""),
            "edition": m.get("edition", ""),
            "kit_version": m.get("kit_version", ""),
        },
        "findings": findings,
    }


def write_json(run: RunData, path: Path) -> Path:
    """Write the register as JSON (see `register_schema`); return the path."""
    text = json.dumps(register_document(run), indent=2, ensure_ascii=False) + "\n"
    return write_atomic(path, text)


def _column_schema(col: str) -> dict:
    desc = {"description": REGISTER_COLUMNS[col]}
    if col.endswith("_severity"):
        return {"type": "integer", "minimum": 1, "maximum": len(BANDS), **desc}
    if col.endswith("_score"):
        return {"type": "integer", "minimum": 1, "maximum": 25, **desc}
    if col in INTEGER_COLUMNS:
        return {"type": "integer", "minimum": 1, "maximum": 5, **desc}
    if col.endswith("_band"):
        return {"enum": list(BANDS), **desc}
    if col in ("controls_implemented", "controls_planned", "controls_missing", "provisions"):
        return {"type": "array", "items": {"type": "string", "minLength": 1}, **desc}
    if col == "treatment":
        return {
            "enum": [
                "action required",
                "within appetite",
                "accepted",
                "mitigating",
                "transferred",
                "avoided",
                "false positive",
                "review overdue",
            ],
            **desc,
        }
    if col == "decision":
        return {
            "enum": [
                "",
                "open",
                "mitigating",
                "accepted",
                "transferred",
                "avoided",
                "false_positive",
            ],
            **desc,
        }
    if col == "review_by":
        return {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2})?$", **desc}
    if col in ("finding_id",):
        return {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_.-]*@[a-z0-9][a-z0-9_.-]*$", **desc}
    return {"type": "string", **desc}


def register_schema() -> dict:
    """The JSON Schema of `register_document`, generated from kit.risk.REGISTER_COLUMNS."""
    finding = {
        "type": "object",
        "properties": {c: _column_schema(c) for c in REGISTER_COLUMNS},
        "required": list(REGISTER_COLUMNS),
        "additionalProperties": False,
    }
    text = {"type": "string"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:saikit:register:1",
        "title": "saikit risk register",
        "description": "One published run's risk register: one object per finding, highest "
        "residual risk first. Generated from kit.risk.REGISTER_COLUMNS.",
        "type": "object",
        "properties": {
            "format": {"const": REGISTER_FORMAT},
            "format_version": {"const": REGISTER_FORMAT_VERSION},
            "run": {
                "type": "object",
                "properties": {
                    k: text
                    for k in (
                        "id",
                        "system",
                        "system_name",
                        "time",
                        "config_sha256",
                        "edition",
                        "kit_version",
                    )
                },
                "required": ["id", "system", "system_name", "time", "config_sha256", "edition"],
                "additionalProperties": False,
            },
            "findings": {"type": "array", "items": finding},
        },
        "required": ["format", "format_version", "run", "findings"],
        "additionalProperties": False,
    }


def shipped_register_schema() -> dict:
    """The register JSON Schema shipped in the package (kit/register.schema.json)."""
    return json.loads((PACKAGE / "register.schema.json").read_text(encoding="utf-8"))


def write_register_schema(path: str | os.PathLike) -> Path:
    """Regenerate the shipped schema file (run after changing REGISTER_COLUMNS)."""
    return write_atomic(Path(path), json.dumps(register_schema(), indent=2) + "\n")
