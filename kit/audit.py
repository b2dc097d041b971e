"""An append-only, hash-chained audit trail (5.1.2-3, 5.2.4-1, 5.2.4-3).

One JSON object per line. Each entry carries `seq`, the `prev` entry's hash and its own `hash`
(SHA-256 of the entry's canonical JSON without `hash`), so an edited, removed, inserted or
reordered entry breaks the chain at a place `verify` can name. Each line is written with one
`write` call, so a killed process leaves either the whole entry or none of it.
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

GENESIS = "0" * 64


def canonical(data: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: dict) -> str:
    """The SHA-256 of an entry without its own `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def read(path: str | os.PathLike) -> list[dict]:
    """Every entry of an audit file, in order (no checking: see `verify`)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def append(path: str | os.PathLike, event: str, **fields: Any) -> dict:
    """Append one entry for `event` with `fields`; return the entry written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
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
    line = canonical(entry) + b"\n"
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    _write_head(p, entry)
    return entry


def head_path(path: Path) -> Path:
    """The file that records the newest entry's seq and hash, so that losing the tail shows."""
    return path.with_name(path.name + ".head")


def _write_head(path: Path, entry: dict) -> None:
    head = head_path(path)
    tmp = head.with_name(head.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}) + "\n")
    os.replace(tmp, head)


@dataclass(frozen=True)
class Break:
    """Where and how the chain is broken."""

    line: int
    seq: Any
    problem: str

    def __str__(self) -> str:
        return f"line {self.line} (seq {self.seq}): {self.problem}"


def verify(path: str | os.PathLike, anchors: dict[str, int] | None = None) -> list[Break]:
    """Check the chain; return every break found (empty when the trail is intact).

    `anchors` maps entry hashes known from elsewhere (the run manifests, the `.head` file) to
    their seq, so that removing the newest entries, which a chain alone cannot show, is caught
    too. Someone able to rewrite the trail, the head and the manifests together is not caught:
    copy the head hash somewhere they cannot write when that matters.
    """
    p = Path(path)
    if not p.exists():
        return [Break(0, None, "audit trail not found")]
    breaks: list[Break] = []
    prev, expect_seq = GENESIS, 1
    seen: dict[str, int] = {}
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            breaks.append(Break(n, None, "not a JSON entry (edited or truncated)"))
            continue
        seq = entry.get("seq")
        if entry.get("hash") != entry_hash(entry):
            breaks.append(Break(n, seq, "content does not match its hash (entry edited)"))
        if seq != expect_seq:
            what = "removed" if isinstance(seq, int) and seq > expect_seq else "inserted or reordered"
            breaks.append(Break(n, seq, f"expected seq {expect_seq}: an entry was {what}"))
        if entry.get("prev") != prev:
            breaks.append(Break(n, seq, "does not follow the previous entry (removed, inserted or reordered)"))
        seen[entry.get("hash")] = n
        prev = entry.get("hash")
        expect_seq = (seq + 1) if isinstance(seq, int) else expect_seq + 1
    head = head_path(p)
    if head.exists():
        recorded = json.loads(head.read_text())
        anchors = {**(anchors or {}), recorded["hash"]: recorded["seq"]}
    for digest, seq in sorted((anchors or {}).items(), key=lambda kv: kv[1]):
        if digest not in seen:
            breaks.append(Break(0, seq, "an entry recorded in a run manifest or the head file is missing: the trail was cut short"))
    return breaks


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")
