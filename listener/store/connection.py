"""The DuckDB store: connection, the one write-transaction API, cursors.

One file, one writer at a time (DuckDB's own file lock), or a DuckLake catalog
that several workers write at once. Every command opens the store through
`open_store`, which applies pending migrations first. Every write goes through
`Store.write_transaction`; the `runs` ledger is written by `listener.store.ledger`,
bulk loading of mentions lives in `listener.ingest.loader`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from listener.core.errors import StoreBusyError
from listener.store.ducklake import connect_lake, is_conflict, lake_dialect
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

log = logging.getLogger(__name__)

T = TypeVar("T")


class Claim(str, Enum):
    """A one-row table a unit of work updates first, so that two workers' units of that kind
    always conflict at commit on DuckLake, where no primary key stops both appending the same rows."""

    LOADS = "store_writes"  # loading mentions (and the cursors and ledger rows that go with them)
    ANALYSIS = "analysis_writes"  # every `analyze` step


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
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
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


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The first column of the first row (None when the query returns no row)."""
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def temp_table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether this connection holds the temp table `name` (what a step staged once per run).

    A catalog lookup of the relation (0.2 ms), not a scan of `duckdb_tables()` (1-2 ms; steps ask
    hundreds of times per analyze); a missing table's error leaves the transaction usable."""
    try:
        conn.table(f'temp.main."{name}"')
    except duckdb.CatalogException:
        return False
    return True


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
        self._writing = False
        if lake is not None:
            self.conn = connect_lake(lake.catalog, lake.data_path, read_only)
        else:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = _connect(path, read_only)
        if not read_only:
            try:  # each migration commits on its own; a conflict re-reads what another worker applied
                self._again_after_conflicts(
                    lambda: apply_migrations(self.conn, lake_dialect if lake else None), "migrations"
                )
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

    def write_transaction(
        self, work: Callable[[duckdb.DuckDBPyConnection], T], what: str, claim: Claim | None = None
    ) -> T:
        """The one way to write: `work(conn)` inside BEGIN ... COMMIT, rolled back on any error.

        On DuckLake a unit that lost a write conflict to another worker is rolled back and run
        again in a fresh snapshot (up to `commit_retries` times), so `work` must be idempotent:
        it recomputes what it writes from what it reads, and never appends blindly. `claim`
        first updates that one-row table (see `Claim`). `what` names the unit in log lines.
        """
        if self._writing:  # an inner retry inside an outer transaction could not start afresh
            raise RuntimeError(f"{what}: write_transaction does not nest (a write transaction is open)")

        def once() -> T:
            with _transaction(self.conn) as conn:
                if claim is not None:
                    conn.execute(f"UPDATE {claim.value} SET writes = writes + 1, updated_at = now()")
                return work(conn)

        self._writing = True
        try:
            return self._again_after_conflicts(once, what)
        finally:
            self._writing = False

    def _again_after_conflicts(self, work: Callable[[], T], what: str) -> T:
        """`work` once on a file; on DuckLake again after each lost write conflict, with jittered backoff."""
        attempts = self.lake.commit_retries if self.lake is not None else 0
        delay = 0.05
        for attempt in range(attempts + 1):
            try:
                return work()
            except duckdb.TransactionException as exc:
                if not is_conflict(exc) or attempt == attempts:
                    raise
                log.info("%s: write conflict with another worker, retrying (%d/%d)", what, attempt + 1, attempts)
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def bulk_load(self, checkpoint_every: str = "256MB", memory_limit: str = "1GB") -> Iterator[None]:
        """For `listener import`: memory that does not grow with the file.

        DuckDB holds what a transaction wrote in memory until a checkpoint writes it to the
        file, and caches up to 80% of RAM by default: a 2 GB import reached 10 GB. Here it
        checkpoints whenever the WAL passes `checkpoint_every` (not after every batch: each
        checkpoint rewrites the primary-key indexes) and spills to its temp folder past
        `memory_limit`; both settings are put back afterwards.
        """
        old = {
            name: scalar(self.conn, f"SELECT current_setting('{name}')")
            for name in ("checkpoint_threshold", "memory_limit")
        }
        self.conn.execute(f"SET checkpoint_threshold = '{checkpoint_every}'")
        self.conn.execute(f"SET memory_limit = '{memory_limit}'")
        try:
            yield
        finally:
            for name, value in old.items():
                self.conn.execute(f"SET {name} = '{value}'")
        self.conn.execute("CHECKPOINT")

    # -- cursors -----------------------------------------------------------
    def cursors(self, source: str) -> dict[str, str]:
        rows = self.conn.execute("SELECT key, value FROM cursors WHERE source = ?", [source]).fetchall()
        return {key: value for key, value in rows}

    def set_cursors(self, source: str, values: Mapping[str, str | None]) -> None:
        """Call inside the write transaction that writes the rows these cursors cover."""
        for key, value in values.items():  # MERGE, not ON CONFLICT: DuckLake has no primary keys
            self.conn.execute(
                "MERGE INTO cursors c USING (SELECT ?::VARCHAR AS source, ?::VARCHAR AS key, ?::VARCHAR AS value) n "
                "ON c.source = n.source AND c.key = n.key "
                "WHEN MATCHED THEN UPDATE SET value = n.value, updated_at = now() "
                "WHEN NOT MATCHED THEN INSERT (source, key, value, updated_at) VALUES (n.source, n.key, n.value, now())",
                [source, key, value],
            )


def open_store(location: Path | StoreSettings, read_only: bool = False) -> Store:
    """Open by path (a DuckDB file) or by the `[store]` settings (file or DuckLake)."""
    if isinstance(location, Path):
        return Store(location, read_only=read_only)
    lake = location.ducklake if location.backend == "ducklake" else None
    return Store(location.path, read_only=read_only, lake=lake)
