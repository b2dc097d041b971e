"""`saikit run`: re-execute the workbook with papermill whenever what it reads changes (5.1.3-1.1).

The story of a run, one function each, over one `Plan`:

    plan → execute → collect → publish → audit

`plan` decides what to run: nothing when nothing the last good run read has changed (decided
from file hashes without loading anything, unless `force`), else every notebook whose
fingerprint (kit.runs.fingerprints) moved. `execute` runs those with papermill in a staging
folder beside the final one; `collect` writes the run's tables from the same assessment the
notebooks made; `publish` renames the folder into place and moves `latest` last, so a run killed
half-way leaves the last good run intact; `audit` appends the run to the hash-chained trail.
Papermill gets the system file's path and hash only: no configuration key becomes a parameter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kit import __version__, audit
from kit.compliance.files import DEFAULT_EDITION
from kit.errors import fail
from kit.files import resolve
from kit.resources import notebooks
from kit.runs import fingerprints as fp
from kit.runs.changes import config_changes
from kit.runs.store import Store, output_hashes, store_for, store_for_file

# Kept free of pydantic, pandas and papermill at import time: a no-op rerun must start fast.


def workbook_notebooks(extra_dirs=()) -> dict[str, Path]:
    """The notebooks a run executes: the shipped workbook (less the workshop) plus the users' own."""
    found = {n: p for n, p in notebooks().items() if n != "workshop"}
    for d in extra_dirs:
        base = Path(d)
        if not base.is_dir():
            raise fail(str(base), None, "", "notebook directory not found")
        for p in sorted(base.glob("*.ipynb")):
            if p.stem in found:
                raise fail(
                    str(p),
                    None,
                    "",
                    f"a notebook named '{p.stem}' is already in the workbook ({found[p.stem]})",
                )
            found[p.stem] = p
    return found


# ---------------------------------------------------------------- plan


@dataclass
class Plan:
    """What a run will do, decided before anything is written."""

    system: Path
    store: Store
    sources: dict[str, Path]  # notebook name → its file
    library_dirs: list[str]
    previous: Path | None  # the last good run
    up_to_date: bool = False
    model: object = None  # kit.model.schema.SystemModel, once loaded
    library: object = None  # kit.threats.library.Library, once loaded
    config_sha256: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # digests: kit.runs.fingerprints
    fingerprints: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def reused(self) -> list[str]:
        return sorted(set(self.fingerprints) - set(self.stale))


def plan(
    system: str | os.PathLike,
    *,
    out=None,
    force: bool = False,
    library_dirs=(),
    notebook_dirs=(),
) -> Plan:
    """Decide what a run of `system` must execute; raise InputError for bad input."""
    system = resolve(system)
    library_dirs = [str(resolve(d)) for d in library_dirs]
    sources = workbook_notebooks(notebook_dirs)
    store = store_for_file(system, out) if system.is_file() else Store(Path(out or "runs"))
    previous = store.latest()
    if not force and unchanged_since(previous, system, library_dirs, sources, store):
        return Plan(system, store, sources, library_dirs, previous, up_to_date=True)

    from kit.compliance.facts import history_digest
    from kit.inputs import canonical_config, config_sha256, load_checked

    model, library = load_checked(system, library_dirs)
    store = store_for(model.system.id, out)
    notes = [n for n in [store.check_claim(system, model.system.id)] if n]
    previous = store.latest()
    config_hash = config_sha256(model)
    inputs = fp.assessment_inputs(
        config_hash, library_dirs, history_digest(audit.read(store.audit_path))
    )
    prints = fp.fingerprints(inputs, sources)
    old = (_read_json(previous / "manifest.json") or {}) if previous else {}
    stale = sorted(
        n
        for n, f in prints.items()
        if force
        or old.get("fingerprints", {}).get(n) != f
        or not (previous / "notebooks" / f"{n}.ipynb").exists()
    )
    old_config = _read_json(previous / "config.json") if previous else None
    return Plan(
        system,
        store,
        sources,
        library_dirs,
        previous,
        up_to_date=not stale,
        model=model,
        library=library,
        config_sha256=config_hash,
        inputs=inputs,
        fingerprints=prints,
        stale=stale,
        changes=config_changes(old_config, canonical_config(model)),
        notes=notes,
    )


def unchanged_since(previous: Path | None, system: Path, library_dirs, sources, store) -> bool:
    """Whether nothing the last good run read has changed, decided without loading anything.

    The configuration is the same when the bytes behind it are; everything else the
    fingerprints hash (library, catalogue, kit, run history, date) is hashed again here.
    """
    if previous is None:
        return False
    from kit.compliance.facts import history_digest

    manifest = _read_json(previous / "manifest.json") or {}
    if (
        manifest.get("kit_version") != __version__
        or manifest.get("system_path") != str(system)
        or "config_sha256" not in manifest
        or not system.is_file()
        or not fp.sources_unchanged(manifest.get("inputs"), system)
    ):
        return False
    inputs = fp.assessment_inputs(
        manifest["config_sha256"], library_dirs, history_digest(audit.read(store.audit_path))
    )
    expected = fp.fingerprints(inputs, sources)
    return expected == manifest.get("fingerprints") and all(
        (previous / "notebooks" / f"{n}.ipynb").exists() for n in expected
    )


# ---------------------------------------------------------------- execute


def execute(
    p: Plan, staging: Path, jobs: int, progress: Callable[[str], None], timeout: int
) -> list:
    """Run the stale notebooks into `staging`; copy the reused ones from the last good run."""
    progress(f"{p.model.system.name}: {len(p.stale)} notebook(s) to run, {len(p.reused)} unchanged")
    parameters = {
        "system_path": str(p.system),
        "config_sha256": p.config_sha256,
        "library_dirs": p.library_dirs,
        "run_store": str(p.store.root.resolve()),
    }
    from kit.runs.execute import execute_all

    results = execute_all(
        p.sources,
        p.stale,
        staging,
        parameters,
        str(p.system.parent),
        jobs,
        progress,
        timeout,
        cells=getattr(progress, "cells", None),  # a terminal's per-notebook bars
    )
    if all(r.ok for r in results):
        for name in p.reused:
            shutil.copy2(
                p.previous / "notebooks" / f"{name}.ipynb", staging / "notebooks" / f"{name}.ipynb"
            )
    return results


# ---------------------------------------------------------------- collect


def collect(staging: Path, p: Plan) -> list[str]:
    """Write the run's tables into `staging`, from the same assessment the notebooks made."""
    from kit.analysis import analyse_model
    from kit.compliance.assessment import assess
    from kit.compliance.facts import facts_for_run
    from kit.inputs import canonical_config
    from kit.runs.rundata import finding_facts, provision_statuses
    from kit.tables import write_csv

    analysis = analyse_model(p.model, p.library)
    write_csv(analysis.register, staging / "register.csv")
    write_json(staging / "findings.json", finding_facts(analysis))
    write_json(staging / "threats.json", threats_described(analysis))
    write_json(staging / "config.json", canonical_config(p.model))
    facts = facts_for_run(audit.read(p.store.audit_path), p.model, p.config_sha256)
    table = assess(analysis, facts)
    write_csv(table, staging / "provisions.csv")
    write_json(staging / "provisions.json", provision_statuses(table))
    return ["register.csv", "findings.json", "threats.json", "config.json", "provisions.csv"]


def threats_described(analysis) -> dict:
    """The threats raised and the controls they name, as the run's library describes them."""
    threats = {f.match.threat.id: f.match.threat for f in analysis.assessment.findings}
    named = {m.control for t in threats.values() for m in t.controls}
    controls = analysis.library.controls
    return {
        "threats": {
            t.id: {"name": t.name, "category": t.category, "summary": t.summary}
            for t in threats.values()
        },
        "controls": {
            c: {"name": controls[c].name, "description": controls[c].description}
            for c in sorted(named)
            if c in controls
        },
    }


# ---------------------------------------------------------------- publish and audit


def manifest(p: Plan, run_id: str, staging: Path) -> dict:
    """The run's manifest: what it read, what it ran, the SHA-256 of everything it wrote."""
    from kit.compliance.facts import prompt_digests

    entries = audit.read(p.store.audit_path)
    return {
        "run": run_id,
        "system": p.model.system.id,
        "system_name": p.model.system.name,
        "system_path": str(p.system),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config_sha256": p.config_sha256,
        "kit_version": __version__,
        "edition": DEFAULT_EDITION,
        "inputs": fp.source_hashes(p.system),
        "assessment_inputs": p.inputs,
        "library_dirs": p.library_dirs,
        "fingerprints": p.fingerprints,
        "notebooks_run": p.stale,
        "notebooks_skipped": p.reused,
        "changes": p.changes,
        "outputs": output_hashes(staging),
        "audit_prev": {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]} if entries else None,
        "prompts": prompt_digests(p.model),
    }


def publish(p: Plan, staging: Path, run_id: str) -> tuple[Path, dict]:
    """Write the manifest, rename the staged run into place; return it and its manifest."""
    m = manifest(p, run_id, staging)
    write_json(staging / "manifest.json", m)
    return p.store.publish(staging, run_id), m


def audit_run(p: Plan, run_id: str, m: dict) -> None:
    audit.append(
        p.store.audit_path,
        "run",
        status="published",
        run=run_id,
        config_sha256=p.config_sha256,
        changes=p.changes,
        notebooks_run=p.stale,
        notebooks_skipped=p.reused,
        outputs=m["outputs"],
        prompts=m["prompts"],
    )


# ---------------------------------------------------------------- the run


@dataclass
class RunResult:
    """What a run did."""

    status: str  # "published", "up to date" or "failed"
    run_dir: Path | None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list = field(default_factory=list)  # kit.runs.execute.NotebookResult
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run(
    system: str | os.PathLike,
    *,
    out=None,
    jobs: int = 2,
    force: bool = False,
    library_dirs=(),
    notebook_dirs=(),
    progress: Callable[[str], None] = print,
    timeout: int = 600,
) -> RunResult:
    """Run the workbook on a system file; rerun only what its changes make stale."""
    if timeout < 1:  # papermill reads 0 or less as "no limit"
        raise fail("--timeout", None, "", f"{timeout} is not a time limit: give at least 1 second")
    p = plan(system, out=out, force=force, library_dirs=library_dirs, notebook_dirs=notebook_dirs)
    if p.up_to_date:
        _append_up_to_date(p.store, p.previous)
        return RunResult("up to date", p.previous, [], sorted(p.sources), notes=p.notes)
    run_id = _run_id(p.store, p.config_sha256)
    with _stopped_by_os_errors(p.store, run_id, p.config_sha256):
        p.store.record_owner(p.system, p.model.system.id)
        staging = p.store.stage(run_id)
        results = execute(p, staging, jobs, progress, timeout)
        failures = [r for r in results if not r.ok]
        if failures:
            return _failed(p, staging, run_id, failures)
        collect(staging, p)
        run_dir, m = publish(p, staging, run_id)
        audit_run(p, run_id, m)
        p.store.point_latest(run_dir)
        return RunResult("published", run_dir, p.stale, p.reused, [], p.changes, p.notes)


def _failed(p: Plan, staging: Path, run_id: str, failures: list) -> RunResult:
    """Keep a failed run's notebooks to look at, beside the runs; latest stays where it was."""
    failed_dir = p.store.root / f"failed-{run_id}"
    os.rename(staging, failed_dir)
    audit.append(
        p.store.audit_path,
        "run",
        status="failed",
        run=failed_dir.name,
        config_sha256=p.config_sha256,
        changes=p.changes,
        notebooks_run=p.stale,
        notebooks_failed=[f.name for f in failures],
    )
    return RunResult("failed", failed_dir, p.stale, p.reused, failures, p.changes, p.notes)


@contextlib.contextmanager
def _stopped_by_os_errors(store: Store, run_id: str, config_hash: str):
    """Turn a failed write (a full disk, a read-only or missing folder) into a located error.

    The staged folder goes, to give its space back; the last good run and `latest` stay as they
    were, and the failure is audited when the trail can still be written.
    """
    try:
        yield
    except OSError as exc:
        shutil.rmtree(store.root / f".staging-{run_id}", ignore_errors=True)
        published = (store.root / run_id).is_dir()
        if not published:
            with contextlib.suppress(OSError):
                audit.append(
                    store.audit_path,
                    "run",
                    status="failed",
                    run=run_id,
                    config_sha256=config_hash,
                    error=str(exc),
                )
        path = exc.filename2 or exc.filename  # a copy names its source first, its target second
        where = f"{exc.strerror or exc} ({path})" if path else str(exc.strerror or exc)
        after = (
            f"run {run_id} was written but latest was not moved to it"
            if published
            else "nothing was published, the last good run and latest are unchanged"
        )
        raise fail(str(store.root), None, "", f"the run stopped: {where}; {after}") from None


def _append_up_to_date(store: Store, previous: Path) -> None:
    manifest_ = _read_json(previous / "manifest.json") or {}
    audit.append(
        store.audit_path,
        "run",
        status="up to date",
        run=previous.name,
        config_sha256=manifest_.get("config_sha256"),
        notebooks_run=[],
        notebooks_skipped=sorted(manifest_.get("fingerprints", {})),
    )


def _run_id(store: Store, config_hash: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{config_hash[:8]}"
    run_id, n = base, 1
    while (store.root / run_id).exists() or (store.root / f"failed-{run_id}").exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def write_json(path: Path, data) -> None:
    path.write_text(
        json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def progress_printer(stream=None) -> Callable[[str], None]:
    """A progress callback that prints and flushes each line to `stream` (sys.stdout as it is
    when called, not as it was when this module was imported); on a terminal it also keeps a
    status line with one bar per running notebook (cells executed of cells)."""
    stream = stream or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return TerminalProgress(stream)

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    return say


class TerminalProgress:
    """Progress lines above a status line of per-notebook bars, redrawn in place."""

    WIDTH = 12

    def __init__(self, stream) -> None:
        import threading

        self.stream, self.bars, self.lock = stream, {}, threading.Lock()

    def __call__(self, line: str) -> None:
        words = line.split()
        with self.lock:
            if len(words) > 1 and words[0] in ("ok", "FAIL"):
                self.bars.pop(words[1], None)
            self.stream.write("\r\033[K" + line + "\n")
            self._draw()

    def cells(self, name: str, done: int, total: int) -> None:
        with self.lock:
            self.bars[name] = (done, total)
            self.stream.write("\r\033[K")
            self._draw()

    def _draw(self) -> None:
        parts = []
        for name, (done, total) in sorted(self.bars.items()):
            filled = round(self.WIDTH * done / total) if total else 0
            parts.append(f"{name} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}")
        self.stream.write("  " + "   ".join(parts) if parts else "")
        self.stream.flush()
