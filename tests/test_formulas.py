"""No spreadsheet formula in any table saikit writes, and every export of the system audited.

The CSV and XLSX files are real outputs: a `saikit run` of the bundled example with formula
payloads in every free-text field (see _export_runs), its `export csv` and `export xlsx`, and
`saikit comply --csv` of the same system file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _export_runs import FORMULAS, PAYLOAD_HTML, TRIGGERS, payload_system, published_run

from kit import audit
from kit.export.formats import export
from kit.resources import default_system
from kit.risk.scoring import REGISTER_COLUMNS
from kit.runs.rundata import INTEGER_COLUMNS, load_run
from kit.tables import neutralise, read_csv, restore, write_csv

NUMBER = re.compile(r"-?\d+(\.\d+)?")
# What issue 14 lists, and what the model cannot carry (it strips leading tab and CR).
PAYLOADS = [
    "=1+1",
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(1)",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    '=DDE("cmd";"/C calc";"A0")',
    '=WEBSERVICE("http://x")',
]


@pytest.fixture(scope="module")
def payload_run(tmp_path_factory):
    return load_run(published_run(tmp_path_factory, "payload"))


def _csv_cells(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def _assert_inert_csv(path: Path) -> int:
    """Assert no cell of the CSV at `path` is a formula; return how many payloads it holds."""
    rows = _csv_cells(path)
    live = [v for row in rows for v in row if v.startswith(TRIGGERS) and not NUMBER.fullmatch(v)]
    assert live == [], (path.name, live[:3])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path  # UTF-8 with a BOM, as every CSV
    return sum(v.startswith("'") and PAYLOAD_HTML in v for row in rows for v in row)


def _assert_inert_xlsx(path: Path) -> None:
    from openpyxl import load_workbook

    for ws in load_workbook(path):
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and cell.value.startswith(TRIGGERS))


def _column(path: Path, name: str) -> list[str]:
    header, *rows = _csv_cells(path)
    return [row[header.index(name)] for row in rows]


def _xlsx_column(path: Path, name: str) -> list:
    from openpyxl import load_workbook

    i = list(REGISTER_COLUMNS).index(name) + 1
    return list(next(load_workbook(path)["Register"].iter_cols(i, i, min_row=2)))


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize("text", [*PAYLOADS, "'=1+1", "''@x", "'", "'plain", "plain", "a=b", ""])
def test_restore_takes_back_exactly_what_neutralise_added(text):
    assert restore(neutralise(text)) == text
    assert not neutralise(text).startswith(TRIGGERS)


def test_csv_round_trip_keeps_text_and_numbers(tmp_path):
    texts = [*PAYLOADS, "'=already quoted", "plain"]
    df = pd.DataFrame({"text": texts, "score": [-3, *range(len(texts) - 1)]})
    path = write_csv(df, tmp_path / "t.csv")
    assert _assert_inert_csv(path) == 0
    assert _column(path, "score")[0] == "-3"  # a negative number stays a number
    assert _column(path, "text")[:2] == ["'=1+1", "'" + PAYLOADS[1]]
    back = read_csv(path, {"text": str, "score": "int64"})
    assert back["text"].tolist() == texts and back["score"].tolist() == df["score"].tolist()


# ---------------------------------------------------------------- every CSV and XLSX saikit writes


def test_no_csv_or_xlsx_saikit_writes_holds_a_formula(payload_run, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("export", "csv", payload_run.path, "--out", tmp_path / "csv")
    assert code == 0, err
    code, _, err = cli("export", "xlsx", payload_run.path, "--out", tmp_path / "r.xlsx")
    assert code == 0, err
    system = payload_system(tmp_path / "payload.yaml")
    code, _, err = cli("comply", system, "--csv", tmp_path / "comply.csv")
    assert code == 0, err
    csvs = [
        payload_run.path / "register.csv",
        payload_run.path / "provisions.csv",
        *(tmp_path / "csv" / f"{t}.csv" for t in ("register", "decisions", "provisions", "assets")),
        tmp_path / "comply.csv",
    ]
    for path in csvs:
        assert _assert_inert_csv(path) > 0, path  # payloads there, and all of them inert
    _assert_inert_xlsx(tmp_path / "r.xlsx")
    # Numbers stay numbers.
    for col in INTEGER_COLUMNS:
        assert all(v.isdigit() for v in _column(csvs[0], col)), col
    assert all(v.isdigit() for v in _column(tmp_path / "comply.csv", "status_rank"))
    assert {c.data_type for c in _xlsx_column(tmp_path / "r.xlsx", "residual_score")} == {"n"}


def test_the_apostrophe_lives_in_files_only(payload_run, tmp_path):
    """The run folder's file has it; the run read back has the text as recorded; every export
    adds it once, never twice."""
    recorded = payload_run.register["justification"].tolist()
    assert any(v.startswith(FORMULAS) for v in recorded)
    assert not any(v.startswith("'") for v in recorded)
    assert payload_run.provisions["evidence"].str.startswith(FORMULAS).any()
    assert payload_run.register["residual_score"].dtype == "int64"
    quoted = sorted(neutralise(v) for v in recorded)
    assert sorted(_column(payload_run.path / "register.csv", "justification")) == quoted
    written = export(payload_run, "csv", tmp_path / "csv")
    assert sorted(_column(written["register.csv"], "justification")) == quoted
    [xlsx] = export(payload_run, "xlsx", tmp_path / "r.xlsx").values()
    assert sorted(c.value or "" for c in _xlsx_column(xlsx, "justification")) == quoted


@pytest.mark.skipif(not shutil.which("libreoffice"), reason="LibreOffice is not installed")
def test_libreoffice_imports_the_run_register_without_a_formula(payload_run, tmp_path):
    from openpyxl import load_workbook

    subprocess.run(
        [
            "libreoffice",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--infilter=CSV:44,34,76",  # comma, double quote, UTF-8
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(payload_run.path / "register.csv"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ws = load_workbook(tmp_path / "register.xlsx").active
    cells = [c for row in ws.iter_rows() for c in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert any(str(c.value).startswith("'=HYPERLINK") for c in cells)


# ---------------------------------------------------------------- exports of the system file


@pytest.mark.parametrize("fmt", ["bom", "graphml"])
def test_exporting_the_system_file_is_audited(fmt, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / f"out.{fmt}"
    code, _, err = cli("export", fmt, "--out", out)
    assert code == 0, err
    trail = tmp_path / "runs" / "helpdesk-assistant" / "audit.jsonl"
    entry = audit.read(trail)[-1]
    assert (entry["event"], entry["format"]) == ("export", fmt)
    assert entry["outputs"] == {out.name: hashlib.sha256(out.read_bytes()).hexdigest()}
    assert entry["file"] == str(default_system().resolve()) and "run" not in entry
    assert audit.verify(trail) == []
