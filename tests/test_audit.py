"""`saikit audit verify` against a tampered trail, head, manifests and run folders.

One module-scoped store holds two published runs of a small system (the second reran only the
user's own notebook) and an "up to date" entry. Each test tampers with a copy of it, as someone
with write access to the store would, rewriting hashes and the head where that hides the chain
break, and checks what `audit verify` says, with and without a head kept elsewhere (`--expect`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import MINIMAL

from kit import audit
from kit.cli import main
from kit.runs import runner
from kit.runs.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _quiet(_line: str) -> None:
    pass


def _notebook(path: Path, version: int) -> None:
    """A small notebook of the user's; `version` changes its code, so it alone reruns."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('system_path = ""\nconfig_sha256 = ""\nlibrary_dirs = []')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(f"version = {version}\nprint(version)")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("audit")
    system = base / "tiny.yaml"
    system.write_text(MINIMAL)
    mine = base / "mine"
    mine.mkdir()
    _notebook(mine / "90-mine.ipynb", 1)
    store = base / "store"
    results = []
    for version in (1, 2, 2):  # the whole workbook; only mine; nothing (up to date)
        _notebook(mine / "90-mine.ipynb", version)
        results.append(runner.run(system, out=store, notebook_dirs=[mine], progress=_quiet))
    assert [r.status for r in results] == ["published", "published", "up to date"]
    assert results[1].ran == ["90-mine"]
    trail = audit.read(Store(store).audit_path)
    assert [(e["event"], e["status"]) for e in trail] == [
        ("run", "published"),
        ("run", "published"),
        ("run", "up to date"),
    ]
    return {"base": base, "system": system, "mine": mine, "store": store}


@pytest.fixture
def store(pristine, tmp_path) -> Store:
    """A copy of the pristine store to tamper with."""
    copy = tmp_path / "store"
    shutil.copytree(pristine["store"], copy, symlinks=True)
    return Store(copy)


@pytest.fixture
def verify(capsys):
    """`saikit audit verify --out STORE [ARGS]`: (status, stdout, stderr)."""

    def _verify(store: Store, *args: str):
        status = main(["audit", "verify", "--out", str(store.root), *args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return _verify


def runs(store: Store) -> tuple[Path, Path]:
    first, second = store.runs()
    assert store.latest() == second
    return first, second


def head(store: Store) -> str:
    return audit.read(store.audit_path)[-1]["hash"]


def rewrite(store: Store, entries: list[dict]) -> None:
    """Write `entries` as a consistent trail, re-chained and re-hashed, with a matching head:
    what someone does who edits the trail and knows how it is built."""
    prev, lines = audit.GENESIS, []
    for seq, entry in enumerate(entries, start=1):
        entry = {**entry, "seq": seq, "prev": prev}
        entry["hash"] = prev = audit.entry_hash(entry)
        lines.append(audit.canonical(entry).decode())
    store.audit_path.write_text("\n".join(lines) + "\n")
    audit.head_path(store.audit_path).write_text(
        json.dumps({"seq": len(entries), "hash": prev}) + "\n"
    )


def recording(entry: dict, run: Path) -> bool:
    return entry["status"] == "published" and entry["run"] == run.name


def record_of(store: Store, run: Path) -> tuple[int, dict]:
    [(line, entry)] = [(n, e) for n, e in audit.lines(store.audit_path) if recording(e, run)]
    return line, entry


def errors(err: str) -> list[str]:
    lines = err.splitlines()
    assert lines and all(ln.startswith("error: ") for ln in lines), err
    assert "Traceback" not in err
    return lines


# ---------------------------------------------------------------- intact


def test_the_untouched_store_verifies_and_names_its_head(store, verify):
    status, out, err = verify(store)
    assert (status, err) == (0, "")
    assert out == (
        f"{store.audit_path}: 3 entries, chain intact, every run (2) matches its record; "
        f"audit head: {head(store)}\n"
    )


def test_run_prints_the_audit_head_and_verify_expects_it(pristine, store, verify, capsys):
    # `saikit run` into the copy: a published run (only the user's notebook changed), then an
    # up-to-date one; each prints the head, the hash of the trail's newest entry.
    mine = store.root.parent / "mine"
    shutil.copytree(pristine["mine"], mine)
    heads = []
    for version in (3, 3):
        _notebook(mine / "90-mine.ipynb", version)
        args = ["run", str(pristine["system"]), "--out", str(store.root), "--notebooks", str(mine)]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[-1] == f"audit head: {head(store)}"
        heads.append(head(store))
    assert "published" in audit.read(store.audit_path)[-2]["status"]
    for expected in heads:  # the newest entry, or an older one that the newer ones follow
        status, out, err = verify(store, "--expect", expected)
        assert (status, err) == (0, "")
        assert f"audit head: {heads[-1]}" in out
    assert (
        "; expected head found at seq 4, 1 entry after it\n"
        in verify(store, "--expect", heads[0])[1]
    )
    assert "; expected head found at seq 5, the newest\n" in verify(store, "--expect", heads[1])[1]
    status, out, err = verify(store, "--expect", "0" * 64)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: the expected head {'0' * 64} is not in the trail: "
        "the trail was cut short or rewritten since that head was printed"
    ]


@pytest.mark.parametrize("bad", ["abc", "Z" * 64, "0" * 63])
def test_expect_takes_a_whole_hash(store, verify, bad):
    status, out, err = verify(store, "--expect", bad)
    assert status == 2 and out == ""
    assert errors(err) == [
        f"error: --expect: '{bad}' is not an audit hash: give the 64 lower-case hex digits "
        "`saikit run` printed as 'audit head'"
    ]


# ---------------------------------------------------------------- the trail and its head


def test_removing_the_newest_runs_record_and_rewriting_the_head_is_caught(store, verify):
    _, second = runs(store)
    rewrite(store, [e for e in audit.read(store.audit_path) if not recording(e, second)])
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: run {second.name} is latest but no entry records it: "
        "its record was removed (a run becomes latest only once it is recorded)"
    ]


def test_removing_the_newest_runs_record_and_moving_latest_back_needs_the_kept_head(store, verify):
    """Indistinguishable from a run killed between publishing and recording, except by a head
    kept elsewhere: without it, a note; with it, a break."""
    first, second = runs(store)
    kept_head = head(store)
    rewrite(store, [e for e in audit.read(store.audit_path) if not recording(e, second)])
    store.point_latest(first)
    status, out, err = verify(store)
    assert (status, err) == (0, "")
    assert out.startswith(f"note: {store.root}: run {second.name} has no audit record: ")
    status, _, err = verify(store, "--expect", kept_head)
    assert status == 1
    assert f"the expected head {kept_head} is not in the trail" in err


def test_rewriting_the_newest_entry_and_the_head_needs_the_kept_head(store, verify):
    """After the last entry a manifest anchors, a consistent rewrite shows only against a head
    kept elsewhere."""
    kept_head = head(store)
    entries = audit.read(store.audit_path)
    entries[-1]["user"] = "someone-else"
    rewrite(store, entries)
    assert verify(store)[0] == 0
    status, _, err = verify(store, "--expect", kept_head)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: the expected head {kept_head} is not in the trail: "
        "the trail was cut short or rewritten since that head was printed"
    ]


def test_rewriting_the_whole_trail_consistently_is_caught_by_the_manifests(store, verify):
    first, second = runs(store)
    entries = audit.read(store.audit_path)
    entries[0]["changes"] = ["nothing to see"]
    rewrite(store, entries)
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: (seq 1): an entry recorded in a run manifest or the head "
        "file is missing: the trail was cut short or rewritten",
        f"error: {store.audit_path}: line 1 (seq 1): run {first.name}: its manifest does not "
        "match this record in changes (manifest or run edited)",
    ]


def test_a_runs_record_rewritten_to_other_outputs_is_caught(store, verify):
    _, second = runs(store)
    entries = audit.read(store.audit_path)
    line, record = record_of(store, second)
    entries[line - 1]["outputs"]["register.csv"] = "0" * 64
    rewrite(store, entries)
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: line {line} (seq {record['seq']}): run {second.name}: "
        "its manifest does not match this record in outputs (manifest or run edited)"
    ]


def test_a_second_record_of_a_run_is_caught(store, verify):
    first, _ = runs(store)
    _, record = record_of(store, first)
    forged = {k: v for k, v in record.items() if k not in audit.BOOKKEEPING}
    audit.append(store.audit_path, "run", **forged)  # chained and hashed as a real entry
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: line 4 (seq 4): run {first.name} is recorded again "
        "(first at line 1): a run is recorded once"
    ]


def test_a_run_killed_between_publishing_and_recording_is_a_note(pristine, store, verify):
    """The one way a published run folder lacks its record without tampering: the run died
    after renaming the folder into place and before appending its record."""
    mine = store.root.parent / "mine"
    shutil.copytree(pristine["mine"], mine)
    _notebook(mine / "90-mine.ipynb", 4)
    driver = (
        "import os, sys\nfrom kit.runs import runner\nfrom kit.cli import main\n"
        "append = runner.audit.append\n"
        "def append_or_die(*args, **kwargs):\n"
        "    if kwargs.get('status') == 'published':\n        os._exit(137)\n"
        "    return append(*args, **kwargs)\n"
        "runner.audit.append = append_or_die\nsys.exit(main(sys.argv[1:]))\n"
    )
    before = {p.name for p in store.runs()}
    args = ["run", str(pristine["system"]), "--out", str(store.root), "--notebooks", str(mine)]
    done = subprocess.run(
        [sys.executable, "-c", driver, *args], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 137, done.stderr
    [orphan] = {p.name for p in store.runs()} - before
    status, out, err = verify(store)
    assert (status, err) == (0, "")
    assert out.startswith(
        f"note: {store.root}: run {orphan} has no audit record: a run stopped between "
        "publishing and recording leaves one; if none was, its record was removed "
        "(`--expect` with the head printed after that run tells)\n"
    )


# ---------------------------------------------------------------- the run folders


def test_an_edited_output_is_caught(store, verify):
    first, _ = runs(store)
    register = first / "register.csv"
    register.write_text(register.read_text().replace("high", "low"))
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: run {first.name}: register.csv does not match its "
        "SHA-256 in the manifest (changed)"
    ]


def test_an_edited_output_with_its_manifest_rehashed_is_caught_by_the_record(store, verify):
    first, _ = runs(store)
    (first / "findings.json").write_text("{}\n")
    manifest = json.loads((first / "manifest.json").read_text())
    manifest["outputs"]["findings.json"] = hashlib.sha256(b"{}\n").hexdigest()
    (first / "manifest.json").write_text(json.dumps(manifest))
    line, record = record_of(store, first)
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: line {line} (seq {record['seq']}): run {first.name}: its "
        "manifest does not match this record in outputs (manifest or run edited)"
    ]


def test_files_added_to_or_removed_from_a_run_are_caught(store, verify):
    first, second = runs(store)
    (first / "notebooks" / "99-extra.ipynb").write_text("{}")
    (second / "provisions.csv").unlink()
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: run {first.name}: notebooks/99-extra.ipynb is not in the "
        "manifest (added)",
        f"error: {store.audit_path}: run {second.name}: provisions.csv is missing",
    ]


def test_a_removed_run_folder_is_caught(store, verify):
    first, _ = runs(store)
    line, record = record_of(store, first)
    shutil.rmtree(first)
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: line {line} (seq {record['seq']}): run {first.name} is "
        "not in the store: its folder was removed"
    ]


def test_a_removed_manifest_is_caught(store, verify):
    first, _ = runs(store)
    line, record = record_of(store, first)
    (first / "manifest.json").unlink()
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: line {line} (seq {record['seq']}): run {first.name} is "
        "not in the store: its manifest.json was removed"
    ]


def test_a_damaged_manifest_is_a_located_break_not_a_traceback(store, verify):
    first, _ = runs(store)
    (first / "manifest.json").write_text("{ not json")
    status, _, err = verify(store)
    assert status == 1
    assert errors(err) == [
        f"error: {store.audit_path}: run {first.name}: manifest.json is not a JSON object"
    ]


def test_a_run_copied_under_another_name_is_caught(store, verify):
    first, _ = runs(store)
    planted = store.root / re.sub(r"-\w{8}$", "-deadbeef", first.name)
    shutil.copytree(first, planted)
    status, out, err = verify(store)
    assert status == 1
    assert f"run {planted.name} has no audit record" in out
    assert errors(err) == [
        f"error: {store.audit_path}: run {planted.name}: its manifest is run {first.name}'s"
    ]


def test_a_trail_line_that_is_json_but_no_entry_is_a_located_break(store, verify):
    with store.audit_path.open("a") as f:
        f.write("[1, 2]\n")
    status, _, err = verify(store)
    assert status == 1
    assert f"error: {store.audit_path}: line 4: not a JSON entry (edited or truncated)" in err


def test_verify_reads_nothing_but_the_store(store, verify):
    # a record naming a path outside the store is reported, never followed
    entries = audit.read(store.audit_path)
    entries[-1] = {**entries[0], "run": os.path.join("..", "..", "etc")}
    rewrite(store, entries)
    status, _, err = verify(store)
    assert status == 1
    assert "run ../../etc is not in the store: its folder was removed" in err
