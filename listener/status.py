"""`listener status`: what happened last time, per source, from the store alone."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import duckdb


def gather_status(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    sources = []
    rows = conn.execute(
        """
        WITH last_run AS (
            SELECT * FROM runs QUALIFY row_number() OVER (PARTITION BY source ORDER BY started_at DESC) = 1
        ),
        -- an absurd stored time (year 10000) must not break status: `analyze` repairs those rows
        counts AS (SELECT source, count(*) AS mentions,
                          max(created_at) FILTER (created_at >= TIMESTAMPTZ '2000-01-01 00:00:00+00'
                                                  AND created_at <= now() + INTERVAL 1 DAY) AS newest
                   FROM mentions GROUP BY source),
        cur AS (SELECT source, max(updated_at) AS cursor_updated FROM cursors GROUP BY source),
        names AS (SELECT source FROM last_run UNION SELECT source FROM counts)
        SELECT n.source, r.run_id, r.started_at, r.finished_at, r.status, r.fetched, r.inserted,
               r.updated, r.error, json_array_length(r.warnings), c.mentions, c.newest, cur.cursor_updated
        FROM names n LEFT JOIN last_run r USING (source) LEFT JOIN counts c USING (source)
        LEFT JOIN cur USING (source) ORDER BY n.source
        """
    ).fetchall()
    for (source, run_id, started, finished, status, fetched, inserted, updated, error,
         warnings, mentions, newest, cursor_updated) in rows:
        sources.append({
            "source": source,
            "last_run": None if run_id is None else {
                "run_id": run_id, "started_at": _iso(started), "finished_at": _iso(finished),
                "status": status, "fetched": fetched, "inserted": inserted, "updated": updated,
                "warnings": int(warnings or 0), "error": error,
            },
            "mentions": int(mentions or 0),
            "newest_mention_at": _iso(newest),
            "cursor_updated_at": _iso(cursor_updated),
            "cursor_lag_seconds": None if cursor_updated is None else int((now - cursor_updated).total_seconds()),
        })
    totals = conn.execute(
        """
        SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM authors),
               (SELECT count(*) FROM interactions), (SELECT count(*) FROM sentiment),
               (SELECT count(*) FROM mentions m ANTI JOIN sentiment s USING (mention_id)),
               (SELECT max(version) FROM schema_migrations)
        """
    ).fetchone()
    keys = ("mentions", "authors", "interactions", "scored", "unscored", "schema_version")
    return {"generated_at": _iso(now), "sources": sources, "totals": dict(zip(keys, totals))}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def status_lines(status: dict[str, Any]) -> list[str]:
    t = status["totals"]
    lines = [
        f"store: {t['mentions']} mentions, {t['authors']} authors, {t['interactions']} interactions, "
        f"{t['scored']} scored ({t['unscored']} waiting), schema v{t['schema_version']}"
    ]
    for s in status["sources"]:
        run = s["last_run"]
        head = f"{s['source']:<8} {s['mentions']:>8} mentions"
        if run is None:
            lines.append(f"{head}  (imported only, never collected)")
            continue
        lag = s["cursor_lag_seconds"]
        lag_text = f", cursor {lag // 3600}h{lag % 3600 // 60:02d}m old" if lag is not None else ""
        lines.append(
            f"{head}  last run {run['started_at']} {run['status']}: fetched {run['fetched']}, "
            f"new {run['inserted']}, updated {run['updated']}{lag_text}"
            + (f", {run['warnings']} warnings" if run["warnings"] else "")
        )
        if run["error"]:
            lines.append(f"{'':8} error: {run['error']}")
    spool = status.get("spool") or {}
    if spool.get("pages") or spool.get("runs"):
        lines.append(f"spool: {spool['pages']} fetched pages ({spool['mentions']} mentions) wait in "
                     f"{spool['directory']}; the next run loads them")
    if spool.get("rejected"):
        lines.append(f"spool: {spool['rejected']} unreadable files set aside in {spool['directory']}/rejected")
    return lines
