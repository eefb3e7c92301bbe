"""The `runs` ledger: what each source did in each run. The only code that writes `runs`.

A collected run's row appears with its first spool segment, gains counts with
every page committed and gets its end from the run's last segment
(`listener.ingest.segments`); an import's row is started before its first
batch and gains counts with each one; a run the spool could not take is
written whole (`finish_run`). Functions that take a connection run inside the
caller's write transaction, so the counts commit with the rows they count;
those that take the store are a write transaction of their own.
"""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from listener.core.redact import mask, mask_optional
from listener.store.connection import Store


@dataclass
class RunLedger:
    """What one source did in one run, as it goes; written to `runs` by the functions below."""

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
    usage: dict[str, Any] | None = None  # what the run spent of a metered budget (Connector.usage)

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
            **({"usage": self.usage} if self.usage else {}),
        }

    def as_record(self) -> dict[str, Any]:
        """The end of the run as the spool keeps it (load results are added by the store)."""
        return {
            "run_id": self.run_id,
            "source": self.source,
            "command": self.command,
            "status": self.status,
            "fetched": self.fetched,
            "error": self.error,
            "warnings": self.page_warnings,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "usage": self.usage,
        }


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


def new_run_id(source: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{source}-{uuid.uuid4().hex[:8]}"


# -- write transactions of their own --------------------------------------------


def start_run(store: Store, source: str, command: str) -> RunLedger:
    """A new run whose 'running' row is committed at once, so a crash later still leaves it on record."""
    ledger = RunLedger(run_id=new_run_id(source), source=source, command=command)
    store.write_transaction(lambda conn: _insert_running(conn, ledger.run_id, source, command, None), "runs")
    return ledger


def finish_run(store: Store, ledger: RunLedger) -> None:
    """The run's whole row from the ledger in hand: its end, counts, error and warnings."""
    store.write_transaction(lambda conn: write_run(conn, ledger), "runs")


def mark_run_failed(store: Store, run_id: str, error: str) -> None:
    """Best effort after a fault: status and error only (each batch already committed its counts).
    If even this cannot be written, the next command marks the run interrupted."""
    with suppress(duckdb.Error):  # the fault may have left a transaction open
        store.conn.execute("ROLLBACK")
    with suppress(duckdb.Error):
        store.write_transaction(
            lambda conn: conn.execute(
                "UPDATE runs SET status = 'failed', finished_at = now(), error = ? WHERE run_id = ?",
                [mask(error), run_id],
            ),
            "runs",
        )


# -- inside the caller's write transaction --------------------------------------


def open_run(
    conn: duckdb.DuckDBPyConnection, run_id: str, source: str, command: str | None, started_at: str | None
) -> None:
    """The run's row, unless it exists; the source's other 'running' rows become 'interrupted'.

    They are dead because one process collects a source at a time (the spool's
    source lock) and writes its segments in order: a run whose end never
    arrived before a newer run's first segment died mid-way.
    """
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
        return
    conn.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()) "
        "WHERE source = ? AND status = 'running' AND run_id <> ?",
        [source, run_id],
    )
    _insert_running(conn, run_id, source, command, started_at)


def add_to_run(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    fetched: int,
    inserted: int,
    updated: int,
    warnings: list[str] | None = None,
) -> None:
    """Add one page's or batch's counts; `warnings` (when given) go after those already recorded."""
    counts = "fetched = fetched + ?, inserted = inserted + ?, updated = updated + ?"
    if warnings is None:
        conn.execute(f"UPDATE runs SET {counts} WHERE run_id = ?", [fetched, inserted, updated, run_id])
        return
    conn.execute(
        f"UPDATE runs SET {counts}, warnings = ? WHERE run_id = ?",
        [fetched, inserted, updated, _warnings_json(run_warnings(conn, run_id) + warnings), run_id],
    )


def close_run(conn: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> None:
    """The run's end as the spool recorded it (`RunLedger.as_record`); the counts were added page by page."""
    warnings = list(run.get("warnings") or []) + run_warnings(conn, run["run_id"])
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, fetched = ?, error = ?, warnings = ?, usage = ? WHERE run_id = ?",
        [
            run["status"],
            run.get("finished_at"),
            int(run.get("fetched") or 0),
            mask_optional(run.get("error")),
            _warnings_json(warnings),
            _usage_json(run.get("usage")),
            run["run_id"],
        ],
    )


def write_run(conn: duckdb.DuckDBPyConnection, ledger: RunLedger) -> None:
    """The run's whole row from the ledger in hand, inserted first when it is not there yet."""
    if not conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [ledger.run_id]).fetchall():
        conn.execute(
            "INSERT INTO runs (run_id, source, command, started_at, status) VALUES (?, ?, ?, ?, ?)",
            [ledger.run_id, ledger.source, ledger.command, ledger.started_at, ledger.status],
        )
    conn.execute(
        "UPDATE runs SET finished_at = now(), status = ?, fetched = ?, inserted = ?, "
        "updated = ?, error = ?, warnings = ?, usage = ? WHERE run_id = ?",
        [
            ledger.status,
            ledger.fetched,
            ledger.inserted,
            ledger.updated,
            mask_optional(ledger.error),
            json.dumps([mask(w) for w in ledger.warnings]) if ledger.warnings else None,
            _usage_json(ledger.usage),
            ledger.run_id,
        ],
    )


def mark_interrupted(conn: duckdb.DuckDBPyConnection, run_id: str, reason: str) -> None:
    """A 'running' row whose process is gone: 'interrupted', keeping what it committed.

    An import that died before its first batch's counts has none: it counts the mentions it wrote.
    """
    conn.execute(
        """
        UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()),
               error = coalesce(error, ?),
               inserted = CASE WHEN fetched = 0 AND inserted = 0 AND updated = 0
                               THEN (SELECT count(*) FROM mentions WHERE run_id = ?) ELSE inserted END
        WHERE run_id = ? AND status = 'running'
        """,
        [reason, run_id, run_id],
    )


def run_warnings(conn: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """The warnings recorded for a run so far."""
    rows = conn.execute("SELECT warnings FROM runs WHERE run_id = ?", [run_id]).fetchall()
    value = rows[0][0] if rows else None
    if not value:
        return []
    loaded = json.loads(value) if isinstance(value, str) else value
    return [str(w) for w in loaded] if isinstance(loaded, list) else []


def _insert_running(
    conn: duckdb.DuckDBPyConnection, run_id: str, source: str, command: str | None, started_at: str | None
) -> None:
    conn.execute(
        "INSERT INTO runs (run_id, source, command, started_at, status) "
        "VALUES (?, ?, ?, coalesce(?::TIMESTAMPTZ, now()), 'running')",
        [run_id, source, command, started_at],
    )


def _warnings_json(warnings: list[str]) -> str | None:
    """The `runs.warnings` value: masked, as JSON, or NULL."""
    return json.dumps([mask(w) for w in warnings]) if warnings else None


def _usage_json(usage: Any) -> str | None:
    """A run's usage as stored: a JSON object of what the connector reported, masked, else NULL."""
    if not isinstance(usage, dict) or not usage:
        return None
    return mask(json.dumps(usage, sort_keys=True, default=str))
