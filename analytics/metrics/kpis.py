"""KPIs per ISO week against a baseline recorded once (docs/analytics-metrics.md).

Each KPI is one SQL aggregate over a table of periods, so the baseline (any
start/end) and the ISO weeks are measured by exactly the same definition: the
baseline is the KPI over the whole baseline period, not an average of weeks.

The baseline is `[analytics] baseline` when configured, else the first 28 days
from the first day with a tagged mention, and only once those 28 days are over.
It is written to `kpi_baselines` once per KPI and never changed silently: a
configured period that differs from the recorded one stops with a ConfigError
unless `rebaseline=True` (`listener analyze --rebaseline`) asks to re-record it.
Weekly values of the configured KPIs are recomputed in full on every run (a few
hundred weeks at most), so late data and retagging converge.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from analytics.definitions import (
    RESPONSE_WINDOW_HOURS,
    asks,
    engagement,
    is_placeholder,
    iso_week,
    net_interval_sql,
    utc_day,
    wilson_sql,
)
from analytics.metrics.views import SUPPORTED
from listener.core.errors import ConfigError
from listener.core.settings import Settings
from listener.store.connection import Claim, Store

AUTO_BASELINE_DAYS = 28

# Brand mentions by others, counted once, with what the KPIs need: the sentiment about the
# brand (`topic_sentiment`, else the post's); `asks` = a question or a supported complaint.
_BRAND = f"""
    CREATE OR REPLACE TEMP TABLE kpi_brand AS
    SELECT DISTINCT m.mention_id, m.author_id, m.created_at, {utc_day("m.created_at")} AS day,
           coalesce(ts.label, s.label) AS label, s.mention_id IS NOT NULL AND {SUPPORTED} AS scored,
           {asks("m", "s")} AS asks
    FROM mentions_by_others m
    JOIN mention_topics t ON t.mention_id = m.mention_id AND t.kind = 'brand'
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
    WHERE m.counted
"""

_IN_PERIOD = "x.day BETWEEN p.period_start AND p.period_end"


def _per_period(events: str, value: str, n: str = "NULL", low: str = "NULL", high: str = "NULL") -> str:
    """Aggregate `value` over the events of each period, with its sample size `n` and 95 % interval
    (NULL where the KPI is a count, not a rate or an average); a period without events still gets a row."""
    return (
        f"WITH x AS ({events}) SELECT p.label, p.period_start, CAST({value} AS DOUBLE) AS value, "
        f"CAST({n} AS BIGINT) AS n, CAST({low} AS DOUBLE) AS ci_low, CAST({high} AS DOUBLE) AS ci_high "
        f"FROM kpi_periods p LEFT JOIN x ON {_IN_PERIOD} GROUP BY p.label, p.period_start"
    )


def _proportion(events: str, successes: str, total: str) -> str:
    """A rate `successes / total` with its Wilson interval."""
    return _per_period(
        events,
        f"({successes}) / nullif(({total}), 0)",
        total,
        wilson_sql(successes, total, "low"),
        wilson_sql(successes, total, "high"),
    )


def _share_of_voice() -> str:
    events = f"""
        SELECT DISTINCT t.mention_id, t.topic, t.kind, {utc_day("m.created_at")} AS day
        FROM mention_topics t JOIN mentions_by_others m ON m.mention_id = t.mention_id
        WHERE m.counted AND t.kind IN ('brand', 'competitor')"""
    return _proportion(events, "count(*) FILTER (x.kind = 'brand')", "count(x.kind)")


def _net_sentiment() -> str:
    positive = "count(*) FILTER (x.scored AND x.label = 'positive')"
    negative = "count(*) FILTER (x.scored AND x.label = 'negative')"
    scored = "count(*) FILTER (x.scored)"
    return _per_period(
        "SELECT * FROM kpi_brand",
        f"({positive} - {negative}) / nullif({scored}, 0)",
        scored,
        net_interval_sql(positive, negative, scored, "low"),
        net_interval_sql(positive, negative, scored, "high"),
    )


def _mentions() -> str:
    return _per_period("SELECT * FROM kpi_brand", "count(x.mention_id)", "count(x.mention_id)")


def _engaged_authors() -> str:
    # "Interacted with an own account": an edge to an own author, or a mention of an own handle
    # whose author id is not resolved yet.
    events = f"""
        SELECT author_id, day FROM kpi_brand WHERE NOT {is_placeholder("author_id")}
        UNION ALL
        SELECT i.from_author_id, {utc_day("i.created_at")}
        FROM interactions i
        LEFT JOIN authors f ON f.author_id = i.from_author_id
        WHERE NOT coalesce(f.is_own, false) AND NOT {is_placeholder("i.from_author_id")}
          AND (i.to_author_id IN (SELECT author_id FROM authors WHERE is_own)
               OR (i.kind = 'mention' AND i.source || ':' || i.target_handle IN (
                   SELECT source || ':' || lower(handle) FROM authors WHERE is_own AND handle IS NOT NULL)))"""
    return _per_period(events, "count(DISTINCT x.author_id)", "count(DISTINCT x.author_id)")


def _engagement() -> str:
    events = f"SELECT {utc_day('m.created_at')} AS day, {engagement('m')} AS engagement FROM mentions m WHERE m.is_own"
    return _per_period(events, "coalesce(sum(x.engagement), 0)", "count(x.engagement)")  # n: own posts


def _responses() -> str:
    """Per asking mention: its first own reply within the response window (NULL if none)."""
    return f"""
        WITH own_replies AS (
            SELECT i.target_mention_id AS target, i.created_at AS at
            FROM interactions i JOIN authors a ON a.author_id = i.from_author_id AND a.is_own
            WHERE i.kind IN ('reply', 'comment') AND i.target_mention_id IS NOT NULL
            UNION ALL
            SELECT parent_id, created_at FROM mentions WHERE is_own AND parent_id IS NOT NULL
        )
        SELECT b.mention_id, b.day, b.created_at, min(r.at) AS first_reply
        FROM kpi_brand b
        LEFT JOIN own_replies r ON r.target = b.mention_id AND r.at >= b.created_at
             AND r.at <= b.created_at + INTERVAL {RESPONSE_WINDOW_HOURS} HOUR
        WHERE b.asks
        GROUP BY b.mention_id, b.day, b.created_at"""


def _response_rate() -> str:
    return _proportion(_responses(), "count(x.first_reply)", "count(x.mention_id)")


def _median_response_minutes() -> str:
    # n: the answered asks; no interval (a median's would need the order statistics)
    return _per_period(_responses(), "median(epoch(x.first_reply - x.created_at) / 60.0)", "count(x.first_reply)")


KPI_SQL: dict[str, Callable[[], str]] = {
    "share_of_voice": _share_of_voice,
    "net_sentiment": _net_sentiment,
    "mentions": _mentions,
    "engaged_authors": _engaged_authors,
    "engagement": _engagement,
    "response_rate": _response_rate,
    "median_response_minutes": _median_response_minutes,
}


def update_kpis(
    store: Store, settings: Settings, today: date | None = None, rebaseline: bool = False
) -> dict[str, Any]:
    """Record missing baselines (once) and recompute the configured KPIs for every ISO week up to `today`."""
    today = today or datetime.now(UTC).date()
    kpis = list(settings.analytics.kpis)
    try:
        return store.write_transaction(
            lambda conn: _update(conn, settings, kpis, today, rebaseline), "kpis", claim=Claim.ANALYSIS
        )
    finally:
        for temp in ("kpi_periods", "kpi_brand", "kpi_results"):
            store.conn.execute(f"DROP TABLE IF EXISTS {temp}")


def _update(
    conn: duckdb.DuckDBPyConnection, settings: Settings, kpis: list[str], today: date, rebaseline: bool
) -> dict[str, Any]:
    first_day = _first_day(conn, today)
    report: dict[str, Any] = {
        "kpis": kpis,
        "today": today.isoformat(),
        "weeks": 0,
        "rows": 0,
        "recorded": [],
        "baseline": None,
        "baseline_status": "no data",
    }
    if first_day is None:
        return report
    start, end = _baseline_period(conn, settings, kpis, first_day, rebaseline)
    report["baseline"] = {"period_start": start.isoformat(), "period_end": end.isoformat()}
    if rebaseline:
        conn.execute("DELETE FROM kpi_baselines WHERE kpi IN (SELECT unnest(?::VARCHAR[]))", [kpis])
    missing = _unrecorded(conn, kpis)
    complete = end < today  # a baseline is only measured once its period is over
    weeks = _make_periods(conn, first_day, today, (start, end) if complete and missing else None)
    conn.execute(_BRAND)
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE kpi_results (kpi VARCHAR, label VARCHAR, period_start DATE, value DOUBLE, "
        "n BIGINT, ci_low DOUBLE, ci_high DOUBLE)"
    )
    for kpi in kpis:
        conn.execute(
            f"INSERT INTO kpi_results SELECT ?, label, period_start, value, n, ci_low, ci_high FROM ({KPI_SQL[kpi]()})",
            [kpi],
        )
    if complete:
        report["recorded"] = _record_baselines(conn, missing, start, end)
    report["baseline_status"] = (
        ("recorded" if report["recorded"] else "kept") if complete else (f"pending until {end.isoformat()} is over")
    )
    report["rows"] = _write_values(conn, kpis)
    report["weeks"] = weeks
    return report


def _first_day(conn: duckdb.DuckDBPyConnection, today: date) -> date | None:
    """The first UTC day with a tagged mention by someone else (own post history does not count)."""
    return conn.execute(
        f"SELECT min({utc_day('m.created_at')}) FROM mentions m SEMI JOIN mention_topics t "
        f"ON t.mention_id = m.mention_id WHERE NOT m.is_own AND {utc_day('m.created_at')} <= ?",
        [today],
    ).fetchall()[0][0]


def _baseline_period(
    conn: duckdb.DuckDBPyConnection, settings: Settings, kpis: list[str], first_day: date, rebaseline: bool
) -> tuple[date, date]:
    """The period to measure baselines over; a configured period that contradicts a recorded one is an error."""
    configured = settings.analytics.baseline
    recorded = conn.execute(
        "SELECT period_start, period_end, min(recorded_at), list(kpi ORDER BY kpi) FROM kpi_baselines "
        "GROUP BY ALL ORDER BY 3 LIMIT 1"
    ).fetchall()
    if configured is not None:
        if configured.start > configured.end:
            raise ConfigError(
                f"'analytics.baseline': start must be on or before end (got {configured.start} .. {configured.end})"
            )
        wanted = (configured.start, configured.end)
    elif recorded and not rebaseline:
        wanted = (recorded[0][0], recorded[0][1])  # keep what was recorded (e.g. the config key was removed)
    else:
        wanted = (first_day, first_day + timedelta(days=AUTO_BASELINE_DAYS - 1))
    if recorded and not rebaseline and (recorded[0][0], recorded[0][1]) != wanted:
        start, end, at, names = recorded[0]
        raise ConfigError(
            f"'analytics.baseline' is {wanted[0]} .. {wanted[1]}, but the KPI baseline ({', '.join(names)}) "
            f"was recorded for {start} .. {end} on {at:%Y-%m-%d}; baselines never change silently: "
            "set [analytics] baseline back, or run `listener analyze --rebaseline` to record the new period"
        )
    return wanted


def _unrecorded(conn: duckdb.DuckDBPyConnection, kpis: list[str]) -> list[str]:
    have = {row[0] for row in conn.execute("SELECT kpi FROM kpi_baselines").fetchall()}
    return [kpi for kpi in kpis if kpi not in have]


def _make_periods(
    conn: duckdb.DuckDBPyConnection, first_day: date, today: date, baseline: tuple[date, date] | None
) -> int:
    """Temp table `kpi_periods`: every ISO week from the first data week to today's, plus the baseline."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE kpi_periods AS
        SELECT 'week' AS label, CAST(w AS DATE) AS period_start, CAST(w AS DATE) + 6 AS period_end
        FROM unnest(generate_series(CAST({iso_week("$first")} AS TIMESTAMP),
                                    CAST({iso_week("$today")} AS TIMESTAMP), INTERVAL 7 DAY)) AS g(w)
        """,
        {"first": first_day, "today": today},
    )
    if baseline:
        conn.execute("INSERT INTO kpi_periods VALUES ('baseline', ?, ?)", list(baseline))
    return int(conn.execute("SELECT count(*) FROM kpi_periods WHERE label = 'week'").fetchall()[0][0])


def _record_baselines(conn: duckdb.DuckDBPyConnection, missing: list[str], start: date, end: date) -> list[str]:
    conn.execute(
        "INSERT INTO kpi_baselines (kpi, period_start, period_end, value, recorded_at, n, ci_low, ci_high) "
        "SELECT kpi, ?, ?, value, now(), n, ci_low, ci_high FROM kpi_results WHERE label = 'baseline' AND kpi IN (SELECT unnest(?::VARCHAR[]))",
        [start, end, missing],
    )
    return sorted(missing)


def _write_values(conn: duckdb.DuckDBPyConnection, kpis: list[str]) -> int:
    """Replace the weekly rows of the configured KPIs; baseline and change come from `kpi_baselines`."""
    conn.execute("DELETE FROM kpi_values WHERE kpi IN (SELECT unnest(?::VARCHAR[]))", [kpis])
    written = conn.execute(
        """
        INSERT INTO kpi_values (kpi, period_start, period_end, value, baseline, change, computed_at, n, ci_low, ci_high)
        SELECT r.kpi, r.period_start, r.period_start + 6, r.value, b.value, r.value - b.value, now(),
               r.n, r.ci_low, r.ci_high
        FROM kpi_results r LEFT JOIN kpi_baselines b ON b.kpi = r.kpi
        WHERE r.label = 'week'
        """
    ).fetchall()[0][0]
    return int(written)
