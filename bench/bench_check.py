"""Benchmark `saikit check`: the real CLI, as a subprocess, on every bundled example and on a
generated 10,000-asset system file.

Prints the median of several runs (default 3) of each, beside two references: plain
`python -c pass` (interpreter startup, the least any command can cost) and `saikit --version`
(startup plus the CLI's own imports, before any file is read). Every run must exit 0.

    python bench/bench_check.py                # median of 3
    python bench/bench_check.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.resources import examples

HERE = Path(__file__).resolve().parent
GENERATED_SIZE = 10_000


def timed(cmd: list[str], cwd: str, repeats: int) -> list[float]:
    """Wall-clock seconds of `repeats` runs of cmd (each must exit 0)."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def main(repeats: int) -> int:
    sys.path.insert(0, str(HERE))
    from synth import write_system

    saikit = str(Path(sys.executable).parent / "saikit")
    load_before = os.getloadavg()
    rows: list[tuple[str, str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            (
                "python -c pass",
                "interpreter startup",
                timed([sys.executable, "-c", "pass"], tmp, repeats),
            )
        )
        rows.append(
            (
                "saikit --version",
                "startup + CLI imports",
                timed([saikit, "--version"], tmp, repeats),
            )
        )
        for name, path in sorted(examples().items()):
            size = f"{path.stat().st_size / 1024:.0f} KiB"
            rows.append(
                (
                    f"saikit check {name}",
                    f"bundled example, {size}",
                    timed([saikit, "check", str(path)], tmp, repeats),
                )
            )
        big = write_system(Path(tmp) / f"synthetic-{GENERATED_SIZE}.yaml", GENERATED_SIZE)
        size = f"{big.stat().st_size / 2**20:.1f} MiB"
        rows.append(
            (
                f"saikit check synthetic-{GENERATED_SIZE}",
                f"{GENERATED_SIZE:,} assets, {size}",
                timed([saikit, "check", str(big)], tmp, repeats),
            )
        )
    load_after = os.getloadavg()
    startup = statistics.median(rows[0][2])
    print(
        f"saikit check benchmark (wall-clock, median of {repeats}; {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before and {load_after[0]:.1f} after)"
    )
    print(f"  {'command':<38}{'what':<30}{'median':>9}{'min':>9}  minus startup")
    for command, what, times in rows:
        median = statistics.median(times)
        print(
            f"  {command:<38}{what:<30}{median:8.3f}s{min(times):8.3f}s  {median - startup:8.3f}s"
        )
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command (median)")
    sys.exit(main(ap.parse_args().repeats))
