"""Spool segments -> store: each segment in one transaction with its cursors and ledger rows.

A page segment loads its mentions (through `listener.ingest.loader`), advances its
source's cursors and adds its counts to the run's row in `runs`; a run segment
writes the run's end. Either way the segment's name goes into `spool_segments`
in the same transaction, and the file is removed only after the commit.
"""

from __future__ import annotations

import logging

import duckdb

from listener.ingest.loader import LoadResult, documents_batch, load_batch
from listener.ingest.spool import Segment, Spool, SpoolError
from listener.ingest.topics import TopicRule
from listener.store.connection import Claim, Store
from listener.store.ledger import RunLedger, add_to_run, close_run, mark_interrupted, open_run

log = logging.getLogger(__name__)

LEDGER_DAYS = 30  # how long `spool_segments` remembers a loaded segment


def load_segment(
    store: Store, spool: Spool, segment: Segment, rules: list[TopicRule], live: dict[str, RunLedger]
) -> int:
    """Load one segment exactly once; returns 1 when it was loaded now, else 0."""
    try:
        documents = segment.documents() if segment.kind == "page" else []
    except (OSError, UnicodeDecodeError, SpoolError) as exc:
        spool.reject(segment.path, str(exc))
        return 0
    seen, result = store.write_transaction(
        lambda conn: _load_once(store, segment, documents, rules), f"load {segment.name}", claim=Claim.LOADS
    )
    spool.remove(segment)
    ledger = live.get(str(segment.header["run_id"]))
    if ledger is not None and not seen:
        ledger.inserted += result.inserted
        ledger.updated += result.updated
        ledger.warnings.extend(_rejections(segment, result))
    return 0 if seen else 1


def _load_once(store: Store, segment: Segment, documents: list[str], rules: list[TopicRule]) -> tuple[bool, LoadResult]:
    """Inside the caller's transaction: (already loaded?, what loading did)."""
    conn = store.conn
    result = LoadResult()
    seen = bool(conn.execute("SELECT 1 FROM spool_segments WHERE segment = ?", [segment.name]).fetchall())
    if not seen:
        header = segment.header
        run = header.get("run") or {}
        open_run(
            conn,
            header["run_id"],
            header["source"],
            header.get("command") or run.get("command"),
            header.get("started_at") or run.get("started_at") or header.get("written_at"),
        )
        if segment.kind == "page":
            result = _load_page(store, segment, documents, rules)
        else:
            close_run(conn, header["run"])
        conn.execute(
            "INSERT INTO spool_segments VALUES (?, ?, ?, ?, ?, now())",
            [segment.name, segment.source, header["run_id"], segment.kind, len(documents)],
        )
    return seen, result


def _load_page(store: Store, segment: Segment, documents: list[str], rules: list[TopicRule]) -> LoadResult:
    conn = store.conn
    result = (
        load_batch(conn, documents_batch(documents), str(segment.header["run_id"]), rules)
        if documents
        else LoadResult()
    )
    cursor = {k: v for k, v in (segment.header.get("cursor") or {}).items() if v is not None}
    store.set_cursors(segment.source, cursor)
    add_to_run(
        conn,
        segment.header["run_id"],
        len(documents),
        result.inserted,
        result.updated,
        warnings=_rejections(segment, result),
    )
    return result


def _rejections(segment: Segment, result: LoadResult) -> list[str]:
    """What loading said about the page's records: rejections, and changes such as a cut text."""
    stream = segment.header.get("stream") or segment.source
    return [f"{stream}: record {n} rejected: {why}" for n, why in result.errors] + [
        f"{stream}: record {n}: {why}" for n, why in result.warnings
    ]


def prune_segment_ledger(store: Store) -> None:
    store.write_transaction(
        lambda conn: conn.execute(f"DELETE FROM spool_segments WHERE loaded_at < now() - INTERVAL {LEDGER_DAYS} DAY"),
        "spool ledger",
    )


INTERRUPTED = (
    "the process ended before the run finished (killed, crashed, or out of disk); "
    "what it committed is counted here and a rerun continues from there"
)


def dead_runs(store: Store, spool: Spool) -> list[str]:
    """Ids of rows still 'running' whose process is gone (see `close_dead_runs`)."""
    if store.lake is not None:  # other machines' workers hold locks in their own spools: cannot tell
        return []
    rows = store.conn.execute("SELECT run_id, source FROM runs WHERE status = 'running'").fetchall()
    if not rows:
        return []
    waiting = {str(segment.header.get("run_id")) for segment in spool.pending()}
    return [
        run_id
        for run_id, source in rows
        if run_id not in waiting and not spool.is_active(source, run_id if source == "import" else None)
    ]


def close_dead_runs(store: Store, spool: Spool) -> int:
    """Rows left 'running' by a process that died become 'interrupted', keeping their committed counts.

    A run is alive while its process holds its lock (a collector's source lock, an import's run lock)
    or while its segments still wait in the spool (they carry its end).
    """
    dead = dead_runs(store, spool)
    if not dead:
        return 0

    def mark(conn: duckdb.DuckDBPyConnection) -> None:
        for run_id in dead:
            mark_interrupted(conn, run_id, INTERRUPTED)

    store.write_transaction(mark, "runs")
    log.warning("runs: %d run(s) whose process ended early marked interrupted: %s", len(dead), ", ".join(dead))
    return len(dead)
