"""Reading and writing files safely.

Reading: only regular files are read (symbolic links followed), never a FIFO, a device or a
folder, and never more than a bound; opening never waits on a FIFO. Every input file goes
through `open_regular`: `read_bounded` for files read whole (YAML, the hash record), `hash_file`
for files hashed as a stream (artifacts, the files a run's fingerprints cover).

Writing: whole or not at all, and never through a link. `write_atomic` writes a new, uniquely
named temporary file beside the target (O_EXCL: nothing already there, link or file, is opened)
and renames it over the target; a rename replaces a link at the target instead of following it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import uuid
from pathlib import Path

from kit.errors import fail

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # opening a FIFO for reading would wait for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_WRITE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL  # also refuses a link already at the name, wherever it points
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
LINK_LOOP = "symbolic link loop (a link that leads back to itself)"
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotRegularFile(OSError):
    """A path that is, after following links, not a regular file (a folder, FIFO, device...)."""

    def __init__(self, path: str | os.PathLike, mode: int):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))


def resolve(path: str | os.PathLike) -> Path:
    """`Path(path).resolve()`, raising OSError (ELOOP) where Python raises RuntimeError for a
    symbolic link loop (3.11, 3.12); later versions leave the loop in the path, and opening it
    reports the loop."""
    try:
        return Path(path).resolve()
    except RuntimeError:  # "Symlink loop from ..."
        raise OSError(errno.ELOOP, LINK_LOOP, str(path)) from None


def open_regular(path: str | os.PathLike) -> int:
    """Open an existing regular file for reading (links followed); return the descriptor.

    Anything else is refused before it is opened (so no device is opened and no FIFO waited
    on), and the opened descriptor is checked again, so a swap between the two checks is caught.
    Raises FileNotFoundError, OSError with errno ELOOP for a link loop, NotRegularFile, or the
    OSError the system gave.
    """
    if not stat.S_ISREG(mode := os.stat(path).st_mode):
        raise NotRegularFile(path, mode)
    fd = os.open(path, _READ_FLAGS)
    try:
        if not stat.S_ISREG(mode := os.fstat(fd).st_mode):
            raise NotRegularFile(path, mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_problem(exc: OSError) -> str:
    """What stopped a file being read, in words for an error message."""
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if exc.errno == errno.ELOOP:
        return LINK_LOOP
    if isinstance(exc, NotRegularFile):
        return f"{exc.strerror}; give a file"
    return f"cannot read file: {exc.strerror or exc}"


def read_bounded(path: str | os.PathLike, max_bytes: int) -> bytes:
    """A regular file's bytes, at most `max_bytes` of them.

    Never reads more than `max_bytes` + 1 bytes, whatever the file's size claims (files in /proc
    claim 0). Raises InputError naming the file for anything else: no such file, a link loop,
    not a regular file, too big, unreadable.
    """
    name = str(path)
    try:
        fd = open_regular(path)
    except OSError as exc:
        raise fail(name, None, "", read_problem(exc)) from None
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise fail(name, None, "", f"file is {size:,} bytes; the limit is {max_bytes:,} bytes")
        chunks, total = [], 0
        while total <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise fail(name, None, "", read_problem(exc)) from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise fail(
            name, None, "", f"file is over {max_bytes:,} bytes; the limit is {max_bytes:,} bytes"
        )
    return b"".join(chunks)


def hash_file(path: str | os.PathLike, digest=None):
    """Feed a regular file's bytes, streamed, into `digest` (a new SHA-256 when None); return it.

    Raises OSError as `open_regular` does.
    """
    digest = hashlib.sha256() if digest is None else digest
    with os.fdopen(open_regular(path), "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a regular file's bytes, as 64 lower-case hex digits."""
    return hash_file(path).hexdigest()


def write_atomic(path: str | os.PathLike, data: bytes | str, *, make_folder: bool = True) -> Path:
    """Write a file whole or not at all, never through a link; return its path.

    The data goes to a new temporary file beside `path`, reaches the disk, then is renamed over
    `path`: a crash leaves the old file or the new one, and a link at `path` is replaced, its
    target left untouched. An existing file keeps its permission bits; a new one gets the
    umask's. A folder, FIFO or device at `path` is refused (NotRegularFile). With `make_folder`
    False a missing folder is an error rather than made. Every OSError names `path`.
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    created = False
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = os.lstat(path)
        except FileNotFoundError:
            old = None
        if old and not (stat.S_ISREG(old.st_mode) or stat.S_ISLNK(old.st_mode)):
            raise NotRegularFile(path, old.st_mode)
        fd = os.open(tmp, _WRITE_FLAGS, 0o666)  # the umask applies
        created = True
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if old and stat.S_ISREG(old.st_mode) and hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if created:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename != str(path):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    return path
