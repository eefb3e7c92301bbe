"""Tell store and file faults apart by the error's type and content, and say them in one line.

DuckDB raises `IOException` for a lock held by another process, a damaged
file, a full disk and a read-only folder alike; only the message tells them
apart. Matching a bare word such as "lock" is wrong ("in block at location"
is corruption), so each cause is recognised by the exact phrases DuckDB uses.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import duckdb

from listener.core.errors import ListenerError, OutputError, StoreDamagedError

_LOCK = ("could not set lock on file", "conflicting lock is held")
_DAMAGE = (
    "not a valid duckdb database file",
    "corrupt database file",
    "could not read enough bytes",
    "does not match stored checksum",
    "failure while replaying wal",
    "invalid wal",
    "database file was truncated",
    "invalid magic bytes",
    "block has been corrupted",
    "trying to read a database file with version number",
)
_DISK_FULL = ("no space left on device", "file too large", "disk quota exceeded")
_READ_ONLY = ("read-only file system", "permission denied")
_INVALIDATED = "database has been invalidated"
_DISK_ERRNOS = {
    errno.ENOSPC: "the disk is full",
    errno.EFBIG: "the file grew past the allowed size",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOENT: "the folder does not exist",
}


def _text(exc: BaseException) -> str:
    return str(exc).lower()


def is_lock_conflict(exc: BaseException) -> bool:
    """Another process holds the file: worth waiting for."""
    return isinstance(exc, duckdb.IOException) and any(m in _text(exc) for m in _LOCK)


def is_damage(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and any(m in _text(exc) for m in _DAMAGE)


def is_disk_fault(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _DISK_ERRNOS
    return isinstance(exc, duckdb.Error) and any(m in _text(exc) for m in _DISK_FULL + _READ_ONLY)


def short(exc: BaseException, limit: int = 240) -> str:
    """DuckDB's message without its 'IO Error: ' style prefix, on one line."""
    message = " ".join(str(exc).split())
    message = re.sub(r"^(?:[A-Za-z ]+ Error|FATAL Error|INTERNAL Error): ", "", message)
    return message[:limit]


def damaged(path: Path | str, exc: BaseException) -> StoreDamagedError:
    return StoreDamagedError(str(path), short(exc))


def disk_problem(exc: BaseException, where: Path | str | None = None, prefer_where: bool = False) -> OutputError:
    """`where: cannot write: the disk is full (No space left on device)`."""
    if isinstance(exc, OSError):
        target = exc.filename or where
        cause = _DISK_ERRNOS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        return OutputError(f"{target}: cannot write: {cause} ({exc.strerror or exc})")
    text = _text(exc)
    cause = (
        "the disk is full"
        if any(m in text for m in _DISK_FULL)
        else "the file system is read-only or not writable"
        if any(m in text for m in _READ_ONLY)
        else "write failed"
    )
    file = re.search(r'file "([^"]+)"', str(exc))
    target = where if prefer_where and where else file.group(1) if file else where
    return OutputError(f"{target}: cannot write: {cause} ({short(exc, 160)})")


def describe(exc: BaseException, store_path: Path | str | None) -> ListenerError | None:
    """The one-line error for a fault that reached the command's top, or None if it is a bug."""
    if isinstance(exc, ListenerError):
        return exc
    if is_damage(exc):
        return damaged(store_path or "the store", exc)
    if is_disk_fault(exc):
        return disk_problem(exc, store_path)
    if isinstance(exc, duckdb.Error) and _INVALIDATED in _text(exc):
        return OutputError(
            f"{store_path or 'the store'}: the database stopped after an earlier write failure "
            f"({short(exc, 160)}); free disk space and run the command again"
        )
    if isinstance(exc, OSError):
        target = exc.filename or store_path
        return OutputError(f"{target}: {exc.strerror or type(exc).__name__}")
    if isinstance(exc, duckdb.Error):
        return ListenerError(
            f"{store_path}: database error: {short(exc)}" if store_path else f"database error: {short(exc)}"
        )
    return None


def recovery_advice(path: Path | str, snapshot_db: Path | None) -> str:
    """How to get a working store back, naming the files that exist."""
    steps = [f"move it aside (mv {path} {path}.damaged)"]
    if snapshot_db is not None and snapshot_db.is_file():
        steps.append(
            f"then restore the analysts' snapshot (cp {snapshot_db} {path}) and run `listener run` "
            "to collect what came after it"
        )
    else:
        steps.append(
            "then re-import an export (`listener import mentions.jsonl`) or start a new store with `listener run`"
        )
    return "To recover: " + ", ".join(steps) + "."
