"""Alert rules (`[[alerts.rules]]`) -> `alert_events`: what should reach people now.

Each rule looks at what the store holds at `now`:

    volume, negative, coordinated   the spike detector's and the coordination step's rows of `alerts`
                                    raised for a day within `lookback_hours`
    query                           mentions by others matching the rule's query in the last
                                    `window_minutes`, at least `min_mentions` of them
    influencer                      a post by others from the last `lookback_hours` whose author has
                                    `min_followers` followers or ranks in the current top `top_n`

A rule fires once per thing it saw (a spike alert, a query window, a post): `event_id` is the rule's
name and that thing, so evaluating again inserts nothing new. `cooldown_minutes` keeps a rule quiet for
the same topic (query and spikes) or author (influencer) after it fired. Events are never updated or
deleted here; delivery (listener/publish/alerts.py) reads them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from listener.core.matcher import Normaliser, compile_query, tag_input_sql
from listener.core.query import parse_query
from listener.core.settings import AlertRule, Settings
from listener.store.connection import Store

MAX_DRIVING = 5  # mentions shown with an alert
SPIKE_RULES = ("volume", "negative", "coordinated")


@dataclass(frozen=True)
class Candidate:
    event_id: str
    rule: AlertRule
    topic: str | None
    cooldown_key: str
    window_start: datetime | None
    window_end: datetime | None
    observed: float | None
    expected_low: float | None
    expected_high: float | None
    summary: str
    mention_ids: list[str]
    source_alert: str | None = None


def evaluation_time(settings: Settings, now: datetime | None = None) -> datetime:
    """The moment rules look back from: `now`, else `[analytics] as_of` (its midnight, UTC), else the clock."""
    if now is not None:
        return now.astimezone(UTC)
    if settings.analytics.as_of is not None:
        return datetime.combine(settings.analytics.as_of, datetime.min.time(), UTC)
    return datetime.now(UTC)


def evaluate_rules(store: Store, settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """Raise every rule's new events in one write transaction; returns them (oldest rule first)."""
    rules = settings.alerts.rules
    if not rules:
        return []
    at = evaluation_time(settings, now)
    lookback = timedelta(hours=settings.alerts.lookback_hours)

    def raise_events(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
        raised: list[dict[str, Any]] = []
        for rule in rules:
            for candidate in _candidates(conn, rule, at, lookback):
                if _known(conn, candidate.event_id) or _cooling(conn, candidate, at):
                    continue
                _insert(conn, candidate, at)
                raised.append(_as_dict(candidate))
        return raised

    return store.write_transaction(raise_events, "alert rules")


def _candidates(conn: duckdb.DuckDBPyConnection, rule: AlertRule, at: datetime, lookback: timedelta) -> list[Candidate]:
    if rule.kind in SPIKE_RULES:
        return _from_alerts(conn, rule, at, lookback)
    if rule.kind == "query":
        found = _query_window(conn, rule, at)
        return [found] if found else []
    return _influencer_posts(conn, rule, at, lookback)


# -- spikes and coordinated groups -------------------------------------------------------------


def _from_alerts(
    conn: duckdb.DuckDBPyConnection, rule: AlertRule, at: datetime, lookback: timedelta
) -> list[Candidate]:
    rows = conn.execute(
        """
        SELECT alert_id, topic, day, observed, expected_low, expected_high, baseline,
               CAST(mention_ids AS VARCHAR)
        FROM alerts
        WHERE kind = ? AND (?::VARCHAR IS NULL OR topic = ?) AND day >= ?::DATE AND day <= ?::DATE
        ORDER BY day, topic
        """,
        [rule.kind, rule.topic, rule.topic, (at - lookback).date(), at.date()],
    ).fetchall()
    out = []
    for alert_id, topic, day, observed, low, high, baseline, ids in rows:
        start = datetime.combine(day, datetime.min.time(), UTC)
        expected = _expected_words(low, high, baseline)
        if rule.kind == "coordinated":
            summary = (
                f"coordinated amplification on {topic}: {observed:g} accounts posting the same thing on {day:%a %d %b}"
            )
        else:
            what = "mentions" if rule.kind == "volume" else "negative mentions"
            summary = f"{what} of {topic} on {day:%a %d %b}: {observed:g}{expected}"
        out.append(
            Candidate(
                event_id=f"{rule.name}:{alert_id}",
                rule=rule,
                topic=topic,
                cooldown_key=f"{rule.kind}:{topic}",
                window_start=start,
                window_end=start + timedelta(days=1),
                observed=observed,
                expected_low=low,
                expected_high=high,
                summary=summary,
                mention_ids=_id_list(ids)[:MAX_DRIVING],
                source_alert=alert_id,
            )
        )
    return out


def _expected_words(low: float | None, high: float | None, baseline: float | None) -> str:
    if low is not None and high is not None:
        return f" against {low:.0f}-{high:.0f} expected"
    if baseline is not None:
        return f" against {baseline:.1f} expected"
    return ""


def _id_list(value: str | None) -> list[str]:
    try:
        loaded = json.loads(value) if value else []
    except json.JSONDecodeError:
        return []
    return [str(i) for i in loaded] if isinstance(loaded, list) else []


# -- query rules -------------------------------------------------------------------------------

HISTORY_DAYS = 7  # the expected range of a query window: the same window length over the week before


def _query_window(conn: duckdb.DuckDBPyConnection, rule: AlertRule, at: datetime) -> Candidate | None:
    assert rule.query is not None
    # compiled with the store's own connection: the words are normalised as the texts are
    compiled = compile_query(parse_query(rule.query, f"alert rule {rule.name!r}"), Normaliser(conn))
    window = timedelta(minutes=rule.window_minutes)
    # windows are aligned to the epoch, so every evaluation inside one window names the same event
    bucket = datetime.fromtimestamp(math.floor(at.timestamp() / window.total_seconds()) * window.total_seconds(), UTC)
    start = at - window
    history_start = start - timedelta(days=HISTORY_DAYS)
    scope = "WHERE NOT is_own AND created_at > ?::TIMESTAMPTZ AND created_at <= ?::TIMESTAMPTZ"
    topic_filter = "AND mention_id IN (SELECT mention_id FROM mention_topics WHERE topic = ?)" if rule.topic else ""
    hits = f"SELECT mention_id FROM ({tag_input_sql(set(compiled.needs), scope)}) WHERE {compiled.sql}"
    topic_params = [rule.topic] if rule.topic else []
    row = conn.execute(
        f"""
        WITH hits AS ({hits}), matched AS (
            SELECT m.mention_id, m.created_at,
                   coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) AS engagement
            FROM mentions m SEMI JOIN hits h ON h.mention_id = m.mention_id
            WHERE true {topic_filter}
        )
        SELECT count(*) FILTER (WHERE created_at > ?::TIMESTAMPTZ),
               count(*) FILTER (WHERE created_at <= ?::TIMESTAMPTZ),
               list(mention_id ORDER BY engagement DESC, created_at DESC, mention_id)
                   FILTER (WHERE created_at > ?::TIMESTAMPTZ)
        FROM matched
        """,
        [history_start, at, *topic_params, start, start, start],
    ).fetchone()
    assert row is not None
    observed, earlier, ids = int(row[0]), int(row[1]), list(row[2] or [])
    if observed < rule.min_mentions:
        return None
    mean = earlier / (timedelta(days=HISTORY_DAYS) / window)
    low, high = poisson_range(mean)
    about = f" about {rule.topic}" if rule.topic else ""
    summary = (
        f"{observed} mentions{about} matching {rule.query!r} in {_duration(window)}"
        f" against {low:.0f}-{high:.0f} expected (the week before)"
    )
    return Candidate(
        event_id=f"{rule.name}:{bucket:%Y-%m-%dT%H:%MZ}",
        rule=rule,
        topic=rule.topic,
        cooldown_key=f"query:{rule.topic or ''}",
        window_start=start,
        window_end=at,
        observed=float(observed),
        expected_low=low,
        expected_high=high,
        summary=summary,
        mention_ids=[str(i) for i in ids[:MAX_DRIVING]],
    )


def poisson_range(mean: float) -> tuple[float, float]:
    """A count's 95 % range around an expected `mean` (normal approximation, never below 0)."""
    spread = 1.959963984540054 * math.sqrt(mean)
    return max(0.0, mean - spread), mean + spread


def _duration(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minutes"


# -- influencer rules --------------------------------------------------------------------------


def _influencer_posts(
    conn: duckdb.DuckDBPyConnection, rule: AlertRule, at: datetime, lookback: timedelta
) -> list[Candidate]:
    topic_filter = (
        "m.mention_id IN (SELECT mention_id FROM mention_topics WHERE topic = ?)"
        if rule.topic
        else "m.mention_id IN (SELECT mention_id FROM mention_topics)"
    )
    rows = conn.execute(
        f"""
        SELECT m.mention_id, m.author_id, coalesce(a.handle, a.display_name, m.author_id), a.followers_count,
               r.rank, m.created_at,
               (SELECT min(topic) FROM mention_topics t WHERE t.mention_id = m.mention_id
                  AND (?::VARCHAR IS NULL OR t.topic = ?)) AS topic
        FROM mentions_by_others m
        JOIN authors a ON a.author_id = m.author_id
        LEFT JOIN top_influencers_current r ON r.author_id = m.author_id
        WHERE m.created_at > ?::TIMESTAMPTZ AND m.created_at <= ?::TIMESTAMPTZ AND m.repost_of IS NULL
          AND {topic_filter}
          AND ((?::BIGINT IS NOT NULL AND a.followers_count >= ?::BIGINT)
               OR (?::INTEGER IS NOT NULL AND r.rank <= ?::INTEGER))
        QUALIFY row_number() OVER (PARTITION BY m.author_id ORDER BY m.created_at, m.mention_id) = 1
        ORDER BY m.created_at, m.mention_id
        """,
        [rule.topic, rule.topic, at - lookback, at, *([rule.topic] if rule.topic else []),
         rule.min_followers, rule.min_followers, rule.top_n, rule.top_n],
    ).fetchall()  # fmt: skip
    out = []
    for mention_id, author_id, handle, followers, rank, created_at, topic in rows:
        reach = f"{followers:,} followers" if followers is not None else "followers unknown"
        ranked = f", #{rank} of the current influencers" if rank is not None else ""
        out.append(
            Candidate(
                event_id=f"{rule.name}:{mention_id}",
                rule=rule,
                topic=topic,
                cooldown_key=f"author:{author_id}",
                window_start=created_at,
                window_end=created_at,
                observed=float(followers) if followers is not None else None,
                expected_low=None,
                expected_high=None,
                summary=f"{handle} ({reach}{ranked}) posted about {topic}",
                mention_ids=[mention_id],
            )
        )
    return out


# -- writing -----------------------------------------------------------------------------------


def _known(conn: duckdb.DuckDBPyConnection, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM alert_events WHERE event_id = ?", [event_id]).fetchone() is not None


def _cooling(conn: duckdb.DuckDBPyConnection, candidate: Candidate, at: datetime) -> bool:
    if candidate.rule.cooldown_minutes == 0:
        return False
    row = conn.execute(
        "SELECT 1 FROM alert_events WHERE rule = ? AND cooldown_key = ? AND created_at > ?::TIMESTAMPTZ LIMIT 1",
        [candidate.rule.name, candidate.cooldown_key, at - timedelta(minutes=candidate.rule.cooldown_minutes)],
    ).fetchone()
    return row is not None


def _insert(conn: duckdb.DuckDBPyConnection, c: Candidate, at: datetime) -> None:
    conn.execute(
        """INSERT INTO alert_events (event_id, rule, kind, severity, topic, cooldown_key, window_start, window_end,
                                     observed, expected_low, expected_high, summary, mention_ids, source_alert,
                                     created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON, ?, ?)""",
        [c.event_id, c.rule.name, c.rule.kind, c.rule.severity, c.topic, c.cooldown_key, c.window_start,
         c.window_end, c.observed, c.expected_low, c.expected_high, c.summary, json.dumps(c.mention_ids),
         c.source_alert, at],
    )  # fmt: skip


def _as_dict(c: Candidate) -> dict[str, Any]:
    return {
        "event_id": c.event_id,
        "rule": c.rule.name,
        "kind": c.rule.kind,
        "severity": c.rule.severity,
        "topic": c.topic,
        "summary": c.summary,
        "observed": c.observed,
        "expected_low": c.expected_low,
        "expected_high": c.expected_high,
        "mention_ids": c.mention_ids,
    }
