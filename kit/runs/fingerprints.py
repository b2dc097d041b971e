"""What a run depends on, derived from what the kit reads, never declared by hand.

Every notebook of the workbook opens the system through `kit.workbook.open_system`, which reads
the whole assessment: the configuration (system file, decisions file, recorded artifact hashes),
the threat library, the provision catalogue, the run history, today's date, and the kit's own
code. So a notebook's fingerprint hashes all of these with its own code cells, and a change to
any of them makes every notebook stale. The list of files comes from the loaders' own functions
(`library_files`, `catalogue_file`, `decisions_path`, `sidecar_path`), so it cannot drift from
what they read.

Digests are remembered for the life of the process, keyed by each file's path and stat
signature (inode, size, modification and change times, which any write moves), so a portfolio
worker checking a thousand unchanged systems hashes the kit, library and catalogue once, not once
per system; the running package's list of files is read once too, as its code is already loaded.

Two digests stand apart. The configuration counts by its canonical form (`config_sha256`), so a
comment or a reordering changes nothing; the raw bytes of the files behind it (`source_files`)
only tell the no-op check, which loads nothing, that the configuration cannot have changed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path

from kit import resources
from kit.files import hash_file, sha256_file

_DIGESTS: dict[tuple, str] = {}
_SETTLE_NS = 2_000_000_000


def digest_files(paths: Iterable[Path], root: Path | None = None) -> str:
    """One SHA-256 over files' names (relative to `root` when given) and contents, in order.

    Remembered by the files' stat signatures: the same files, unwritten since, are not read again.
    """
    paths = list(paths)
    key = _signature(paths, root)
    if key is None:  # not a regular file, or written too lately to tell a next write apart
        return _digest(paths, root)
    if key not in _DIGESTS:
        _DIGESTS[key] = _digest(paths, root)
    return _DIGESTS[key]


def _signature(paths: list[Path], root: Path | None) -> tuple | None:
    """The files' stat signatures, or None when one cannot stand for its contents: it is not a
    regular file, or it changed within the last seconds, when a next write could leave the same
    times behind (file times move by clock ticks, not nanoseconds)."""
    settled = time.time_ns() - _SETTLE_NS
    out: list = [str(root)]
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) > settled:
            return None
        out.append((str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _digest(paths: list[Path], root: Path | None) -> str:
    h = hashlib.sha256()
    for p in paths:
        name = str(p.relative_to(root)) if root else str(p)
        h.update(name.encode() + b"\0")
        hash_file(p, h)  # a regular file only: a FIFO or a device is refused, never waited on
        h.update(b"\0")
    return h.hexdigest()


def source_files(system: Path) -> list[Path]:
    """The files behind a system's configuration: the system file, the decisions file it names
    and the artifact-hash record beside it, whether they exist or not. Read without validating."""
    from kit.model.files import decisions_path, sidecar_path

    decisions = decisions_path(system)
    return [system, *([decisions] if decisions is not None else []), sidecar_path(system)]


def source_hashes(system: Path) -> dict[str, str | None]:
    """{path: SHA-256, or None for a file that is not there} of `source_files(system)`."""
    return {str(p): _sha256_or_none(p) for p in source_files(system)}


def sources_unchanged(recorded, system: Path) -> bool:
    """Whether `source_hashes(system)` equals `recorded` (an earlier `source_hashes(system)`),
    decided without parsing the system file: while its bytes are the ones recorded, it names
    the decisions file it named then, so the recorded paths are the ones to hash again."""
    return (
        isinstance(recorded, dict)
        and str(system) in recorded
        and all(_sha256_or_none(Path(p)) == h for p, h in recorded.items())
    )


def _sha256_or_none(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def kit_files(root: Path = resources.PACKAGE) -> list[Path]:
    """The kit's own code and data: every .py, .json and .yaml file of the package at `root`
    (the running one by default, listed once per process)."""
    return list(_running_kit_files()) if root == resources.PACKAGE else _list_kit_files(root)


@functools.cache
def _running_kit_files() -> tuple[Path, ...]:
    return tuple(_list_kit_files(resources.PACKAGE))


def _list_kit_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in (".py", ".json", ".yaml") and "__pycache__" not in p.parts
    )


def library_digest(library_dirs: Iterable[str]) -> str:
    from kit.threats.files import library_files

    return digest_files(library_files(list(library_dirs)))


def catalogue_digest() -> str:
    from kit.compliance.files import catalogue_file

    return digest_files([catalogue_file()])


def notebook_code(path: Path) -> str:
    """SHA-256 of a notebook's code cells (outputs, metadata and markdown do not count)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]
    return hashlib.sha256("\0".join(code).encode()).hexdigest()


def assessment_inputs(
    config_sha256: str, library_dirs: Iterable[str], history: str, today: dt.date | None = None
) -> dict[str, str]:
    """Everything the assessment reads besides a notebook's own code, each as a digest.

    `history` is `kit.compliance.facts.history_digest` of the audit trail.
    """
    return {
        "config": config_sha256,
        "library": library_digest(library_dirs),
        "catalogue": catalogue_digest(),
        "kit": digest_files(kit_files(), resources.PACKAGE),
        "history": history,
        "date": (today or dt.date.today()).isoformat(),
    }


def fingerprints(inputs: dict[str, str], notebooks: dict[str, Path]) -> dict[str, str]:
    """Each notebook's fingerprint: its code cells and every input of the assessment."""
    common = json.dumps(inputs, sort_keys=True)
    return {
        name: hashlib.sha256(f"{notebook_code(path)}|{common}".encode()).hexdigest()
        for name, path in notebooks.items()
    }
