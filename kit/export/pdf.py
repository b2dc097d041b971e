"""Print an HTML report to PDF with headless Chromium.

Chromium is run once as a subprocess (`--print-to-pdf`) rather than driven through Playwright:
the report has no script to wait for, so a one-shot process is enough, it works with whatever
Chrome or Chromium is installed, and saikit needs no browser-automation dependency at run time.
Page size, margins, page breaks and the page-number footer come from the report's print CSS.
The browser gets a throw-away profile and no network (every host name resolves to nothing).

Which browser: $SAIKIT_CHROMIUM if set, else the first of `chromium`, `chromium-browser`,
`google-chrome`, `google-chrome-stable`, `chrome` on PATH.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from kit.errors import fail
from kit.files import write_atomic

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-pdf-header-footer",
)


PDF_HOWTO = (
    "no Chromium or Chrome found to print it; install Debian's `chromium` or set "
    "SAIKIT_CHROMIUM to a Chrome executable, then export the report again"
)


def find_chromium() -> str | None:
    """The Chromium-family browser to print with, or None when there is none."""
    chosen = os.environ.get("SAIKIT_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else shutil.which(chosen)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(
    html_path: Path, pdf_path: Path, *, chromium: str | None = None, timeout: int = 180
) -> Path:
    """Print `html_path` to `pdf_path`; return it. Raises InputError naming what went wrong."""
    exe = chromium or find_chromium()
    if not exe:
        raise fail(str(pdf_path), None, "", PDF_HOWTO)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="saikit-chromium-") as profile:
        tmp_pdf = Path(profile) / "out.pdf"
        args = [exe, *FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp_pdf}"]
        if _needs_no_sandbox():
            args.append("--no-sandbox")
        args.append(Path(html_path).resolve().as_uri())
        code, err = _run(args, timeout)
        if not tmp_pdf.exists() or not tmp_pdf.read_bytes().startswith(b"%PDF-"):
            last = err.strip().splitlines()[-1:] or [f"exit status {code}"]
            raise fail(str(pdf_path), None, "", f"Chromium did not print the PDF ({last[0][:200]})")
        write_atomic(pdf_path, tmp_pdf.read_bytes())
    return pdf_path


def _needs_no_sandbox() -> bool:
    # Chromium refuses to start its sandbox as root (as in containers and CI); the page it
    # prints is our own, with scripts disabled and a policy that forbids them.
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(args: list[str], timeout: int) -> tuple[int, str]:
    """Run the browser in its own process group and kill the whole group on timeout."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise fail(args[-1], None, "", f"Chromium took longer than {timeout} s to print") from None
    return proc.returncode, err or ""
