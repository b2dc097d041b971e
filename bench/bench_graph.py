"""Benchmark: build the asset graph and run every analysis on synthetic systems of growing size.

Each size runs in its own subprocess, so peak memory is that size's alone. For each size it
prints the wall-clock and CPU time to build the graph, to run all the whole-graph analyses
(`kit.graph.analyses`) and 10 blast radius and 10 lineage queries, their total, the growth of
the total from 10,000 to 100,000 assets, the CPU time of each analysis run alone, and the peak
memory: the process's peak resident size (model included) and the peak traced by
tracemalloc while building the graph and running the analyses a second time.

Targets: total under 2 s at 10,000 assets, growth about linear (10x the assets, about 10x the
time), peak memory under 1 GiB at 100,000.

    python bench/bench_graph.py               # 1,000, 10,000 and 100,000 assets
    python bench/bench_graph.py 1000 10000    # chosen sizes
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (1_000, 10_000, 100_000)
TARGET_SECONDS_10K = 2.0
TARGET_BYTES_100K = 1 << 30
QUERIES = 10


def measure(n: int) -> dict:
    """Time and memory of build + analyses for a synthetic system of `n` assets (in-process)."""
    sys.path.insert(0, str(HERE))
    from synth import synthetic_system

    from kit import graph as graphs
    from kit.graph import analyses

    t = time.perf_counter()
    model = synthetic_system(n)
    make = time.perf_counter() - t
    gc.collect()
    times = {}

    def timed(name, fn):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result

    # Reference: one plain pass over the model's flows. Its growth from 10k to 100k shows what
    # the memory hierarchy alone costs once the model no longer fits in the caches.
    cpu = time.process_time()
    pos = {a.id: i for i, a in enumerate(model.assets)}
    [(pos[f.source], pos[f.target], f.kind) for f in model.flows]
    reference = time.process_time() - cpu
    del pos
    g = timed("build", lambda: graphs.build(model))
    timed("index (first whole-graph use)", lambda: g.indexed)
    timed("analyses (all seven)", lambda: analyses.analyses(g))
    sample = [a.id for a in model.assets[:: max(1, n // QUERIES)]][:QUERIES]
    timed(f"blast_radius x{len(sample)}", lambda: [analyses.blast_radius(g, a) for a in sample])
    timed(f"lineage x{len(sample)}", lambda: [analyses.lineage(g, a) for a in sample])
    # Each analysis alone, on the same graph, to show where the time goes (not in the total).
    alone = {}
    for name in (
        "single_points_of_failure",
        "blast_radius_sizes",
        "critical_assets",
        "boundary_crossings",
        "entry_points",
        "inventory_gaps",
        "permission_excess",
        "environment_mixing",
    ):
        cpu = time.process_time()
        getattr(graphs, name)(g)
        alone[name] = time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    del g
    gc.collect()
    tracemalloc.start()
    g = graphs.build(model)
    analyses.analyses(g)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "assets": n,
        "flows": len(model.flows),
        "make_model": make,
        "times": times,
        "alone": alone,
        "reference": reference,
        "total": sum(w for w, _ in times.values()),
        "total_cpu": sum(c for _, c in times.values()),
        "peak_rss": rss,
        "traced_peak": traced,
    }


def main(sizes) -> int:
    results = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout)
        results.append(r)
        print(f"\n{n:,} assets, {r['flows']:,} flows (model made in {r['make_model']:.1f} s)")
        print(f"  {'':<32}{'wall':>8}  {'cpu':>8}")
        for name, (wall, cpu) in r["times"].items():
            print(f"  {name:<32}{wall:8.3f}  {cpu:8.3f} s")
        print(f"  {'total':<32}{r['total']:8.3f}  {r['total_cpu']:8.3f} s")
        print(
            "  each analysis alone (cpu): "
            + ", ".join(f"{name} {secs:.3f}" for name, secs in r["alone"].items())
        )
        print(
            f"  peak memory: {r['peak_rss'] / 2**20:,.0f} MiB resident (model included), "
            f"{r['traced_peak'] / 2**20:,.0f} MiB traced in build + analyses"
        )
    by_n = {r["assets"]: r for r in results}
    ok = True
    if 10_000 in by_n:
        total = by_n[10_000]["total"]
        ok &= total < TARGET_SECONDS_10K
        print(
            f"\n10,000 assets: {total:.2f} s wall, {by_n[10_000]['total_cpu']:.2f} s cpu "
            f"(target < {TARGET_SECONDS_10K} s): "
            f"{'ok' if total < TARGET_SECONDS_10K else 'TOO SLOW'}"
        )
    if 10_000 in by_n and 100_000 in by_n:
        wall = by_n[100_000]["total"] / by_n[10_000]["total"]
        cpu = by_n[100_000]["total_cpu"] / by_n[10_000]["total_cpu"]
        ref = by_n[100_000]["reference"] / by_n[10_000]["reference"]
        print(
            f"growth 10k -> 100k: x{wall:.1f} wall, x{cpu:.1f} cpu, for x10 assets "
            f"(linear would be x10; one plain pass over the flows grows x{ref:.1f})"
        )
    if 100_000 in by_n:
        peak = by_n[100_000]["peak_rss"]
        ok &= peak < TARGET_BYTES_100K
        print(
            f"100,000 assets: peak {peak / 2**20:,.0f} MiB (target < 1,024 MiB): "
            f"{'ok' if peak < TARGET_BYTES_100K else 'TOO BIG'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        sys.exit(main([int(a) for a in sys.argv[1:]] or SIZES))
