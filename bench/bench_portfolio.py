"""Benchmark `saikit portfolio` on a synthetic portfolio made from the starters, varied.

Prints one table, measured in one go:
- assessing every system in-process (model, graph, threats, risk, compliance; no kernel) on a
  local pool of `--jobs` workers, and the whole notebook-free portfolio run with its dashboard
  (target: 1,000 systems under 60 s);
- a cold portfolio run with notebooks on a sample of `--sample` systems against the sum of a
  plain `saikit run` of each, both extrapolated to the whole portfolio (target ratio <= 1/3);
- an unchanged rerun of the sampled portfolio, and the no-op cost per system extrapolated to
  the whole portfolio (target under 5 s);
- the in-process assessment of every system on a Dask LocalCluster with 1 and 2 workers.

With `--full`, measures instead what the sample extrapolates: a cold portfolio run with notebooks
of every system, then the unchanged rerun of the whole portfolio (median of 3).

Run: python bench/bench_portfolio.py [--systems 1000] [--sample 20] [--jobs 2] [--full]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kit.portfolio.engine import executor, run_each
from kit.portfolio.run import _identify, find_systems, run_portfolio, system_work
from kit.resources import starters

OWNERS = [f"Head of Product Line {c}" for c in "ABCDEFGHIJKLMNO"]
APPETITES = ["low", "medium", "high"]


def synthetic_portfolio(folder: Path, n: int, seed: int = 7) -> list[Path]:
    """`n` system files made from the starters: own ids, names, owners and appetites, and a
    random part of each starter's controls left out, so no two systems score alike."""
    rng = random.Random(seed)
    bases = {name: yaml.safe_load(p.read_text()) for name, p in sorted(starters().items())}
    names = sorted(bases)
    paths = []
    for i in range(n):
        kind = names[i % len(names)]
        doc = yaml.safe_load(yaml.safe_dump(bases[kind]))
        doc["system"].update(
            id=f"{kind}-{i:04d}",
            name=f"{kind.replace('-', ' ').title()} {i}",
            owner=rng.choice(OWNERS),
            risk_appetite=rng.choice(APPETITES),
        )
        controls = doc.get("controls") or []
        doc["controls"] = [c for c in controls if rng.random() > 0.3]
        team = folder / f"team-{i % 10}"
        team.mkdir(parents=True, exist_ok=True)
        path = team / f"{kind}-{i:04d}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        paths.append(path)
    return paths


def assess_all(folder: Path, store: Path, jobs: int = 2, scheduler: str | None = None) -> float:
    """Seconds to assess every system under `folder` in-process on the given executor."""
    start = time.perf_counter()
    items, failed = _identify(find_systems([folder]), {})
    with executor(jobs, scheduler) as pool:
        rows = run_each(pool, system_work, items, str(store), [], False, False, on_done=_none)
    seconds = time.perf_counter() - start
    bad = [r for r in rows if r["status"] == "failed"] + failed
    assert not bad, bad[:1]
    return seconds


def _none(_row) -> None:
    pass


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--full", action="store_true", help="cold run and rerun of every system")
    ap.add_argument(
        "--dir", type=Path, help="with --full: keep the portfolio and its store here (reused)"
    )
    args = ap.parse_args()
    if args.full:
        if args.dir:
            return full(args.systems, args.jobs, args.dir)
        with tempfile.TemporaryDirectory() as tmp_name:
            return full(args.systems, args.jobs, Path(tmp_name))
    n, k = args.systems, args.sample
    saikit = str(Path(sys.executable).parent / "saikit")
    table: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        synthetic_portfolio(tmp / "estate", n)
        sample = synthetic_portfolio(tmp / "sample", k, seed=11)

        t_assess = assess_all(tmp / "estate", tmp / "assess-store", args.jobs)
        table.append((f"assess {n} systems in-process, pool of {args.jobs}", f"{t_assess:.1f} s"))
        start = time.perf_counter()
        run_portfolio([tmp / "estate"], out=tmp / "assess-store", jobs=args.jobs, notebooks=False)
        t_whole = time.perf_counter() - start
        table.append(("  the same with the dashboard notebook (target < 60 s)", f"{t_whole:.1f} s"))

        plain = [
            timed([saikit, "run", str(p), "--out", str(tmp / "plain" / p.stem)], tmp_name)
            for p in sample
        ]
        t_cold = timed(
            [
                saikit,
                "portfolio",
                str(tmp / "sample"),
                "--out",
                str(tmp / "pf"),
                "--jobs",
                str(args.jobs),
            ],
            tmp_name,
        )
        ratio = t_cold / sum(plain)
        table.append(
            (
                f"plain `saikit run` x {k}, sum (median {statistics.median(plain):.1f} s each)",
                f"{sum(plain):.1f} s",
            )
        )
        table.append((f"  extrapolated to {n} systems", f"{sum(plain) * n / k:.0f} s"))
        table.append((f"cold portfolio run with notebooks, {k} systems", f"{t_cold:.1f} s"))
        table.append((f"  extrapolated to {n} systems", f"{t_cold * n / k:.0f} s"))
        table.append(("  cold portfolio / sum of plain runs (target <= 0.33)", f"{ratio:.2f}"))

        noop = [
            timed([saikit, "portfolio", str(tmp / "sample"), "--out", str(tmp / "pf")], tmp_name)
            for _ in range(3)
        ]
        table.append(
            (f"unchanged rerun, {k} systems (median of 3)", f"{statistics.median(noop):.2f} s")
        )
        from kit.runs.runner import run

        per = []
        for p in sample:
            start = time.perf_counter()
            result = run(p, out=tmp / "pf" / "systems" / p.stem, jobs=0, progress=_none)
            per.append(time.perf_counter() - start)
            assert result.status == "up to date", result.status
        per_system = statistics.median(per)
        table.append(
            ("  no-op check per system, in-process (median)", f"{per_system * 1000:.0f} ms")
        )
        estimate = statistics.median(noop) + per_system * (n - k) / args.jobs
        table.append(
            (f"  unchanged rerun extrapolated to {n} systems (target < 5 s)", f"{estimate:.1f} s")
        )

        if not args.no_dask:
            from distributed import LocalCluster

            for workers in (1, 2):
                with LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster:
                    t = assess_all(
                        tmp / "estate", tmp / "dask-store", scheduler=cluster.scheduler_address
                    )
                table.append(
                    (f"assess {n} systems on a LocalCluster, {workers} worker(s)", f"{t:.1f} s")
                )

    width = max(len(a) for a, _ in table)
    for a, b in table:
        print(f"{a.ljust(width)}  {b}")


def full(n: int, jobs: int, tmp: Path) -> None:
    """A cold portfolio run with notebooks of all `n` systems in `tmp`, then unchanged reruns.

    A `tmp` that holds the portfolio already is reused: its first run then is what it is (a
    rerun when nothing changed, a partial run after a kit change), and says so.
    """
    saikit = str(Path(sys.executable).parent / "saikit")
    tmp.mkdir(parents=True, exist_ok=True)
    if not (tmp / "estate").is_dir():
        synthetic_portfolio(tmp / "estate", n)
    cmd = [saikit, "portfolio", str(tmp / "estate"), "--runs", str(tmp / "pf")]
    cold = timed([*cmd, "--jobs", str(jobs)], str(tmp))
    runs = sum(1 for _ in (tmp / "pf" / "systems").glob("*/latest"))
    noop = [timed(cmd, str(tmp)) for _ in range(3)]
    print(f"first portfolio run with notebooks, {n} systems ({runs} runs published)  {cold:.0f} s")
    print(
        f"unchanged rerun of all {n} systems (median of 3; target < 5 s)  "
        f"{statistics.median(noop):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in noop)})"
    )


if __name__ == "__main__":
    main()
