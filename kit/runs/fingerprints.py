"""What a run depends on, derived from what the kit reads, never declared by hand.

Every notebook of the workbook opens the system through `kit.workbook.open_system`, which reads
the whole assessment: the configuration (system file, decisions file, recorded artifact hashes),
the threat library, the provision catalogue, the run history, today's date, and the kit's own
code. So a notebook's fingerprint hashes all of these with its own code cells, and a change to
any of them makes every notebook stale. The list of files comes from the loaders' own functions
(`library_files`, `catalogue_file`, `decisions_path`, `sidecar_path`), so it cannot drift from
what they read.

Two digests stand apart. The configuration counts by its canonical form (`config_sha256`), so a
comment or a reordering changes nothing; the raw bytes of the files behind it (`source_files`)
only tell the no-op check, which loads nothing, that the configuration cannot have changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from kit import resources
from kit.files import hash_file, sha256_file


def digest_files(paths: Iterable[Path], root: Path | None = None) -> str:
    """One SHA-256 over files' names (relative to `root` when given) and contents, in order."""
    h = hashlib.sha256()
    for p in paths:
        name = str(p.relative_to(root)) if root else str(p)
        h.update(name.encode() + b"\0")
        hash_file(p, h)  # a regular file only: a FIFO or a device is refused, never waited on
        h.update(b"\0")
    return h.hexdigest()


def source_files(system: Path) -> list[Path]:
    """The files behind a system's configuration: the system file, the decisions file it names
    and the artifact-hash record beside it, those that exist. Read without validating."""
    from kit.model.files import decisions_path, sidecar_path

    out = [system]
    decisions = decisions_path(system)
    if decisions is not None and decisions.is_file():
        out.append(decisions)
    record = sidecar_path(system)
    if record.is_file():
        out.append(record)
    return out


def source_hashes(system: Path) -> dict[str, str]:
    """{path: SHA-256} of `source_files(system)`."""
    return {str(p): sha256_file(p) for p in source_files(system)}


def kit_files(root: Path = resources.PACKAGE) -> list[Path]:
    """The kit's own code and data: every .py, .json and .yaml file of the package at `root`
    (the running one by default)."""
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
