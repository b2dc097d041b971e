"""Benchmark `saikit run`: no-op rerun, versus plain papermill, and a cold parallel run.

Prints, measured in one go on the bundled default example:
- the no-op rerun time (median of 5; target < 0.5 s, zero kernels started);
- its ratio to a plain papermill rerun of every notebook;
- a cold full run (a new store each time, 2 jobs) and a `--force` rerun against the sum of running each notebook alone with
  the papermill command (target ratio < 0.65 on 2 cores).

Run: python bench/bench_run.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.resources import default_system
from kit.runs.runner import workbook_notebooks


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    system = str(default_system())
    bin_dir = Path(sys.executable).parent
    saikit, papermill = str(bin_dir / "saikit"), str(bin_dir / "papermill")
    with tempfile.TemporaryDirectory() as tmp:
        # each cold run starts a store of its own: nothing to reuse, every notebook executed
        cold = [
            timed([saikit, "run", system, "--out", f"{tmp}/cold{i}", "--jobs", "2"], tmp)
            for i in range(3)
        ]
        forced = [
            timed([saikit, "run", system, "--out", f"{tmp}/cold0", "--force", "--jobs", "2"], tmp)
            for _ in range(2)
        ]
        noop = [timed([saikit, "run", system, "--out", f"{tmp}/cold0"], tmp) for _ in range(5)]
        alone = {}
        for name, path in workbook_notebooks().items():
            alone[name] = timed(
                [
                    papermill,
                    str(path),
                    str(Path(tmp) / f"{name}.ipynb"),
                    "-p",
                    "system_path",
                    system,
                    "--no-progress-bar",
                ],
                tmp,
            )
    total_alone = sum(alone.values())
    cold_median = statistics.median(cold)
    noop_median = statistics.median(noop)
    print("saikit run benchmark (bundled example, 2 jobs)")
    for name, seconds in alone.items():
        print(f"  papermill alone  {name:<26} {seconds:6.2f} s")
    print(f"  sum of papermill runs, one at a time  {total_alone:6.2f} s")
    print(f"  cold saikit run (median of {len(cold)})       {cold_median:6.2f} s")
    print(f"  --force rerun (median of {len(forced)})        {statistics.median(forced):6.2f} s")
    print(
        f"  ratio cold / sum alone                {cold_median / total_alone:6.2f}  (target < 0.65)"
    )
    print(
        f"  no-op rerun (median of {len(noop)})           {noop_median:6.3f} s  (target < 0.5 s, 0 kernels)"
    )
    print(f"  ratio no-op / plain papermill rerun   {noop_median / total_alone:6.3f}")


if __name__ == "__main__":
    main()
