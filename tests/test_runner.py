"""`saikit run`: real papermill runs, fingerprints, the run store, the audit trail and diffs.

One module-scoped sequence of runs on a copy of the credit-risk example keeps the number of
real notebook executions small: first run, no-op rerun, one-asset change, library change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kit import audit
from kit.cli import main
from kit.resources import examples
from kit.runs import execute, runner
from kit.threats.files import shipped_directory

# Free text that would be code if anything ever pasted it into a cell.
CODE_TEXT = "x\"; __import__('os').system('touch PWNED') #\n'''\n{{ 7*7 }} ${HOME}"


def _quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    system = base / "credit.yaml"
    text = examples()["credit-risk"].read_text()
    # a free-text value carrying code: it must come out as data
    assert "  owner: Head of Credit Decisioning" in text
    text = text.replace(
        "  owner: Head of Credit Decisioning", "  owner: " + json.dumps(CODE_TEXT), 1
    )
    system.write_text(text)
    store = base / "store"
    first = runner.run(system, out=store, progress=_quiet)
    return {"base": base, "system": system, "store": store, "first": first}


def test_first_run_executes_every_notebook_and_publishes(workspace):
    first = workspace["first"]
    assert first.status == "published", first.failures
    assert first.ran == sorted(runner.workbook_notebooks())
    run_dir = first.run_dir
    latest = runner.Store(workspace["store"]).latest()
    assert latest == run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for name in first.ran:
        nb = json.loads((run_dir / "notebooks" / f"{name}.ipynb").read_text())
        assert (
            nb["metadata"]["papermill"]["parameters"]["config_sha256"] == manifest["config_sha256"]
        )
        assert not any(
            o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", [])
        )
    for rel, digest in manifest["outputs"].items():
        import hashlib

        assert hashlib.sha256((run_dir / rel).read_bytes()).hexdigest() == digest
    assert (run_dir / "register.csv").read_text().count("\n") > 5


def test_config_values_carrying_code_run_as_data(workspace):
    run_dir = workspace["first"].run_dir
    assert not (workspace["base"] / "PWNED").exists()
    assert not Path("PWNED").exists()
    nb = json.loads((run_dir / "notebooks" / "01-design.ipynb").read_text())
    params = nb["metadata"]["papermill"]["parameters"]
    assert set(params) == {"system_path", "config_sha256", "library_dirs", "run_store"}
    shown = json.dumps(nb)
    assert "__import__" in shown  # displayed as data in the business-case table
    config = json.loads((run_dir / "config.json").read_text())
    assert config["system"]["owner"] == CODE_TEXT


def test_config_keys_carrying_code_are_refused_before_anything_runs(tmp_path, capsys):
    system = tmp_path / "s.yaml"
    text = examples()["credit-risk"].read_text()
    system.write_text(
        text.replace("  ai_type:", "  \"__import__('os').system('touch PWNED')\": 1\n  ai_type:", 1)
    )
    status = main(["run", str(system), "--out", str(tmp_path / "store")])
    assert status == 2
    assert "unknown field" in capsys.readouterr().err
    assert not (tmp_path / "store").exists() and not (tmp_path / "PWNED").exists()


def test_unchanged_configuration_reruns_nothing_and_starts_no_kernel(workspace, monkeypatch):
    def tripwire(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(execute, "execute_all", tripwire)
    store = runner.Store(workspace["store"])
    before = store.runs()
    # a comment-only edit changes the file's bytes but not the canonical configuration
    system = workspace["system"]
    system.write_text("# reviewed again\n" + system.read_text())
    result = runner.run(system, out=workspace["store"], progress=_quiet)
    assert result.status == "up to date" and result.ran == []
    assert store.runs() == before
    last = audit.read(store.audit_path)[-1]
    assert last["status"] == "up to date" and last["notebooks_run"] == []


def test_changing_one_asset_reruns_and_diff_shows_the_risk_change(workspace, capsys):
    system = workspace["system"]
    text = system.read_text()
    # take the partner route away from the scoring API: the privacy attacks through it go away
    assert "exposure: partner" in text
    system.write_text(text.replace("exposure: partner", "exposure: internal"))
    result = runner.run(system, out=workspace["store"], progress=_quiet)
    assert result.status == "published"
    assert result.ran == sorted(runner.workbook_notebooks())
    assert any("exposure" in c for c in result.changes)
    assert main(["diff", "--out", str(workspace["store"])]) == 0
    out = capsys.readouterr().out
    assert "configuration changes:" in out and "exposure" in out
    assert "findings resolved:" in out
    resolved = int(out.split("findings resolved: ")[1].split("\n")[0])
    assert resolved >= 1


def test_changing_the_threat_library_reruns_every_notebook(workspace, tmp_path):
    # Every notebook shows rows that depend on the library (compliance rows included), so a
    # threat added in a --library folder makes all of them stale, not only the threat model.
    lib = tmp_path / "lib" / "threats"
    lib.mkdir(parents=True)
    shipped = shipped_directory()
    source = (shipped / "threats" / "training-data-poisoning.yaml").read_text()
    (lib / "training-data-poisoning-house.yaml").write_text(
        source.replace("id: training-data-poisoning\n", "id: training-data-poisoning-house\n", 1)
    )
    result = runner.run(
        workspace["system"],
        out=workspace["store"],
        progress=_quiet,
        library_dirs=[tmp_path / "lib"],
    )
    assert result.status == "published"
    assert result.ran == sorted(runner.workbook_notebooks()) and result.skipped == []
    register = (result.run_dir / "register.csv").read_text()
    assert "training-data-poisoning-house@" in register
    for name in result.ran:  # each notebook was executed with the library the tables used
        nb = json.loads((result.run_dir / "notebooks" / f"{name}.ipynb").read_text())
        params = nb["metadata"]["papermill"]["parameters"]
        assert params["library_dirs"] == [str((tmp_path / "lib").resolve())], name


def test_a_failing_notebook_fails_the_run_and_keeps_latest(workspace, tmp_path, capsys):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('system_path = ""\nconfig_sha256 = ""\nlibrary_dirs = []')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("raise ValueError('house check failed')")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    mine = tmp_path / "mine"
    mine.mkdir()
    nbformat.write(nb, mine / "99-house.ipynb")
    store = runner.Store(workspace["store"])
    latest_before = store.latest()
    status = main(
        [
            "run",
            str(workspace["system"]),
            "--out",
            str(workspace["store"]),
            "--notebooks",
            str(mine),
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "99-house" in err and "ValueError: house check failed" in err
    assert "(raise ValueError(" in err  # the failing cell is shown
    assert store.latest() == latest_before
    assert audit.read(store.audit_path)[-1]["status"] == "failed"


def test_audit_trail_verifies_and_detects_tampering(workspace, tmp_path, capsys):
    store = runner.Store(workspace["store"])
    assert main(["audit", "verify", "--out", str(store.root)]) == 0
    assert "chain intact" in capsys.readouterr().out
    original = store.audit_path.read_text().splitlines()
    assert len(original) >= 4

    def tampered(lines):
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(store.root, copy, symlinks=True)
        (copy / "audit.jsonl").write_text("\n".join(lines) + "\n")
        status = main(["audit", "verify", "--out", str(copy)])
        return status, capsys.readouterr().err

    edited = json.loads(original[1])
    edited["user"] = "someone-else"
    cases = {
        "edited": original[:1] + [json.dumps(edited)] + original[2:],
        "deleted": original[:1] + original[2:],
        "swapped": [original[0], original[2], original[1], *original[3:]],
        "inserted": original[:2] + [original[1]] + original[2:],
        "truncated": original[:-1],
    }
    for name, lines in cases.items():
        status, err = tampered(lines)
        assert status == 1, name
        assert "line" in err or "missing" in err, name


def test_runs_lists_every_run_and_marks_latest(workspace, capsys):
    assert main(["runs", "--out", str(workspace["store"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"runs of {workspace['system'].resolve()}\n")
    rows = [ln for ln in out.splitlines()[1:] if ln.strip()]
    assert len(rows) == len(runner.Store(workspace["store"]).runs())
    assert sum(ln.startswith("*") for ln in rows) == 1
