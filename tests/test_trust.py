"""Runs you can trust: what a run publishes follows from what it was given.

Each test here pins one promise that once broke: --force reruns, the kit's own code counts in a
fingerprint, recorded artifact hashes are seen by every reader, exports read only the run folder,
the clone's own kit/ works from the clone's root, a killed saikit leaves nothing running and its
staging folder is cleared by the next run, and one run store belongs to one system file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit import audit, resources
from kit.cli import main
from kit.errors import InputError
from kit.resources import examples
from kit.runs import fingerprints, runner
from kit.runs.store import Store
from kit.threats.files import shipped_directory

ROOT = Path(__file__).resolve().parents[1]


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One real run of the ops-agent example with a house threat from a --library folder."""
    base = tmp_path_factory.mktemp("trust")
    system = base / "agent.yaml"
    system.write_text(examples()["ops-agent"].read_text())
    lib = base / "house-lib"
    (lib / "threats").mkdir(parents=True)
    text = (shipped_directory() / "threats" / "excessive-agency.yaml").read_text()
    assert "id: excessive-agency\n" in text
    house = text.replace("id: excessive-agency\n", "id: house-agency\n", 1)
    house = house.replace("summary: >-\n  ", "summary: >-\n  HOUSE-SUMMARY-7431. ", 1)
    assert "HOUSE-SUMMARY-7431" in house
    (lib / "threats" / "house-agency.yaml").write_text(house)
    store = base / "store"
    result = runner.run(system, out=store, progress=_quiet, library_dirs=[lib])
    assert result.status == "published", result.failures
    return {"base": base, "system": system, "store": store, "lib": lib, "result": result}


def test_force_reruns_every_notebook_of_an_unchanged_configuration(published):
    p = published
    again = runner.run(p["system"], out=p["store"], progress=_quiet, library_dirs=[p["lib"]])
    assert again.status == "up to date"
    forced = runner.run(
        p["system"], out=p["store"], progress=_quiet, library_dirs=[p["lib"]], force=True
    )
    assert forced.status == "published"
    assert forced.ran == sorted(runner.workbook_notebooks()) and forced.skipped == []
    assert forced.run_dir != p["result"].run_dir


def test_the_kits_own_code_is_part_of_every_fingerprint(tmp_path):
    inputs = fingerprints.assessment_inputs("c" * 64, [], "h" * 64)
    running = fingerprints.kit_files()
    assert inputs["kit"] == fingerprints.digest_files(running, resources.PACKAGE)
    listed = {p.relative_to(resources.PACKAGE) for p in running}
    assert {
        Path("runs/runner.py"),
        Path("compliance/checks.py"),
        Path("system.schema.json"),
    } <= listed
    # an edit anywhere in a copy of the kit changes its digest, and so every fingerprint
    copy = tmp_path / "kit"
    shutil.copytree(resources.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = fingerprints.digest_files(fingerprints.kit_files(copy), copy)
    scoring = copy / "risk" / "scoring.py"
    scoring.write_text(scoring.read_text() + "\n# changed\n")
    after = fingerprints.digest_files(fingerprints.kit_files(copy), copy)
    assert before != after
    nbs = runner.workbook_notebooks()
    old = fingerprints.fingerprints({**inputs, "kit": before}, nbs)
    new = fingerprints.fingerprints({**inputs, "kit": after}, nbs)
    assert all(old[n] != new[n] for n in nbs)


def test_a_digest_is_remembered_only_while_its_files_are_unwritten(tmp_path, monkeypatch):
    files = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    for f in files:
        f.write_text("threat: one\n")
    reads = []
    real = fingerprints.hash_file
    monkeypatch.setattr(fingerprints, "hash_file", lambda p, h: reads.append(p) or real(p, h))
    # a file written this instant is hashed every time: its next write may leave the same times
    first = fingerprints.digest_files(files, tmp_path)
    files[0].write_text("threat: two\n")  # same size, same clock tick
    second = fingerprints.digest_files(files, tmp_path)
    assert first != second and len(reads) == 4
    # once settled, the same files are not read again, and any write is seen
    monkeypatch.setattr(fingerprints, "_SETTLE_NS", -(10**12))
    assert fingerprints.digest_files(files, tmp_path) == second and len(reads) == 6
    assert fingerprints.digest_files(files, tmp_path) == second and len(reads) == 6
    files[1].write_text("threat: three\n")
    third = fingerprints.digest_files(files, tmp_path)
    assert third not in (first, second) and len(reads) == 8
    assert third == fingerprints._digest(files, tmp_path)


def test_the_no_op_check_sees_every_change_to_the_files_behind_a_configuration(tmp_path):
    """`sources_unchanged` skips parsing the system file; it must agree with hashing afresh."""
    system = tmp_path / "support-assistant.yaml"
    system.write_text(examples()["support-assistant"].read_text())
    decisions = tmp_path / "support-assistant.decisions.yaml"  # named by the file, not there yet
    record = tmp_path / "support-assistant.hashes.json"
    recorded = fingerprints.source_hashes(system)
    assert recorded == {str(system): recorded[str(system)], str(decisions): None, str(record): None}
    edits = [
        lambda: decisions.write_text("decisions: []\n"),
        lambda: decisions.write_text("decisions: []  # reviewed\n"),
        lambda: record.write_text("{}"),
        lambda: decisions.unlink(),
        lambda: system.write_text(system.read_text().replace("support-assistant.decisions", "x")),
    ]
    for edit in edits:
        assert fingerprints.sources_unchanged(recorded, system)
        edit()
        assert fingerprints.source_hashes(system) != recorded
        assert not fingerprints.sources_unchanged(recorded, system)
        recorded = fingerprints.source_hashes(system)
    assert fingerprints.sources_unchanged(recorded, system)
    assert not fingerprints.sources_unchanged(None, system)


def test_recorded_hashes_are_seen_by_every_reader(tmp_path, capsys):
    from kit import workbook
    from kit.export.bom import bom
    from kit.graph import build
    from kit.graph.analyses import inventory_gaps

    system = tmp_path / "s.yaml"
    system.write_text(
        "system: {id: hashed, name: Hashed, purpose: Tests hashes., ai_type: predictive,"
        " roles: [developer]}\n"
        "assets:\n"
        "  - {id: data, type: dataset, owner: A, version: '1', sha256: " + "a" * 64 + "}\n"
        "  - {id: scorer, type: model, owner: A, version: '1', artifact: scorer.bin}\n"
        "flows:\n  - {from: data, to: scorer, kind: trains}\n"
    )
    (tmp_path / "scorer.bin").write_bytes(b"weights")
    before = workbook.open_system(str(system))
    assert "sha256" in inventory_gaps(before.analysis.graph).get("scorer", [])
    assert main(["hash", str(system)]) == 0
    capsys.readouterr()
    after = workbook.open_system(str(system))
    assert "scorer" not in inventory_gaps(after.analysis.graph)  # saikit graph, notebook 02
    assert workbook.inventory(after).set_index("asset").loc["scorer", "sha256"] != ""
    row = after.provisions.set_index(["provision", "role"]).loc[("5.2.4-1.2", "developer")]
    assert row["status"] == "met", row["reason"]  # the compliance check
    hashes = {c["bom-ref"]: c.get("hashes") for c in bom(build(after.model))["components"]}
    assert any(h and "scorer" in ref for ref, h in hashes.items())  # the ML-BOM
    # and the configuration the run fingerprints changed with the record
    assert after.config_sha256 != before.config_sha256


def test_the_pack_describes_threats_as_the_run_saw_them(published, tmp_path):
    from kit.export.formats import export
    from kit.runs.rundata import load_run

    run = load_run(published["result"].run_dir)
    assert "house-agency" in run.threats["threats"]
    moved = tmp_path / "lib-gone"
    shutil.move(published["lib"], moved)  # the run's extra library is gone at export time
    try:
        written = export(run, "pack", tmp_path / "out")
    finally:
        shutil.move(moved, published["lib"])
    text = written["pack.md"].read_text(encoding="utf-8")
    assert "HOUSE-SUMMARY-7431" in text


def test_a_run_without_its_threat_descriptions_is_refused_with_a_clear_error(published, tmp_path):
    copy = tmp_path / "old-run"
    shutil.copytree(published["result"].run_dir, copy)
    (copy / "threats.json").unlink()
    status = main(["export", "pack", str(copy), "--out", str(tmp_path / "out")])
    assert status == 2
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- from the clone's root


def _from_root(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_python_m_kit_works_from_the_clone_root(tmp_path):
    done = _from_root(sys.executable, "-m", "kit", "threats", "examples/credit-risk.yaml")
    assert done.returncode == 0, done.stderr
    assert "findings, risk appetite" in done.stdout


def test_papermill_and_nbconvert_work_from_the_clone_root(tmp_path):
    out = tmp_path / "02.ipynb"
    done = _from_root(
        sys.executable,
        "-m",
        "papermill",
        "notebooks/02-inventory.ipynb",
        str(out),
        "-p",
        "system_path",
        "examples/credit-risk.yaml",
        "--no-progress-bar",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cells = json.loads(out.read_text())["cells"]
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    done = _from_root(
        sys.executable,
        "-m",
        "jupyter",
        "nbconvert",
        "--to",
        "html",
        "--template",
        "saikit-report",
        str(out),
        "--output-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "saikit" in (tmp_path / "02.html").read_text(encoding="utf-8")


def test_saikit_run_of_a_file_at_the_clone_root_works(tmp_path):
    # the kernels start in the system file's folder: here the clone root, whose kit/ they import
    name = f".trust-{os.getpid()}.yaml"
    system = ROOT / name
    system.write_text(examples()["credit-risk"].read_text())
    try:
        done = _from_root(
            sys.executable, "-m", "kit", "run", f"./{name}", "--out", str(tmp_path / "store")
        )
    finally:
        system.unlink()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "published" in done.stdout


# ---------------------------------------------------------------- killing saikit


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_killing_saikit_kills_its_workers_and_kernels_and_the_next_run_clears_up(tmp_path):
    system = tmp_path / "credit.yaml"
    system.write_text(examples()["credit-risk"].read_text())
    store = Store(tmp_path / "store")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit", "run", str(system), "--out", str(store.root)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kernels: set[int] = set()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            below = _descendants(proc.pid)
            kernels = (
                {p for p in below if b"ipykernel" in Path(f"/proc/{p}/cmdline").read_bytes()}
                if below
                else set()
            )
            if len(kernels) >= 2:
                break
            time.sleep(0.05)
        assert len(kernels) >= 2, "the run ended before two kernels were up"
        below = _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in below):
            time.sleep(0.1)
        assert not [p for p in below if _alive(p)], "workers or kernels outlived saikit"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    [abandoned] = list(store.root.glob(".staging-*"))
    # a staging folder some live process is writing is left alone
    live = store.root / ".staging-20260101T000000Z-live"
    (live / "notebooks").mkdir(parents=True)
    from kit.runs.store import OWNER, _process_identity

    (live / OWNER).write_text(_process_identity(os.getpid()))
    result = runner.run(system, out=store.root, progress=_quiet)
    assert result.status == "published"
    assert not abandoned.exists()
    assert live.is_dir()
    assert [p.name for p in store.root.glob(".staging-*")] == [live.name]


# ---------------------------------------------------------------- one store, one file


def test_a_second_file_with_the_same_system_id_is_refused_the_first_files_store(published, capsys):
    p = published
    twin = p["base"] / "agent-copy.yaml"
    twin.write_text(p["system"].read_text())
    before = sorted(x.name for x in Path(p["store"]).iterdir())
    entries = len(audit.read(Store(p["store"]).audit_path))
    status = main(["run", str(twin), "--out", str(p["store"]), "--library", str(p["lib"])])
    err = capsys.readouterr().err
    assert status == 2
    assert f"belongs to {p['system'].resolve()}" in err and "--out" in err
    assert sorted(x.name for x in Path(p["store"]).iterdir()) == before
    assert len(audit.read(Store(p["store"]).audit_path)) == entries


def test_a_store_whose_file_is_gone_is_taken_over_with_a_note(tmp_path):
    store = Store(tmp_path / "store")
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("x")
    assert store.check_claim(first, "same") is None
    store.record_owner(first, "same")
    assert store.owner() == first
    with pytest.raises(InputError, match="belongs to"):
        store.check_claim(second, "same")
    # the same file moved together with its store is still the owner
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copytree(store.root, moved / "store")
    (moved / "a.yaml").write_text("x")
    assert Store(moved / "store").check_claim(moved / "a.yaml", "same") is None
    first.unlink()
    note = store.check_claim(second, "same")
    assert note and str(first) in note and str(second) in note
    store.record_owner(second, "same")
    assert store.owner() == second


def test_the_report_stylesheet_shows_the_vocabularys_band_colours():
    # a stylesheet cannot import the vocabulary: this keeps its copy of the palette true
    from kit.resources import data_dir
    from kit.vocab import BAND_COLOURS

    css = (
        data_dir("templates") / "nbconvert" / "saikit-report" / "static" / "saikit.css"
    ).read_text()
    for band, colour in BAND_COLOURS.items():
        assert f"--{band}: {colour};" in css, band
