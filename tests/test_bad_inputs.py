"""The bad-input corpus: every file in tests/bad_inputs/ gets one located error, exit 2, no
traceback, and nothing written.

Each case is a folder holding the input files and `expect.yaml` (see tests/bad_inputs/README.md).
The case runs on a copy of its folder, from an empty working directory, through the CLI; then
the test checks the exit status, that an `error:` line names the expected file, line and YAML
path and carries the expected fragment, and that no file anywhere under the test's folder was
created, changed or removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kit.cli import main
from kit.model.schema import MAX_ASSETS
from kit.model.yamlio import MAX_FILE_BYTES, MAX_NODES

CORPUS = Path(__file__).parent / "bad_inputs"
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


# ---------------------------------------------------------------- helpers


def _snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root`: links by target, files by size, mtime and hash."""
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                st = p.stat()
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[rel] = ("file", st.st_size, st.st_mtime_ns, digest)
    return out


def _prepare(name: str, tmp_path: Path) -> tuple[Path, dict, list[str]]:
    """Copy the case, build its generated input, return (case folder, expect, CLI args)."""
    expect = yaml.safe_load((CORPUS / name / "expect.yaml").read_text(encoding="utf-8"))
    case = (tmp_path / "case").resolve()
    shutil.copytree(CORPUS / name, case, ignore=shutil.ignore_patterns("expect.yaml"))
    if expect.get("generate"):
        GENERATORS[expect["generate"]](case)
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
    commands = [yaml.safe_load((CORPUS / n / "expect.yaml").read_text())["command"] for n in CASES]
    assert len(CASES) >= 60
    assert sum("--library" in c for c in commands) >= 15  # threat files and controls
    assert sum(n.startswith("decisions-") for n in CASES) >= 8
    assert sum(c[0] == "hash" for c in commands) >= 3  # artifact paths
    assert sum(c[0] == "run" for c in commands) >= 5  # nothing may reach a notebook
    assert len([n for n in CASES if n.startswith("bidi") or "control-char" in n]) >= 5


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_with_a_located_message_and_nothing_written(
    name, tmp_path, monkeypatch, capsys
):
    case, expect, args = _prepare(name, tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _snapshot(tmp_path)

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
