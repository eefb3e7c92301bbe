"""Spool segments -> store: each segment in one transaction with its cursors and ledger rows.

A page segment loads its mentions (through `listener.ingest.loader`), advances its
source's cursors and adds its counts to the run's row in `runs`; a run segment
writes the run's end. Either way the segment's name goes into `spool_segments`
in the same transaction, and the file is removed only after the commit.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from listener.core.redact import mask, mask_optional
from listener.ingest.loader import LoadResult, documents_batch, load_batch
from listener.ingest.spool import Segment, Spool, SpoolError
from listener.ingest.topics import TopicRule
from listener.store.connection import RunLedger, Store

log = logging.getLogger(__name__)

LEDGER_DAYS = 30  # how long `spool_segments` remembers a loaded segment


def load_segment(store: Store, spool: Spool, segment: Segment, rules: list[TopicRule],
                 live: dict[str, RunLedger]) -> int:
    """Load one segment exactly once; returns 1 when it was loaded now, else 0."""
    try:
        documents = segment.documents() if segment.kind == "page" else []
    except (OSError, UnicodeDecodeError, SpoolError) as exc:
        spool.reject(segment.path, str(exc))
        return 0
    seen, result = store.write_transaction(lambda conn: _load_once(store, segment, documents, rules),
                                           f"load {segment.name}")
    spool.remove(segment)
    ledger = live.get(str(segment.header["run_id"]))
    if ledger is not None and not seen:
        ledger.inserted += result.inserted
        ledger.updated += result.updated
        ledger.warnings.extend(_rejections(segment, result))
    return 0 if seen else 1


def _load_once(store: Store, segment: Segment, documents: list[str],
               rules: list[TopicRule]) -> tuple[bool, LoadResult]:
    """Inside the caller's transaction: (already loaded?, what loading did)."""
    conn = store.conn
    result = LoadResult()
    seen = bool(conn.execute("SELECT 1 FROM spool_segments WHERE segment = ?", [segment.name]).fetchall())
    if not seen:
        _start_run_row(conn, segment.header)
        if segment.kind == "page":
            result = _load_page(store, segment, documents, rules)
        else:
            _finish_run_row(conn, segment.header["run"])
        conn.execute("INSERT INTO spool_segments VALUES (?, ?, ?, ?, ?, now())",
                     [segment.name, segment.source, segment.header["run_id"], segment.kind, len(documents)])
    return seen, result


def _load_page(store: Store, segment: Segment, documents: list[str], rules: list[TopicRule]) -> LoadResult:
    conn = store.conn
    result = load_batch(conn, documents_batch(documents), str(segment.header["run_id"]), rules) if documents else LoadResult()
    cursor = {k: v for k, v in (segment.header.get("cursor") or {}).items() if v is not None}
    store.set_cursors(segment.source, cursor)
    rejections = _rejections(segment, result)
    warnings = _run_warnings(conn, segment.header["run_id"]) + rejections
    conn.execute(
        "UPDATE runs SET fetched = fetched + ?, inserted = inserted + ?, updated = updated + ?, "
        "warnings = ? WHERE run_id = ?",
        [len(documents), result.inserted, result.updated, _warnings_json(warnings), segment.header["run_id"]],
    )
    return result


def _start_run_row(conn: Any, header: dict[str, Any]) -> None:
    """The run's row appears with its first segment; other 'running' rows of the source are dead.

    They are dead because one process collects a source at a time (the spool's
    source lock) and writes its segments in order: a run whose end never
    arrived before a newer run's first segment died mid-way.
    """
    run_id = header["run_id"]
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
        return
    conn.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()) "
        "WHERE source = ? AND status = 'running' AND run_id <> ?",
        [header["source"], run_id],
    )
    run = header.get("run") or {}
    conn.execute(
        "INSERT INTO runs (run_id, source, command, started_at, status) VALUES (?, ?, ?, ?, 'running')",
        [run_id, header["source"], header.get("command") or run.get("command"),
         header.get("started_at") or run.get("started_at") or header.get("written_at")],
    )


def _finish_run_row(conn: Any, run: dict[str, Any]) -> None:
    warnings = list(run.get("warnings") or []) + _run_warnings(conn, run["run_id"])
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, fetched = ?, error = ?, warnings = ? WHERE run_id = ?",
        [run["status"], run.get("finished_at"), int(run.get("fetched") or 0), mask_optional(run.get("error")),
         _warnings_json(warnings), run["run_id"]],
    )


def _warnings_json(warnings: list[str]) -> str | None:
    """The `runs.warnings` value: masked, as JSON, or NULL."""
    return json.dumps([mask(w) for w in warnings]) if warnings else None


def _rejections(segment: Segment, result: LoadResult) -> list[str]:
    """What loading said about the page's records: rejections, and changes such as a cut text."""
    stream = segment.header.get("stream") or segment.source
    return ([f"{stream}: record {n} rejected: {why}" for n, why in result.errors]
            + [f"{stream}: record {n}: {why}" for n, why in result.warnings])


def _run_warnings(conn: Any, run_id: str) -> list[str]:
    rows = conn.execute("SELECT warnings FROM runs WHERE run_id = ?", [run_id]).fetchall()
    value = rows[0][0] if rows else None
    if not value:
        return []
    loaded = json.loads(value) if isinstance(value, str) else value
    return [str(w) for w in loaded] if isinstance(loaded, list) else []


def prune_segment_ledger(store: Store) -> None:
    store.conn.execute(f"DELETE FROM spool_segments WHERE loaded_at < now() - INTERVAL {LEDGER_DAYS} DAY")


INTERRUPTED = ("the process ended before the run finished (killed, crashed, or out of disk); "
               "what it committed is counted here and a rerun continues from there")


def dead_runs(store: Store, spool: Spool) -> list[str]:
    """Ids of rows still 'running' whose process is gone (see `close_dead_runs`)."""
    if store.lake is not None:  # other machines' workers hold locks in their own spools: cannot tell
        return []
    rows = store.conn.execute("SELECT run_id, source FROM runs WHERE status = 'running'").fetchall()
    if not rows:
        return []
    waiting = {str(segment.header.get("run_id")) for segment in spool.pending()}
    return [run_id for run_id, source in rows
            if run_id not in waiting and not spool.is_active(source, run_id if source == "import" else None)]


def close_dead_runs(store: Store, spool: Spool) -> int:
    """Rows left 'running' by a process that died become 'interrupted', keeping their committed counts.

    A run is alive while its process holds its lock (a collector's source lock, an import's run lock)
    or while its segments still wait in the spool (they carry its end).
    """
    dead = dead_runs(store, spool)
    for run_id in dead:
        store.conn.execute(
            """
            UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()),
                   error = coalesce(error, ?),
                   inserted = CASE WHEN fetched = 0 AND inserted = 0 AND updated = 0
                                   THEN (SELECT count(*) FROM mentions WHERE run_id = ?) ELSE inserted END
            WHERE run_id = ? AND status = 'running'
            """, [INTERRUPTED, run_id, run_id])
    if dead:
        log.warning("runs: %d run(s) whose process ended early marked interrupted: %s", len(dead), ", ".join(dead))
    return len(dead)


def upsert_run(store: Store, ledger: RunLedger) -> None:
    """The run's whole row from the ledger in hand (inside the caller's transaction)."""
    if not store.conn.execute("SELECT 1 FROM runs WHERE run_id = ?", [ledger.run_id]).fetchall():
        store.conn.execute("INSERT INTO runs (run_id, source, command, started_at, status) VALUES (?, ?, ?, ?, ?)",
                           [ledger.run_id, ledger.source, ledger.command, ledger.started_at, ledger.status])
    store.finish_run(ledger)
