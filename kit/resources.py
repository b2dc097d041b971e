"""Files that ship with saikit: the threat library, templates, notebooks and examples.

Installed, each data folder is a subpackage of kit (`kit/threat_library/`, ...). In a clone's
work tree they sit beside `kit/` (`threat_library/`, ...), and from the clone's root Python
imports the clone's own `kit/` before any installed copy: `python -m kit`, `pytest` and the
papermill kernels of `saikit run ./mine.yaml` all do. `data_dir` finds a folder either way, so
every command works the same from a clone and from an installed package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # the kit package that is running
DATA_DIRS = ("threat_library", "templates", "notebooks", "examples")
DEFAULT_EXAMPLE = "support-assistant"


def data_dir(name: str) -> Path:
    """The folder of one of DATA_DIRS: inside the installed package, else beside the clone's kit/."""
    if name not in DATA_DIRS:
        raise ValueError(f"unknown data folder {name!r}; one of {', '.join(DATA_DIRS)}")
    for base in (PACKAGE / name, PACKAGE.parent / name):
        if base.is_dir():
            return base
    raise FileNotFoundError(
        f"saikit's {name} folder is missing: neither {PACKAGE / name} nor {PACKAGE.parent / name}"
    )


def examples() -> dict[str, Path]:
    """Bundled example systems by name."""
    return {
        p.name.removesuffix(".yaml"): p
        for p in sorted(data_dir("examples").glob("*.yaml"))
        if not p.name.endswith(".decisions.yaml")
    }


def default_system() -> Path:
    """The example `saikit` uses when no system file is given."""
    return examples()[DEFAULT_EXAMPLE]


def starters() -> dict[str, Path]:
    """Starter system files for `saikit init`, by template name."""
    return {p.stem: p for p in sorted((data_dir("templates") / "systems").glob("*.yaml"))}


def notebooks() -> dict[str, Path]:
    """The workbook's notebooks by name."""
    return {p.stem: p for p in sorted(data_dir("notebooks").glob("*.ipynb"))}


def schema_file() -> Path:
    """The shipped JSON Schema of system.yaml."""
    return PACKAGE / "system.schema.json"
