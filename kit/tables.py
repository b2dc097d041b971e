"""Every table saikit writes as CSV, and its one rule against spreadsheet formulas.

A spreadsheet evaluates a cell that begins with = + - @ (and, in some, tab or carriage return)
as a formula, so a justification typed as `=HYPERLINK(...)` would run on the reader's machine.
`neutralise` is the one rule for that: such text gets a leading apostrophe, the convention
spreadsheets themselves use for "this is text". Numbers are left alone, so a score stays a number.

The apostrophe lives only in files written for spreadsheets (CSV here, XLSX in
kit.export.tables). When saikit reads its own CSV back (a run's register.csv and provisions.csv)
`read_csv` takes it off again, so every value in memory, and every export made from it, is the
text as recorded. To make that exact, text that already begins with apostrophes and then a
trigger gets one more: `restore(neutralise(text)) == text` for every text.

Every CSV is UTF-8 with a byte-order mark (so spreadsheets read names in any script) and
CRLF line ends, written whole or not at all.

Example: ``write_csv(register, Path("register.csv"))``
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pandas as pd

from kit.files import write_atomic

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value):
    """The value with text that a spreadsheet would evaluate turned inert by a leading apostrophe.

    Text of apostrophes and then a trigger gets one more, so `restore` can tell the two apart.
    Returns non-text values unchanged. Example: ``neutralise("=1+1") == "'=1+1"``.
    """
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def restore(value):
    """The value `neutralise` was given: ``restore("'=1+1") == "=1+1"``; other values unchanged."""
    if (
        isinstance(value, str)
        and value.startswith("'")
        and value.lstrip("'").startswith(FORMULA_TRIGGERS)
    ):
        return value[1:]
    return value


def csv_text(df: pd.DataFrame) -> str:
    """A table as CSV text (no byte-order mark) with every text cell neutralised."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(list(df.columns))
    for row in df.itertuples(index=False):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as CSV (see the module notes) atomically; return the path."""
    return write_atomic(Path(path), BOM + csv_text(df))


def read_csv(path: str | os.PathLike, dtype=str) -> pd.DataFrame:
    """A CSV that `write_csv` wrote, with the apostrophes it added taken off again.

    `dtype` is as for pandas.read_csv; empty text is kept as '' (never NaN).
    """
    df = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_filter=False)
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = df[col].map(restore)
    return df


def _cell(value):
    if value is None or (isinstance(value, float) and value != value):  # None or NaN: empty
        return ""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return neutralise(value)
