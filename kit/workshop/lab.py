"""`saikit lab`: JupyterLab on the loopback interface with the workshop open on one system."""

from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import fail
from kit.files import resolve
from kit.inputs import load_checked
from kit.model.schema import load_system

# ---------------------------------------------------------------- saikit lab


def workshop_notebook(parameters: dict[str, Any]) -> dict:
    """The workshop notebook as JSON data with its parameters cell set to `parameters`.

    Each value is written as a JSON literal (a string or a list of strings, which Python reads
    the same way) and read back with `ast.literal_eval` before use, so a path can never become
    code.
    """
    from kit.resources import notebooks

    nb = json.loads(notebooks()["workshop"].read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"])
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if not isinstance(node, ast.AnnAssign) or node.target.id not in parameters:
            continue
        name, value = node.target.id, parameters[node.target.id]
        line = lines[node.lineno - 1]
        annotation = ast.get_source_segment(source, node.annotation)
        lines[node.lineno - 1] = (
            f"{name}: {annotation} = {json.dumps(value)}{line[node.end_col_offset :]}"
        )
        written = ast.parse(lines[node.lineno - 1]).body[0]
        if ast.literal_eval(written.value) != value:
            raise ValueError(f"cannot write {name} as a literal: {value!r}")
    cell["source"] = "\n".join(lines)
    return nb


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A JupyterLab server started for a workshop."""

    process: subprocess.Popen
    url: str
    workdir: Path
    port: int
    token: str

    def stop(self, timeout: float = 15) -> None:
        """Stop the server (and its kernels) and remove the working folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_lab(
    system: str | os.PathLike | None,
    *,
    port: int = 0,
    out: str | os.PathLike | None = None,
    library_dirs=(),
    timeout: float = 120,
) -> Lab:
    """Start JupyterLab on 127.0.0.1 with the workshop notebook on `system`; return once it answers.

    Without a system, the workshop works on a scratch copy of the bundled example inside the
    lab's working folder. The audit trail goes to `out`, else where `saikit run` in the current
    directory keeps it. Token authentication is always on; the server never listens beyond
    the loopback interface.
    """
    from kit.resources import default_system
    from kit.runs.store import store_for

    workdir = Path(tempfile.mkdtemp(prefix="saikit-lab-"))
    try:
        if system:
            system = resolve(system)  # a link loop: OSError, not RuntimeError
        else:
            system = _scratch_copy(default_system(), workdir)
            out = out or workdir / "runs"
        model, _ = load_checked(system, library_dirs)
        store = Path(store_for(model.system.id, out).root).resolve()
        nb = workshop_notebook(
            {
                "system_path": str(system),
                "out": str(store),
                "library_dirs": [str(Path(d).resolve()) for d in library_dirs],
            }
        )
        name = f"workshop-{model.system.id}.ipynb"
        (workdir / name).write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    port = port or free_port()
    token = secrets.token_urlsafe(32)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={workdir}",
        "--ServerApp.allow_remote_access=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    # The token goes through the environment, so other local users cannot read it from `ps`.
    env = {**os.environ, "JUPYTER_TOKEN": token}
    with open(workdir / ".jupyter.log", "wb") as log:
        # A session of its own: Ctrl+C reaches saikit, which then stops the server cleanly.
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = Lab(
        process, f"http://127.0.0.1:{port}/lab/tree/{name}?token={token}", workdir, port, token
    )
    try:
        _wait_until_up(lab, timeout)
    except BaseException:
        lab.stop()
        raise
    return lab


def _scratch_copy(example: Path, workdir: Path) -> Path:
    target = workdir / example.name
    shutil.copy2(example, target)
    model = load_system(example)
    if model.system.decisions_file:
        shutil.copy2(
            example.parent / model.system.decisions_file, workdir / model.system.decisions_file
        )
    return target


def _wait_until_up(lab: Lab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{lab.port}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            log = (lab.workdir / ".jupyter.log").read_text(errors="replace").strip().splitlines()
            raise fail(
                "jupyter lab",
                None,
                "",
                f"JupyterLab exited with status {lab.process.returncode}: "
                + (log[-1] if log else f"is port {lab.port} free?"),
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise fail("jupyter lab", None, "", f"JupyterLab did not answer within {timeout:.0f} s")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def run_lab(
    system: str | os.PathLike | None,
    *,
    port: int = 0,
    open_browser: bool = True,
    out: str | os.PathLike | None = None,
    library_dirs=(),
    say=None,
) -> int:
    """`saikit lab`: start the lab, print its URL, wait until interrupted, then stop it."""
    say = say or (lambda line: print(line, flush=True))
    lab = start_lab(system, port=port, out=out, library_dirs=library_dirs)
    stop = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server too, as Ctrl+C does
    try:
        if not system:
            say(
                "no system file given: working on a scratch copy of the bundled example in "
                f"{lab.workdir} (removed when the lab stops)"
            )
        say(f"workshop open at {lab.url}")
        say("in the notebook: Run → Run All Cells; stop the lab with Ctrl+C")
        if open_browser:
            import webbrowser

            webbrowser.open(lab.url)
        lab.process.wait()
        return 0 if lab.process.returncode == 0 else 1
    except KeyboardInterrupt:
        say("stopping the lab")
        return 0
    finally:
        lab.stop()
        signal.signal(signal.SIGTERM, stop)
