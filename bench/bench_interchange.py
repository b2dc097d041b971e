"""Benchmark the interchange formats: export and import times on the examples and on a
1,000-asset system.

Makes two real runs in a temporary store: the bundled example, and a synthetic system of
`--assets` assets from bench/synth.py. Times, in-process, each `saikit export` interchange
format on both runs (build + write + audit), then each import: the OTM and TM-BOM files just
exported and saikit's own CycloneDX BOM of each system, and the official example files in
../shared/interop/examples/ (each import writes the starter and loads it as `saikit check`
does). Prints the median of `--repeat` rounds and the size of each file.

Run: python bench/bench_interchange.py [--repeat 3] [--assets 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synth import write_system

from kit.export.bom import write_bom
from kit.export.interchange import INTERCHANGE, export_interchange, source_of
from kit.graph import build
from kit.imports import cyclonedx, otm, tmbom
from kit.imports.starter import read_source
from kit.inputs import load_checked
from kit.resources import default_system
from kit.runs import runner
from kit.runs.rundata import load_run

INTEROP = Path(__file__).resolve().parents[2] / "shared" / "interop" / "examples"
IMPORTERS = {"otm": otm, "tmbom": tmbom, "cyclonedx": cyclonedx}
OFFICIAL = {
    "otm-EXAMPLE.json": "otm",
    "otm-threat-dragon-mobile-cloud.otm.json": "otm",
    "tmbom-husky-ai-threat-model.json": "tmbom",
    "cyclonedx-valid-machine-learning-1.6.json": "cyclonedx",
    "cyclonedx-valid-machine-learning-considerations-env-1.6.json": "cyclonedx",
}


def make_run(system: Path, store: Path):
    result = runner.run(system, out=store, jobs=2, progress=lambda line: None)
    if result.status != "published":
        sys.exit(f"run of {system} failed: {[f.error for f in result.failures]}")
    return load_run(result.run_dir)


def median(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def time_export(fmt: str, name: str, folder: Path, repeat: int) -> tuple[float, int]:
    """Median seconds to read the source (system file or run) and write `fmt`; bytes written."""
    seconds, paths = median(lambda: export_interchange(fmt, source_of(fmt, name), folder), repeat)
    return seconds, sum(p.stat().st_size for p in paths)


def time_import(fmt: str, path: Path, out: Path, repeat: int) -> tuple[float, int]:
    module = IMPORTERS[fmt]
    seconds, written = median(
        lambda: module.write(module.starter(read_source(path)), out, force=True), repeat
    )
    model, _ = load_checked(written)
    return seconds, len(model.assets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--assets", type=int, default=1000, help="synthetic system size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic = write_system(root / "synthetic.yaml", args.assets)
        systems = {"example": default_system(), "synthetic": synthetic}
        for name, system in systems.items():
            start = time.perf_counter()
            run = make_run(system, root / f"runs-{name}")
            model, _ = load_checked(system)
            print(
                f"{name}: {len(model.assets)} assets, {len(model.flows)} flows, "
                f"{len(run.register)} findings (run {time.perf_counter() - start:.0f} s; "
                f"median of {args.repeat})"
            )
            out = root / name
            for fmt, f in INTERCHANGE.items():
                seconds, size = time_export(fmt, str(run.path), out / fmt, args.repeat)
                print(f"  export {fmt:<16} {seconds:6.3f} s {size / 1024:8.0f} KiB  (from the run)")
                if f.reads == "system":
                    seconds, size = time_export(
                        fmt, str(system), out / f"{fmt}-system", args.repeat
                    )
                    print(
                        f"  export {fmt:<16} {seconds:6.3f} s {size / 1024:8.0f} KiB  (from the system file)"
                    )
            bom = write_bom(build(model), out / "bom.json")
            for fmt, path in (
                ("otm", out / "otm-system" / f"{system.stem}.otm.json"),
                ("tmbom", out / "tmbom-system" / f"{system.stem}.tmbom.json"),
                ("cyclonedx", bom),
            ):
                seconds, n = time_import(fmt, path, out / f"import-{fmt}.yaml", args.repeat)
                print(f"  import {fmt:<16} {seconds:6.3f} s  {n} assets back")
        print(f"official examples ({INTEROP})")
        for name, fmt in OFFICIAL.items():
            seconds, n = time_import(fmt, INTEROP / name, root / f"{name}.yaml", args.repeat)
            print(f"  import {fmt:<9} {seconds:6.3f} s  {n:3} assets  {name}")


if __name__ == "__main__":
    main()
