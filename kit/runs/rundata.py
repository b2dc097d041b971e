"""The one reader of a published run folder: what the run recorded, read back.

Exports, `saikit runs` and `saikit diff` never recompute the risk picture: they read the run
folder (its manifest, register.csv, findings.json, provisions.csv, config.json, threats.json and
executed notebooks). A run folder is immutable once published (its manifest hashes its outputs).

Example: ``run = load_run(Store(Path("runs/credit-risk")).resolve("latest", -1))``
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from kit.errors import fail
from kit.risk.scoring import REGISTER_COLUMNS
from kit.tables import read_csv
from kit.vocab import APPLIES, NOT_APPLICABLE, NOT_BOUND

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
        df = read_csv(path)
        for col in ("principle", "status_rank"):
            if col in df:
                df[col] = df[col].astype(int)
        if "source" not in df:  # a run from before verdicts recorded their source and scope
            method = df.get("method", pd.Series("none", index=df.index))
            df["source"] = method.replace({"attestation": "attested"})
            unbound = df["status"].eq(NOT_APPLICABLE) & method.eq("none")
            df["scope"] = unbound.map({True: NOT_BOUND, False: APPLIES})
            df["facts"] = ""
        return df

    @cached_property
    def findings(self) -> dict:
        """Per finding ID: scores, band and treatment (what `saikit diff` compares)."""
        return _read_json(self.path / "findings.json")

    @cached_property
    def threats(self) -> dict:
        """Per threat raised: what the run's library said of it (name, summary, controls), so
        exports describe threats as the run saw them, not as today's library does."""
        path = self.path / "threats.json"
        if not path.exists():
            raise fail(
                str(self.path),
                None,
                "",
                "this run was made by an older saikit and records no threats.json; "
                "make a new run with `saikit run --force`",
            )
        return _read_json(path)

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

    def edition_title(self) -> str:
        """The standard's edition the run assessed against, e.g. 'ETSI TS 104 223 V1.1.1'."""
        from kit.compliance.catalogue import load_catalogue

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
    df = read_csv(path, dtypes)
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


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise fail(str(path), None, "", "missing from the run folder")
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- what a run records


def finding_facts(analysis) -> dict[str, dict]:
    """Each finding as a run's findings.json records it (what `saikit diff` and the workshop's
    "what moved" compare)."""
    from kit.vocab import band

    return {
        f.id: {
            "residual_score": f.residual_score,
            "residual_band": band(f.residual_score),
            "inherent_score": f.score,
            "treatment": f.treatment,
            "threat": f.match.threat.name,
        }
        for f in analysis.assessment.findings
    }


def provision_statuses(table: pd.DataFrame) -> dict[str, str]:
    """Each provision's status per role, keyed as a run's provisions.json keys it."""
    return {f"{r.provision}/{r.role}": r.status for r in table.itertuples()}
