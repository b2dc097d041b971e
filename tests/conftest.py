"""Shared fixtures: small system files written in the test, the CLI run in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kit.cli import main

MINIMAL = """\
system:
  id: tiny
  name: Tiny system
  purpose: A small system for tests.
  ai_type: predictive
  roles: [developer, system_operator]
assets:
  - id: train-data
    type: dataset
    sensitivity: personal
  - id: scorer
    type: model
    outputs: [score]
  - id: score-api
    type: api
    exposure: partner
flows:
  - {from: train-data, to: scorer, kind: trains}
  - {from: scorer, to: score-api, kind: serves}
"""


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    """The saikit wheel built from this checkout (once per test session)."""
    import subprocess
    import sys

    wheels = tmp_path_factory.mktemp("wheels")
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(root),
        ],
        check=True,
    )
    [wheel] = wheels.glob("saikit-*.whl")
    return wheel


@pytest.fixture
def write(tmp_path: Path):
    """Write a file under tmp_path (text is dedented) and return its path."""

    def _write(text: str | bytes, name: str = "system.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(capsys, tmp_path, monkeypatch):
    """Run `saikit ARGS` in-process, from tmp_path (so the default ./runs/ store lands there,
    never in the checkout); return (status, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def _run(*args: str):
        status = main([str(a) for a in args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return _run
