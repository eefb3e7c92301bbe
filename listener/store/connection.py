"""The DuckDB store: connection, transactions, cursors and the runs ledger.

One file, one writer at a time (DuckDB's own file lock). Every command opens
the store through `open_store`, which applies pending migrations first.
Bulk loading of mentions lives in `listener.ingest.loader`.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from listener.core.errors import StoreBusyError
from listener.core.redact import mask, mask_optional
from listener.store.ducklake import connect_lake, lake_dialect, retry_conflicts
from listener.store.faults import (
    damaged,
    disk_problem,
    is_damage,
    is_disk_fault,
    is_lock_conflict,
)
from listener.store.migrations import apply_migrations

if TYPE_CHECKING:
    from listener.core.settings import DuckLake as DuckLakeSettings
    from listener.core.settings import Store as StoreSettings

T = TypeVar("T")


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        if is_lock_conflict(exc):
            raise StoreBusyError(
                f"{path}: the database is in use by another process (a running "
                "`listener` job or an open writer). Try again when it finishes."
            ) from None
        if is_damage(exc):
            raise damaged(path, exc) from None
        if is_disk_fault(exc):
            raise disk_problem(exc, path) from None
        raise
    conn.execute("SET TimeZone = 'UTC'")  # timestamps read back in UTC whatever the host says
    return conn


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any error (also KeyboardInterrupt)."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except duckdb.Error:  # a lost write conflict (DuckLake) can leave the transaction open: end it
        with suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise


@contextmanager
def registered(conn: duckdb.DuckDBPyConnection, name: str, table: object) -> Iterator[str]:
    """Expose an Arrow table to SQL as `name` for the duration of the block."""
    conn.register(name, table)
    try:
        yield name
    finally:
        with suppress(duckdb.TransactionException):  # an aborted transaction still rolls back
            conn.unregister(name)


class Store:
    """An open store: one DuckDB file, or a DuckLake catalog (`lake`). Use as a context manager or call `close()`."""

    def __init__(self, path: Path, read_only: bool = False, lake: DuckLakeSettings | None = None) -> None:
        self.path = path
        self.lake = lake
        if lake is not None:
            self.conn = connect_lake(lake.catalog, lake.data_path, read_only)
        else:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = _connect(path, read_only)
        if not read_only:
            try:
                self.write(lambda: apply_migrations(self.conn, lake_dialect if lake else None), "migrations")
            except duckdb.Error as exc:
                self.conn.close()
                if is_damage(exc):
                    raise damaged(path, exc) from None
                if is_disk_fault(exc):
                    raise disk_problem(exc, path) from None
                raise

    @property
    def where(self) -> str:
        """For messages: the file, or the lake's data path."""
        return f"DuckLake {self.lake.data_path}" if self.lake else str(self.path)

    def write(self, work: Callable[[], T], what: str) -> T:
        """Run one whole write transaction; on DuckLake, again after a conflict with another worker."""
        if self.lake is None:
            return work()
        return retry_conflicts(work, self.lake.commit_retries, what)

    def write_transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T], what: str) -> T:
        """`work(conn)` inside BEGIN ... COMMIT, through `write` (re-run after a lost conflict)."""
        def once() -> T:
            with self.transaction() as conn:
                return work(conn)
        return self.write(once, what)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return transaction(self.conn)

    @contextmanager
    def deferred_checkpoints(self, threshold: str = "4GB") -> Iterator[None]:
        """For bulk loads: keep changes in the WAL and checkpoint once at the end."""
        old = self.conn.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
        self.conn.execute(f"SET checkpoint_threshold = '{threshold}'")
        try:
            yield
        finally:
            self.conn.execute(f"SET checkpoint_threshold = '{old}'")
        self.conn.execute("CHECKPOINT")

    # -- cursors -----------------------------------------------------------
    def cursors(self, source: str) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT key, value FROM cursors WHERE source = ?", [source]
        ).fetchall()
        return {key: value for key, value in rows}

    def set_cursors(self, source: str, values: Mapping[str, str | None]) -> None:
        """Call inside the transaction that writes the rows these cursors cover."""
        for key, value in values.items():  # MERGE, not ON CONFLICT: DuckLake has no primary keys
            self.conn.execute(
                "MERGE INTO cursors c USING (SELECT ?::VARCHAR AS source, ?::VARCHAR AS key, ?::VARCHAR AS value) n "
                "ON c.source = n.source AND c.key = n.key "
                "WHEN MATCHED THEN UPDATE SET value = n.value, updated_at = now() "
                "WHEN NOT MATCHED THEN INSERT (source, key, value, updated_at) VALUES (n.source, n.key, n.value, now())",
                [source, key, value],
            )

    # -- runs ledger -------------------------------------------------------
    def start_run(self, source: str, command: str) -> RunLedger:
        ledger = RunLedger(run_id=new_run_id(source), source=source, command=command)
        self.conn.execute(
            "INSERT INTO runs (run_id, source, command, started_at, status) "
            "VALUES (?, ?, ?, now(), 'running')",
            [ledger.run_id, source, command],
        )
        return ledger

    def mark_run_failed(self, run_id: str, error: str) -> None:
        """Best effort after a fault: status and error only (each batch already committed its counts).
        If even this cannot be written, the next command marks the run interrupted."""
        with suppress(duckdb.Error):
            self.conn.execute("ROLLBACK")
        try:
            self.conn.execute("UPDATE runs SET status = 'failed', finished_at = now(), error = ? WHERE run_id = ?",
                              [mask(error), run_id])
        except duckdb.Error:
            pass

    def finish_run(self, ledger: RunLedger) -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = now(), status = ?, fetched = ?, inserted = ?, "
            "updated = ?, error = ?, warnings = ? WHERE run_id = ?",
            [
                ledger.status,
                ledger.fetched,
                ledger.inserted,
                ledger.updated,
                mask_optional(ledger.error),
                json.dumps([mask(w) for w in ledger.warnings]) if ledger.warnings else None,
                ledger.run_id,
            ],
        )


@dataclass
class RunLedger:
    """What one source did in one run; its spool segments write it to `runs`."""

    run_id: str
    source: str
    command: str
    status: str = "running"
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # everything, for the report
    page_warnings: list[str] = field(default_factory=list)  # the fetch's own, written at the run's end
    started_at: str = field(default_factory=lambda: utc_now())
    finished_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "source": self.source,
            "status": self.status,
            "fetched": self.fetched,
            "inserted": self.inserted,
            "updated": self.updated,
            "error": self.error,
            "warnings": self.warnings,
        }

    def as_record(self) -> dict[str, Any]:
        """The end of the run as the spool keeps it (load results are added by the store)."""
        return {"run_id": self.run_id, "source": self.source, "command": self.command,
                "status": self.status, "fetched": self.fetched, "error": self.error,
                "warnings": self.page_warnings, "started_at": self.started_at,
                "finished_at": self.finished_at}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()


def new_run_id(source: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{source}-{uuid.uuid4().hex[:8]}"


def open_store(location: Path | StoreSettings, read_only: bool = False) -> Store:
    """Open by path (a DuckDB file) or by the `[store]` settings (file or DuckLake)."""
    if isinstance(location, Path):
        return Store(location, read_only=read_only)
    lake = location.ducklake if location.backend == "ducklake" else None
    return Store(location.path, read_only=read_only, lake=lake)
