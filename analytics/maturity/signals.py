"""The observable signals behind the maturity ladder, measured in SQL over a trailing window.

`stage(conn, window)` builds a few temp tables restricted to data created up
to the window's end (so an assessment can be reproduced for any past date);
`measure(conn, window)` returns every metric's raw value. What the metrics
mean, and why, is in docs/maturity.md; thresholds and the ladder live in
`analytics.maturity.classifier`.

Temp tables (dropped by `drop`):
- `mat_posts`: every mention created in the window, with whether it is our
  own, by others (`other`: counted once, not a competitor's or an amplification:
  analytics.conversation), original (not a reply, repost or quote), about the brand or a
  competitor, its thread, who it replies to (`parent_author`), and whether
  its source has a conversation network (`in_network`: not a feed; the
  source registry says which sources have none);
- `mat_edges`: the window's interactions between two different, known authors;
- `mat_asks`: brand mentions by others that ask or complain (the KPI
  definition, `analytics.metrics.kpis`) and their first own reply within 72 hours
  (before the window's end), for the mentions whose 72 hours are over: a
  mention of the last three days is judged by the next assessment. Judging
  only complete mentions keeps the measures monotone: an answer can only
  improve them. Mentions dismissed in the inbox do not ask; `handled` marks
  those done in the inbox: without an own reply, handled off-platform
  (`handled_off_platform`, reported beside the response rate, not in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb

from analytics.definitions import RESPONSE_WINDOW_HOURS, handled_off_platform, is_placeholder, iso_week, utc_day
from analytics.metrics.kpis import _BRAND as KPI_BRAND_SQL
from analytics.metrics.kpis import _responses as kpi_responses_sql
from analytics.metrics.views import SUPPORTED
from listener.core.sources import sources_without_network

TEMP_TABLES = ("mat_posts", "mat_edges", "mat_asks", "kpi_brand")
TOP_INFLUENCERS = 10  # "your top 10 influencers"
COMMUNITY_MIN_MENTIONS = 3  # a community "discusses you" with at least this many brand mentions in the window
IDEAS_REGEX = (
    r"(?i)\b(ideas?|suggest\w*|feature requests?|feedback|wish(es)?|would love|please add|"
    r"could you add|roadmap|beta test\w*)\b"
)


@dataclass(frozen=True)
class Window:
    start: date  # first day, inclusive
    end: date  # last day, inclusive (the --as-of date)

    @property
    def cut(self) -> datetime:
        """Exclusive upper bound: data created after the window's last day does not exist yet."""
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def begin(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    def params(self) -> dict[str, Any]:
        return {"start": self.begin, "cut": self.cut, "first": self.start, "last": self.end}


def window_ending(end: date, days: int) -> Window:
    return Window(start=end - timedelta(days=days - 1), end=end)


def stage(conn: duckdb.DuckDBPyConnection, window: Window) -> None:
    p = window.params()
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE mat_posts AS
        WITH topics AS (
            SELECT mention_id, bool_or(kind = 'brand') AS brand, bool_or(kind = 'competitor') AS competitor
            FROM mention_topics GROUP BY mention_id
        ), reply_edge AS (
            SELECT mention_id, min(to_author_id) AS to_author FROM interactions
            WHERE kind IN ('reply', 'comment') GROUP BY mention_id
        )
        SELECT m.mention_id, m.source, m.url, m.author_id, coalesce(m.is_own, false) AS own,
               NOT coalesce(m.is_own, false) AND ro.mention_id IS NULL AND coalesce(d.counted, true) AS other,
               m.created_at,
               {utc_day("m.created_at")} AS day, {iso_week(utc_day("m.created_at"))} AS week,
               m.parent_id, m.repost_of, m.quote_of, m.community,
               coalesce(m.thread_id, p.thread_id, m.parent_id, m.mention_id) AS thread,
               concat_ws(' ', m.title, m.text) AS body,
               m.parent_id IS NULL AND m.repost_of IS NULL AND m.quote_of IS NULL AS original,
               coalesce(t.brand, false) AS brand, coalesce(t.competitor, false) AS competitor,
               coalesce(p.author_id, r.to_author) AS parent_author,
               pa.is_own AS parent_own,
               NOT list_contains(CAST($no_network AS VARCHAR[]), m.source) AS in_network
        FROM mentions m
        LEFT JOIN mentions p ON p.mention_id = m.parent_id
        LEFT JOIN reply_edge r ON r.mention_id = m.mention_id
        LEFT JOIN authors pa ON pa.author_id = coalesce(p.author_id, r.to_author)
        LEFT JOIN topics t ON t.mention_id = m.mention_id
        LEFT JOIN mention_roles ro ON ro.mention_id = m.mention_id
        LEFT JOIN duplicate_clusters d ON d.mention_id = m.mention_id
        WHERE m.created_at >= $start AND m.created_at < $cut
    """,
        {"start": p["start"], "cut": p["cut"], "no_network": sources_without_network()},
    )
    conn.execute(f"""
        CREATE OR REPLACE TEMP TABLE mat_edges AS
        SELECT i.mention_id, i.kind, i.from_author_id AS src, i.to_author_id AS dst, p.day, p.week, p.thread,
               coalesce(fa.is_own, false) AS src_own, coalesce(ta.is_own, false) AS dst_own
        FROM interactions i JOIN mat_posts p ON p.mention_id = i.mention_id
        LEFT JOIN authors fa ON fa.author_id = i.from_author_id
        LEFT JOIN authors ta ON ta.author_id = i.to_author_id
        WHERE i.to_author_id IS NOT NULL AND i.from_author_id <> i.to_author_id
          AND NOT {is_placeholder("i.from_author_id")} AND NOT {is_placeholder("i.to_author_id")}
    """)
    conn.execute(KPI_BRAND_SQL)  # the KPI's "asking" mentions, so response rate means the same everywhere
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE mat_asks AS
        WITH r AS ({kpi_responses_sql()})
        SELECT r.mention_id, r.created_at, m.url, m.author_id, s.label = 'negative' AND {SUPPORTED} AS negative,
               CASE WHEN r.first_reply < $cut THEN epoch(r.first_reply - r.created_at) / 60.0 END AS minutes,
               {handled_off_platform("r.mention_id")} AS handled
        FROM r JOIN mentions m ON m.mention_id = r.mention_id
        LEFT JOIN sentiment s ON s.mention_id = r.mention_id
        WHERE r.created_at >= $start AND r.created_at <= $cut - INTERVAL {RESPONSE_WINDOW_HOURS} HOUR
    """,
        {"start": p["start"], "cut": p["cut"]},
    )


def drop(conn: duckdb.DuckDBPyConnection) -> None:
    for table in TEMP_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


# Span of observation: from the first day anyone (or an own original post) appears in the window.
_SPAN = f"""
    SELECT greatest((CAST($last AS DATE) - min(day) + 1) / 7.0, 1.0) AS weeks,
           (CAST({iso_week("CAST($last AS DATE)")} AS DATE) - {iso_week("min(day)")}) // 7 + 1 AS iso_weeks
    FROM mat_posts WHERE NOT own OR original
"""

# Own posts that answer someone else (the parent is not one of ours, or unknown).
ANSWER = "own AND parent_id IS NOT NULL AND NOT coalesce(parent_own, false)"


def _one(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    cur = conn.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    return dict(zip(names, row)) if row else {name: None for name in names}


def measure(conn: duckdb.DuckDBPyConnection, window: Window) -> dict[str, Any]:
    """Every metric's raw value (None = cannot be measured), plus `span_weeks`, `asking` and
    `handled_off_platform` for context."""
    p = window.params()
    values: dict[str, Any] = {}
    values.update(_monitor(conn, p))
    values.update(_discover(conn, p))
    values.update(_share(conn, p))
    values.update(_participate(conn, p))
    values.update(_cocreate(conn))
    return values


def _monitor(conn: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> dict[str, Any]:
    out = _one(conn, "SELECT count(*) FILTER (brand AND other) AS brand_mentions FROM mat_posts")
    out.update(
        _one(
            conn,
            """
        SELECT count(*) AS failing_sources FROM (
            SELECT source FROM runs
            WHERE started_at >= $start AND started_at < $cut AND status <> 'running'
            GROUP BY source HAVING bool_and(status IN ('failed', 'interrupted')))
    """,
            {"start": p["start"], "cut": p["cut"]},
        )
    )
    return out


def _discover(conn: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> dict[str, Any]:
    out = _one(
        conn,
        """
        SELECT count(DISTINCT week) FILTER (brand AND other) AS history_weeks,
               count(DISTINCT source || ':' || coalesce(community, '')) FILTER (other) AS channels,
               count(*) FILTER (competitor AND other) AS competitor_mentions
        FROM mat_posts
    """,
    )
    out.update(
        _one(
            conn,
            """
        SELECT (SELECT count(DISTINCT author_id) FROM influencers
                WHERE period_kind = 'week' AND period_start <= $last AND period_end >= $first) AS influencers_ranked,
               (SELECT count(DISTINCT community_id) FROM communities
                WHERE period_start <= $last AND period_start + 6 >= $first) AS communities_found
    """,
            {"first": p["first"], "last": p["last"]},
        )
    )
    out.update(
        _one(
            conn,
            """
        SELECT count(s.mention_id) / nullif(count(*), 0) AS sentiment_coverage
        FROM mat_posts m LEFT JOIN sentiment s USING (mention_id) WHERE m.brand AND m.other
    """,
        )
    )
    return out


def _share(conn: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> dict[str, Any]:
    return _one(
        conn,
        f"""
        WITH span AS ({_SPAN})
        SELECT count(DISTINCT author_id) FILTER (own) AS own_accounts_active,
               count(*) FILTER (own AND original) / any_value(span.weeks) AS original_posts_per_week,
               least(count(DISTINCT week) FILTER (own AND original) / any_value(span.iso_weeks), 1.0)
                   AS active_weeks_share,
               any_value(span.weeks) AS span_weeks
        FROM mat_posts, span
    """,
        {"last": p["last"]},
    )


def _participate(conn: duckdb.DuckDBPyConnection, p: dict[str, Any]) -> dict[str, Any]:
    out = _one(
        conn,
        f"""
        WITH span AS ({_SPAN})
        SELECT count(*) FILTER ({ANSWER}) / nullif(count(*) FILTER (own), 0) AS reply_share,
               count(*) FILTER ({ANSWER}) / any_value(span.weeks) AS own_replies_per_week,
               count(DISTINCT parent_author) FILTER ({ANSWER} AND NOT {is_placeholder("parent_author")})
                   AS people_answered
        FROM mat_posts, span
    """,
        {"last": p["last"]},
    )
    out.update(
        _one(
            conn,
            """
        SELECT count(minutes) / nullif(count(*), 0) AS response_rate,
               CASE WHEN count(*) > 0 THEN quantile_disc(coalesce(minutes, 'infinity'::DOUBLE), 0.5) END
                   AS median_response_minutes,
               count(*) AS asking,
               count(*) FILTER (minutes IS NULL AND handled) AS handled_off_platform,
               (SELECT count(*) FROM inbox_state st JOIN mat_posts p USING (mention_id)
                WHERE st.state = 'dismissed' AND p.brand AND p.other) AS dismissed
        FROM mat_asks
    """,
        )
    )
    out.update(
        _one(
            conn,
            f"""
        WITH top AS ({top_influencers_sql()})
        SELECT count(*) FILTER (answered) AS top_influencers_answered, count(*) AS top_influencers
        FROM (SELECT t.author_id, EXISTS (SELECT 1 FROM mat_edges e WHERE e.src_own AND e.dst = t.author_id
                                          AND e.kind <> 'repost') AS answered FROM top t)
    """,
            {"first": p["first"], "last": p["last"]},
        )
    )
    out.update(
        _one(
            conn,
            f"""
        WITH discussed AS ({brand_communities_sql()})
        SELECT count(*) FILTER (own_posts > 0) / nullif(count(*), 0) AS community_presence,
               count(*) AS brand_communities
        FROM discussed
    """,
        )
    )
    return out


def top_influencers_sql() -> str:
    """The window's top influencers: best weekly score of each author over the window's weeks."""
    return f"""
        SELECT author_id, max(score) AS score FROM influencers
        WHERE period_kind = 'week' AND scope = 'all' AND period_start <= $last AND period_end >= $first
        GROUP BY author_id ORDER BY score DESC, author_id LIMIT {TOP_INFLUENCERS}"""


def brand_communities_sql() -> str:
    """Communities (not feeds: nobody posts in someone else's feed) where others discuss the brand."""
    return f"""
        SELECT source, community,
               count(*) FILTER (brand AND other) AS brand_mentions,
               count(DISTINCT week) FILTER (brand AND other) AS weeks,
               count(*) FILTER (own) AS own_posts
        FROM mat_posts WHERE community IS NOT NULL AND in_network
        GROUP BY source, community HAVING count(*) FILTER (brand AND other) >= {COMMUNITY_MIN_MENTIONS}"""


# One row per turn of an org <-> person exchange in a thread: our answers to the person, their
# replies to us, and their posts we answered.
TURNS = f"""
    SELECT thread, parent_author AS person, mention_id, 'org' AS side, week FROM mat_posts
    WHERE {ANSWER} AND parent_author IS NOT NULL AND NOT {is_placeholder("parent_author")}
    UNION
    SELECT thread, author_id, mention_id, 'person', week FROM mat_posts WHERE NOT own AND coalesce(parent_own, false)
    UNION
    SELECT q.thread, q.author_id, q.mention_id, 'person', q.week FROM mat_posts q
    WHERE NOT q.own AND q.mention_id IN (SELECT parent_id FROM mat_posts WHERE own AND parent_id IS NOT NULL)
"""


def _cocreate(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    return _one(
        conn,
        f"""
        WITH turns AS ({TURNS}),
        pairs AS (
            SELECT thread, person, count(DISTINCT mention_id) AS turns,
                   count(*) FILTER (side = 'org') AS org_turns, count(*) FILTER (side = 'person') AS person_turns
            FROM turns WHERE NOT {is_placeholder("person")} GROUP BY thread, person
        ),
        our_threads AS (SELECT DISTINCT thread FROM mat_posts WHERE own),
        people AS (
            SELECT person FROM turns GROUP BY person
            HAVING count(DISTINCT week) >= 2 AND count(*) FILTER (side = 'org') >= 1
        )
        SELECT
          (SELECT count(DISTINCT thread) FROM pairs WHERE turns >= 3 AND org_turns >= 1 AND person_turns >= 1)
              AS multi_turn_threads,
          (SELECT count(*) FROM mat_edges WHERE src_own AND NOT dst_own AND kind IN ('repost', 'quote'))
              AS customer_amplifications,
          (SELECT count(*) FROM people) AS recurring_interlocutors,
          (SELECT count(*) FROM mat_posts m SEMI JOIN our_threads USING (thread)
           WHERE NOT m.own AND m.parent_author IS NOT NULL AND NOT coalesce(m.parent_own, false)
             AND m.parent_author <> m.author_id AND NOT {is_placeholder("m.author_id")}) AS peer_to_peer_replies,
          (SELECT count(DISTINCT thread) FROM mat_posts m SEMI JOIN our_threads USING (thread)
           WHERE regexp_matches(m.body, '{IDEAS_REGEX}')) AS feedback_threads
    """,
    )
