"""The warm-kernel papermill engine: one kernel for many notebooks, a clean namespace for each."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kit.runs import warm  # papermill is imported first (see kit.runs.warm)


def _notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(
        cells=[new_code_cell(s) for s in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)
    return path


def _stdout(path: Path) -> list[str]:
    """The lines the notebook printed."""
    nb = json.loads(path.read_text())
    text = "".join(
        "".join(o["text"])
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )
    return text.splitlines()


@pytest.fixture
def notebooks(tmp_path):
    first = _notebook(
        tmp_path / "first.ipynb",
        "import os\nleftover = 41\nprint(os.getpid())",
    )
    second = _notebook(
        tmp_path / "second.ipynb",
        "import os\nprint(os.getpid())\nprint('leftover' in dir())\nprint(os.getcwd())",
    )
    failing = _notebook(tmp_path / "failing.ipynb", "raise ValueError('no')")
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    yield tmp_path, first, second, failing
    warm.stop_all()


def _run(source: Path, target: Path, cwd: Path, engine: str | None = warm.NAME) -> list[str]:
    pm.execute_notebook(
        str(source),
        str(target),
        cwd=str(cwd),
        kernel_name="python3",
        engine_name=engine,
        progress_bar=False,
    )
    return _stdout(target)


def test_papermill_finds_the_engine_through_its_entry_point():
    [entry] = [
        e for e in importlib.metadata.entry_points(group="papermill.engine") if e.name == warm.NAME
    ]
    assert entry.value == "kit.runs.warm:WarmKernelEngine"
    assert pm.engines.papermill_engines.get_engine(warm.NAME) is warm.WarmKernelEngine


def test_notebooks_share_one_kernel_but_never_a_namespace(notebooks):
    tmp, first, second, _ = notebooks
    [pid_first] = _run(first, tmp / "out1.ipynb", tmp / "a")
    pid, leftover, cwd = _run(second, tmp / "out2.ipynb", tmp / "b")
    assert pid == pid_first  # the same kernel process ran both
    assert leftover == "False"  # but the second saw nothing the first defined
    assert Path(cwd) == (tmp / "b").resolve()  # in the folder papermill was given
    assert warm.warm_kernels() == 1


def test_a_failed_notebook_takes_its_kernel_with_it(notebooks):
    tmp, first, second, failing = notebooks
    [pid_before] = _run(first, tmp / "out1.ipynb", tmp / "a")
    with pytest.raises(pm.PapermillExecutionError):
        _run(failing, tmp / "out-failing.ipynb", tmp / "a")
    assert warm.warm_kernels() == 0
    pid_after = _run(second, tmp / "out2.ipynb", tmp / "a")[0]
    assert pid_after != pid_before


def test_plain_papermill_still_runs_the_notebook_on_a_fresh_kernel(notebooks):
    tmp, first, second, _ = notebooks
    [pid_warm] = _run(first, tmp / "out1.ipynb", tmp / "a")
    pid, leftover, _ = _run(second, tmp / "out2.ipynb", tmp / "a", engine=None)
    assert pid != pid_warm and leftover == "False"
