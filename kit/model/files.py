"""Where a system's files are: the system file, the decisions file it names, the hash record
beside it. Light (no pydantic), so the runner's no-op check can list them without loading."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kit.model import yamlio


def decisions_path(system: str | os.PathLike) -> Path | None:
    """The decisions file a system file names (`system.decisions_file`), read without validating."""
    return decisions_file(Path(system), yamlio.load_file(system).data)


def decisions_file(system: Path, data: Any) -> Path | None:
    """The decisions file named in a system file's parsed `data`, beside the system file."""
    section = data.get("system") if isinstance(data, dict) else None
    name = section.get("decisions_file") if isinstance(section, dict) else None
    return system.parent / name if isinstance(name, str) and name else None


def sidecar_path(system_file: str | os.PathLike) -> Path:
    """Where `system_file`'s artifact hashes are recorded: `<name>.hashes.json` beside it."""
    path = Path(system_file)
    return path.with_name(f"{path.stem}.hashes.json")
