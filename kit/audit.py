"""An append-only, hash-chained audit trail (5.1.2-3, 5.2.4-1, 5.2.4-3).

One JSON object per line. Each entry carries `seq`, the `prev` entry's hash and its own `hash`
(SHA-256 of the entry's canonical JSON without `hash`), so an edited, removed, inserted or
reordered entry breaks the chain at a place `verify` can name. Each line is written with one
`write` call, so a killed process leaves either the whole entry or none of it; a write that fails
part-way is cut back off.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import fail
from kit.files import write_atomic

GENESIS = "0" * 64
# The fields every entry carries besides what its writer records: `append` sets them.
BOOKKEEPING = ("seq", "time", "user", "event", "prev", "hash")
HASH_PATTERN = r"[0-9a-f]{64}"


def canonical(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    """The SHA-256 of an entry without its own `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def lines(path: str | os.PathLike) -> list[tuple[int, dict | None]]:
    """Every non-blank line of an audit file: its number and its entry (None when the line is
    not a JSON object: the trail was edited or damaged). No checking: see `verify`."""
    p = Path(path)
    if not p.exists():
        return []
    out: list[tuple[int, dict | None]] = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = None
            out.append((n, entry if isinstance(entry, dict) else None))
    return out


def read(path: str | os.PathLike) -> list[dict]:
    """Every entry of an audit file, in order (no checking: see `verify`).

    Raises InputError naming the line when a line is not a JSON entry (the trail was edited or
    damaged).
    """
    out = []
    for n, entry in lines(path):
        if entry is None:
            raise fail(
                str(path),
                n,
                "",
                "not a JSON entry: the audit trail is damaged; "
                "`saikit audit verify` shows every break",
            )
        out.append(entry)
    return out


def newest(path: str | os.PathLike) -> dict | None:
    """The newest entry of the trail (its `hash` is the trail's head), None when it is empty."""
    entries = read(path)
    return entries[-1] if entries else None


def append(path: str | os.PathLike, event: str, **fields: Any) -> dict:
    """Append one entry for `event` with `fields`; return the entry written.

    Appends are serialised with a lock on the file, so two processes writing to one trail (a run
    and a workshop export) never take the same seq. A write that fails part-way (a full disk)
    is cut back off, so the trail never ends in half an entry.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        _lock(fd)
        entries = read(p)
        last = entries[-1] if entries else None
        entry = {
            "seq": (last["seq"] + 1) if last else 1,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "user": _user(),
            "event": event,
            **fields,
            "prev": last["hash"] if last else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        _write_whole(fd, canonical(entry) + b"\n", p)
        _write_head(p, entry)
    finally:
        os.close(fd)  # releases the lock
    return entry


def _write_whole(fd: int, data: bytes, path: Path) -> None:
    size = os.fstat(fd).st_size
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.ftruncate(fd, size)
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: appends are not serialised between processes
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def head_path(path: Path) -> Path:
    """The file that records the newest entry's seq and hash, so that losing the tail shows."""
    return path.with_name(path.name + ".head")


def _write_head(path: Path, entry: dict) -> None:
    try:
        write_atomic(
            head_path(path), json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n"
        )
    except OSError:
        # The entry itself is written: a head one entry behind still verifies, and the next
        # append brings it up to date; failing here would report a recorded run as unrecorded.
        pass


@dataclass(frozen=True)
class Break:
    """Where and how the trail, or a run's agreement with it, is broken.

    `line` and `seq` locate the entry concerned (0 and None when no entry is: a missing entry,
    a run folder without one).
    """

    line: int
    seq: Any
    problem: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line else []
        where += [f"(seq {self.seq})"] if self.seq is not None else []
        return ": ".join([" ".join(where), self.problem] if where else [self.problem])


def verify(
    path: str | os.PathLike, anchors: dict[str, int] | None = None, expect: str | None = None
) -> list[Break]:
    """Check the chain; return every break found (empty when the trail is intact).

    `anchors` maps entry hashes known from elsewhere (the run manifests, the `.head` file) to
    their seq, so that removing the newest entries, which a chain alone cannot show, is caught
    too. `expect` is a head hash kept somewhere else (printed by `saikit run`): the trail must
    still hold that entry; entries after it are new ones, and the chain shows whether they
    follow it. Without `expect`, someone able to rewrite the trail and the head together is
    caught only where a run manifest anchors an entry they changed.
    """
    p = Path(path)
    if not p.exists():
        return [Break(0, None, "audit trail not found")]
    breaks: list[Break] = []
    prev, expect_seq = GENESIS, 1
    seen: dict[str, int] = {}
    for n, entry in lines(p):
        if entry is None:
            breaks.append(Break(n, None, "not a JSON entry (edited or truncated)"))
            continue
        seq = entry.get("seq")
        if entry.get("hash") != entry_hash(entry):
            breaks.append(Break(n, seq, "content does not match its hash (entry edited)"))
        if seq != expect_seq:
            what = (
                "removed" if isinstance(seq, int) and seq > expect_seq else "inserted or reordered"
            )
            breaks.append(Break(n, seq, f"expected seq {expect_seq}: an entry was {what}"))
        if entry.get("prev") != prev:
            breaks.append(
                Break(n, seq, "does not follow the previous entry (removed, inserted or reordered)")
            )
        if isinstance(entry.get("hash"), str):
            seen[entry["hash"]] = n
        prev = entry.get("hash")
        expect_seq = (seq + 1) if isinstance(seq, int) else expect_seq + 1
    head = head_path(p)
    if head.exists():
        try:
            recorded = json.loads(head.read_text())
            anchors = {**(anchors or {}), recorded["hash"]: recorded["seq"]}
        except (ValueError, KeyError, TypeError):
            breaks.append(Break(0, None, f"{head.name} is not a head record (edited or damaged)"))
    for digest, seq in sorted(
        (anchors or {}).items(), key=lambda kv: kv[1] if isinstance(kv[1], int) else -1
    ):
        if digest not in seen:
            breaks.append(
                Break(
                    0,
                    seq,
                    "an entry recorded in a run manifest or the head file is missing: "
                    "the trail was cut short or rewritten",
                )
            )
    if expect is not None and expect not in seen:
        breaks.append(
            Break(
                0,
                None,
                f"the expected head {expect} is not in the trail: the trail was cut short "
                "or rewritten since that head was printed",
            )
        )
    return breaks


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")
