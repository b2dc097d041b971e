"""Benchmark: how long the room waits between a change in the workshop and the redrawn picture.

At each size a system is opened in the workshop's widgets (`kit.workshop` Workshop, no browser:
the widgets' Python side does all the work a kernel does) and a fixed series of realistic edits
is made through them, each timed from the change to the end of the redraw:

1. toggle a control on the selected asset to implemented, 2. and back;
3. change an attribute (exposure), 4. and back;
5. add a flow, 6. remove it;
7. record a decision (accepted, with justification and owner), 8. reopen it.

Each edit is made on the tab it belongs to, as a facilitator would. The series repeats until
the size's time budget is spent (at least one round); the workshop's picture cache is emptied at
the start of each round, so every round draws what the first did (within a round, an edit taken
back shows the picture drawn before it, as in a room). Beside each edit the engine's share is
measured: `kit.analysis.analyse_model` on the model after the edit (graph build + threat
evaluation + scoring), timed on its own. "open s" is the time to open the workshop.

Sizes: 24 assets is the bundled support-assistant example (with its decisions file and
comments); 300 and 1,000 are synthetic estates (bench/synth.py). The machine is shared, so
medians and 90th percentiles are printed, never asserted.

    python bench/bench_workshop.py                  # 24, 300 and 1,000 assets
    python bench/bench_workshop.py 300 --budget 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402

from kit.analysis import analyse_model  # noqa: E402
from kit.model.schema import FLOW_RULES  # noqa: E402
from kit.resources import examples  # noqa: E402

SIZES = (24, 300, 1_000)
TODAY = dt.date(2026, 11, 2)
EXAMPLE = "support-assistant"  # 24 assets
ATTRIBUTES, CONTROLS, FLOWS, DECISION = range(4)  # the workshop's tabs


def system_file(n: int, folder: Path) -> Path:
    """A system file of `n` assets in `folder`: the example at 24, a synthetic estate otherwise."""
    source = examples()[EXAMPLE]
    if n == 24:
        for path in source.parent.glob(f"{EXAMPLE}*.yaml"):
            shutil.copy2(path, folder / path.name)
        return folder / source.name
    return synth.write_system(folder / f"synthetic-{n}.yaml", n)


def open_workshop(path: Path, out: Path):
    from kit.workshop.views import Workshop

    return Workshop.open(str(path), str(out))


def pick(workshop):
    """The asset edited (the first API with a control to toggle), the control, and a new flow."""
    s = workshop.session
    model = s.model
    flows = {(f.source, f.kind, f.target) for f in model.flows}
    for asset in [a for a in model.assets if a.type == "api"] + list(model.assets):
        workshop.asset.value = asset.id
        workshop.tabs.selected_index = CONTROLS
        rows = workshop.controls.children[1:]
        if not rows:
            continue
        control = next(
            c.replace("saikit-control-", "")
            for c in rows[0]._dom_classes
            if c.startswith("saikit-control-")
        )
        for kind, (sources, targets) in FLOW_RULES.items():
            if asset.type not in sources:
                continue
            for other in model.assets:
                if other.type in targets and (asset.id, kind, other.id) not in flows:
                    if other.id != asset.id:
                        return asset.id, control, (asset.id, kind, other.id)
    raise SystemExit("no asset to edit")


def edits(workshop, asset: str, control: str, flow: tuple[str, str, str]):
    """The series of edits, as (name, action) pairs; each action is one change in the room."""
    s = workshop.session
    toggle = lambda: workshop.control_toggle(control)  # noqa: E731
    was = toggle().value
    on = "implemented" if was != "implemented" else "planned"
    exposure = s.asset_value(asset, "exposure") or ""
    other = "public" if exposure != "public" else "internal"
    source, kind, target = flow
    flow_id = f"{source}-{kind}->{target}"
    finding = s.analysis.assessment.findings[0].id

    def set_toggle(value):
        def run():
            workshop.tabs.selected_index = CONTROLS
            toggle().value = value

        return run

    def set_exposure(value):
        def run():
            workshop.tabs.selected_index = ATTRIBUTES
            workshop.field.value = "exposure"
            workshop.value.value = value
            workshop.apply_button.click()

        return run

    def add_flow():
        workshop.tabs.selected_index = FLOWS
        workshop.flow_from.value = source
        workshop.flow_kind.value = kind
        workshop.flow_to.value = target
        workshop.add_flow_button.click()

    def remove_flow():
        workshop.tabs.selected_index = FLOWS
        workshop.flow_list.value = flow_id
        workshop.remove_flow_button.click()

    def decide(status):
        def run():
            workshop.tabs.selected_index = DECISION
            workshop.finding.value = finding
            workshop.decision_status.value = status
            workshop.justification.value = "Partners are contracted; reviewed in the workshop"
            workshop.owner.value = "Head of Product Security"
            workshop.record_button.click()

        return run

    return [
        ("toggle control", set_toggle(on)),
        ("toggle back", set_toggle(was)),
        ("change attribute", set_exposure(other)),
        ("change back", set_exposure(exposure)),
        ("add flow", add_flow),
        ("remove flow", remove_flow),
        ("record decision", decide("accepted")),
        ("reopen decision", decide("open")),
    ]


def measure(n: int, budget: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="saikit-bench-workshop-"))
    try:
        path = system_file(n, folder)
        started = time.perf_counter()
        workshop = open_workshop(path, folder / "runs")
        opened = time.perf_counter() - started
        asset, control, flow = pick(workshop)
        workshop.session.today = TODAY
        series = edits(workshop, asset, control, flow)
        series[0][1]()  # warm-up: first drawing loads fonts and caches
        series[1][1]()
        samples: list[float] = []
        engine: list[float] = []
        changes_before = len(workshop.session.history)
        deadline = time.perf_counter() + budget
        rounds = 0
        while rounds == 0 or time.perf_counter() < deadline:
            if hasattr(workshop, "pictures"):
                workshop.pictures.clear()  # each round draws as the first did
            for _name, action in series:
                t0 = time.perf_counter()
                action()
                samples.append(time.perf_counter() - t0)
                s = workshop.session
                t0 = time.perf_counter()
                analyse_model(s.model, s.library, TODAY)
                engine.append(time.perf_counter() - t0)
            rounds += 1
        made = len(workshop.session.history) - changes_before
        if made != rounds * len(series):
            raise SystemExit(
                f"{n} assets: {made} changes made, expected {rounds * len(series)}: "
                + workshop.status.value
            )
        return {
            "n": len(workshop.session.model.assets),
            "edits": len(samples),
            "open": opened,
            "median": statistics.median(samples),
            "p90": _p90(samples),
            "engine": statistics.median(engine),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--budget", type=float, default=40.0, help="seconds of edits per size")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = [measure(n, args.budget) for n in args.sizes]
    print(
        f"{'assets':>7} {'edits':>6} {'open s':>7} {'median ms':>10} {'p90 ms':>8} "
        f"{'engine ms':>10} {'engine share':>13}"
    )
    for r in rows:
        print(
            f"{r['n']:>7,} {r['edits']:>6} {r['open']:>7.2f} {r['median'] * 1000:>10.0f} "
            f"{r['p90'] * 1000:>8.0f} {r['engine'] * 1000:>10.1f} "
            f"{r['engine'] / r['median']:>12.0%}"
        )
    at = next((r for r in rows if r["n"] == 300), rows[-1])
    print(
        f"workshop edit: median {at['median'] * 1000:.0f} ms at {at['n']} assets; "
        f"engine {at['engine'] * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
