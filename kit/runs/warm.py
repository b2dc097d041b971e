"""A papermill engine that keeps one warm Jupyter kernel per worker thread.

Starting a kernel and importing the kit in it costs more than most of the workbook's notebooks
take to run. This engine (registered with papermill as `saikit-warm` through the
`papermill.engine` entry point, so `papermill --engine saikit-warm` finds it too) starts a
kernel the first time a worker runs a notebook and keeps it for the next one. Before each
notebook the kernel's namespace is emptied (`%reset -f`), its figures closed and its working
directory set to the one papermill was given, so a notebook sees what a fresh kernel would
show it, less the start-up: modules already imported stay imported, which is the point.

A notebook that fails, times out or loses its kernel takes the warm kernel with it: the next
notebook starts a new one rather than share a kernel in an unknown state. The kernel is shut
down when its worker process exits.

Import papermill before this module (papermill imports it through the entry point, so
importing this module first would be circular); the kit names the engine by `NAME` only.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from dataclasses import dataclass
from multiprocessing import util as mp_util

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args

NAME = "saikit-warm"

# Run in the kernel before each notebook: a clean namespace in the folder papermill was given.
_RESET = (
    "get_ipython().run_line_magic('reset', '-f')\n"
    "import os as _os, sys as _sys\n"
    "_os.chdir({cwd!r})\n"
    "if 'matplotlib.pyplot' in _sys.modules:\n"
    "    _sys.modules['matplotlib.pyplot'].close('all')\n"
    "del _os, _sys\n"
)


@dataclass
class _Warm:
    """A started kernel and its client."""

    kernel_name: str
    km: AsyncKernelManager
    kc: object = None  # jupyter_client AsyncKernelClient, once nbclient has connected
    notebooks: int = 0

    def alive(self) -> bool:
        return self.kc is not None and bool(run_sync(self.km.is_alive)())


_local = threading.local()  # one warm kernel per worker thread (a Dask worker may have several)
_all: list[_Warm] = []
_all_lock = threading.Lock()


def _stop(warm: _Warm) -> None:
    with contextlib.suppress(Exception):
        if warm.kc is not None:
            warm.kc.stop_channels()
    with contextlib.suppress(Exception):
        run_sync(warm.km.shutdown_kernel)(now=True)
    with _all_lock:
        if warm in _all:
            _all.remove(warm)


def stop_all() -> None:
    """Shut down every warm kernel this process started."""
    for warm in list(_all):
        _stop(warm)
    _local.__dict__.clear()


# A pool worker leaves through multiprocessing's exit hooks, the main process through atexit.
atexit.register(stop_all)
mp_util.Finalize(None, stop_all, exitpriority=10)


def warm_kernels() -> int:
    """How many warm kernels this process holds (for tests and benchmarks)."""
    return len(_all)


def _take(kernel_name: str) -> _Warm:
    warm = getattr(_local, "warm", None)
    if warm is not None and (warm.kernel_name != kernel_name or not warm.alive()):
        _stop(warm)
        warm = None
    if warm is None:
        warm = _Warm(kernel_name, AsyncKernelManager(kernel_name=kernel_name))
        _local.warm = warm
        with _all_lock:
            _all.append(warm)
    return warm


def _drop(warm: _Warm) -> None:
    _stop(warm)
    if getattr(_local, "warm", None) is warm:
        del _local.warm


class WarmKernelEngine(NBClientEngine):
    """papermill's nbclient engine, on a kernel kept warm between notebooks."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        **kwargs,
    ):
        """Execute `nb_man`'s notebook on this thread's warm kernel (started when none is)."""
        kwargs = remove_args(["input_path", "km"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        warm = _take(kernel_name)
        client = PapermillNotebookClient(nb_man, km=warm.km, **final_kwargs)
        ok = False
        try:
            if warm.kc is not None:
                client.kc = warm.kc
                _reset(client, os.getcwd())
            nb = client.execute(cleanup_kc=False)  # the kernel manager is ours: nbclient keeps it
            warm.kc = client.kc
            warm.notebooks += 1
            ok = not nb.metadata.get("papermill", {}).get("exception")
            return nb
        finally:
            if not ok:  # a failed or timed-out cell may leave the kernel busy or broken
                _drop(warm)


def _reset(client: PapermillNotebookClient, cwd: str) -> None:
    """Empty the kernel's namespace and move it to `cwd`, before the next notebook."""
    reply = run_sync(client.kc.execute_interactive)(
        _RESET.format(cwd=cwd), silent=True, store_history=False, timeout=60
    )
    if reply["content"]["status"] != "ok":
        content = reply["content"]
        raise RuntimeError(
            f"the warm kernel could not be reset: {content.get('ename')}: {content.get('evalue')}"
        )
