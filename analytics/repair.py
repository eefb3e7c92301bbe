"""Repair values already in the store that would stop the analysis, before it runs.

The loader rejects absurd time stamps and cuts oversized texts at the door,
but a store written by an older version, or by hand with SQL, may still hold
them, and one such row (a `created_at` of year 9999 or `infinity`) used to
stop every nightly `analyze`. So `analyze` starts here, in one transaction:

- a `created_at` outside 2000-01-01 .. now + 1 day becomes the row's
  `collected_at` (or now, when that is absurd too), the same rule connectors
  apply to posts they fetch; interactions and author first/last-seen follow;
- a text or title longer than MAX_TEXT_CHARS is cut to it (its sentiment and
  detected language are computed again);
- a negative count (likes, followers, ...) becomes NULL (unknown).

Each repaired mention is marked updated, so the weekly analytics recompute,
and every repair is reported (count and the first ids) and logged.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import duckdb

from listener.core.models import EARLIEST_CREATED_AT, MAX_FUTURE, MAX_TEXT_CHARS, text_hash_sql

log = logging.getLogger(__name__)

_COUNTS = {
    "mentions": ("like_count", "repost_count", "reply_count", "quote_count"),
    "authors": ("followers_count", "following_count"),
}
_SHOWN = 10


def repair_stored_values(conn: duckdb.DuckDBPyConnection, now: datetime | None = None) -> dict[str, Any]:
    """Inside the caller's transaction: fix what would break analysis; returns what was repaired."""
    now = now or datetime.now(UTC)
    low, high = EARLIEST_CREATED_AT, now + MAX_FUTURE
    report: dict[str, Any] = {}
    times = _repair_times(conn, low, high, now)
    if times:
        report["created_at"] = times
    texts = _cut_texts(conn)
    if texts:
        report["text"] = texts
    counts = _clear_negative_counts(conn)
    if counts:
        report["negative_counts"] = counts
    for what, found in report.items():
        log.warning("analyze: repaired %s of %d stored rows (%s)", what, found["rows"], ", ".join(found["examples"]))
    return report


def _outside(column: str) -> str:
    return f"({column} IS NULL OR NOT ({column} >= $low AND {column} <= $high))"


def _repair_times(conn: duckdb.DuckDBPyConnection, low: datetime, high: datetime, now: datetime) -> dict[str, Any]:
    bounds = {"low": low, "high": high}
    bad = conn.execute(
        f"SELECT mention_id, created_at::VARCHAR FROM mentions WHERE {_outside('created_at')} ORDER BY mention_id",
        bounds,
    ).fetchall()
    if bad:
        conn.execute(
            f"""
            UPDATE mentions SET
                created_at = CASE WHEN NOT {_outside("collected_at")} THEN collected_at ELSE $now END,
                updated_at = $now
            WHERE {_outside("created_at")}
            """,
            {**bounds, "now": now},
        )
    conn.execute(
        f"""
        UPDATE interactions SET created_at = coalesce(m.created_at, $now)
        FROM (SELECT i.mention_id, any_value(m.created_at) AS created_at
              FROM interactions i LEFT JOIN mentions m USING (mention_id)
              WHERE {_outside("i.created_at")} GROUP BY ALL) m
        WHERE interactions.mention_id = m.mention_id AND {_outside("interactions.created_at")}
        """,
        {**bounds, "now": now},
    )
    conn.execute(
        f"""
        UPDATE authors SET first_seen = coalesce(x.first_seen, $now), last_seen = coalesce(x.last_seen, $now)
        FROM (SELECT a.author_id, min(m.created_at) AS first_seen, max(m.created_at) AS last_seen
              FROM authors a LEFT JOIN mentions m USING (author_id)
              WHERE {_outside("a.first_seen")} OR {_outside("a.last_seen")} GROUP BY ALL) x
        WHERE authors.author_id = x.author_id
        """,
        {**bounds, "now": now},
    )
    return _found(bad, lambda row: f"{row[0]} was {row[1]}")


def _cut_texts(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    long = [
        (mid,)
        for (mid,) in conn.execute(
            "SELECT mention_id FROM mentions WHERE length(text) > $cap OR length(title) > $cap ORDER BY mention_id",
            {"cap": MAX_TEXT_CHARS},
        ).fetchall()
    ]
    if not long:
        return {}
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE cut_texts AS
        SELECT mention_id FROM mentions WHERE length(text) > $cap OR length(title) > $cap
        """,
        {"cap": MAX_TEXT_CHARS},
    )
    conn.execute(  # a new text_hash: the sentiment step scores the cut text again
        """
        UPDATE mentions SET text = left(text, $cap), title = left(title, $cap), updated_at = now(),
               lang = CASE WHEN lang_detected THEN NULL ELSE lang END, lang_detected = false
        WHERE mention_id IN (SELECT mention_id FROM cut_texts)
        """,
        {"cap": MAX_TEXT_CHARS},
    )
    conn.execute(
        f"UPDATE mentions SET text_hash = {text_hash_sql('mentions')} "
        "WHERE mention_id IN (SELECT mention_id FROM cut_texts)"
    )
    conn.execute("DROP TABLE cut_texts")
    return _found(long, lambda row: f"{row[0]} cut to {MAX_TEXT_CHARS:,} characters")


def _clear_negative_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows: list[tuple[Any, ...]] = []
    for table, columns in _COUNTS.items():
        key = "mention_id" if table == "mentions" else "author_id"
        negative = " OR ".join(f"{c} < 0" for c in columns)
        found = conn.execute(f"SELECT {key} FROM {table} WHERE {negative} ORDER BY 1").fetchall()
        if found:
            sets = ", ".join(f"{c} = CASE WHEN {c} < 0 THEN NULL ELSE {c} END" for c in columns)
            sets += ", updated_at = now()" if table == "mentions" else ""  # engagement changed: recompute weeks
            conn.execute(f"UPDATE {table} SET {sets} WHERE {negative}")
            rows += found
    return _found(rows, lambda row: str(row[0]))


def _found(rows: list[tuple[Any, ...]], show: Any) -> dict[str, Any]:
    if not rows:
        return {}
    return {"rows": len(rows), "examples": [show(row) for row in rows[:_SHOWN]]}
