"""Fault injection: runs killed part-way, a full disk, a file-size limit and read-only run stores.

The promise under test: whatever happens to a run, `latest` names a complete run whose files
match its manifest, every run that was complete before is still complete, the audit trail
verifies, the failure is reported in one clear line (no traceback), and the next run succeeds.

Each kill trial starts `python -m kit run` in its own process group, SIGKILLs the whole tree after
a delay drawn from a seeded generator across the measured length of such a run, then checks the
store. Every trial changes the code of a small notebook of the user's (`--notebooks`) so that it
really executes a notebook; every twelfth also flips an asset's exposure so that the whole
workbook runs and is killed in the middle of it; every fourth waits for the run's manifest and
kills it within 25 ms, in the window where it publishes, audits and moves `latest`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from kit import audit
from kit.resources import examples
from kit.runs.runner import Store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

KILLS = 20  # kill trials that must land while the run is still going
MAX_TRIALS = 40  # a bound on the time spent when runs finish before their kill
FULL_EVERY = 12  # every twelfth trial changes the configuration: the whole workbook runs
AT_PUBLISH_EVERY = 4  # every fourth waits for the manifest, then kills within 25 ms of it
SEED = 104223
TOGGLED_ASSET = "scoring-api"  # its exposure flips between partner and internal


# ---------------------------------------------------------------- the workspace


def _notebook(path: Path, trial: int) -> None:
    """A small notebook of the user's: it loads the system; `trial` changes its code."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('system_path = ""\nconfig_sha256 = ""\nlibrary_dirs = []')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            f"trial = {trial}\nfrom kit.model.schema import load_system\n"
            "print(load_system(system_path).system.id, trial)"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


class Launched:
    """A `saikit run` in its own process group, its output read as it comes."""

    def __init__(self, system: Path, store: Path, notebooks: Path, *extra: str, **popen):
        args = [
            sys.executable,
            "-m",
            "kit",
            "run",
            str(system),
            "--out",
            str(store),
            "--notebooks",
            str(notebooks),
            "--jobs",
            "2",
            *extra,
        ]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            cwd=system.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **popen,
        )
        self.out: list[str] = []
        self.err = ""
        self._readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            self.out.append(line)

    def _read_err(self) -> None:
        self.err = self.proc.stderr.read()

    def wait(self, timeout: float | None = None) -> subprocess.CompletedProcess:
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join()
        return subprocess.CompletedProcess(
            self.proc.args, self.proc.returncode, "".join(self.out), self.err
        )

    def kill(self, kernels: list[int]) -> None:
        """SIGKILL the run's process group at once (the run and its workers), then `kernels`,
        which run in sessions of their own."""
        for kill, pid in [(os.killpg, self.proc.pid)] + [(os.kill, k) for k in kernels]:
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait()


def _run(
    system: Path, store: Path, notebooks: Path, *extra: str, **popen
) -> subprocess.CompletedProcess:
    return Launched(system, store, notebooks, *extra, **popen).wait(timeout=600)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A copy of credit-risk with one good run of the whole workbook, and a pristine copy of it."""
    base = tmp_path_factory.mktemp("faults")
    system = base / "credit.yaml"
    system.write_text(examples()["credit-risk"].read_text(encoding="utf-8"), encoding="utf-8")
    assert _exposure_line(system) > 0
    mine = base / "mine"
    mine.mkdir()
    _notebook(mine / "90-trial.ipynb", 0)
    store = base / "store"
    start = time.monotonic()
    done = _run(system, store, mine)
    full = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    pristine = base / "pristine"
    shutil.copytree(store, pristine, symlinks=True)
    small = []
    for trial in (-1, -2):  # two small runs, to measure one with warm caches
        _notebook(mine / "90-trial.ipynb", trial)
        start = time.monotonic()
        done = _run(system, store, mine)
        assert done.returncode == 0, done.stderr
        small.append(time.monotonic() - start)
    return {
        "base": base,
        "system": system,
        "mine": mine,
        "store": store,
        "pristine": pristine,
        "full_s": full,
        "small_s": min(small),
    }


# ---------------------------------------------------------------- what must always hold


def _complete_runs(store: Store) -> dict[str, str]:
    """{run id: digest of its manifest} for every complete run, each checked against its files."""
    out = {}
    for run in store.runs():
        manifest = json.loads((run / "manifest.json").read_text())
        for rel, digest in manifest["outputs"].items():
            actual = hashlib.sha256((run / rel).read_bytes()).hexdigest()
            assert actual == digest, f"{run.name}/{rel} does not match its manifest"
        out[run.name] = hashlib.sha256((run / "manifest.json").read_bytes()).hexdigest()
    return out


def _assert_intact(store: Store, before: dict[str, str] | None = None) -> dict[str, str]:
    """latest is a complete run, every complete run matches its manifest, none was lost, and the
    audit trail verifies. Returns the complete runs."""
    link = store.latest_link
    assert link.is_symlink(), "latest is missing or not a link"
    target = os.readlink(link)
    assert not target.startswith((".", "failed-")), f"latest points at {target}"
    latest = store.latest()
    assert latest is not None and latest.name == target, f"latest ({target}) is not a complete run"
    runs = _complete_runs(store)
    assert latest.name in runs
    for name, digest in (before or {}).items():
        assert runs.get(name) == digest, f"run {name} was lost or changed"
    assert audit.verify(store.audit_path, store.anchors()) == []
    return runs


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; elsewhere, none: the process group is killed)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _exposure_of_latest(store: Store) -> str:
    config = json.loads((store.latest() / "config.json").read_text())
    return next(a["exposure"] for a in config["assets"] if a["id"] == TOGGLED_ASSET)


def _exposure_line(system: Path) -> int:
    """The index of the toggled asset's `exposure:` line."""
    lines = system.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  - id: {TOGGLED_ASSET}")
    return next(i for i in range(start + 1, len(lines)) if lines[i].startswith("    exposure: "))


def _set_exposure(system: Path, value: str) -> None:
    lines = system.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[_exposure_line(system)] = f"    exposure: {value}\n"
    system.write_text("".join(lines), encoding="utf-8")


def _phase(store: Store, before: dict) -> str:
    """How far the killed run got, from what it left behind."""
    staging = sorted(set(store.root.glob(".staging-*")) - before["staging"])
    runs = {p.name for p in store.runs()} - before["runs"]
    entries = len(audit.read(store.audit_path)) - before["entries"]
    if store.latest().name != before["latest"]:
        return "after moving latest"
    if runs and entries:
        return "audited, latest not yet moved"
    if runs:
        return "published, not yet audited"
    if entries:
        return "audited a failure"
    if not staging:
        return "starting"
    if (staging[0] / "manifest.json").exists():
        return "manifest written, not yet published"
    if (staging[0] / "register.csv").exists():
        return "collecting tables"
    return "executing notebooks"


def _manifest_staged(store: Store, before: dict, run: Launched, timeout: float) -> bool:
    """Wait until the run has written its manifest in the staging folder (or has ended)."""
    end = time.monotonic() + timeout
    staging = None
    while time.monotonic() < end and run.proc.poll() is None:
        if staging is None:
            staging = next(
                (p for p in store.root.glob(".staging-*") if p not in before["staging"]), None
            )
        elif (staging / "manifest.json").exists():
            return True
        time.sleep(0.0005)
    return False


# ---------------------------------------------------------------- kill trials


def test_runs_killed_at_random_points_never_lose_a_run_nor_break_the_audit(workspace, capsys):
    store, system, mine = Store(workspace["store"]), workspace["system"], workspace["mine"]
    _assert_intact(store)
    rng = random.Random(SEED)
    small, full_s = workspace["small_s"], workspace["full_s"]
    phases: Counter[str] = Counter()
    finished = trials = 0
    while sum(phases.values()) < KILLS and trials < MAX_TRIALS:
        trials += 1
        full = trials % FULL_EVERY == 0
        at_publish = not full and trials % AT_PUBLISH_EVERY == 0
        latest_exposure = _exposure_of_latest(store)
        other = "internal" if latest_exposure == "partner" else "partner"
        _set_exposure(system, other if full else latest_exposure)
        _notebook(mine / "90-trial.ipynb", trials)
        before = {
            "staging": set(store.root.glob(".staging-*")),
            "runs": {p.name for p in store.runs()},
            "entries": len(audit.read(store.audit_path)),
            "latest": store.latest().name,
        }
        complete = _complete_runs(store)

        run = Launched(system, store.root, mine)
        if at_publish:
            _manifest_staged(store, before, run, timeout=4 * small)
            delay = rng.uniform(0.0, 0.025)
        else:
            delay = rng.uniform(0.02, 0.9) * (full_s if full else small)
        try:
            run.proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            # no kernel is left once the manifest is written; looking for them would cost the
            # few milliseconds that publishing takes
            run.kill([] if at_publish else _descendants(run.proc.pid))
            phases[_phase(store, before)] += 1
        else:
            done = run.wait()
            assert done.returncode == 0, f"trial {trials}: {done.stderr}"
            finished += 1
            if not full and not at_publish:  # runs got faster than measured: follow them
                small = min(small, time.monotonic() - run.started)
        _assert_intact(store, complete)

    # leftovers of killed runs are ignored, and the next run is a normal one
    _set_exposure(system, _exposure_of_latest(store))
    _notebook(mine / "90-trial.ipynb", 10_000)
    done = _run(system, store.root, mine)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert store.latest().name in done.stdout
    _assert_intact(store)
    assert not any(r.name.startswith(".") for r in store.runs())
    verify = [sys.executable, "-m", "kit", "audit", "verify", "--out", str(store.root)]
    assert subprocess.run(verify, capture_output=True).returncode == 0

    kills = sum(phases.values())
    with capsys.disabled():
        print(
            f"\nkill trials: {kills} killed, {finished} finished first, of {trials} "
            f"(run lengths {workspace['small_s']:.1f} s and {full_s:.1f} s); "
            f"killed while: " + ", ".join(f"{k} {v}" for k, v in sorted(phases.items()))
        )
    assert kills >= KILLS


# A kill lands in a window of a few milliseconds only now and then; these stop a run exactly at
# each step of publishing instead (os._exit: no cleanup runs, as with SIGKILL).
DIE_AT = {
    "collecting tables": "runner.collect = die",
    "renaming the staged run into place": "runner.Store.publish = die",
    "auditing the published run": (
        "append = runner.audit.append\n"
        "runner.audit.append = lambda *a, **k: die() if k.get('status') == 'published' "
        "else append(*a, **k)"
    ),
    "moving latest": "runner.Store.point_latest = die",
}


@pytest.mark.parametrize("step", sorted(DIE_AT))
def test_a_run_killed_at_each_step_of_publishing_loses_nothing(workspace, tmp_path, step):
    system, store, mine = _fresh_copy(workspace, tmp_path)
    before = _assert_intact(store)
    latest = store.latest().name
    driver = (
        "import os, sys\nfrom kit.runs import runner\nfrom kit.cli import main\n"
        "def die(*args, **kwargs):\n    os._exit(137)\n"
        f"{DIE_AT[step]}\nsys.exit(main(sys.argv[1:]))\n"
    )
    args = ["run", str(system), "--out", str(store.root), "--notebooks", str(mine)]
    done = subprocess.run(
        [sys.executable, "-c", driver, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 137, done.stderr
    assert store.latest().name == latest
    runs = _assert_intact(store, before)
    published = step in ("auditing the published run", "moving latest")
    assert len(runs) == len(before) + published  # a complete run, not yet the latest one


# ---------------------------------------------------------------- full disk, read-only stores


def _fresh_copy(workspace, tmp_path: Path) -> tuple[Path, Store, Path]:
    """The system, a store holding the one good run, and the user's notebook, changed."""
    system = tmp_path / "credit.yaml"
    system.write_text(workspace["system"].read_text())
    _set_exposure(system, "partner")  # the pristine run's configuration
    store = Store(tmp_path / "store")
    shutil.copytree(workspace["pristine"], store.root, symlinks=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    _notebook(mine / "90-trial.ipynb", 20_000)
    return system, store, mine


def _assert_refused_cleanly(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    assert errors, done.stderr
    for fragment in fragments:
        assert any(fragment in ln for ln in errors), (fragment, done.stderr)


def _file_size_limit(limit: int):
    def limit_writes() -> None:  # in the child, before exec: every file it writes is bounded
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


def test_a_file_size_limit_mid_run_is_reported_and_loses_nothing(workspace, tmp_path):
    system, store, mine = _fresh_copy(workspace, tmp_path)
    before = _assert_intact(store)
    latest = store.latest().name

    # executed notebooks are 60-120 kB: the run cannot copy or write them
    done = _run(system, store.root, mine, preexec_fn=_file_size_limit(40_000))

    _assert_refused_cleanly(done, "File too large", "latest are unchanged")
    assert store.latest().name == latest
    _assert_intact(store, before)
    assert not list(store.root.glob(".staging-*"))  # the partial run gave its space back
    assert audit.read(store.audit_path)[-1]["status"] == "failed"
    assert _run(system, store.root, mine).returncode == 0
    _assert_intact(store, before)


def test_an_audit_append_cut_short_leaves_no_half_entry(workspace, tmp_path):
    system, store, _ = _fresh_copy(workspace, tmp_path)
    mine = workspace["base"] / "mine-pristine"
    if not mine.exists():
        mine.mkdir()
        _notebook(mine / "90-trial.ipynb", 0)  # the pristine run's notebook: nothing to run
    trail = store.audit_path.read_bytes()
    before = _assert_intact(store)

    # an "up to date" run writes one audit entry only; let 40 bytes of it reach the disk
    done = _run(system, store.root, mine, preexec_fn=_file_size_limit(len(trail) + 40))

    _assert_refused_cleanly(done, "audit.jsonl", "File too large")
    assert store.audit_path.read_bytes() == trail
    _assert_intact(store, before)
    done = _run(system, store.root, mine)
    assert done.returncode == 0 and "up to date" in done.stdout, done.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root, and mounts allowed): room for two runs; unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


@pytest.mark.parametrize("free_kb", [4, 160])
def test_a_full_disk_is_reported_and_loses_nothing(workspace, tmp_path, small_disk, free_kb):
    system, pristine, mine = _fresh_copy(workspace, tmp_path)
    store = Store(small_disk / "store")
    shutil.copytree(pristine.root, store.root, symlinks=True)
    store.record_owner(system.resolve(), "retail-credit-risk")  # the store moved away from it
    before = _assert_intact(store)
    latest = store.latest().name
    filler = small_disk / "filler"
    stat = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free_kb * 1024))

    done = _run(system, store.root, mine)

    _assert_refused_cleanly(done, "No space left on device")
    assert store.latest().name == latest
    _assert_intact(store, before)
    filler.unlink()
    done = _run(system, store.root, mine)
    assert done.returncode == 0, done.stderr
    _assert_intact(store, before)


@pytest.fixture
def read_only(request, tmp_path):
    """Makes a store unwritable: a read-only mount for root (who ignores modes), else chmod 500."""
    made: list[Path] = []

    def make(store: Path) -> Store:
        if os.geteuid() == 0:
            disk = request.getfixturevalue("small_disk")
            shutil.copytree(store, disk / "store", symlinks=True)
            subprocess.run(
                ["mount", "-o", "remount,ro", str(disk)], capture_output=True, check=True
            )
            made.append(disk)
            return Store(disk / "store")
        store.chmod(0o500)
        made.append(store)
        return Store(store)

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(
                ["mount", "-o", "remount,rw", str(path)], capture_output=True, check=False
            )
        else:
            path.chmod(0o700)


def test_a_read_only_run_store_is_reported_and_loses_nothing(workspace, tmp_path, read_only):
    system, writable, mine = _fresh_copy(workspace, tmp_path)
    writable.record_owner(system.resolve(), "retail-credit-risk")  # read_only moves the store
    store = read_only(writable.root)
    before = _assert_intact(store)
    latest = store.latest().name

    done = _run(system, store.root, mine)

    _assert_refused_cleanly(done, "Read-only file system" if os.geteuid() == 0 else "Permission")
    assert store.latest().name == latest
    _assert_intact(store, before)


def test_a_run_store_under_a_regular_file_is_reported(workspace, tmp_path):
    system, _, mine = _fresh_copy(workspace, tmp_path)
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the store's parent folder should be\n")
    done = _run(system, blocker / "store", mine)
    _assert_refused_cleanly(done, "Not a directory", "nothing was published")
    assert blocker.read_text().startswith("a file")


def test_a_cell_past_its_time_limit_fails_the_run_and_keeps_latest(workspace, tmp_path):
    system, store, mine = _fresh_copy(workspace, tmp_path)
    before = _assert_intact(store)
    nb = nbformat.read(mine / "90-trial.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(60)"))
    nbformat.write(nb, mine / "90-trial.ipynb")
    done = _run(system, store.root, mine, "--timeout", "2")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "90-trial" in done.stderr and "timed out" in done.stderr.lower(), done.stderr
    _assert_intact(store, before)


# ---------------------------------------------------------------- the audit trail's own guarantees


def test_an_append_cut_short_in_process_is_cut_back_off(tmp_path, monkeypatch):
    trail = tmp_path / "audit.jsonl"
    audit.append(trail, "run", status="published")
    before = trail.read_bytes()
    real_write = os.write

    def half_then_full(fd, data):  # the disk fills half-way through the entry
        if len(data) > 20:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left") as caught:
        audit.append(trail, "run", status="published")
    monkeypatch.undo()
    assert caught.value.filename == str(trail)
    assert trail.read_bytes() == before
    assert audit.verify(trail) == []
    audit.append(trail, "run", status="published")
    assert [e["seq"] for e in audit.read(trail)] == [1, 2]


def test_concurrent_appends_from_several_processes_keep_one_chain(tmp_path):
    trail = tmp_path / "audit.jsonl"
    writer = (
        "import sys\nfrom kit import audit\nfor i in range(25):\n"
        "    audit.append(sys.argv[1], 'export', writer=sys.argv[2], n=i)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(trail), str(w)]) for w in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    entries = audit.read(trail)
    assert [e["seq"] for e in entries] == list(range(1, 101))
    assert audit.verify(trail) == []
