"""The run store of one system: its runs, `latest`, the audit trail, and which file it belongs to.

```
<root>/
  store.json         the system file this store belongs to (written by its first run)
  audit.jsonl        the hash-chained audit trail (kit.audit)
  latest -> <run-id>
  <run-id>/          one published run (kit.runs.rundata reads it)
  failed-<run-id>/   a run whose notebooks failed, kept to look at
  .staging-<run-id>/ a run being written; its `owner` file names the process writing it
```

A staging folder whose owner is gone (a run that was killed) is abandoned: the next run in the
same store removes it. One owned by a live process is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kit import audit
from kit.errors import did_you_mean, fail
from kit.files import sha256_file, write_atomic
from kit.model import yamlio

STAGING = ".staging-"
OWNER = "owner"


@dataclass
class Store:
    """The runs of one system: `<root>/<run-id>/`, `<root>/latest`, `<root>/audit.jsonl`."""

    root: Path

    @property
    def audit_path(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def latest_link(self) -> Path:
        return self.root / "latest"

    @property
    def owner_path(self) -> Path:
        return self.root / "store.json"

    def latest(self) -> Path | None:
        """The folder of the last good run, or None."""
        link = self.latest_link
        if not link.is_symlink():
            return None
        target = self.root / os.readlink(link)
        return target if (target / "manifest.json").exists() else None

    def runs(self) -> list[Path]:
        """Every complete run folder, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p
            for p in self.root.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and (p / "manifest.json").exists()
        ]
        return sorted(found, key=lambda p: p.name)

    def resolve(self, name: str | None, default_index: int) -> Path:
        """A run by id, id prefix, or 'latest'; None picks runs()[default_index]."""
        runs = self.runs()
        if name == "latest":
            found = self.latest()
            if found:
                return found
        if name is None:
            if len(runs) < abs(default_index) + (0 if default_index < 0 else 1):
                raise fail(
                    str(self.root), None, "", "not enough runs to compare; run `saikit run` first"
                )
            return runs[default_index]
        matches = [r for r in runs if r.name.startswith(name)]
        if len(matches) != 1:
            raise fail(
                str(self.root),
                None,
                "",
                f"no single run matches '{name}'{did_you_mean(name, [r.name for r in runs])}",
            )
        return matches[0]

    # ------------------------------------------------------------ which file the store belongs to

    def owner(self) -> Path | None:
        """The system file this store belongs to, or None before its first run."""
        data = self._owner_record()
        return Path(data["system_path"]) if data else None

    def _owner_record(self) -> dict | None:
        try:
            data = json.loads(self.owner_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and isinstance(data.get("system_path"), str)
        return data if ok else None

    def check_claim(self, system: Path, system_id: str) -> str | None:
        """Whether `system` may write to this store; a note when it takes the store over.

        A store belongs to the system file whose run first wrote it. Another file with the same
        system id would mix two histories into one, so it is refused with a located error. The
        same file moved together with its store (the same path relative to the store) is the
        same owner; an owning file that is gone (moved or deleted) lets `system` take over.
        """
        data = self._owner_record()
        if data is None:
            return None
        owner = Path(data["system_path"])
        if owner == system or data.get("relative_path") == _relative(system, self.root):
            return None
        if owner.exists():
            raise fail(
                str(system),
                None,
                "",
                f"the run store {self.root} belongs to {owner} (system id '{system_id}'); "
                "two files would share one history. Give this file its own store with "
                "--out DIR, or change its system id",
            )
        return (
            f"the run store {self.root} belonged to {owner}, which is gone; "
            f"it now belongs to {system}"
        )

    def record_owner(self, system: Path, system_id: str) -> None:
        """Record `system` as the file this store belongs to (after `check_claim`)."""
        data = {
            "system_path": str(system),
            "relative_path": _relative(system, self.root),
            "system_id": system_id,
        }
        if self._owner_record() == data:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.owner_path, json.dumps(data, indent=2) + "\n")

    # ------------------------------------------------------------ staging and publishing

    def stage(self, run_id: str) -> Path:
        """A new staging folder for `run_id`, owned by this process."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.clear_abandoned()
        staging = self.root / f"{STAGING}{run_id}"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "notebooks").mkdir(parents=True)
        (staging / OWNER).write_text(_process_identity(os.getpid()), encoding="utf-8")
        return staging

    def clear_abandoned(self) -> list[Path]:
        """Remove the staging folders (and temporary links) whose writing process is gone."""
        removed = []
        for p in self.root.glob(f"{STAGING}*"):
            if p.is_dir() and not p.is_symlink() and not _alive(p / OWNER):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        for p in self.root.glob(".latest-*"):
            pid = p.name.removeprefix(".latest-")
            if p.is_symlink() and pid.isdigit() and not _process_identity(int(pid)):
                p.unlink(missing_ok=True)
        return removed

    def publish(self, staging: Path, run_id: str) -> Path:
        final = self.root / run_id
        (staging / OWNER).unlink(missing_ok=True)
        _fsync_tree(staging)
        os.rename(staging, final)
        return final

    def point_latest(self, run_dir: Path) -> None:
        tmp = self.root / f".latest-{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_dir.name, tmp)
        os.replace(tmp, self.latest_link)

    # ------------------------------------------------------------ the runs against the audit trail

    def manifest(self, run: Path) -> dict | None:
        """A run folder's manifest, or None when it is not a JSON object (edited or damaged)."""
        try:
            data = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def anchors(self) -> dict[str, int]:
        """Audit hashes recorded in run manifests (`audit_prev`), for `audit.verify`."""
        out = {}
        for run in self.runs():
            prev = (self.manifest(run) or {}).get("audit_prev")
            if isinstance(prev, dict) and isinstance(prev.get("hash"), str):
                out[prev["hash"]] = prev.get("seq")
        return out

    def verify(self, expect: str | None = None) -> tuple[list[audit.Break], list[str]]:
        """Check the audit trail and every run folder against it; return (breaks, notes).

        The trail must chain, hold every entry the head file and the manifests anchor, and
        `expect` (a head hash kept elsewhere) when given. Each published run folder must have
        exactly one `published` record, after the entry its manifest anchors, that agrees with
        its manifest (output hashes, configuration, notebooks); its files must be exactly those
        the manifest hashes; and every published record must still have its folder.

        A run folder that is not `latest` and has no record is a note, not a break: a run
        killed between publishing and recording leaves one (so does someone who removed the
        newest run's record, rewrote the head and moved `latest` back: `expect` tells).
        """
        breaks = audit.verify(self.audit_path, self.anchors(), expect)
        notes: list[str] = []
        records: dict[str, list[tuple[int, dict]]] = {}
        for n, entry in audit.lines(self.audit_path):
            if entry and entry.get("event") == "run" and entry.get("status") == "published":
                records.setdefault(str(entry.get("run")), []).append((n, entry))
        latest = self.latest()
        runs = self.runs()
        for run in runs:
            found = records.get(run.name, [])
            if not found and latest is not None and run.name == latest.name:
                breaks.append(
                    audit.Break(
                        0,
                        None,
                        f"run {run.name} is latest but no entry records it: its record was "
                        "removed (a run becomes latest only once it is recorded)",
                    )
                )
            elif not found:
                notes.append(
                    f"run {run.name} has no audit record: a run stopped between publishing and "
                    "recording leaves one; if none was, its record was removed "
                    "(`--expect` with the head printed after that run tells)"
                )
            for n, entry in found[1:]:
                breaks.append(
                    audit.Break(
                        n,
                        entry.get("seq"),
                        f"run {run.name} is recorded again (first at line {found[0][0]}): "
                        "a run is recorded once",
                    )
                )
            breaks += self._check_run(run, found[0] if found else None)
        names = {r.name for r in runs}
        for name, found in records.items():
            if name not in names:
                n, entry = found[0]
                folder = self.root / name
                what = (
                    "its manifest.json was removed"
                    if "/" not in name and folder.is_dir() and not folder.is_symlink()
                    else "its folder was removed"
                )
                breaks.append(
                    audit.Break(n, entry.get("seq"), f"run {name} is not in the store: {what}")
                )
        return breaks, notes

    def _check_run(self, run: Path, record: tuple[int, dict] | None) -> list[audit.Break]:
        """How one run folder disagrees with its manifest and its record (if it has one)."""
        m = self.manifest(run)
        if m is None:
            return [audit.Break(0, None, f"run {run.name}: manifest.json is not a JSON object")]
        out = []
        if m.get("run") != run.name:
            out.append(
                audit.Break(0, None, f"run {run.name}: its manifest is run {m.get('run')}'s")
            )
        expected = m.get("outputs") if isinstance(m.get("outputs"), dict) else {}
        actual = output_hashes(run)
        for rel in sorted(set(expected) | set(actual)):
            if rel not in actual:
                problem = "is missing"
            elif rel not in expected:
                problem = "is not in the manifest (added)"
            elif actual[rel] != expected[rel]:
                problem = "does not match its SHA-256 in the manifest (changed)"
            else:
                continue
            out.append(audit.Break(0, None, f"run {run.name}: {rel} {problem}"))
        if record is None:
            return out
        n, entry = record
        seq = entry.get("seq")
        shared = (set(entry) & set(m)) - set(audit.BOOKKEEPING) | {"outputs"}
        differ = sorted(k for k in shared if entry.get(k) != m.get(k))
        if differ:
            out.append(
                audit.Break(
                    n,
                    seq,
                    f"run {run.name}: its manifest does not match this record in "
                    f"{', '.join(differ)} (manifest or run edited)",
                )
            )
        prev = m.get("audit_prev")
        if isinstance(prev, dict) and not (
            isinstance(seq, int) and isinstance(prev.get("seq"), int) and seq > prev["seq"]
        ):
            out.append(
                audit.Break(
                    n,
                    seq,
                    f"run {run.name} is recorded before the entry its manifest anchors "
                    f"(seq {prev.get('seq')}): the record was moved or forged",
                )
            )
        return out


def output_hashes(run: Path) -> dict[str, str]:
    """The SHA-256 of every file of a run folder but its manifest (the manifest's `outputs`)."""
    return {
        p.relative_to(run).as_posix(): sha256_file(p)
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.relative_to(run).as_posix() not in ("manifest.json", OWNER)
    }


def _relative(system: Path, root: Path) -> str:
    """Where the system file lies seen from the store, so a folder moved whole keeps its owner."""
    return os.path.relpath(system, root.resolve())


def _process_identity(pid: int) -> str:
    """'<pid> <start time>' of a live process, '' when there is none: a pid alone may be reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): the pid alone
        except ProcessLookupError:
            return ""
        except PermissionError:
            pass
        return str(pid)
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and brackets
    if fields[0] == "Z":  # a zombie has finished: it writes nothing more
        return ""
    return f"{pid} {fields[19]}"


def _alive(owner_file: Path) -> bool:
    """Whether the process named in a staging folder's owner file is still the one running."""
    try:
        recorded = owner_file.read_text(encoding="utf-8").strip()
    except OSError:
        return False  # an owner file is written first: none means a folder from an older saikit
    pid = recorded.split()[0] if recorded else ""
    return pid.isdigit() and _process_identity(int(pid)) == recorded


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def store_for(system_id: str, out: str | os.PathLike | None) -> Store:
    """The run store for a system: --out, else ./runs/<system id>."""
    return Store(Path(out) if out else Path("runs") / system_id)


def store_for_file(system: Path, out: str | os.PathLike | None) -> Store:
    """The run store of a system file, reading only its id (no validation)."""
    if out:
        return Store(Path(out))
    return store_for(system_id_of(system), None)


def system_id_of(system: Path) -> str:
    """A system file's id, read without validating the file ('unnamed' when it has none)."""
    data = yamlio.load_file(system).data
    section = data.get("system") if isinstance(data, dict) else None
    system_id = section.get("id") if isinstance(section, dict) else None
    if not isinstance(system_id, str) or "/" in system_id or system_id.startswith("."):
        return "unnamed"
    return system_id
