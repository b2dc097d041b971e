"""`saikit portfolio`: every system under some folders, one run each, one dashboard over all.

The story, one function each:

    find → run each system (pool or Dask) → publish the dashboard → audit

`find_systems` lists the system files. `system_work` runs one of them in a worker exactly as
`saikit run --out <store>/systems/<id>` would (kit.runs.runner: the same plan, fingerprints,
atomic publishing and audit trail; an unchanged system executes nothing), with its notebooks on
the worker's warm kernel, and returns its portfolio row (kit.portfolio.summary) or its located
errors: a bad file fails alone, the others go on. `publish_dashboard` runs the portfolio
notebook with papermill over the rows, exports it to HTML and publishes both as one run of the
dashboard store, atomically, like any run. The run store:

```
<store>/
  systems/<system-id>/    each system's run store, as `saikit run` lays it out (kit.runs.store)
  logs/worker-<pid>.log   what a local worker's kernels wrote to stderr
  logs/dashboard.log      what the dashboard's kernel wrote to stderr
  dashboard/              the dashboard's own run store
    audit.jsonl           its hash-chained trail (kit.audit); `latest` -> the newest run
    <run-id>/             systems.json (the rows), portfolio.ipynb, portfolio.html, manifest.json
```
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kit import audit
from kit.errors import InputError, fail
from kit.files import resolve
from kit.runs.runner import write_json

PUBLISHED, UP_TO_DATE, FAILED, ASSESSED = "published", "up to date", "failed", "assessed"
SYSTEM_SUFFIXES = (".yaml", ".yml")
NOT_SYSTEMS = (".decisions.yaml", ".decisions.yml")  # decisions files sit beside their systems
DEFAULT_STORE = "portfolio"
ROWS = "systems.json"
UNNAMED = "unnamed"  # kit.runs.store.system_id_of for a file whose id cannot be read


# ---------------------------------------------------------------- find


def find_systems(dirs, exclude: Path | None = None) -> list[Path]:
    """Every system file under the folders (or given as files): *.yaml and *.yml, less decisions
    files and anything under hidden folders or under `exclude` (the portfolio's own store)."""
    if not dirs:
        raise fail("DIR", None, "", "give at least one folder of system files")
    found: set[Path] = set()
    skip = exclude.resolve() if exclude else None
    for d in dirs:
        base = resolve(d)
        if base.is_file():
            found.add(base)
            continue
        if not base.is_dir():
            raise fail(str(d), None, "", "folder not found")
        for p in base.rglob("*"):
            rel = p.relative_to(base).parts
            if (
                p.suffix in SYSTEM_SUFFIXES
                and not p.name.endswith(NOT_SYSTEMS)
                and not any(part.startswith(".") for part in rel)
                and not (skip and p.resolve().is_relative_to(skip))
                and p.is_file()
            ):
                found.add(p)
    return sorted(found)


# ---------------------------------------------------------------- one system, in a worker


def system_work(item: tuple, store: str, library_dirs: list, force: bool, notebooks: bool) -> dict:
    """Run (or, `notebooks` False, only assess) one system; return its row, never raise for it.

    `item` is (system file, its system id, its SHA-256, its row in the last dashboard or None).
    An unchanged system that the last dashboard shows reads nothing more (not even pandas).
    """
    path, system_id, file_sha256, previous = item
    row = {
        "path": path,
        "file_sha256": file_sha256,
        "status": FAILED,
        "run": "",
        "errors": [],
        "notes": [],
    }
    try:
        if not notebooks:
            from kit.portfolio.summary import assess_system

            return {**row, **assess_system(path, library_dirs), "status": ASSESSED}
        from kit.runs.runner import run

        out = Path(store) / "systems" / system_id
        result = run(path, out=out, jobs=0, force=force, library_dirs=library_dirs, progress=_quiet)
        row["notes"] = result.notes
        if result.status == FAILED:
            errors = [f"notebook {f.name} failed at {f.error}" for f in result.failures]
            return {**row, "run": result.run_dir.name, "errors": errors}
        run_id = result.run_dir.name
        if result.status == UP_TO_DATE and previous and previous.get("run") == run_id:
            summary = {k: v for k, v in previous.items() if k not in row}  # a run never changes
        else:
            from kit.portfolio.summary import summary_of_run

            summary = summary_of_run(result.run_dir)
        return {**row, **summary, "status": result.status, "run": run_id}
    except InputError as exc:
        return {**row, "errors": [str(p) for p in exc.shown] + ([exc.more] if exc.more else [])}
    except OSError as exc:
        return {**row, "errors": [f"{exc.filename or path}: {exc.strerror or exc}"]}


def _quiet(line: str) -> None:
    """Workers run silently: the portfolio shows one bar, not every notebook of every system."""


# ---------------------------------------------------------------- the portfolio run


@dataclass
class PortfolioResult:
    """What a portfolio run did."""

    rows: list[dict]
    dashboard: Path | None  # the dashboard run folder (the last one when nothing changed)
    published: bool  # whether a new dashboard run was published
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if r["status"] == FAILED]


def run_portfolio(
    dirs,
    *,
    out=None,
    jobs: int = 2,
    scheduler: str | None = None,
    force: bool = False,
    library_dirs=(),
    notebooks: bool = True,
    progress: Callable[[dict, int, int, int], None] | None = None,
) -> PortfolioResult:
    """Run every system under `dirs` into the store `out`, then publish the dashboard.

    `progress(row, done, total, failed)` is called as each system finishes. Raises InputError
    only for the command's own mistakes (no folder, an unreachable scheduler).
    """
    from kit.portfolio.engine import executor, run_each
    from kit.runs.store import Store

    start = time.perf_counter()
    root = resolve(out or DEFAULT_STORE)
    library_dirs = [str(resolve(d)) for d in library_dirs]
    dashboard = Store(root / "dashboard")
    previous = _previous_rows(dashboard)
    items, rows = _identify(find_systems(dirs, exclude=root), previous)
    total, finished, failed = len(items) + len(rows), 0, 0

    def done(row: dict) -> None:
        nonlocal finished, failed
        finished += 1
        failed += row["status"] == FAILED
        if progress:
            progress(row, finished, total, failed)

    for row in rows:
        done(row)

    if items:
        with executor(jobs, scheduler, log_dir=root / "logs") as pool:
            rows += run_each(
                pool,
                system_work,
                items,
                str(root),
                library_dirs,
                force,
                notebooks,
                on_done=done,
            )
    rows.sort(key=lambda r: r["path"])
    counts = {s: sum(r["status"] == s for r in rows) for s in (PUBLISHED, UP_TO_DATE, ASSESSED)}
    counts[FAILED] = sum(r["status"] == FAILED for r in rows)
    latest = dashboard.latest()
    if latest is not None and not force and _same_rows(rows, previous):
        return PortfolioResult(rows, latest, False, time.perf_counter() - start, counts)
    run_dir = publish_dashboard(dashboard, rows)
    return PortfolioResult(rows, run_dir, True, time.perf_counter() - start, counts)


def _identify(paths: list[Path], previous: dict[str, dict]) -> tuple[list[tuple], list[dict]]:
    """(work items, rows failed already): each file's system id, read without validating.

    Two files with one system id would share one history: the first (by path) keeps the id,
    the others fail with a located error naming it. A file whose bytes are those the last
    dashboard recorded keeps the id recorded with them, unparsed.
    """
    from kit.files import sha256_file
    from kit.runs.store import system_id_of

    items, failed, owner = [], [], {}
    for p in paths:
        row = {"path": str(p), "status": FAILED, "run": "", "errors": [], "notes": []}
        try:
            digest = sha256_file(p)
            before = previous.get(str(p)) or {}
            known = before.get("file_sha256") == digest and before.get("system")
            system_id = before["system"] if known else system_id_of(p)
        except InputError as exc:
            failed.append({**row, "errors": [str(x) for x in exc.shown]})
            continue
        except OSError as exc:
            failed.append({**row, "errors": [f"{p}: {exc.strerror or exc}"]})
            continue
        if system_id in owner and system_id != UNNAMED:  # no id: loading it says what is wrong
            failed.append(
                {
                    **row,
                    "errors": [
                        f"{p}: system.id: '{system_id}' is also the id of {owner[system_id]}; "
                        "each system of a portfolio needs its own id"
                    ],
                }
            )
            continue
        owner[system_id] = p
        items.append((str(p), system_id, digest, previous.get(str(p))))
    return items, failed


def _previous_rows(dashboard) -> dict[str, dict]:
    latest = dashboard.latest()
    if latest is None:
        return {}
    try:
        rows = json.loads((latest / ROWS).read_text(encoding="utf-8"))["systems"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {r["path"]: r for r in rows if isinstance(r, dict) and "path" in r}


def _same_rows(rows: list[dict], previous: dict[str, dict]) -> bool:
    """Whether the dashboard would show what the last one shows: the same systems, each up to
    date on the same run (a run folder never changes) or failing the same way."""
    if {r["path"] for r in rows} != set(previous):
        return False
    for r in rows:
        p = previous[r["path"]]
        if r["status"] == FAILED:
            if p["status"] != FAILED or p["errors"] != r["errors"]:
                return False
        elif r["status"] != UP_TO_DATE or r["run"] != p.get("run"):
            return False
    return True


# ---------------------------------------------------------------- the dashboard


def publish_dashboard(dashboard, rows: list[dict]) -> Path:
    """Write the rows, run the portfolio notebook over them, export it to HTML; publish the
    three as one run of the dashboard store, record it in its trail; return the run folder."""
    from kit.runs.store import output_hashes

    stamp = dt.datetime.now(dt.UTC)
    run_id = _run_id(dashboard, stamp)
    staging = dashboard.stage(run_id)
    failed = sum(r["status"] == FAILED for r in rows)
    write_json(
        staging / ROWS,
        {"time": stamp.isoformat(timespec="seconds"), "run": run_id, "systems": rows},
    )
    execute_dashboard(staging, dashboard.root)
    (staging / "notebooks").rmdir()  # Store.stage makes it for a system's notebooks
    entries = audit.read(dashboard.audit_path)
    manifest = {
        "run": run_id,
        "time": stamp.isoformat(timespec="seconds"),
        "systems": len(rows),
        "failed": failed,
        "outputs": output_hashes(staging),
        "audit_prev": {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]} if entries else None,
    }
    write_json(staging / "manifest.json", manifest)
    run_dir = dashboard.publish(staging, run_id)
    audit.append(
        dashboard.audit_path,
        "run",  # a run of the dashboard, checked by `saikit audit verify --out <store>/dashboard`
        status="published",
        run=run_id,
        systems=len(rows),
        failed=failed,
        outputs=manifest["outputs"],
    )
    dashboard.point_latest(run_dir)
    return run_dir


def execute_dashboard(run_dir: Path, history: Path, timeout: int = 600) -> None:
    """Run the portfolio notebook over `run_dir`'s rows with papermill; write it and its HTML."""
    import nbformat
    import papermill as pm

    from kit.export.report import render_html
    from kit.files import write_atomic
    from kit.resources import data_dir
    from kit.runs.execute import KERNEL, kernels_logged_to

    target = run_dir / "portfolio.ipynb"
    with kernels_logged_to(history.parent / "logs" / "dashboard.log"):
        pm.execute_notebook(
            str(data_dir("notebooks") / "portfolio" / "portfolio.ipynb"),
            str(target),
            parameters={"portfolio_run": str(run_dir), "dashboard_store": str(history)},
            cwd=str(run_dir),
            kernel_name=KERNEL,
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
        )
    nb = nbformat.read(target, as_version=4)
    nb.metadata["title"] = "Portfolio"
    write_atomic(run_dir / "portfolio.html", render_html(nb, run_dir))


def _run_id(store, stamp: dt.datetime) -> str:
    base = stamp.strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (store.root / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


# ---------------------------------------------------------------- progress


class Bar:
    """A progress bar per portfolio run: systems done / total and failures, one line redrawn
    on a terminal, a line per tenth (and per failure) elsewhere."""

    WIDTH = 30

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown_tenth = -1

    def __call__(self, row: dict, done: int, total: int, failed: int) -> None:
        filled = self.WIDTH * done // max(total, 1)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} systems, {failed} failed"
        )
        if self.tty:
            end = "\n" if done == total else ""
            print(f"\r{line}", end=end, file=self.stream, flush=True)
            return
        tenth = 10 * done // max(total, 1)
        if row["status"] == FAILED or tenth != self.shown_tenth or done == total:
            self.shown_tenth = tenth
            suffix = f"  {row['path']}: failed" if row["status"] == FAILED else ""
            print(line + suffix, file=self.stream, flush=True)


def summary_line(result: PortfolioResult) -> str:
    """One line: how many systems, what happened to them, where the dashboard is, how long."""
    c = result.counts
    parts = [f"{c[s]} {s}" for s in (PUBLISHED, UP_TO_DATE, ASSESSED, FAILED) if c.get(s)]
    where = (
        f"dashboard {result.dashboard / 'portfolio.html'}"
        if result.published
        else f"dashboard unchanged: {result.dashboard / 'portfolio.html'}"
        if result.dashboard
        else "no dashboard"
    )
    return (
        f"portfolio: {len(result.rows)} systems: {', '.join(parts) or 'none'}; {where}; "
        f"{result.seconds:.1f} s"
    )
