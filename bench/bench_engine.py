"""Benchmark: saikit's threat evaluation against pytm's `resolve()` and the YAML parse floor.

pytm (`pip install saikit[bench]`) is what a Python user would pick today. For each size the same
synthetic topology (bench/synth.py: same elements, same flows) is built in both tools and timed:

- pytm: `TM.resolve()` after `TM.check()` (as `TM.process()` runs them), every threat in pytm's
  shipped threats.json against every element. Building the model and `check()` are timed too,
  but only `resolve()` is compared.
- saikit: the full evaluation of an already-loaded model, `kit.analysis.analyse_model` (graph
  build + `kit.threats.engine.evaluate` + `kit.risk.assess`), and each of its three parts alone;
  the model's validation (pydantic) is timed apart, and so is explaining every finding (saikit
  works an explanation out when something reads it, such as the register; pytm has none).

Pairs: pytm's are its elements (the synthetic assets) x the threats it checks; saikit's are assets
x threats in the shipped library. The printout also gives pytm's per-pair time counting every
element its `resolve()` loop visits (assets, dataflows and the two boundaries), which flatters pytm.
The parse floor is `yaml.load(text, Loader=yaml.CSafeLoader)` on the 10,000-asset system file
(`bench/synth.write_system`), beside `kit.yamlio.parse` and `kit.model.load_system`.

Issue targets (printed, never asserted; this is a benchmark, not a test): saikit at least 20x faster
per pair than pytm, and under 1 s in total at 10,000 assets on a 2-core machine.

Each measurement runs in its own subprocess (pytm keeps class-level state; `TM.reset()` is called
before each build anyway). The machine is shared and its speed drifts by tens of percent over
seconds, so at each size the two tools are measured in turns (--rounds rounds: saikit
--repeats times, then one pytm `resolve()`), and each tool's median is over all its samples.
If pytm's rounds at a size are predicted to take longer than the budget (default 300 s), pytm is
measured at 1,000, 2,000 and 3,000 instead and the size is extrapolated from the measured growth
(printed); saikit is always measured.

    python bench/bench_engine.py                 # 1,000 and 10,000 assets
    python bench/bench_engine.py 1000 10000 --repeats 7 --rounds 3 --pytm-budget 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (1_000, 10_000)
PARSE_SIZE = 10_000
FALLBACK_SIZES = (1_000, 2_000, 3_000)  # pytm sizes measured when a size would take too long
TARGET_RATIO = 20.0
TARGET_SECONDS_10K = 1.0
TODAY = dt.date(2026, 1, 1)

# saikit asset type -> pytm element class. pytm 1.4 has LLM and Agent elements, so AI assets
# keep their nature and pytm applies its LLM and agent threats to them.
PYTM_CLASS = {
    "dataset": "Datastore",
    "vector_store": "Datastore",
    "log_store": "Datastore",
    "prompt": "Datastore",
    "model": "LLM",
    "agent": "Agent",
    "api": "Server",
    "application": "Process",
    "tool": "Lambda",
    "infrastructure": "Server",
    "third_party_component": "ExternalEntity",
    "user_group": "Actor",
}
EXTERNAL_TYPES = {"user_group", "third_party_component"}


def _timed(fn, repeats: int) -> tuple[dict, object]:
    """Median wall and CPU seconds of `repeats` calls of fn (a full collection before each)."""
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        result = None
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return _summary(walls, cpus), result


def _summary(walls: list[float], cpus: list[float]) -> dict:
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "walls": walls,
        "cpus": cpus,
        "repeats": len(walls),
    }


# --- in-process measurements (each in its own subprocess) -----------------------------------------


def measure_saikit(n: int, repeats: int) -> dict:
    sys.path.insert(0, str(HERE))
    from synth import synthetic_data

    from kit import graph as graphs
    from kit.analysis import analyse_model
    from kit.model.schema import SystemModel
    from kit.risk.scoring import assess
    from kit.threats.engine import evaluate
    from kit.threats.library import load_library

    data = synthetic_data(n)
    wall = time.perf_counter()
    library = load_library()
    library_seconds = time.perf_counter() - wall
    validate, model = _timed(lambda: SystemModel.model_validate(data), repeats)
    model.asset_by_id  # noqa: B018 - a cached property every later stage uses; made once here
    times = {"validate (pydantic)": validate}
    # The graph's views (edge table, steps) are made on first use, so each evaluation gets a
    # fresh graph: building it is part of the engine's time.
    times["graph + engine evaluate"], g_matches = _timed(
        lambda: (g := graphs.build(model), evaluate(g, library)), repeats
    )
    g, matches = g_matches
    times["risk assess"], _ = _timed(partial(assess, g, library, matches, TODAY), repeats)
    del g, matches, g_matches
    times["full evaluation"], analysis = _timed(
        partial(analyse_model, model, library, TODAY), repeats
    )
    # Not part of the comparison (pytm has no such thing): explaining every finding, which
    # saikit does when something reads the explanations (the register, a report).
    walls, cpus = [], []
    for _ in range(repeats):
        fresh = analyse_model(model, library, TODAY)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        for f in fresh.assessment.findings:
            f.match.explanation  # noqa: B018 - worked out on first read
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    times["explanations, every finding (on read)"] = _summary(walls, cpus)
    return {
        "assets": n,
        "flows": len(model.flows),
        "threats": len(library.threats),
        "applicable_threats": sum(
            model.system.ai_type in t.ai_types for t in library.threats.values()
        ),
        "findings": len(analysis.assessment.findings),
        "library_load": library_seconds,
        "times": times,
    }


def measure_pytm(n: int, repeats: int, budget: float) -> dict:
    sys.path.insert(0, str(HERE))
    import pytm
    from synth import synthetic_data

    data = synthetic_data(n)
    pytm.TM.reset()
    wall = time.perf_counter()
    tm = pytm.TM(f"synthetic-{n}", description="A generated system for benchmarks.")
    external, internal = pytm.Boundary("external"), pytm.Boundary("internal")
    elements = {}
    for a in data["assets"]:
        cls = getattr(pytm, PYTM_CLASS[a["type"]])
        extra = {}
        if cls is pytm.Datastore:
            sensitivity = a.get("sensitivity")
            extra = {
                "storesPII": sensitivity == "personal",
                "storesSensitiveData": sensitivity in ("confidential", "personal"),
                "storesLogData": a["type"] == "log_store",
                "isSQL": a["type"] == "dataset",
            }
        boundary = external if a["type"] in EXTERNAL_TYPES else internal
        elements[a["id"]] = cls(a["id"], inBoundary=boundary, **extra)
    for f in data["flows"]:
        controls = pytm.Controls(
            isEncrypted=f.get("encrypted", True), authenticatesSource=f.get("authenticated", True)
        )
        pytm.Dataflow(elements[f["from"]], elements[f["to"]], f["kind"], controls=controls)
    build = time.perf_counter() - wall
    wall = time.perf_counter()
    tm.check()
    check = time.perf_counter() - wall
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()  # findings of a previous resolve() are cyclic garbage
        wall, cpu = time.perf_counter(), time.process_time()
        tm.resolve()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if sum(walls) > budget:
            break
    return {
        "assets": n,
        "flows": len(data["flows"]),
        "tm_elements": len(pytm.TM._elements),
        "threats": len(pytm.TM._threats),
        "findings": len(tm.findings),
        "version": _version("pytm"),
        "build": build,
        "check": check,
        "resolve": _summary(walls, cpus),
    }


def measure_parse(n: int, repeats: int) -> dict:
    sys.path.insert(0, str(HERE))
    import yaml
    from synth import write_system

    from kit.model import yamlio
    from kit.model.schema import load_system

    c_loader = getattr(yaml, "CSafeLoader", None)
    floor_loader = c_loader or yaml.SafeLoader
    with tempfile.TemporaryDirectory() as tmp:
        path = write_system(Path(tmp) / f"synthetic-{n}.yaml", n)
        text = path.read_text(encoding="utf-8")
        times = {}
        times[f"yaml.load, {floor_loader.__name__} (floor)"], _ = _timed(
            lambda: yaml.load(text, Loader=floor_loader), repeats
        )
        times["kit.yamlio.parse"], _ = _timed(lambda: yamlio.parse(text, str(path)), repeats)
        # Below any loader: libyaml's event stream alone, no Python objects made (for reference).
        times["yaml.parse events only (no objects)"], _ = _timed(
            lambda: sum(1 for _ in yaml.parse(text, Loader=floor_loader)), repeats
        )
        times["kit.model.load_system"], _ = _timed(lambda: load_system(path), repeats)
    return {
        "assets": n,
        "bytes": len(text.encode()),
        "libyaml": c_loader is not None,
        "times": times,
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


# --- orchestration and printout -------------------------------------------------------------------


def _run(*args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *map(str, args)], capture_output=True, text=True
    )
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"measurement {args} failed")
    return json.loads(out.stdout)


def _fit(points: dict[int, float]) -> tuple[float, float]:
    """(a, b) of t = a * n**b fitted to the points in log-log space; b = 1 with a single point."""
    if len(points) == 1:
        ((n, t),) = points.items()
        return t / n, 1.0
    xs = [math.log(n) for n in points]
    ys = [math.log(t) for t in points.values()]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return math.exp(my - b * mx), b


def _merge(runs: list[dict], path: tuple[str, ...]) -> dict:
    """One summary of the timings at `path` in each run: their samples pooled."""

    def at(run):
        for key in path:
            run = run[key]
        return run

    return _summary(
        [w for r in runs for w in at(r)["walls"]], [c for r in runs for c in at(r)["cpus"]]
    )


def measure_sizes(sizes, repeats: int, rounds: int, budget: float) -> tuple[dict, dict]:
    """saikit and pytm at each size: measured in turns where pytm fits the budget, so that both
    see the same machine (it is shared, and its speed drifts); elsewhere pytm is extrapolated
    from measured growth."""
    saikit: dict[int, dict] = {}
    pytm: dict[int, dict] = {}
    measured: dict[int, dict] = {}  # pytm sizes measured
    for n in sorted(sizes):
        predicted = 0.0
        if measured:
            a, b = _fit({m: r["resolve"]["wall"] for m, r in measured.items()})
            predicted = a * n**b * rounds
        if predicted <= budget:
            turns = [
                (_run("saikit", n, repeats), _run("pytm", n, 1, budget)) for _ in range(rounds)
            ]
            mine, theirs = [t[0] for t in turns], [t[1] for t in turns]
            saikit[n] = dict(
                mine[0], times={k: _merge(mine, ("times", k)) for k in mine[0]["times"]}
            )
            pytm[n] = measured[n] = dict(
                theirs[0],
                build=statistics.median(r["build"] for r in theirs),
                check=statistics.median(r["check"] for r in theirs),
                resolve=_merge(theirs, ("resolve",)),
            )
            continue
        saikit[n] = _run("saikit", n, repeats)
        for m in FALLBACK_SIZES:
            if m not in measured and m < n:
                measured[m] = _run("pytm", m, rounds, budget)
        largest = measured[max(measured)]
        fits = {
            k: _fit({m: r["resolve"][k] for m, r in sorted(measured.items())})
            for k in ("wall", "cpu")
        }
        pytm[n] = {
            "assets": n,
            "extrapolated": True,
            "threats": largest["threats"],
            "points": {m: r["resolve"]["wall"] for m, r in sorted(measured.items())},
            "exponent": fits["wall"][1],
            "tm_elements": round(n * largest["tm_elements"] / largest["assets"]),
            "resolve": {k: a * n**b for k, (a, b) in fits.items()},
        }
    return saikit, pytm


def _line(name: str, t: dict, note: str = "") -> str:
    return f"    {name:<40}{t['wall']:9.3f} s {t['cpu']:9.3f} s{note}"


def main(sizes, repeats: int, rounds: int, budget: float) -> int:
    load_before = os.getloadavg()
    saikit, pytm = measure_sizes(sizes, repeats, rounds, budget)
    parse = _run("parse", PARSE_SIZE, repeats)
    load_after = os.getloadavg()
    version = next(r["version"] for r in pytm.values() if "version" in r)

    print(
        f"saikit vs pytm {version}: threat evaluation on synthetic systems "
        f"({os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after)"
    )
    print(
        "pytm elements: dataset, vector_store, log_store, prompt -> Datastore; model -> LLM; "
        "agent -> Agent;\n  api, infrastructure -> Server; application -> Process; "
        "tool -> Lambda; third_party_component -> ExternalEntity;\n  user_group -> Actor; "
        "every flow -> Dataflow; boundaries: external (user groups, third parties), internal"
    )
    print("times are medians: wall-clock, then CPU of the process (both tools are single-threaded)")
    for n in sizes:
        s, p = saikit[n], pytm[n]
        title = f"\n{n:,} assets, {s['flows']:,} flows"
        print(f"{title:<50}wall{'':9}cpu")
        print(
            f"  saikit: {s['threats']} threats ({s['applicable_threats']} for this AI type), "
            f"{s['findings']:,} findings, median of {s['times']['full evaluation']['repeats']} "
            f"(library loaded once, "
            f"{s['library_load']:.2f} s, not counted)"
        )
        for name, t in s["times"].items():
            print(_line(name, t, "  <- compared" if name == "full evaluation" else ""))
        if p.get("extrapolated"):
            points = ", ".join(f"{m:,}: {t:.2f} s" for m, t in p["points"].items())
            print(
                f"  pytm: {p['threats']} threats; resolve() would take over the "
                f"{budget:.0f} s budget, so it is EXTRAPOLATED"
            )
            print(f"    from the measured points ({points}; growth ~ n^{p['exponent']:.2f})")
            print(_line("resolve() (extrapolated)", p["resolve"], "  <- compared"))
        else:
            print(
                f"  pytm: {p['threats']} threats, {p['tm_elements']:,} TM elements (assets + "
                f"flows + 2 boundaries), {p['findings']:,} findings, median of "
                f"{p['resolve']['repeats']}"
            )
            print(f"    {'build elements':<40}{p['build']:9.3f} s")
            print(f"    {'check()':<40}{p['check']:9.3f} s")
            print(_line("resolve()", p["resolve"], "  <- compared"))

    print(f"\n{'per (element x rule) pair':<53}{'time per pair':^21}   {'pytm / saikit':^14}")
    print(f"{'':<40}{'pairs':>11}  {'wall':>10} {'cpu':>10}   {'wall':>6}  {'cpu':>6}")
    for n in sizes:
        s, p = saikit[n], pytm[n]
        full = s["times"]["full evaluation"]
        rows = [
            ("saikit  assets x threats", n * s["threats"], full),
            ("pytm    assets x threats", n * p["threats"], p["resolve"]),
            ("pytm    TM elements x threats", p["tm_elements"] * p["threats"], p["resolve"]),
        ]
        base = {k: full[k] / rows[0][1] for k in ("wall", "cpu")}
        for i, (name, pairs, t) in enumerate(rows):
            per = {k: t[k] / pairs for k in ("wall", "cpu")}
            ratio = (
                ""
                if i == 0
                else (f"   x{per['wall'] / base['wall']:5.1f}  x{per['cpu'] / base['cpu']:5.1f}")
            )
            print(
                f"  {n:>6,}  {name:<30}{pairs:>11,}  {per['wall'] * 1e6:7.2f} us "
                f"{per['cpu'] * 1e6:7.2f} us{ratio}"
            )
        extra = "  (pytm extrapolated)" if p.get("extrapolated") else ""
        print(
            f"  {n:>6,}  whole run, pytm resolve() / saikit full evaluation: "
            f"x{p['resolve']['wall'] / full['wall']:.1f} wall, "
            f"x{p['resolve']['cpu'] / full['cpu']:.1f} cpu{extra}"
        )
    print(
        "  (pytm's TM elements include the dataflows, which its resolve() also checks every "
        "threat against)"
    )

    print(
        f"\nparse: the {parse['assets']:,}-asset system file ({parse['bytes'] / 2**20:.1f} MiB; "
        f"libyaml {'present' if parse['libyaml'] else 'MISSING: pure-Python floor'}), "
        f"median of {repeats}"
    )
    floor = next(iter(parse["times"].values()))
    for name, t in parse["times"].items():
        print(_line(name, t, f"  x{t['wall'] / floor['wall']:.2f} floor"))
    if PARSE_SIZE in saikit:
        full = saikit[PARSE_SIZE]["times"]["full evaluation"]
        ours = parse["times"]["kit.yamlio.parse"]
        print(
            f"  engine time / parse time at {PARSE_SIZE:,} assets (saikit full evaluation / "
            f"floor): {full['wall'] / floor['wall']:.2f} wall, "
            f"{full['cpu'] / floor['cpu']:.2f} cpu"
            f"\n  (full evaluation / kit.yamlio.parse: {full['wall'] / ours['wall']:.2f} wall, "
            f"{full['cpu'] / ours['cpu']:.2f} cpu)"
        )

    print("\ntargets from the issue (reported, not asserted)")
    for n in sizes:
        s, p = saikit[n], pytm[n]
        full = s["times"]["full evaluation"]
        ratio = {
            k: (p["resolve"][k] / (n * p["threats"])) / (full[k] / (n * s["threats"]))
            for k in ("wall", "cpu")
        }
        verdict = "met" if min(ratio.values()) >= TARGET_RATIO else "NOT MET"
        print(
            f"  {n:,} assets: per-pair speed-up x{ratio['wall']:.1f} wall, x{ratio['cpu']:.1f} "
            f"cpu (target >= x{TARGET_RATIO:.0f}): {verdict}"
            f"{'  (pytm extrapolated)' if p.get('extrapolated') else ''}"
        )
    if 10_000 in saikit:
        t = saikit[10_000]["times"]["full evaluation"]
        verdict = "met" if t["wall"] < TARGET_SECONDS_10K else "NOT MET"
        print(
            f"  10,000 assets: saikit full evaluation {t['wall']:.3f} s wall, {t['cpu']:.3f} s "
            f"cpu (target < {TARGET_SECONDS_10K:.0f} s on 2 cores): {verdict}"
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        what, n, reps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        if what == "saikit":
            result = measure_saikit(n, reps)
        elif what == "pytm":
            result = measure_pytm(n, reps, float(sys.argv[5]))
        else:
            result = measure_parse(n, reps)
        print(json.dumps(result))
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    ap.add_argument("--repeats", type=int, default=5, help="saikit and parse repeats (median)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds per size: saikit (--repeats runs) then one pytm resolve(), in turns",
    )
    ap.add_argument(
        "--pytm-budget",
        type=float,
        default=300.0,
        help="seconds: sizes whose pytm rounds are predicted to take longer are extrapolated",
    )
    args = ap.parse_args()
    sys.exit(main(sorted(args.sizes), args.repeats, args.rounds, args.pytm_budget))
