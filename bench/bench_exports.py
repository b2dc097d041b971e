"""Benchmark `saikit export`: every format, for the bundled example and a ~1,000-finding run.

Makes two real runs in a temporary store: the bundled default example, and a synthetic
system from bench/synth.py sized to give about 1,000 findings (850 assets give 1,022). Then
times each export in-process and prints the median of `--repeat` rounds per format, with the
size of what it wrote ("html" is the report without its PDF; "report" is both). Interpreter
start-up and imports (1-2 s for a `saikit export` command) are not included; `--cli` also
times one `saikit export` command per format, wall clock.

Run: python bench/bench_exports.py [--repeat 3] [--assets 850] [--cli]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth import write_system

from kit.export.formats import FORMATS, export
from kit.resources import default_system
from kit.runs import runner
from kit.runs.rundata import load_run


def make_run(system: Path, store: Path):
    result = runner.run(system, out=store, jobs=2, progress=lambda line: None)
    if result.status != "published":
        sys.exit(f"run of {system} failed: {[f.error for f in result.failures]}")
    return load_run(result.run_dir)


def time_exports(run, out: Path, repeat: int) -> dict[str, tuple[float, int, str]]:
    """Median seconds, bytes written and a note, per format."""
    results = {}
    for fmt, pdf in [("report", False), *((f, True) for f in FORMATS)]:
        times, written = [], {}
        for i in range(repeat):
            start = time.perf_counter()
            written = export(run, fmt, out / f"{fmt}-{pdf}-{i}", pdf=pdf)
            times.append(time.perf_counter() - start)
        size = sum(p.stat().st_size for p in written.values())
        note = _pages(written["report.pdf"]) if "report.pdf" in written else ""
        results[fmt if pdf else "html"] = (statistics.median(times), size, note)
    return results


def time_cli(run, out: Path) -> dict[str, float]:
    saikit = str(Path(sys.executable).parent / "saikit")
    times = {}
    for fmt in FORMATS:
        start = time.perf_counter()
        subprocess.run(
            [saikit, "export", fmt, str(run.path), "--out", str(out / f"cli-{fmt}")],
            check=True,
            capture_output=True,
        )
        times[fmt] = time.perf_counter() - start
    return times


def _pages(pdf: Path) -> str:
    try:
        from pypdf import PdfReader
    except ImportError:
        return ""
    return f"{len(PdfReader(pdf).pages)} PDF pages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--assets", type=int, default=850, help="synthetic system size")
    parser.add_argument("--cli", action="store_true", help="also time one CLI command per format")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic = write_system(root / "synthetic.yaml", args.assets)
        runs = {
            "example": make_run(default_system(), root / "example"),
            "synthetic": make_run(synthetic, root / "synthetic"),
        }
        for name, run in runs.items():
            print(
                f"{name}: {run.system_name}, {len(run.register)} findings, "
                f"{len(run.config['assets'])} assets (median of {args.repeat})"
            )
            cli = time_cli(run, root / name) if args.cli else {}
            for fmt, (seconds, size, note) in time_exports(run, root / name, args.repeat).items():
                extra = f"  cli {cli[fmt]:6.2f} s" if fmt in cli else ""
                print(f"  {fmt:<7} {seconds:6.2f} s  {size / 1024:8.0f} KiB{extra}  {note}")


if __name__ == "__main__":
    main()
