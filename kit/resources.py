"""Files that ship inside the package, found through importlib.resources only."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_EXAMPLE = "support-assistant"


def examples() -> dict[str, Path]:
    """Bundled example systems by name."""
    base = files("kit.examples")
    return {
        p.name.removesuffix(".yaml"): Path(str(p))
        for p in base.iterdir()
        if p.name.endswith(".yaml") and not p.name.endswith(".decisions.yaml")
    }


def default_system() -> Path:
    """The example `saikit` uses when no system file is given."""
    return examples()[DEFAULT_EXAMPLE]


def starters() -> dict[str, Path]:
    """Starter system files for `saikit init`, by template name."""
    base = files("kit.templates").joinpath("systems")
    return {
        p.name.removesuffix(".yaml"): Path(str(p))
        for p in base.iterdir()
        if p.name.endswith(".yaml")
    }


def notebooks() -> dict[str, Path]:
    """The workbook's notebooks by name."""
    base = files("kit.notebooks")
    return {
        p.name.removesuffix(".ipynb"): Path(str(p))
        for p in sorted(base.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".ipynb")
    }


def schema_file() -> Path:
    """The shipped JSON Schema of system.yaml."""
    return Path(str(files("kit").joinpath("system.schema.json")))
