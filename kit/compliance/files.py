"""Where the provision catalogue's files are. Light (no pydantic), so the runner's no-op check
can hash the catalogue without loading it."""

from __future__ import annotations

from pathlib import Path

DEFAULT_EDITION = "etsi-ts-104-223-v1.1.1"


def available_editions() -> list[str]:
    """The names of the catalogue editions shipped in this package, sorted."""
    return sorted(p.stem for p in Path(__file__).parent.glob("*.yaml"))


def catalogue_file(edition: str = DEFAULT_EDITION) -> Path:
    """The file an edition's catalogue is read from."""
    return Path(__file__).parent / f"{edition}.yaml"
