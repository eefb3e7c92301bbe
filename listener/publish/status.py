"""`listener status`: what happened last time, per source, from the store and the config.

A source is *failing* when it is enabled in the config and its last run
ended `failed`, `partial` or `interrupted`; `listener status` then exits 1,
so cron or a healthcheck can tell. A disabled source shows its last run for
the record but is never failing; an enabled source that never ran is listed
as such. `import` runs are shown, never failing (an import reports its own
rejected rows when it runs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import duckdb

from listener.core.sources import source_names

FAILING = ("failed", "partial", "interrupted")


def gather_status(
    conn: duckdb.DuckDBPyConnection, enabled: list[str] | None = None, configurable: Iterable[str] | None = None
) -> dict[str, Any]:
    """Per source: last run, counts, cursor age; `enabled` (the config's enabled sources) decides
    which ones can be failing. `configurable` are the sources a config can switch on or off
    (default: every registered source; an import's own source names are not)."""
    now = datetime.now(UTC)
    enabled = list(enabled or [])
    switchable = set(source_names() if configurable is None else configurable)
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
        names AS (SELECT source FROM last_run UNION SELECT source FROM counts
                  UNION SELECT unnest(?::VARCHAR[]))
        SELECT n.source, r.run_id, r.started_at, r.finished_at, r.status, r.fetched, r.inserted,
               r.updated, r.error, json_array_length(r.warnings), c.mentions, c.newest, cur.cursor_updated,
               CAST(r.usage AS VARCHAR)
        FROM names n LEFT JOIN last_run r USING (source) LEFT JOIN counts c USING (source)
        LEFT JOIN cur USING (source) ORDER BY n.source
        """,
        [enabled],
    ).fetchall()
    for (
        source,
        run_id,
        started,
        finished,
        status,
        fetched,
        inserted,
        updated,
        error,
        warnings,
        mentions,
        newest,
        cursor_updated,
        usage,
    ) in rows:
        sources.append(
            {
                "source": source,
                "enabled": (source in enabled) if source in switchable else None,
                "last_run": None
                if run_id is None
                else {
                    "run_id": run_id,
                    "started_at": _iso(started),
                    "finished_at": _iso(finished),
                    "status": status,
                    "fetched": fetched,
                    "inserted": inserted,
                    "updated": updated,
                    "warnings": int(warnings or 0),
                    "error": error,
                    "usage": _usage(usage),
                },
                "mentions": int(mentions or 0),
                "newest_mention_at": _iso(newest),
                "cursor_updated_at": _iso(cursor_updated),
                "cursor_lag_seconds": None if cursor_updated is None else int((now - cursor_updated).total_seconds()),
            }
        )
    totals = conn.execute(
        """
        SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM authors),
               (SELECT count(*) FROM interactions), (SELECT count(*) FROM sentiment),
               (SELECT count(*) FROM mentions m LEFT JOIN sentiment s USING (mention_id)
                WHERE s.mention_id IS NULL OR s.text_hash IS DISTINCT FROM m.text_hash),
               (SELECT max(version) FROM schema_migrations)
        """
    ).fetchone()
    keys = ("mentions", "authors", "interactions", "scored", "unscored", "schema_version")
    status = {"generated_at": _iso(now), "sources": sources, "totals": dict(zip(keys, totals or ()))}
    return refresh_health(status)


def refresh_health(status: dict[str, Any]) -> dict[str, Any]:
    """`failing` (enabled sources whose last run failed) and `healthy`, from the sources as they stand."""
    status["failing"] = [
        s["source"] for s in status["sources"] if s["enabled"] and s["last_run"] and s["last_run"]["status"] in FAILING
    ]
    status["healthy"] = not status["failing"]
    return status


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _usage(value: str | None) -> dict[str, Any] | None:
    """`runs.usage` as stored (a JSON object), or None for none or an unreadable one."""
    try:
        loaded = json.loads(value) if value else None
    except json.JSONDecodeError:
        return None
    return loaded if isinstance(loaded, dict) else None


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
            lines.append(
                f"{head}  " + ("enabled, never collected yet" if s["enabled"] else "(imported only, never collected)")
            )
            continue
        disabled = s["enabled"] is False  # its last run is history, not a current failure
        lag = s["cursor_lag_seconds"]
        lag_text = f", cursor {lag // 3600}h{lag % 3600 // 60:02d}m old" if lag is not None and not disabled else ""
        lines.append(
            f"{head}  {'disabled in the config; ' if disabled else ''}last run {run['started_at']} "
            f"{run['status']}: fetched {run['fetched']}, new {run['inserted']}, updated {run['updated']}{lag_text}"
            + (f", {run['warnings']} warnings" if run["warnings"] else "")
        )
        if run["error"]:
            lines.append(f"{'':8} {'last error' if disabled else 'error'}: {run['error']}")
        if run.get("usage") and isinstance(run["usage"].get("summary"), str):
            lines.append(f"{'':8} usage: {run['usage']['summary']}")
    spool = status.get("spool") or {}
    if spool.get("pages") or spool.get("runs"):
        lines.append(
            f"spool: {spool['pages']} fetched pages ({spool['mentions']} mentions) wait in "
            f"{spool['directory']}; the next run loads them"
        )
    if spool.get("rejected"):
        lines.append(f"spool: {spool['rejected']} unreadable files set aside in {spool['directory']}/rejected")
    if status.get("failing"):
        lines.append(f"failing: {', '.join(status['failing'])} (the last run of each failed; exit 1)")
    return lines
