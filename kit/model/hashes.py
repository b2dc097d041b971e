"""Artifact hashes (5.2.4-1.2, 5.2.1-2): SHA-256 of each asset's artifact, recorded and checked.

An asset may name its artifact file (`artifact:`, relative to the system file). `check_artifacts`
hashes each one and compares it with the expected value: the asset's `sha256` when the system
file gives one, else the value recorded on an earlier run. `record_hashes` keeps the record in a
sidecar `<system>.hashes.json` beside the system file, so the user's YAML is never rewritten.

Sidecar format (JSON, keys sorted)::

    {"algorithm": "sha256", "system": "<system id>",
     "artifacts": {"<asset id>": {"path": "<artifact as written>", "sha256": "<hex>"}}}
"""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kit.errors import InputError, Problem, fail
from kit.files import (
    NotRegularFile,
    read_bounded,
    read_problem,
    resolve,
    sha256_file,
    write_atomic,
)
from kit.model import yamlio
from kit.model.files import sidecar_path
from kit.model.schema import SystemModel

# generous: 100,000 assets with ordinary artifact paths make about 20 MB
MAX_RECORD_BYTES = 64 * 1024 * 1024
PROBLEM_STATUSES = frozenset({"changed", "missing", "unreadable"})
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ArtifactCheck:
    """What one artifact's hash check found.

    `status` is "recorded" (first hash of it, nothing to compare), "ok", "changed" (the hash no
    longer matches `expected`), "missing" (no such file) or "unreadable" (`detail` says why).
    `expected_from` says where `expected` came from: "system file" or "record".
    """

    asset: str
    path: str
    status: str
    sha256: str | None = None
    expected: str | None = None
    expected_from: str | None = None
    detail: str | None = None

    @property
    def finding_id(self) -> str | None:
        """A stable finding ID (`artifact-<status>@<asset>`) for a problem, else None."""
        return f"artifact-{self.status}@{self.asset}" if self.status in PROBLEM_STATUSES else None


def artifact_paths(system_file: str | os.PathLike, model: SystemModel) -> dict[str, Path]:
    """{asset ID: absolute artifact path} for every asset that names an artifact.

    Raises InputError, naming the file, line and YAML path, for any artifact path that is
    absolute, leads outside the system file's folder or is a symbolic link loop.
    """
    base = resolve(system_file).parent
    out: dict[str, Path] = {}
    bad: list[tuple[int, str]] = []
    for i, asset in enumerate(model.assets):
        if asset.artifact is None:
            continue
        try:
            target = resolve(base / asset.artifact)
        except OSError as exc:  # a link loop
            bad.append((i, f"artifact '{asset.artifact}': {read_problem(exc)}"))
            continue
        if Path(asset.artifact).is_absolute() or not target.is_relative_to(base):
            bad.append(
                (
                    i,
                    f"artifact path '{asset.artifact}' leaves the system file's folder; "
                    "give a path inside it",
                )
            )
        else:
            out[asset.id] = target
    if bad:
        raise _artifact_problems(system_file, bad)
    return out


def _artifact_problems(system_file: str | os.PathLike, bad: list[tuple[int, str]]) -> InputError:
    """One located problem per (asset index, message), at the asset's `artifact` line."""
    doc = yamlio.load_file(system_file)
    return InputError(
        Problem(
            str(system_file), doc.line(("assets", i, "artifact")), f"assets[{i}].artifact", message
        )
        for i, message in bad
    )


def read_record(system_file: str | os.PathLike) -> dict[str, str]:
    """{asset ID: sha256} recorded beside `system_file`; empty when nothing is recorded yet."""
    return {a: e["sha256"] for a, e in _entries(sidecar_path(system_file)).items()}


def check_artifacts(system_file: str | os.PathLike, model: SystemModel) -> list[ArtifactCheck]:
    """Hash every asset's artifact and compare it with the expected hash.

    Parameters
    ----------
    system_file : the system file the artifact paths are relative to
    model : its loaded SystemModel

    Returns
    -------
    list of ArtifactCheck, one per asset that names an artifact, in file order.

    Example
    -------
    >>> [c.status for c in check_artifacts("system.yaml", model)]  # doctest: +SKIP
    ['ok', 'changed']
    """
    paths = artifact_paths(system_file, model)
    checks = []
    bad: list[tuple[int, str]] = []
    for i, asset in enumerate(model.assets):
        if asset.id not in paths:
            continue
        expected = asset.sha256  # the file's, else the recorded one (load_system merges them)
        origin = "record" if asset.id in model.recorded_hashes else "system file"
        common = {
            "asset": asset.id,
            "path": asset.artifact,
            "expected": expected,
            "expected_from": origin if expected else None,
        }
        try:
            digest = sha256_file(paths[asset.id])
        except FileNotFoundError:
            checks.append(ArtifactCheck(status="missing", **common))
            continue
        except OSError as exc:
            if isinstance(exc, NotRegularFile) or exc.errno == errno.ELOOP:  # bad input
                bad.append((i, f"artifact '{asset.artifact}': {read_problem(exc)}"))
            else:
                checks.append(ArtifactCheck(status="unreadable", detail=exc.strerror, **common))
            continue
        status = "recorded" if expected is None else "ok" if digest == expected else "changed"
        checks.append(ArtifactCheck(status=status, sha256=digest, **common))
    if bad:
        raise _artifact_problems(system_file, bad)
    return checks


def record_hashes(
    system_file: str | os.PathLike,
    model: SystemModel,
    checks: list[ArtifactCheck],
    *,
    update: bool = False,
) -> Path:
    """Write the sidecar record: new and matching hashes, and changed ones only when `update`.

    A changed hash keeps its old record until the change is accepted with `update=True`, so the
    change is reported on every run until someone looks at it. Returns the sidecar's path.
    """
    path = sidecar_path(system_file)
    old = _entries(path)
    entries = {a: e for a, e in old.items() if a in model.asset_by_id}
    for c in checks:
        if c.sha256 and (c.status in ("recorded", "ok") or (update and c.status == "changed")):
            entries[c.asset] = {"path": c.path, "sha256": c.sha256}
    doc = {"algorithm": "sha256", "system": model.system.id, "artifacts": entries}
    return write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n", make_folder=False)


def _entries(path: Path) -> dict[str, dict]:
    if not os.path.lexists(path):  # a dangling link or a loop is reported by the reader
        return {}
    text = read_bounded(path, MAX_RECORD_BYTES)
    try:
        entries = json.loads(text.decode("utf-8"))["artifacts"]
        if all(
            isinstance(e, dict) and isinstance(e.get("sha256"), str) and HEX64.match(e["sha256"])
            for e in entries.values()
        ):
            return entries
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    raise fail(str(path), None, "", "not a saikit hash record; fix or delete it")
