"""`saikit export {report,xlsx,csv,pack,oscal,json,briefing} [RUN] [--out PATH]`: exports of a published run.

The story of an export: find the run → write the format's files → record them (with their
SHA-256) in the run store's audit trail. Output goes to `--out` (a folder, or for a one-file
format a file name) or by default to `<store>/exports/<run-id>/`, never into the run folder,
which its manifest seals.

Example: ``export(load_run("runs/credit-risk/latest"), "xlsx")``
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kit import audit
from kit.errors import fail
from kit.files import sha256_file, write_atomic
from kit.runs.rundata import RunData, load_run

if TYPE_CHECKING:
    from kit.model.schema import SystemModel


@dataclass(frozen=True)
class Target:
    """Where one export writes: a folder and the stem for its main file(s)."""

    folder: Path
    stem: str

    def file(self, suffix: str) -> Path:
        return self.folder / f"{self.stem}{suffix}"


Writer = Callable[[RunData, Target, dict], tuple[dict[str, Path], dict]]


@dataclass(frozen=True)
class Format:
    """An export format: its writer, default stem, and the suffix `--out` may name a file by."""

    write: Writer
    stem: str
    suffix: str | None  # None: the format writes several files and --out is always a folder
    help: str


def _report(run: RunData, to: Target, opts: dict):
    from kit.export.pdf import find_chromium
    from kit.export.report import write_report

    wanted = opts.get("pdf", True)
    pdf = to.file(".pdf") if wanted and find_chromium() else None
    return write_report(run, to.file(".html"), pdf), {} if pdf or not wanted else {
        "pdf": "skipped: no Chromium"
    }


def _xlsx(run: RunData, to: Target, opts: dict):
    from kit.export.tables import write_xlsx

    path = write_xlsx(run, to.file(".xlsx"))
    return {path.name: path}, {}


def _csv(run: RunData, to: Target, opts: dict):
    from kit.export.tables import write_csv

    return write_csv(run, to.folder), {}


def _json(run: RunData, to: Target, opts: dict):
    from kit.export.tables import register_schema, write_json

    path = write_json(run, to.file(".json"))
    schema = write_atomic(
        to.folder / "register.schema.json", json.dumps(register_schema(), indent=2) + "\n"
    )
    return {path.name: path, schema.name: schema}, {}


def _pack(run: RunData, to: Target, opts: dict):
    from kit.export.pack import render_html, render_markdown, unresolved

    entries = unresolved(run)
    md = write_atomic(to.file(".md"), render_markdown(run, entries))
    page = write_atomic(to.file(".html"), render_html(run, entries))
    return {md.name: md, page.name: page}, {"findings": [f for e in entries for f in e.finding_ids]}


def _oscal(run: RunData, to: Target, opts: dict):
    from kit.export import oscal

    stamp = opts.get("timestamp")
    docs = {
        "catalog.json": oscal.catalog(run.manifest.get("edition") or None, stamp),
        "assessment-results.json": oscal.assessment_results(run, stamp),
    }
    validated = oscal.trestle_available()
    for doc in docs.values():
        if validated:
            oscal.validate(doc)
    written = {
        name: write_atomic(to.folder / name, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        for name, doc in docs.items()
    }
    return written, {
        "validated": "compliance-trestle" if validated else "no (install saikit[oscal])"
    }


def _briefing(run: RunData, to: Target, opts: dict):
    from kit.export.briefing import check_role, write_briefing

    role = check_role(run, opts.get("role"))
    written = write_briefing(run, role, to.folder, to.stem)
    return written, {"role": role}


FORMATS: dict[str, Format] = {
    "report": Format(_report, "report", ".html", "HTML report and its PDF"),
    "xlsx": Format(
        _xlsx, "register", ".xlsx", "register workbook: Register, Decisions, Provisions, Assets"
    ),
    "csv": Format(_csv, "register", None, "register, decisions, provisions and assets as CSV"),
    "pack": Format(_pack, "pack", ".md", "communication pack for operators and end-users"),
    "oscal": Format(_oscal, "oscal", None, "OSCAL catalog and assessment-results"),
    "json": Format(_json, "register", ".json", "register as JSON, with its JSON Schema"),
    "briefing": Format(
        _briefing, "briefing", None, "a role's AI security briefing: HTML, slides, notebook"
    ),
}


def target(run: RunData, fmt: str, out: str | Path | None) -> Target:
    """Where an export of `run` in `fmt` goes: --out as a file or folder, else the default."""
    f = FORMATS[fmt]
    if out is None:
        return Target(default_out(run), f.stem)
    path = Path(out)
    if f.suffix and path.suffix.lower() == f.suffix:
        return Target(path.parent, path.stem)
    if path.exists() and not path.is_dir():
        raise fail(
            str(path),
            None,
            "",
            f"exists and is not a folder; '{fmt}' writes "
            + (f"a {f.suffix} file or a folder" if f.suffix else "several files into a folder"),
        )
    return Target(path, f.stem)


def export(
    run: RunData,
    fmt: str,
    out: str | Path | None = None,
    *,
    timestamp: dt.datetime | None = None,
    pdf: bool = True,
    role: str | None = None,
) -> dict[str, Path]:
    """Write `run` in `fmt`, record it in the audit trail, and return the files by name.
    `role` is the audience of a briefing (a role the system holds, or end_user)."""
    if fmt not in FORMATS:
        raise fail(fmt, None, "", f"unknown export format; choose from {', '.join(FORMATS)}")
    to = target(run, fmt, out)
    opts = {"timestamp": timestamp, "pdf": pdf, "role": role}
    written, fields = FORMATS[fmt].write(run, to, opts)
    record_export(run, fmt, written, **fields)
    return written


def resolve_run(name: str | None, system: str | None = None, runs: str | None = None) -> RunData:
    """A run by folder path, or by id / id prefix / 'latest' in a system's run store.

    The store is `runs` when given, else ./runs/<id of `system`> (the bundled example when
    no system file is named), as for `saikit run`.
    """
    if name and (Path(name) / "manifest.json").exists():
        return load_run(name)
    from kit.resources import default_system
    from kit.runs.store import Store, store_for_file

    store = (
        Store(Path(runs))
        if runs
        else store_for_file(Path(system) if system else default_system(), None)
    )
    if not store.runs():
        raise fail(
            str(store.root),
            None,
            "",
            "no published run here; run `saikit run` first"
            + ("" if runs or system else " (or name the store with --runs or --system)"),
        )
    return load_run(store.resolve(name or "latest", -1))


def default_out(run: RunData) -> Path:
    """Where a run's exports go by default: `<store>/exports/<run-id>/`, beside the runs."""
    return run.store_root / "exports" / run.run_id


def record_export(run: RunData, fmt: str, outputs: dict[str, Path], **fields) -> dict:
    """Append an `export` entry for a run's export to its store's audit trail; return it."""
    from kit.runs.store import Store

    return _record(Store(run.store_root).audit_path, fmt, outputs, run=run.run_id, **fields)


def record_system_export(
    model: SystemModel,
    system: Path,
    fmt: str,
    outputs: dict[str, Path],
    runs: str | Path | None = None,
) -> dict:
    """Append an `export` entry for an export of the system file itself (bom, graphml) to the
    audit trail of the system's run store; return it. The entry names the file and the
    configuration's SHA-256 where a run's export names the run."""
    from kit.inputs import config_sha256
    from kit.runs.store import store_for

    return _record(
        store_for(model.system.id, runs).audit_path,
        fmt,
        outputs,
        system=model.system.id,
        file=str(system.resolve()),
        config_sha256=config_sha256(model),
    )


def _record(trail: Path, fmt: str, outputs: dict[str, Path], **fields) -> dict:
    return audit.append(
        trail,
        "export",
        format=fmt,
        outputs={name: sha256_file(p) for name, p in sorted(outputs.items())},
        **fields,
    )
