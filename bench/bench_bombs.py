"""Hostile inputs, at and over the documented bounds (README, Limits): each must finish, or be
refused early, in well under 10 s and 1 GiB.

Writes each input (the generators and `run` are also used by tests/test_bad_inputs.py), runs
this checkout's CLI on it in a fresh interpreter, and prints per input the exit status, the
number of `error:` lines, the median wall-clock time and the peak resident memory of the
command. Each run is capped (`--timeout`, default 120 s; `--memory`, default 4 GiB of address
space) so that a blow-up is reported instead of taking the machine down; run it on an older
checkout (its bench/ and kit/ side by side) to see the numbers before a change.

    python bench/bench_bombs.py                    # every input, median of 1
    python bench/bench_bombs.py --repeats 3 flat-numbers walk-library
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SYSTEM_HEAD = """\
system:
  id: bomb
  name: Hostile input
  purpose: A system file built to stress the loader.
  ai_type: agentic
  roles: [developer, system_operator]
"""

THREAT_HEAD = """\
id: {id}
name: House threat {id}
summary: A threat written to stress the library loader and the engine.
detection: Raised for models that the walks below say apply; nothing more.
category: integrity
phases: [design]
ai_types: [predictive, generative, agentic]
attaches_to: [model]
likelihood: 3
impact: 3
provisions: [5.1.3-1]
references:
  - {{taxonomy: mitre-atlas, id: AML.T0015, edition: 5.6.0}}
"""


# ---------------------------------------------------------------- the inputs


def misspelt_references(folder: Path, n: int = 2_000) -> list[str]:
    """A system of `n` models, each trained on a dataset by a flow whose `to` is misspelt in its
    own way (`model-00017` written `modl-00017`): `n` distinct unknown assets."""
    lines = [SYSTEM_HEAD, "assets:\n  - {id: data, type: dataset}\n"]
    lines += [f"  - {{id: model-{i:05d}, type: model}}\n" for i in range(n)]
    lines.append("flows:\n")
    lines += [f"  - {{from: data, to: modl-{i:05d}, kind: trains}}\n" for i in range(n)]
    (folder / "system.yaml").write_text("".join(lines))
    return ["check", str(folder / "system.yaml")]


def misspelt_controls(folder: Path, n: int = 1_000) -> list[str]:
    """A library of `n` controls and one threat whose `n` mitigations each misspell one."""
    lib = folder / "lib"
    (lib / "threats").mkdir(parents=True, exist_ok=True)
    controls = ["controls:\n"]
    for i in range(n):
        controls.append(
            f"  - {{id: house-control-{i:05d}, name: House control {i}, "
            f"description: A control of the house library., applies_to: [model]}}\n"
        )
    (lib / "controls.yaml").write_text("".join(controls))
    threat = THREAT_HEAD.format(id="misspelt-controls") + "controls:\n"
    threat += "".join(f"  - {{control: house-contrl-{i:05d}, likelihood: -1}}\n" for i in range(n))
    (lib / "threats" / "misspelt-controls.yaml").write_text(threat)
    _small_system(folder)
    return ["check", str(folder / "system.yaml"), "--library", str(lib)]


def flat_numbers(folder: Path, n: int = 2_000_000) -> list[str]:
    """A system file whose flows are `n` numbers in one flow-style list (2 bytes each)."""
    text = SYSTEM_HEAD + "assets:\n  - {id: data, type: dataset}\nflows: ["
    (folder / "system.yaml").write_text(text + "0," * (n - 1) + "0]\n")
    return ["check", str(folder / "system.yaml")]


def empty_lists(folder: Path, n: int = 2_000_000) -> list[str]:
    """A system file whose flows are `n` empty lists: two YAML events per value, the slowest
    kind of value to read."""
    text = SYSTEM_HEAD + "assets:\n  - {id: data, type: dataset}\nflows: ["
    (folder / "system.yaml").write_text(text + "[]," * (n - 1) + "[]]\n")
    return ["check", str(folder / "system.yaml")]


def aliased_flows(folder: Path, n: int = 284_000) -> list[str]:
    """A system file of `n` flows, each an alias of one flow whose two ends are unknown assets:
    2 × `n` broken references (and one unknown top-level name) from under 1 MB of text."""
    text = SYSTEM_HEAD + "assets:\n  - {id: data, type: dataset}\n"
    text += "x-flow: &f {from: dat, to: modl, kind: trains}\nflows: ["
    (folder / "system.yaml").write_text(text + "*f," * (n - 1) + "*f]\n")
    return ["check", str(folder / "system.yaml")]


def synthetic(folder: Path, assets: int = 33_000) -> list[str]:
    """A valid synthetic system (bench/synth.py): 33,000 assets make a file just under 10 MiB."""
    sys.path.insert(0, str(HERE))
    from synth import write_system

    write_system(folder / "system.yaml", assets)
    return ["check", str(folder / "system.yaml")]


def many_threats(folder: Path, n: int) -> list[str]:
    """A library of `n` small threat files, each with one attribute test."""
    lib = folder / "lib"
    (lib / "threats").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        text = THREAT_HEAD.format(id=f"house-{i:06d}")
        text += "when: {attribute: source, equals: public}\n"
        (lib / "threats" / f"house-{i:06d}.yaml").write_text(text)
    _small_system(folder)
    return ["check", str(folder / "system.yaml"), "--library", str(lib)]


def walk_library(
    folder: Path, walks: int = 20_000, assets: int = 10_000, terse: bool = False
) -> list[str]:
    """One threat of `walks` distinct graph tests (`any` of them), run by `saikit threats` on a
    synthetic system of `assets` assets (bench/synth.py), or with `terse` on `assets` models
    trained on one dataset (quicker to write and read)."""
    lib = folder / "lib"
    (lib / "threats").mkdir(parents=True, exist_ok=True)
    directions = ("upstream", "downstream", "neighbour")
    kinds = ("trains", "fine_tunes", "indexes", "retrieves", "prompts", "serves", "invokes")
    sys.path.insert(0, str(HERE))
    from synth import OWNERS as owners

    filters = ("", ", flow: {crosses_boundary: false}", ", flow: {authenticated: true}")
    text = THREAT_HEAD.format(id="walks") + "when:\n  any:\n"
    for i in range(walks):  # every combination distinct (up to 25,200), most reach something
        k = i
        direction, k = directions[k % 3], k // 3
        depth, k = 1 + k % 50, k // 50
        kind, k = kinds[k % 7], k // 7
        owner, k = owners[k % 8], k // 8
        text += (
            f"    - {{{direction}: {{kinds: [{kind}], depth: {depth}{filters[k % 3]}, "
            f"where: {{attribute: owner, equals: {owner}}}}}}}\n"
        )
    (lib / "threats" / "walks.yaml").write_text(text)
    if terse:
        lines = [SYSTEM_HEAD, "assets:\n  - {id: data, type: dataset, owner: Growth}\n"]
        lines += [f"  - {{id: model-{i:06d}, type: model}}\n" for i in range(assets - 1)]
        lines.append("flows:\n")
        lines += [
            f"  - {{from: data, to: model-{i:06d}, kind: trains}}\n" for i in range(assets - 1)
        ]
        (folder / "system.yaml").write_text("".join(lines))
    else:
        sys.path.insert(0, str(HERE))
        from synth import write_system

        write_system(folder / "system.yaml", assets)
    return ["threats", str(folder / "system.yaml"), "--library", str(lib)]


def _small_system(folder: Path) -> None:
    (folder / "system.yaml").write_text(
        SYSTEM_HEAD + "assets:\n  - {id: data, type: dataset}\n  - {id: scorer, type: model}\n"
        "flows:\n  - {from: data, to: scorer, kind: trains}\n"
    )


INPUTS = {
    "valid-10mib": (synthetic, {}),
    "misspelt-references": (misspelt_references, {}),
    "misspelt-controls": (misspelt_controls, {}),
    "flat-numbers": (flat_numbers, {}),
    "flat-3.3m": (flat_numbers, {"n": 3_300_000}),
    "flat-1.9m": (flat_numbers, {"n": 1_900_000}),
    "empty-lists": (empty_lists, {}),
    "aliased-flows": (aliased_flows, {}),
    "many-threats": (many_threats, {"n": 2_000}),
    "walk-library": (walk_library, {}),
    "walk-work": (walk_library, {"walks": 800, "assets": 26_000}),
    "walk-work-at-bound": (walk_library, {"walks": 850, "assets": 20_000}),
}


# ---------------------------------------------------------------- running them


class Ran(NamedTuple):
    """What one run of the CLI did."""

    status: int  # the exit status; negative: killed by that signal (SIGKILL at the time limit)
    out: str
    err: str
    seconds: float
    peak: int  # the peak resident memory of the command, in bytes

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("error:")]


def run(args: list[str], cwd: Path, timeout: float = 120, memory: int = 4 << 30) -> Ran:
    """`python -m kit ARGS` from this checkout, in `cwd`, in a fresh interpreter whose address
    space is capped at `memory` bytes and which is killed after `timeout` seconds."""

    def limit() -> None:  # in the child, before it starts Python
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kit", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": path},
            stdout=out,
            stderr=err,
            preexec_fn=limit,
        )
        deadline = start + timeout
        while True:  # os.wait4, not proc.wait: it gives the child's own peak memory
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.send_signal(signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped above
        seconds = time.perf_counter() - start
        texts = []
        for f in (out, err):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
    return Ran(proc.returncode, *texts, seconds, usage.ru_maxrss * 1024)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help=f"inputs to run (default all): {', '.join(INPUTS)}")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--memory", type=int, default=4 << 30, help="address-space cap, bytes")
    args = p.parse_args()
    names = args.names or list(INPUTS)
    print(f"{'input':<22} {'exit':>4} {'errors':>7} {'seconds':>8} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            make, kwargs = INPUTS[name]
            folder = Path(tmp) / name
            folder.mkdir()
            cli = make(folder, **kwargs)
            cwd = folder / "cwd"
            cwd.mkdir()
            runs = [run(cli, cwd, args.timeout, args.memory) for _ in range(args.repeats)]
            seconds = statistics.median(r.seconds for r in runs)
            peak = max(r.peak for r in runs)
            last = runs[-1]
            shown = "kill" if last.status < 0 else str(last.status)
            print(
                f"{name:<22} {shown:>4} {len(last.errors):>7} {seconds:>8.2f} {peak / 2**20:>9.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
