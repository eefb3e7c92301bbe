"""Publish a consistent read-only copy of the store for analysts.

DuckDB lets one process write a file or many read it, never both, so
analysts who keep a notebook open on the live file block the nightly job.
Instead they open the *snapshot*: `DIR/listener.duckdb`, `DIR/parquet/<name>.parquet`
for every table and view, and `DIR/manifest.json`.

How it is made, so the live store is held only for one bulk copy:

1. the copy: `listener snapshot` of a DuckDB file opens it read-only (which
   keeps every writer out) and copies the file byte for byte, with its WAL if
   one is left over: the fastest copy there is, and the file cannot change
   under it. Otherwise (DuckLake; or `publish_snapshot` through the live
   connection of `listener run`), in one read transaction: `ATTACH` a new file
   in a staging folder inside DIR and `COPY FROM DATABASE` (tables, data,
   views, sequences, macros). Either way the copy's `runs` are masked and it is
   checkpointed. That is the only time the live store is needed;
2. from the new file alone: row counts, `COPY TO` Parquet, the manifest;
3. publish with renames on the same filesystem: `os.replace` the new database
   over `DIR/listener.duckdb` (a reader holding the old file keeps its view,
   new readers see the new one), `os.replace` each Parquet file into
   `DIR/parquet/` (never a missing file), drop Parquet files of relations that
   no longer exist, and write `manifest.json` last.

A lock file in DIR keeps two publishers apart (the second gets StoreBusyError).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from listener.core.errors import ConfigError, StoreBusyError
from listener.core.redact import mask, secret_values
from listener.publish.outfile import fsync_path
from listener.store.connection import open_store, scalar

DB_NAME = "listener.duckdb"
PARQUET_DIR = "parquet"
MANIFEST = "manifest.json"
LOCK = ".snapshot.lock"
STAGING_PREFIX = ".staging-"
MANIFEST_FORMAT = 1


@dataclass
class SnapshotResult:
    out_dir: str
    database: str
    parquet_dir: str
    manifest: str
    created_at: str
    schema_version: int
    duckdb_version: str
    tables: dict[str, int] = field(default_factory=dict)
    views: dict[str, int] = field(default_factory=dict)
    copy_seconds: float = 0.0  # how long the live store was needed
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_snapshot_dir(settings: Any) -> Path:
    """`[store] snapshot_dir` when the settings have it, else `<store dir>/snapshot`."""
    configured = getattr(settings.store, "snapshot_dir", None)
    return Path(configured) if configured else settings.store_path.parent / "snapshot"


def snapshot_store(location: Path | Any, out_dir: Path) -> SnapshotResult:
    """`listener snapshot`: open the live store (a file path or `[store]` settings) read-only
    just for the copy, then publish."""
    store_path = location if isinstance(location, Path) else location.path
    is_file = isinstance(location, Path) or location.backend == "duckdb"
    if is_file and not store_path.exists():
        raise ConfigError(f"{store_path}: no store yet; run `listener run` or `listener import` first")
    _refuse_live_target(store_path, out_dir)
    with _publisher_lock(out_dir):
        staging = _new_staging(out_dir)
        try:
            started = time.monotonic()
            with open_store(location, read_only=True) as store:
                if is_file:
                    _copy_file(store_path, staging / DB_NAME)
                else:
                    _copy_database(store.conn, staging / DB_NAME)
            return _finish(out_dir, staging, started, time.monotonic() - started)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def publish_snapshot(conn: duckdb.DuckDBPyConnection, out_dir: Path) -> SnapshotResult:
    """Snapshot through a connection already open on the live store (e.g. at the end of `listener run`)."""
    live = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if live and live[0]:
        _refuse_live_target(Path(live[0]), out_dir)
    with _publisher_lock(out_dir):
        staging = _new_staging(out_dir)
        try:
            started = time.monotonic()
            _copy_database(conn, staging / DB_NAME)
            return _finish(out_dir, staging, started, time.monotonic() - started)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


# -- steps -------------------------------------------------------------------


def _copy_database(conn: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Bulk copy of the whole live database into a new file, in one read transaction."""
    source = scalar(conn, "SELECT current_database()")
    alias = "listener_snapshot_" + uuid.uuid4().hex[:8]
    # READ_WRITE: a connection opened read-only would otherwise attach read-only too
    conn.execute(f"ATTACH {_literal(target)} AS {_ident(alias)} (READ_WRITE)")
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"COPY FROM DATABASE {_ident(source)} TO {_ident(alias)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        _mask_run_ledger(conn, alias)
        conn.execute(f"CHECKPOINT {_ident(alias)}")
    finally:
        conn.execute(f"DETACH {_ident(alias)}")


def _copy_file(store_path: Path, target: Path) -> None:
    """The live file (and a WAL a writer left) copied while the caller holds it open read-only,
    so no writer can change it meanwhile; then the copy's ledger masked and the WAL checkpointed in."""
    shutil.copyfile(store_path, target)
    wal = store_path.with_name(store_path.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    alias = "listener_snapshot_" + uuid.uuid4().hex[:8]
    with duckdb.connect() as conn:
        conn.execute(f"ATTACH {_literal(target)} AS {_ident(alias)}")
        try:
            _mask_run_ledger(conn, alias)
            conn.execute(f"CHECKPOINT {_ident(alias)}")
        finally:
            conn.execute(f"DETACH {_ident(alias)}")


def _mask_run_ledger(conn: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Secrets never reach the analysts' copy, even from `runs` rows written before they were masked."""
    table = f"{_ident(alias)}.runs"
    if not conn.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND table_name = 'runs'", [alias]
    ).fetchall():
        return
    secrets = secret_values()
    rows = conn.execute(
        f"SELECT run_id, error, warnings FROM {table} WHERE error IS NOT NULL OR warnings IS NOT NULL"
    ).fetchall()
    for run_id, error, warnings in rows:
        clean = (mask(error, secrets) if error else error, mask(warnings, secrets) if warnings else warnings)
        if clean != (error, warnings):
            conn.execute(f"UPDATE {table} SET error = ?, warnings = ? WHERE run_id = ?", [*clean, run_id])


def _finish(out_dir: Path, staging: Path, started: float, copy_seconds: float) -> SnapshotResult:
    """Counts, Parquet and manifest from the new file alone; then publish it all with renames."""
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    staged_parquet = staging / PARQUET_DIR
    staged_parquet.mkdir()
    with duckdb.connect(str(staging / DB_NAME), read_only=True) as snap:
        snap.execute("SET TimeZone = 'UTC'")
        tables, views = _relations(snap)
        counts: dict[str, int] = {}
        for name in tables + views:
            out = staged_parquet / f"{name}.parquet"
            counts[name] = int(
                scalar(
                    snap, f"COPY (SELECT * FROM {_ident(name)}) TO {_literal(out)} (FORMAT parquet, COMPRESSION zstd)"
                )
            )
        version = _schema_version(snap, tables)
    result = SnapshotResult(
        out_dir=str(out_dir),
        database=str(out_dir / DB_NAME),
        parquet_dir=str(out_dir / PARQUET_DIR),
        manifest=str(out_dir / MANIFEST),
        created_at=created_at,
        schema_version=version,
        duckdb_version=duckdb.__version__,
        tables={n: counts[n] for n in tables},
        views={n: counts[n] for n in views},
        copy_seconds=round(copy_seconds, 3),
    )
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": created_at,
        "schema_version": version,
        "duckdb_version": duckdb.__version__,
        "database": DB_NAME,
        "parquet_dir": PARQUET_DIR,
        "tables": result.tables,
        "views": result.views,
    }

    db_file = staging / DB_NAME
    _fsync(db_file)
    db_file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # read-only: nobody writes to a snapshot
    final_parquet = out_dir / PARQUET_DIR
    final_parquet.mkdir(exist_ok=True)
    os.replace(db_file, out_dir / DB_NAME)
    fresh = set()
    for path in sorted(staged_parquet.iterdir()):
        _fsync(path)
        os.replace(path, final_parquet / path.name)
        fresh.add(path.name)
    for stale in final_parquet.glob("*.parquet"):
        if stale.name not in fresh:
            stale.unlink(missing_ok=True)
    staged_manifest = staging / MANIFEST
    staged_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _fsync(staged_manifest)
    os.replace(staged_manifest, out_dir / MANIFEST)
    _fsync_dir(final_parquet)
    _fsync_dir(out_dir)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _relations(conn: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str]]:
    tables = [
        n
        for (n,) in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary ORDER BY 1"
        ).fetchall()
    ]
    views = [
        n
        for (n,) in conn.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND NOT temporary AND NOT internal ORDER BY 1"
        ).fetchall()
    ]
    return tables, views


def _schema_version(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> int:
    if "schema_migrations" not in tables:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row else 0


# -- files -------------------------------------------------------------------


def _refuse_live_target(store_path: Path, out_dir: Path) -> None:
    target = out_dir / DB_NAME
    if target.resolve() == store_path.resolve():
        raise ValueError(f"{out_dir}: the snapshot would replace the live store {store_path}; choose another --out")


@contextmanager
def _publisher_lock(out_dir: Path) -> Iterator[None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusyError(
                f"{out_dir}: another `listener snapshot` is publishing here. Try again when it finishes."
            ) from None
        try:
            for leftover in out_dir.glob(STAGING_PREFIX + "*"):  # from a publisher killed mid-way
                shutil.rmtree(leftover, ignore_errors=True)
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _new_staging(out_dir: Path) -> Path:
    staging = out_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


_fsync = fsync_path


def _fsync_dir(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:  # some filesystems do not fsync directories
        pass


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
