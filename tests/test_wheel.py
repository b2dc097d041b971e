"""A plain (non-editable) install carries everything the kit reads, inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_into_a_fresh_venv_and_checks_the_bundled_default(tmp_path, built_wheel):
    wheel = built_wheel
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "kit/examples/support-assistant.yaml",
        "kit/threat_library/controls.yaml",
        "kit/compliance/etsi-ts-104-223-v1.1.1.yaml",
        "kit/notebooks/03-threat-model.ipynb",
        "kit/templates/systems/credit-risk.yaml",
        "kit/system.schema.json",
    ):
        assert expected in names, expected
    assert sum(n.startswith("kit/threat_library/threats/") for n in names) >= 30

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # not the source tree: resources must come from the installed package
    proc = subprocess.run(
        [str(venv / "bin" / "saikit"), "check"], cwd=elsewhere, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert str(venv) in proc.stdout and "support-assistant.yaml: ok" in proc.stdout
    assert "assets: 24" in proc.stdout
