"""Writing output files safely: never over the store, never half a file.

Every file a command writes for people (exports, the graph, the digest's
review copies) goes through `atomic_output`: it is written under a hidden
temporary name in the target's folder and renamed into place only once it is
complete, so a failed or interrupted write leaves the old file (or nothing),
never a truncated one. `refuse_protected` stops an output path that is the
live store, its WAL, the spool, the snapshot or the config, which `export
--out data/listener.duckdb` once overwrote.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from listener.core.errors import ConfigError, OutputError
from listener.store.faults import disk_problem, is_disk_fault

if TYPE_CHECKING:
    from listener.core.settings import Settings


def protected_paths(settings: Settings) -> dict[Path, str]:
    """Files and folders no output may replace or write into, with what each one is."""
    from listener.publish.snapshot import default_snapshot_dir

    store = settings.store_path
    found: dict[Path, str] = {
        store: "the live store",
        store.with_name(store.name + ".wal"): "the live store's write-ahead log",
        settings.spool_dir: "the spool",
        default_snapshot_dir(settings): "the analysts' snapshot",
    }
    if settings.config_path is not None:
        found[settings.config_path] = "the config file"
    lake = settings.store.ducklake if settings.store.backend == "ducklake" else None
    data_path = getattr(lake, "data_path", None)
    if data_path and "://" not in str(data_path):
        found[Path(data_path)] = "the DuckLake data folder"
    return found


def refuse_protected(out: Path, settings: Settings) -> None:
    """ConfigError (exit 2) when `out` is, or is inside, a protected path."""
    target = out.expanduser().resolve()
    for path, what in protected_paths(settings).items():
        resolved = path.expanduser().resolve()
        same = target == resolved or (target.exists() and resolved.exists() and _same_file(target, resolved))
        if same or resolved in target.parents:
            raise ConfigError(f"refusing to write {out}: it is {what} ({path}); choose another output path")


def _same_file(a: Path, b: Path) -> bool:
    with suppress(OSError):
        return os.path.samefile(a, b)
    return False


def check_writable_target(out: Path) -> None:
    """An existing target must be a regular file: renaming over /dev/full or a FIFO would replace it."""
    with suppress(FileNotFoundError):
        mode = out.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(f"{out}: cannot write: it is a folder; give a file name")
        if not stat.S_ISREG(mode):
            raise OutputError(f"{out}: cannot write: not a regular file (a device, FIFO or socket)")


@contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """A temporary path next to `out` (same suffixes, so format and compression inference still work),
    renamed over `out` when the block succeeds and removed when it fails."""
    check_writable_target(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise disk_problem(exc, out.parent) from None
    temporary = out.with_name(f".{uuid.uuid4().hex[:12]}.partial-{out.name}")
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, out)
    except BaseException as exc:
        _remove(temporary)
        if is_disk_fault(exc):  # OSError or DuckDB's COPY: name the output, not the temporary
            raise disk_problem(exc, out, prefer_where=True) from None
        raise


def fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    if path.is_file():  # a COPY that wrote nothing leaves no file to flush
        fsync_path(path)


def _remove(path: Path) -> None:
    with suppress(OSError):
        path.unlink()
