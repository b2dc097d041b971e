"""Where the portfolio's work runs: a local process pool, or a Dask cluster past one machine.

Both are `concurrent.futures` executors (`ProcessPoolExecutor`, Dask's `Client.get_executor()`),
so the portfolio submits the same function with the same arguments to either and collects the
same results: no scheduler or queue of our own. Each worker process keeps one warm kernel
(kit.runs.warm) for all the systems it runs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

from kit.errors import fail
from kit.runs.execute import start_worker

CONNECT_TIMEOUT_S = 20


@contextlib.contextmanager
def executor(
    jobs: int = 2, scheduler: str | None = None, log_dir: Path | None = None
) -> Iterator[Executor]:
    """A process pool of `jobs` workers, or the Dask cluster at `scheduler` (tcp://HOST:PORT).

    A pool worker's stderr, which its kernels inherit, goes to `log_dir`/worker-<pid>.log.
    Raises InputError when Dask is not installed or the scheduler cannot be reached.
    """
    if not scheduler:
        if jobs < 1:
            raise fail("--jobs", None, "", f"{jobs} is not a number of workers: give at least 1")
        with ProcessPoolExecutor(
            max_workers=jobs, initializer=start_worker, initargs=(os.getpid(), log_dir)
        ) as pool:
            yield pool
        return
    try:
        from distributed import Client
    except ImportError:
        raise fail(
            "--scheduler",
            None,
            "",
            "running on a Dask cluster needs Dask: pip install 'saikit[dask]'",
        ) from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise fail(
            "--scheduler", None, "", f"cannot reach the Dask scheduler {scheduler}: {exc}"
        ) from None
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


def run_each(
    pool: Executor, work: Callable, items: Iterable, *args, on_done: Callable[[dict], None]
) -> list[dict]:
    """`work(item, *args)` for every item on `pool`; call `on_done` with each result as it comes.

    Items go out in batches of `batch_size(n)`, so an item that takes milliseconds (a system
    assessed in-process, or one whose runs are up to date) does not pay a task's round trip to
    a worker each (some 12 ms on Dask); a big portfolio still makes at least MIN_TASKS tasks
    to share out. Returns the results in the order of `items`. `work` returns a dict and never
    raises for a user's mistake (it reports it in the dict); anything else it raises is raised
    here.
    """
    items = list(items)
    size = batch_size(len(items))
    futures = {
        pool.submit(_each, work, items[i : i + size], args): i for i in range(0, len(items), size)
    }
    results: list[dict | None] = [None] * len(items)
    for future in as_completed(futures):
        start = futures[future]
        for k, result in enumerate(future.result()):
            results[start + k] = result
            on_done(result)
    return [r for r in results if r is not None]


MIN_TASKS = 50  # a portfolio of more items than this is sent in batches, never fewer tasks
MAX_BATCH = 20  # and no batch so big that one worker is left with much of the work at the end


def batch_size(n: int) -> int:
    """How many items go to a worker at once: 1 for up to 2 × MIN_TASKS items, then up to
    MAX_BATCH while at least MIN_TASKS tasks remain."""
    return max(1, min(MAX_BATCH, n // MIN_TASKS))


def _each(work: Callable, batch: list, args: tuple) -> list[dict]:
    """One task: `work(item, *args)` for each item of a batch, in order."""
    return [work(item, *args) for item in batch]
