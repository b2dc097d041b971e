"""What a published run recorded, read back for the exports, and how an export is recorded.

Exports never recompute the risk picture: they read the run folder (its manifest, register.csv,
provisions.csv, config.json and executed notebooks). A run folder is immutable once published
(its manifest hashes its outputs), so exports land in `--out` or beside the runs, in
`<store>/exports/<run-id>/`, and each one is appended to the store's audit trail.

Example: ``run = load_run(Store(Path("runs/credit-risk")).resolve("latest", -1))``
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import audit
from ..errors import fail
from ..risk import REGISTER_COLUMNS

# Register columns holding integers; every other register column is text.
INTEGER_COLUMNS = tuple(
    c for c in REGISTER_COLUMNS if c.endswith(("_likelihood", "_impact", "_score", "_severity"))
)
NOTEBOOK_ORDER = (
    "01-design",
    "02-inventory",
    "03-threat-model",
    "04-compliance-register",
    "05-lifecycle",
)


@dataclass
class RunData:
    """One published run, as recorded on disk."""

    path: Path

    @cached_property
    def manifest(self) -> dict:
        return _read_json(self.path / "manifest.json")

    @cached_property
    def config(self) -> dict:
        return _read_json(self.path / "config.json")

    @cached_property
    def register(self) -> pd.DataFrame:
        """The register the run recorded, highest residual risk first."""
        return sort_register(read_register(self.path / "register.csv"))

    @cached_property
    def provisions(self) -> pd.DataFrame | None:
        """The provision-by-role table, or None when the run had no compliance stage."""
        path = self.path / "provisions.csv"
        if not path.exists():
            return None
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        for col in ("principle", "status_rank"):
            if col in df:
                df[col] = df[col].astype(int)
        return df

    @property
    def run_id(self) -> str:
        return self.manifest["run"]

    @property
    def system_id(self) -> str:
        return self.manifest["system"]

    @property
    def system_name(self) -> str:
        return self.manifest.get("system_name") or self.system_id

    @property
    def store_root(self) -> Path:
        return self.path.parent

    def notebooks(self) -> list[Path]:
        """The run's executed notebooks in workbook order (01 … 05, then any others by name)."""
        found = {p.stem: p for p in (self.path / "notebooks").glob("*.ipynb")}
        order = [n for n in NOTEBOOK_ORDER if n in found]
        return [found[n] for n in order + sorted(set(found) - set(order))]

    @cached_property
    def library_dirs(self) -> list[str]:
        """Extra threat-library directories the run was given (from papermill's parameters)."""
        for nb in self.notebooks():
            meta = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {})
            params = meta.get("papermill", {}).get("parameters", {})
            if "library_dirs" in params:
                return list(params["library_dirs"] or [])
        return []

    def edition_title(self) -> str:
        """The standard's edition the run assessed against, e.g. 'ETSI TS 104 223 V1.1.1'."""
        from ..catalogue import load_catalogue

        edition = self.manifest.get("edition", "")
        try:
            e = load_catalogue(edition).edition
        except KeyError:
            return edition
        return f"{e.document} {e.version}"


def load_run(path: str | os.PathLike) -> RunData:
    """A published run folder; raises InputError when it is not one."""
    p = Path(path)
    if not (p / "manifest.json").exists():
        raise fail(str(p), None, "", "not a published run folder (no manifest.json)")
    if not (p / "register.csv").exists():
        raise fail(str(p), None, "", "the run recorded no register.csv")
    return RunData(p.resolve())


def read_register(path: str | os.PathLike) -> pd.DataFrame:
    """A register CSV with its integer columns as integers and empty text kept as ''."""
    dtypes = {c: ("int64" if c in INTEGER_COLUMNS else str) for c in REGISTER_COLUMNS}
    df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_filter=False)
    missing = [c for c in REGISTER_COLUMNS if c not in df.columns]
    if missing:
        raise fail(str(path), None, "", f"register lacks columns {', '.join(missing)}")
    return df[list(REGISTER_COLUMNS)]


def sort_register(df: pd.DataFrame) -> pd.DataFrame:
    """Highest residual risk first, then highest inherent risk, then by finding ID."""
    return df.sort_values(
        ["residual_severity", "residual_score", "inherent_score", "finding_id"],
        ascending=[False, False, False, True],
        kind="stable",
    ).reset_index(drop=True)


def default_out(run: RunData) -> Path:
    """Where a run's exports go by default: `<store>/exports/<run-id>/`, beside the runs."""
    return run.store_root / "exports" / run.run_id


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_export(run: RunData, fmt: str, outputs: dict[str, Path], **fields) -> dict:
    """Append an `export` entry to the run store's audit trail; return it."""
    return audit.append(
        run.store_root / "audit.jsonl",
        "export",
        format=fmt,
        run=run.run_id,
        outputs={name: sha256_file(p) for name, p in sorted(outputs.items())},
        **fields,
    )


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write a file whole or not at all (temporary file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise fail(str(path), None, "", "missing from the run folder")
    return json.loads(path.read_text(encoding="utf-8"))
