"""Loading a system file checked against the threat library and the catalogue.

Kept free of heavy imports (no networkx, pandas or matplotlib) so that `saikit check` and a
no-op `saikit run` start fast.
"""

from __future__ import annotations

import hashlib
import json
import os

from kit.model.schema import SystemModel, load_system
from kit.threats.library import Library, load_library


def load_checked(path: str | os.PathLike, library_dirs=()) -> tuple[SystemModel, Library]:
    """Load a system file whose controls and attestations are checked against library and catalogue."""
    from kit.compliance.catalogue import load_catalogue

    library = load_library(list(library_dirs))
    model = load_system(path, controls=set(library.controls), provisions=set(load_catalogue().ids))
    return model, library


def canonical_config(model: SystemModel) -> dict:
    """The configuration as plain JSON data: comments, key order and layout do not count."""
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=False)


def config_sha256(model: SystemModel) -> str:
    """SHA-256 of the canonical configuration."""
    data = json.dumps(canonical_config(model), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()
