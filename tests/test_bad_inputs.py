"""The bad-input corpus: every file in tests/bad_inputs/ gets one located error, exit 2, no
traceback, and nothing written.

Each case is a folder holding the input files and `expect.yaml` (see tests/bad_inputs/README.md).
The case runs on a copy of its folder, from an empty working directory, through the CLI; then
the test checks the exit status, that an `error:` line names the expected file, line and YAML
path and carries the expected fragment, and that no file anywhere under the test's folder was
created, changed or removed. Cases with a special file (a FIFO, a link to /dev/zero, a link
loop) run in a fresh interpreter capped in time and memory, so a read that waits or never ends
fails the test instead of hanging the suite or filling the machine's memory.

At the end: writes that meet a link (an --out path, a planted temporary name) replace the link
and leave the file it points to alone.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kit.cli import main
from kit.errors import MAX_PROBLEMS, MAX_SHOWN
from kit.model.schema import MAX_ASSETS
from kit.model.yamlio import MAX_FILE_BYTES, MAX_NODES

CORPUS = Path(__file__).parent / "bad_inputs"
ROOT = Path(__file__).resolve().parents[1]
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect.yaml").is_file())


# ---------------------------------------------------------------- inputs built at test time
# Too big, too deep or too odd to commit: each writes into the case's copied folder.


def _huge_file(case: Path) -> None:
    system = case / "system.yaml"
    text = system.read_text()
    padding = MAX_FILE_BYTES + 1 - len(text.encode()) - 2
    system.write_text(text + "#" + "x" * padding + "\n")
    assert system.stat().st_size == MAX_FILE_BYTES + 1


def _deep_nesting(case: Path) -> None:
    depth = 100_000
    with (case / "system.yaml").open("a") as f:
        f.write("x: " + "[" * depth + "]" * depth + "\n")


def _alias_bomb(case: Path) -> None:
    # one anchor of 1,001 values, repeated 10,000 times: 10,010,001 values from 55 kB of text
    with (case / "system.yaml").open("a") as f:
        f.write("x0: &a0 [" + ", ".join(["0"] * 1000) + "]\n")
        f.write("x1: [" + ", ".join(["*a0"] * 10000) + "]\n")


def _many_assets(case: Path) -> None:
    system = case / "system.yaml"
    head = system.read_text().split("assets:")[0]
    system.write_text(head + "assets: [" + ", ".join(["{}"] * (MAX_ASSETS + 1)) + "]\n")


def _outside(case: Path, name: str, text: str) -> Path:
    outside = case.parent / "outside"
    outside.mkdir(exist_ok=True)
    target = outside / name
    target.write_text(text)
    return target


def _artifact_symlink(case: Path) -> None:
    (case / "model.bin").symlink_to(_outside(case, "secret.bin", "weights\n"))


def _decisions_symlink(case: Path) -> None:
    text = "decisions:\n  - finding: evasion@scorer\n    status: accepted\n"
    (case / "decisions.yaml").symlink_to(_outside(case, "decisions.yaml", text))


GENERATORS = {
    "huge_file": _huge_file,
    "deep_nesting": _deep_nesting,
    "alias_bomb": _alias_bomb,
    "many_assets": _many_assets,
    "artifact_symlink": _artifact_symlink,
    "decisions_symlink": _decisions_symlink,
}

# Special files git cannot hold, made at `at` in the case's copy (`special:` in expect.yaml).
SPECIAL_FILES = {
    "fifo": os.mkfifo,  # opening it for reading waits for a writer that never comes
    "dev_zero_link": lambda at: at.symlink_to("/dev/zero"),  # endless, with a size of 0
    "link_loop": lambda at: at.symlink_to(at.name),  # a link to itself
}

# A fresh interpreter running this checkout's kit, capped: a special-file case must finish in
# well under this many seconds, and a read without a bound stops at this much memory.
TIMEOUT = 10
MEMORY_CAP = 2 << 30


def _capped() -> None:  # runs in the child, before it starts Python
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _saikit(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """`saikit ARGS` from this checkout in a fresh, capped interpreter: (status, stdout, stderr)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kit", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_capped,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"saikit {' '.join(args)} still running after {TIMEOUT} s (waiting on a file?)")
    assert time.monotonic() - start < TIMEOUT
    return proc.returncode, proc.stdout, proc.stderr


# ---------------------------------------------------------------- helpers


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: links by target, files by size, mtime and hash, special files
    (FIFOs) by type and mtime, never opened."""
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir",)
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[rel] = ("file", st.st_size, st.st_mtime_ns, digest)
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_mtime_ns)
    return out


def _prepare(name: str, tmp_path: Path) -> tuple[Path, dict, list[str]]:
    """Copy the case, build its generated input, return (case folder, expect, CLI args)."""
    expect = yaml.safe_load((CORPUS / name / "expect.yaml").read_text(encoding="utf-8"))
    case = (tmp_path / "case").resolve()
    shutil.copytree(CORPUS / name, case, ignore=shutil.ignore_patterns("expect.yaml"))
    if expect.get("generate"):
        GENERATORS[expect["generate"]](case)
    if expect.get("special"):
        at = case / expect["at"]
        at.parent.mkdir(parents=True, exist_ok=True)
        SPECIAL_FILES[expect["special"]](at)
    args = [a.replace("{dir}", str(case)) for a in expect["command"]]
    return case, expect, args


def _expected_prefix(case: Path, expect: dict) -> str:
    file = expect["file"]
    file = file if file.startswith("-") else str(case / file)
    where = f"{file}:{expect['line']}" if expect["line"] else file
    return f"error: {where} {expect['path']}: " if expect.get("path") else f"error: {where}: "


def _assert_reported(err: str, case: Path, expect: dict) -> None:
    prefix = _expected_prefix(case, expect)
    lines = [ln for ln in err.splitlines() if ln.startswith(prefix)]
    assert lines, f"no error starting {prefix!r} in:\n{err}"
    assert any(expect["fragment"] in ln for ln in lines), f"{expect['fragment']!r} not in:\n{err}"


# ---------------------------------------------------------------- the corpus


def test_corpus_covers_every_kind_of_input_file():
    expects = [yaml.safe_load((CORPUS / n / "expect.yaml").read_text()) for n in CASES]
    commands = [e["command"] for e in expects]
    assert len(CASES) >= 60
    assert sum("--library" in c for c in commands) >= 15  # threat files and controls
    assert sum(n.startswith("decisions-") for n in CASES) >= 8
    assert sum(c[0] == "hash" for c in commands) >= 3  # artifact paths
    assert sum(c[0] == "run" for c in commands) >= 5  # nothing may reach a notebook
    assert len([n for n in CASES if n.startswith("bidi") or "control-char" in n]) >= 5
    # each special file in each place an input file is read from
    special = {(e["special"], e["at"]) for e in expects if e.get("special")}
    for at in ("system.yaml", "decisions.yaml", "lib/threats/house-threat.yaml", "model.bin"):
        assert {(kind, at) for kind in SPECIAL_FILES} <= special, at
    for at in ("lib/controls.yaml", "system.hashes.json"):
        assert {("fifo", at), ("dev_zero_link", at)} <= special, at


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_with_a_located_message_and_nothing_written(
    name, tmp_path, monkeypatch, capsys
):
    case, expect, args = _prepare(name, tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _snapshot(tmp_path)

    if expect.get("special"):
        status, out, err = _saikit(args, cwd)
    else:
        status = main(args)
        out, err = capsys.readouterr()

    assert status == 2, f"exit {status}\n{out}\n{err}"
    assert "Traceback" not in out + err
    _assert_reported(err, case, expect)
    assert _snapshot(tmp_path) == before, "the command wrote, changed or removed a file"


# A sample through the real entry point, in a fresh interpreter: the exit status and stderr a
# shell sees, with no in-process state.
SAMPLE = [
    "encoding-utf16-bom",
    "bidi-override-in-id",
    "alias-bomb",
    "run-out-under-a-file",
    "lib-threat-python-tag",
    "artifact-traversal",
]


@pytest.mark.parametrize("name", SAMPLE)
def test_bad_input_through_the_real_command(name, tmp_path):
    case, expect, args = _prepare(name, tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = _snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "kit", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    _assert_reported(proc.stderr, case, expect)
    assert _snapshot(tmp_path) == before


def test_alias_bomb_generator_really_exceeds_the_bound(tmp_path):
    case, _, _ = _prepare("alias-bomb-generated", tmp_path)
    assert 1001 * 10000 + 1001 > MAX_NODES
    assert (case / "system.yaml").stat().st_size < 80_000  # small text, huge expansion


def test_feedback_loops_through_data_stay_allowed(write, cli):
    # model → api → application → dataset → model: a model retrained on what its users do is a
    # feedback loop, not a model descending from itself; only loops made of training flows alone,
    # or of depends_on alone, are refused.
    text = (CORPUS / "cycle-fine-tunes" / "system.yaml").read_text()
    text = text.split("flows:")[0].replace("  - id: student\n    type: model\n", "")
    text += (
        "  - {id: app, type: application}\n  - {id: feedback, type: dataset}\n"
        "  - {id: gpu, type: infrastructure}\n  - {id: k8s, type: infrastructure}\n"
        "flows:\n"
        "  - {from: train-data, to: scorer, kind: trains}\n"
        "  - {from: scorer, to: score-api, kind: serves}\n"
        "  - {from: score-api, to: app, kind: serves}\n"
        "  - {from: app, to: feedback, kind: writes}\n"
        "  - {from: feedback, to: scorer, kind: fine_tunes}\n"
        "  - {from: gpu, to: k8s, kind: depends_on}\n"
        "  - {from: k8s, to: scorer, kind: depends_on}\n"
    )
    status, out, err = cli("check", write(text))
    assert status == 0, err
    assert "flows: 7" in out


def test_a_document_too_large_without_aliases_says_so(monkeypatch):
    # the value bound also stops plain documents (a very dense estate): no talk of bombs then
    from kit.errors import InputError
    from kit.model import yamlio

    monkeypatch.setattr(yamlio, "MAX_NODES", 100)
    with pytest.raises(InputError) as caught:
        yamlio.parse("x: [" + ", ".join(["1"] * 100) + "]\n", "big.yaml")
    assert str(caught.value) == "big.yaml:1: document holds more than 100 values; the limit is 100"


# ---------------------------------------------------------------- writes meet a link
# Every file saikit writes goes through kit.files.write_atomic: a new file beside the target,
# renamed over it. A link at the target is replaced, never followed, so the file it points to
# (here "victim") stays as it was.

VICTIM = b"must stay unchanged\n"
WRITES = {  # the command, the link's name, how the file written begins
    "export-bom": (["export", "bom", "{system}", "--out", "{link}"], "out.json", b"{"),
    "export-graphml": (
        ["export", "graphml", "{system}", "--out", "{link}"],
        "out.graphml",
        b"<?xml",
    ),
    "graph-png": (["graph", "{system}", "--png", "{link}"], "out.png", b"\x89PNG"),
    "init-force": (["init", "--template", "credit-risk", "{link}", "--force"], "out.yaml", b"#"),
}


def _victim(tmp_path: Path) -> tuple[Path, Path, tuple]:
    """A case folder holding a system file (whose artifact exists) and, outside it, the victim."""
    case = tmp_path / "case"
    case.mkdir()
    shutil.copy(CORPUS / "artifact-symlink-out" / "system.yaml", case / "system.yaml")
    (case / "model.bin").write_bytes(b"weights\n")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    (tmp_path / "cwd").mkdir()
    return case, victim, _snapshot(tmp_path)[victim.name]


@pytest.mark.parametrize("name", sorted(WRITES))
def test_an_output_path_that_is_a_link_is_replaced_not_written_through(name, tmp_path):
    command, link_name, magic = WRITES[name]
    case, victim, before = _victim(tmp_path)
    link = case / link_name
    link.symlink_to(victim)
    args = [a.format(system=case / "system.yaml", link=link) for a in command]

    status, out, err = _saikit(args, tmp_path / "cwd")

    assert status == 0, err
    assert "Traceback" not in out + err
    assert _snapshot(tmp_path)[victim.name] == before, "the file the link points to was written"
    assert not link.is_symlink() and link.is_file()
    assert link.read_bytes().startswith(magic)


def test_a_link_planted_at_the_hash_records_old_temporary_name_is_left_alone(tmp_path):
    # `saikit hash` used to write `.<record>.tmp` through whatever was there, then rename it
    case, victim, before = _victim(tmp_path)
    planted = case / ".system.hashes.json.tmp"
    planted.symlink_to(victim)

    status, out, err = _saikit(["hash", str(case / "system.yaml")], tmp_path / "cwd")

    assert status == 0, err
    assert "Traceback" not in out + err
    assert _snapshot(tmp_path)[victim.name] == before, "the planted link was written through"
    record = case / "system.hashes.json"
    assert not record.is_symlink()
    entry = json.loads(record.read_text())["artifacts"]["scorer"]
    assert entry == {"path": "model.bin", "sha256": hashlib.sha256(b"weights\n").hexdigest()}


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_file_whose_size_lies_is_read_only_up_to_the_bound():
    # files in /proc are regular files that claim a size of 0; the bound holds on what is read
    from kit.errors import InputError
    from kit.model import yamlio

    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(InputError) as caught:
        yamlio.read_text("/proc/self/status", max_bytes=10)
    assert str(caught.value) == "/proc/self/status: file is over 10 bytes; the limit is 10 bytes"


# ---------------------------------------------------------------- hostile inputs inside the bounds
# Built at test time by the generators of bench/bench_bombs.py (which measures the same inputs)
# and run through this checkout's CLI in a fresh interpreter with its address space capped. Each
# must be refused with located messages (at most MAX_SHOWN of them, then a count), without a
# traceback, writing nothing, in well under 1 GiB. BOMB_TIMEOUT only stops a hang; before these
# bounds, each of these took from 5 s to minutes and up to 6 GB, or printed millions of lines.

BOMB_TIMEOUT = 60
BOMB_MEMORY = 3 << 30


@functools.cache
def _bombs():
    spec = importlib.util.spec_from_file_location("bench_bombs", ROOT / "bench" / "bench_bombs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _refused(tmp_path: Path, make: str, **kwargs):
    """Build the input `make` writes, run the command it names; return (case folder, the run)
    once it is known to be a clean refusal that wrote nothing and stayed under 1 GiB."""
    case = tmp_path / "case"
    case.mkdir()
    args = getattr(_bombs(), make)(case, **kwargs)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = _snapshot(tmp_path)
    ran = _bombs().run(args, cwd, BOMB_TIMEOUT, BOMB_MEMORY)
    assert ran.status != -9, f"still running after {BOMB_TIMEOUT} s"
    assert ran.status == 2, f"exit {ran.status}\n{ran.out[-2000:]}\n{ran.err[-2000:]}"
    assert "Traceback" not in ran.out + ran.err
    assert ran.peak < 1 << 30, f"peak memory {ran.peak / 2**20:,.0f} MiB"
    assert _snapshot(tmp_path) == before, "the command wrote, changed or removed a file"
    return case, ran


def test_two_thousand_misspelt_references_print_the_first_and_count_the_rest(tmp_path):
    case, ran = _refused(tmp_path, "misspelt_references", n=2_000)
    *shown, more = ran.errors
    assert len(shown) == MAX_SHOWN
    system = case / "system.yaml"
    for i, line in enumerate(shown):  # flows start on line 2,010, one a line
        assert line == (
            f"error: {system}:{2010 + i} flows[{i}].to: unknown asset 'modl-{i:05d}' "
            f"(did you mean 'model-{i:05d}'?)"
        )
    assert more == f"error: … and {2_000 - MAX_SHOWN:,} more problems"


def test_a_thousand_misspelt_control_references_in_a_library(tmp_path):
    case, ran = _refused(tmp_path, "misspelt_controls", n=1_000)
    *shown, more = ran.errors
    assert len(shown) == MAX_SHOWN
    threat = case / "lib" / "threats" / "misspelt-controls.yaml"
    for i, line in enumerate(shown):  # the mitigations start on line 15
        assert line == (
            f"error: {threat}:{15 + i} controls[{i}].control: unknown control "
            f"'house-contrl-{i:05d}' (did you mean 'house-control-{i:05d}'?)"
        )
    assert more == f"error: … and {1_000 - MAX_SHOWN:,} more problems"


def test_two_million_numbers_in_one_list(tmp_path):
    case, ran = _refused(tmp_path, "flat_numbers", n=2_000_000)
    assert ran.errors == [
        f"error: {case / 'system.yaml'}:9: document holds more than {MAX_NODES:,} values; "
        f"the limit is {MAX_NODES:,}"
    ]


def test_a_flat_list_one_value_over_the_bound_is_refused_and_one_under_is_read(tmp_path):
    # every value counts once, however deep it sits: a list at the bound is read, one more is not
    from kit.model import yamlio

    head = _bombs().SYSTEM_HEAD + "assets:\n  - {id: data, type: dataset}\nflows: ["
    numbers = MAX_NODES - yamlio.parse(head + "]\n").values  # that many fill the bound
    assert yamlio.parse(head + "0," * (numbers - 1) + "0]\n").values == MAX_NODES
    case, ran = _refused(tmp_path, "flat_numbers", n=numbers + 1)
    assert ran.errors == [
        f"error: {case / 'system.yaml'}:9: document holds more than {MAX_NODES:,} values; "
        f"the limit is {MAX_NODES:,}"
    ]


def test_a_list_of_bad_values_under_the_bound_is_checked_until_enough_problems(tmp_path):
    case, ran = _refused(tmp_path, "flat_numbers", n=1_900_000)
    *shown, more = ran.errors
    system = case / "system.yaml"
    assert shown == [
        f"error: {system}:9 flows[{i}]: expected a mapping, got int" for i in range(MAX_SHOWN)
    ]
    assert more == (
        f"error: … and at least {MAX_PROBLEMS - MAX_SHOWN:,} more problems "
        f"(checking stopped after the first {MAX_PROBLEMS:,})"
    )


def test_a_library_of_too_many_threats_is_refused_before_any_is_read(tmp_path):
    from kit.threats.files import files_in, shipped_directory
    from kit.threats.library import MAX_THREATS

    shipped = len(files_in(shipped_directory())[1])
    house = MAX_THREATS + 1 - shipped
    case, ran = _refused(tmp_path, "many_threats", n=house)
    assert ran.errors == [
        f"error: {case / 'lib'}: the library in force has {MAX_THREATS + 1:,} threat files "
        f"({house:,} here); the limit is {MAX_THREATS:,}"
    ]


def test_a_library_of_too_many_graph_tests_is_refused(tmp_path):
    from kit.threats.library import MAX_GRAPH_TESTS

    case, ran = _refused(tmp_path, "walk_library", walks=MAX_GRAPH_TESTS, assets=3, terse=True)
    [line] = ran.errors
    prefix = f"error: {case / 'lib' / 'threats' / 'walks.yaml'}:14 when: "
    assert line.startswith(prefix + "the library's conditions reach ")
    assert line.endswith(
        f"graph tests (upstream, downstream, neighbour) here; the limit is "
        f"{MAX_GRAPH_TESTS:,} for all threats together"
    )


def test_a_library_whose_walks_on_this_system_are_too_much_work(tmp_path):
    # within the library's bounds, but 800 graph tests (and the shipped ones) on 26,000 assets
    from kit.threats.engine import MAX_WALK_WORK

    case, ran = _refused(tmp_path, "walk_library", walks=800, assets=26_000, terse=True)
    [line] = ran.errors
    prefix = f"error: {case / 'lib' / 'threats' / 'walks.yaml'}:14 when: "
    assert line.startswith(prefix + "with this threat the library runs ")
    assert "distinct graph tests on 26,000 assets, " in line
    assert line.endswith(f"the limit is {MAX_WALK_WORK:,} (fewer tests, or a smaller system)")
