"""Executing notebooks with papermill, in parallel, in worker processes that die with saikit.

Each notebook runs in a worker of a process pool. When a run executes several notebooks, each
worker keeps one warm kernel for all the notebooks it runs (papermill's `saikit-warm` engine,
kit.runs.warm), so the kernel start and the kit's imports are paid once per worker, not once per
notebook. `jobs=0` runs the notebooks one after another in this very process, on its warm kernel:
the portfolio does that inside its own workers, which may not start processes of their own. On
Linux a worker asks the kernel (prctl PR_SET_PDEATHSIG) to be killed when saikit dies, even by
SIGKILL, and the kernels (ipykernel) stop by themselves when their worker is gone, so nothing is
left finishing notebooks into an abandoned staging folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

KERNEL = "python3"
# kit.runs.warm's engine, by the name papermill registers it under (never imported from here:
# papermill imports it through its entry point, and importing it first would be circular).
WARM_ENGINE = "saikit-warm"
CELL_TIMEOUT_S = 600
_PR_SET_PDEATHSIG = 1


@dataclass
class NotebookResult:
    name: str
    ok: bool
    seconds: float
    attempts: int = 1
    error: str = ""


_PORT_CLASH = ("Address already in use", "Kernel died before replying", "ZMQError")


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit now if it has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class _CellCounter:
    """A file for papermill's tqdm bar that sends (notebook, cells done, cells) to a queue
    instead of drawing: the parent process draws the bars."""

    _COUNT = re.compile(r"(\d+)/(\d+)")

    def __init__(self, queue, name: str) -> None:
        self.queue, self.name = queue, name

    def write(self, text: str) -> int:
        found = self._COUNT.findall(text)
        if found:
            done, total = found[-1]
            self.queue.put((self.name, int(done), int(total)))
        return len(text)

    def flush(self) -> None:
        pass


def execute_notebook(
    source: str,
    target: str,
    parameters: dict,
    cwd: str,
    timeout: int = CELL_TIMEOUT_S,
    cells=None,
    engine: str | None = None,
) -> NotebookResult:
    """Execute one notebook with papermill; retry a kernel that dies on a port clash.

    With `cells` (a queue), report each cell executed to it as (notebook, done, total).
    `engine` is a papermill engine name (None: papermill's own, a fresh kernel per notebook).
    """
    import papermill as pm

    if engine:
        _register(engine)
    name = Path(source).stem
    bar = {"file": _CellCounter(cells, name), "mininterval": 0} if cells is not None else False
    start = time.perf_counter()
    for attempt in range(1, 4):
        try:
            pm.execute_notebook(
                source,
                target,
                parameters=parameters,
                cwd=cwd,
                kernel_name=KERNEL,
                engine_name=engine,
                progress_bar=bar,
                log_output=False,
                execution_timeout=timeout,
            )
            return NotebookResult(name, True, time.perf_counter() - start, attempt)
        except pm.PapermillExecutionError as exc:
            src = exc.source.strip().splitlines()
            cell = src[0] if src else ""
            return NotebookResult(
                name,
                False,
                time.perf_counter() - start,
                attempt,
                f"cell {exc.cell_index} ({cell[:80]}): {exc.ename}: {exc.evalue}",
            )
        except Exception as exc:  # noqa: BLE001 - a kernel start failure is reported, not raised
            text = f"{type(exc).__name__}: {exc}"
            if attempt < 3 and any(s in text for s in _PORT_CLASH):
                continue
            return NotebookResult(name, False, time.perf_counter() - start, attempt, text)
    raise AssertionError("unreachable")


def _register(engine: str) -> None:
    """Make sure papermill knows the warm engine. Installed, its entry point registers it; a
    stale *.egg-info in the working folder (an old in-place build of a clone) hides that entry
    point from papermill's lookup, so it is registered here by hand then."""
    from papermill.engines import papermill_engines
    from papermill.exceptions import PapermillException

    try:
        papermill_engines.get_engine(engine)
    except PapermillException:
        from kit.runs.warm import NAME, WarmKernelEngine  # papermill is imported: not circular

        papermill_engines.register(NAME, WarmKernelEngine)


def _kernel_log(path: Path) -> None:
    """Send this process's stderr, which the kernels it starts inherit, to a log file.

    The file is the store's `logs/worker-<pid>.log`, never one inside a run folder: a warm
    kernel outlives the notebook it started for, and could write into a sealed run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


@contextlib.contextmanager
def kernels_logged_to(path: Path):
    """For the block's length, send stderr to `path` (as `_kernel_log` does for a worker), so a
    kernel started in it writes its chatter there, not on the user's terminal; then restore it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        _kernel_log(path)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def execute_all(
    sources: dict[str, Path],
    names: list[str],
    staging: Path,
    parameters: dict,
    cwd: str,
    jobs: int,
    progress: Callable[[str], None],
    timeout: int = CELL_TIMEOUT_S,
    cells: Callable[[str, int, int], None] | None = None,
) -> list[NotebookResult]:
    """Execute the named notebooks in parallel, at most `jobs` at once (0: here, in turn), on
    warm kernels when there are several.

    A notebook is handed to the pool only when a worker is free, so each "running" line
    names a notebook that is actually running, never one still waiting its turn. With
    `cells`, each executed cell is reported as cells(notebook, done, total), for a bar.
    """
    engine = WARM_ENGINE if len(names) > 1 or jobs == 0 else None
    if jobs == 0:  # here, in turn (the portfolio's workers may not start processes)
        return _execute_here(sources, names, staging, parameters, cwd, progress, timeout, engine)
    with _cell_reports(cells) as queue:
        return _execute(
            sources, names, staging, parameters, cwd, jobs, progress, timeout, queue, engine
        )


@contextlib.contextmanager
def _cell_reports(cells):
    """A queue the workers report cells to, read by a thread that calls `cells`; or None."""
    if cells is None:
        yield None
        return
    import multiprocessing
    import threading

    with multiprocessing.Manager() as manager:
        queue = manager.Queue()

        def pump():
            while (item := queue.get()) is not None:
                cells(*item)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            yield queue
        finally:
            queue.put(None)
            reader.join(timeout=5)


def start_worker(parent: int, log_dir: Path | None) -> None:
    """A pool worker: die with saikit, and log its kernels' stderr to `log_dir` (the store's
    logs folder), one file per worker."""
    die_with_parent(parent)
    if log_dir is not None:
        _kernel_log(log_dir / f"worker-{os.getpid()}.log")


def _execute(sources, names, staging, parameters, cwd, jobs, progress, timeout, queue, engine):
    results = []
    workers = max(1, min(jobs, len(names)))
    waiting = list(names)
    with ProcessPoolExecutor(
        max_workers=workers,
        initializer=start_worker,
        initargs=(os.getpid(), staging.parent / "logs"),
    ) as pool:

        def start(name: str):
            progress(f"  running  {name}")
            return pool.submit(
                execute_notebook,
                str(sources[name]),
                str(staging / "notebooks" / f"{name}.ipynb"),
                parameters,
                cwd,
                timeout,
                queue,
                engine,
            )

        running = {start(waiting.pop(0)): None for _ in range(min(workers, len(waiting)))}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                del running[future]
                r = future.result()
                mark = "ok  " if r.ok else "FAIL"
                progress(
                    f"  {mark}     {r.name}  {r.seconds:.1f} s"
                    + (f"  {r.error}" if r.error else "")
                )
                results.append(r)
                if waiting:
                    running[start(waiting.pop(0))] = None
    return sorted(results, key=lambda r: r.name)


def _execute_here(sources, names, staging, parameters, cwd, progress, timeout, engine):
    """Execute the named notebooks one after another in this process, on its warm kernel."""
    results = []
    for name in names:
        progress(f"  running  {name}")
        target = str(staging / "notebooks" / f"{name}.ipynb")
        r = execute_notebook(str(sources[name]), target, parameters, cwd, timeout, engine=engine)
        progress(
            f"  {'ok  ' if r.ok else 'FAIL'}     {name}  {r.seconds:.1f} s  {r.error}".rstrip()
        )
        results.append(r)
    return sorted(results, key=lambda r: r.name)
