"""`saikit export {sarif,otm,tmbom,threat-dragon,ciso-assistant,cdx-attestations,poam}`: the
formats of the tools security and governance teams already use.

The story of an interchange export: find its source (a system file, or a published run, whose
recorded configuration is the system as the run saw it) → build the document (one module per
format, each a plain function of the source) → write it whole (kit.files.write_atomic) → record
it in the audit trail (kit.export.formats). Nothing is computed here or in the format modules
that a run already recorded: findings, treatments, threats and verdicts are read from the run.

Example: ``export_interchange("otm", source_of("otm", "examples/credit-risk.yaml"), "x.otm.json")``
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kit.errors import fail
from kit.files import write_atomic
from kit.model.schema import SystemModel
from kit.runs.rundata import RunData


@dataclass(frozen=True)
class Source:
    """What an interchange export reads: the system, and the run when exported from one."""

    model: SystemModel | None  # None: the catalogue alone (ciso-assistant without a run)
    run: RunData | None = None
    system_file: Path | None = None  # the system file, when known (SARIF locates findings in it)
    timestamp: dt.datetime | None = None
    all_findings: bool = False  # SARIF: every finding, not only the open actions


@dataclass(frozen=True)
class Interchange:
    """One interchange format: its builder, what it reads and how its file is named."""

    build: Callable[[Source], dict]
    reads: str  # "system": a system file or a run; "run": a run only; "catalogue": neither needed
    suffix: str
    help: str
    # files written beside the main one: {suffix: text}, e.g. CISO Assistant's audit files
    companions: Callable[[Source], dict[str, str]] | None = None


def _sarif(source: Source) -> dict:
    from kit.export.sarif import sarif

    return sarif(source)


def _otm(source: Source) -> dict:
    from kit.export.otm import otm

    return otm(source)


def _tmbom(source: Source) -> dict:
    from kit.export.tmbom import tmbom

    return tmbom(source)


def _threat_dragon(source: Source) -> dict:
    from kit.export.threat_dragon import threat_dragon

    return threat_dragon(source)


def _ciso_assistant(source: Source) -> dict:
    from kit.export.ciso_assistant import library

    return library(source)


def _ciso_audits(source: Source) -> dict[str, str]:
    from kit.export.ciso_assistant import audits

    return audits(source)


def _cdx_attestations(source: Source) -> dict:
    from kit.export.cdx_attestations import attestations

    return attestations(source)


def _poam(source: Source) -> dict:
    from kit.export.poam import poam

    return poam(source)


INTERCHANGE: dict[str, Interchange] = {
    "sarif": Interchange(_sarif, "run", ".sarif", "SARIF 2.1.0 for code scanning"),
    "otm": Interchange(_otm, "system", ".otm.json", "Open Threat Model (IriusRisk)"),
    "tmbom": Interchange(_tmbom, "system", ".tmbom.json", "OWASP TM-BOM v1.0.2"),
    "threat-dragon": Interchange(_threat_dragon, "run", ".td.json", "OWASP Threat Dragon v2"),
    "ciso-assistant": Interchange(
        _ciso_assistant,
        "catalogue",
        ".ciso-assistant.yaml",
        "CISO Assistant framework library (and, from a run, audit files per role)",
        _ciso_audits,
    ),
    "cdx-attestations": Interchange(
        _cdx_attestations, "run", ".cdx.json", "CycloneDX 1.6 standards and attestations"
    ),
    "poam": Interchange(_poam, "run", ".poam.json", "OSCAL plan of action and milestones"),
}


def source_of(
    fmt: str,
    name: str | None,
    *,
    system_file: str | None = None,
    runs: str | None = None,
    library_dirs=(),
    timestamp: dt.datetime | None = None,
    all_findings: bool = False,
) -> Source:
    """The source `name` names for `fmt`: a system file (formats that read one), else a run by
    folder, id, id prefix or 'latest' (see kit.export.formats.resolve_run); a system file named
    for a format that reads a run stands for that system's latest run."""
    reads = INTERCHANGE[fmt].reads
    as_file = Path(name) if name else None
    if reads != "run" and as_file is not None and as_file.is_file():
        return _system_source(as_file, library_dirs, timestamp)
    if reads == "system" and name is None and runs is None:
        from kit.resources import default_system

        path = Path(system_file) if system_file else default_system()
        return _system_source(path, library_dirs, timestamp)
    if reads == "catalogue" and name is None:
        return Source(None, None, None, timestamp)
    from kit.export.formats import resolve_run

    if as_file is not None and as_file.is_file():  # a system file: its latest run
        name, system_file = None, str(as_file)
    run = resolve_run(name, system_file, runs)
    return Source(run_model(run), run, recorded_system_file(run), timestamp, all_findings)


def _system_source(path: Path, library_dirs, timestamp) -> Source:
    from kit.inputs import load_checked

    model, _ = load_checked(path, library_dirs)
    return Source(model, None, path, timestamp)


def run_model(run: RunData) -> SystemModel:
    """The system as the run recorded it (its canonical configuration)."""
    return SystemModel.model_validate(run.config)


def recorded_system_file(run: RunData) -> Path | None:
    """The system file the run read, when it is still there."""
    path = run.manifest.get("system_path")
    return Path(path) if path and Path(path).is_file() else None


def render(fmt: str, document: dict) -> str:
    """A document as the text its format is read in (YAML for CISO Assistant, else JSON)."""
    if INTERCHANGE[fmt].suffix.endswith(".yaml"):
        import yaml

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def export_interchange(fmt: str, source: Source, out: str | Path | None = None) -> list[Path]:
    """Write `source` in `fmt`, record it in the audit trail, and return the files written (the
    main file first, then any companions beside it)."""
    from kit.export.formats import default_out, record_export, record_system_export

    if fmt not in INTERCHANGE:
        raise fail(fmt, None, "", f"unknown format; choose from {', '.join(INTERCHANGE)}")
    f = INTERCHANGE[fmt]
    if out is not None:
        path = Path(out)
        if path.is_dir() or not path.suffix:  # a folder (made when missing), else the file
            path = path / f"{_stem(source)}{f.suffix}"
    elif source.run is not None:
        path = default_out(source.run) / f"{fmt}{f.suffix}"
    else:
        path = Path(f"{_stem(source)}{f.suffix}")
    written = [write_atomic(path, render(fmt, f.build(source)))]
    base = path.name.removesuffix(f.suffix) if path.name.endswith(f.suffix) else path.stem
    for suffix, text in (f.companions(source) if f.companions else {}).items():
        written.append(write_atomic(path.with_name(base + suffix), text))
    outputs = {p.name: p for p in written}
    if source.run is not None:
        record_export(source.run, fmt, outputs)
    elif source.model is not None and source.system_file is not None:
        record_system_export(source.model, source.system_file, fmt, outputs)
    return written


def _stem(source: Source) -> str:
    if source.system_file is not None:
        return source.system_file.stem
    if source.run is not None:
        return source.run.system_id
    return "etsi-ts-104-223"


# ---------------------------------------------------------------- shared by the format modules

# Trust zones come from an asset's exposure: the zone's name and its OTM trust rating (0-100).
ZONES = {
    "internal": ("Internal network", 100),
    "partner": ("Partner access", 50),
    "public": ("Public internet", 0),
}


def zone_id(exposure: str) -> str:
    """The trust zone of an exposure: 'public' → 'zone-public'."""
    return f"zone-{exposure}"


def findings(run: RunData, all_findings: bool = True) -> list[dict]:
    """The register's rows as dicts, highest residual risk first; only the open actions (above
    the appetite with no decision in date) unless `all_findings`."""
    from kit.vocab import OPEN_ACTIONS

    rows = run.register.to_dict("records")
    return rows if all_findings else [r for r in rows if r["treatment"] in OPEN_ACTIONS]


def split(text: str) -> list[str]:
    """A register cell listing several values (', '-separated) as a list."""
    return [p.strip() for p in str(text or "").split(",") if p.strip()]
