"""Where the threat library's files are. Light (no pydantic), so the runner's no-op check can
list them without loading the library."""

from __future__ import annotations

import os
from pathlib import Path

from kit.resources import data_dir


def shipped_directory() -> Path:
    """The threat library that ships with saikit."""
    return data_dir("threat_library")


def library_files(extra: list[str | os.PathLike] | tuple = ()) -> list[Path]:
    """Every file of the library in force (the shipped one and `extra`), in load order.

    What `load_library` reads, and so what a run's fingerprint hashes.
    """
    out: list[Path] = []
    for directory in (shipped_directory(), *map(Path, extra)):
        controls, threats = files_in(directory)
        out += ([controls] if controls else []) + threats
    return out


def files_in(base: Path) -> tuple[Path | None, list[Path]]:
    """(controls.yaml or None, threats/*.yaml sorted) of one library directory."""
    controls = base / "controls.yaml"
    threats = base / "threats"
    return (  # lexists: a link that leads nowhere is read, and reported, not skipped
        controls if os.path.lexists(controls) else None,
        sorted(threats.glob("*.yaml")) if threats.is_dir() else [],
    )
