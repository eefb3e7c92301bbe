"""Who mattered: an influence score per author, period and scope -> `influencers`.

    score = dampening * (0.40 engagement + 0.30 pagerank + 0.15 reach + 0.15 volume)

Each part is normalised to 0..1 within the period and scope on a log scale
(`ln(1+x) / ln(1+max x)`), because all four are heavy-tailed: one viral post
must not flatten everyone else to zero.

- engagement: earned on the author's brand posts (tagged `brand`):
  likes + 2*(reposts + replies + quotes) + max(Reddit score, 0). Earned
  attention about the brand is the most direct evidence people listen.
- pagerank: weighted PageRank in the period's interaction graph
  (`analytics.network.graph`) above the floor that random jumps give everyone, times
  the vertex count (0 = nobody links to them): being replied to, reposted
  and mentioned by people who are themselves listened to.
- reach: followers. Potential rather than actual audience, and cheap to buy.
- volume: brand posts in the period. Easy to game, so the smallest weight.

Dampening (spam and bots): for an author with more than 3 brand posts on a
source that reports engagement, `min(1, sqrt((engagement + incoming edge
weight + 1) / brand posts))`; 500 posts nobody answers gives 0.045. An author in
a coordinated-amplification group of the period (`coordinated_groups`) gets half
that (COORDINATED_DAMPING; `components.coordinated` says so).

Brand posts are the mentions by others counted once (`mentions_by_others`). Own
accounts, competitors' own accounts and placeholder authors are never ranked. Periods: ISO weeks and
the rolling window ending today (plus, once, the window of the same length
before it, which `is_new` compares with); scopes: `all` and each source. See
docs/analytics-network.md.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np

from analytics.conversation.roles import owned_accounts, stage_owned_authors
from analytics.definitions import engagement, is_placeholder, t_interval_sql
from analytics.network.graph import (
    SCOPE_ALL,
    Period,
    drop_period,
    load_graph,
    period_scopes,
    rolling_window,
    stage_period,
    stale_weeks,
    to_sql,
    unless_done_meanwhile,
    utc_today,
)
from listener.core.settings import Settings
from listener.store.connection import Claim, Store, scalar, temp_table_exists

WEIGHTS: dict[str, float] = {"engagement": 0.40, "pagerank": 0.30, "reach": 0.15, "volume": 0.15}
DAMPEN_AFTER_POSTS = 3  # a few unanswered posts is normal, a stream of them is not
COORDINATED_DAMPING = 0.5  # an author in a coordinated-amplification group of the period: half the score
# Answers and amplification weigh twice what a like does (docs/analytics-network.md).
ENGAGEMENT_SQL = engagement("m", {"repost_count": 2, "reply_count": 2, "quote_count": 2})
HAS_METRICS_SQL = "coalesce(m.like_count, m.repost_count, m.reply_count, m.quote_count, m.score) IS NOT NULL"
PAGERANK_DAMPING = 0.85


def run(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Recompute stale ISO weeks and the rolling window, each period in its own write transaction."""
    started = time.perf_counter()
    periods = stale_weeks(store.conn, "influencers", "period_kind = 'week'")
    current = rolling_window(utc_today(today), settings.analytics.rolling_days)
    before = previous_window(current)
    if _needs_window(store.conn, before):  # what `is_new` compares the current window with
        periods.append(before)
    periods.append(current)
    rows = 0
    stage_owned_authors(store.conn, settings)  # once: the accounts never ranked, read by every period
    store.conn.execute(f"CREATE OR REPLACE TEMP TABLE brand_posts AS {_brand_posts_sql()}")  # once, too
    for period in periods:

        def compute(conn: duckdb.DuckDBPyConnection, period: Period) -> int:
            return compute_period(conn, settings, period)

        # the rolling windows are not tracked by staleness: they are recomputed on every retry
        unit = (
            unless_done_meanwhile("influencers", period, compute, "period_kind = 'week'")
            if period.kind == "week"
            else functools.partial(compute, period=period)
        )
        rows += store.write_transaction(unit, f"influencers {period.kind} {period.start}", claim=Claim.ANALYSIS)
    store.write_transaction(refresh_is_new, "influencers is_new", claim=Claim.ANALYSIS)
    store.conn.execute("DROP TABLE IF EXISTS owned_authors")
    store.conn.execute("DROP TABLE IF EXISTS brand_posts")
    return {
        "periods": [f"{p.kind}:{p.start}" for p in periods],
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 3),
    }


def previous_window(window: Period) -> Period:
    """The rolling window of the same length that ends the day before `window` starts."""
    days = (window.end - window.start).days + 1
    return Period("rolling", window.start - timedelta(days=days), window.start - timedelta(days=1))


def _needs_window(conn: duckdb.DuckDBPyConnection, window: Period) -> bool:
    """True when `window` was never ranked although there are mentions up to its end.

    A nightly run finds it computed (it was the current window `rolling_days` ago); a
    first run or a backfill computes it once, so `is_new` means the same from the start.
    """
    lo, hi = window.bounds
    return bool(
        scalar(
            conn,
            """SELECT NOT EXISTS (SELECT 1 FROM influencers WHERE period_kind = 'rolling'
                              AND period_start = ? AND period_end = ?)
                  AND EXISTS (SELECT 1 FROM mentions WHERE created_at < ?)""",
            [window.start, window.end, hi],
        )
    )


def compute_period(conn: duckdb.DuckDBPyConnection, settings: Settings, period: Period) -> int:
    """Inside the caller's write transaction: replace one period's rows (all scopes); returns rows written.
    Reads the temp table `owned_authors` (analytics.conversation.roles.stage_owned_authors)."""
    stage_period(conn, period)
    lo, hi = period.bounds
    conn.execute(  # authors of a coordinated-amplification group in the period: their scores are dampened
        "CREATE OR REPLACE TEMP TABLE period_coordinated AS SELECT DISTINCT author_id FROM coordinated_groups "
        "WHERE first_at < ? AND last_at >= ?",
        [hi, lo],
    )
    _stage_brand_authors(conn, period)
    _stage_pagerank(conn)
    conn.execute(
        "DELETE FROM influencers WHERE period_kind = ? AND period_start = ? AND period_end = ?",
        [period.kind, period.start, period.end],
    )
    written = _insert_ranked(conn, settings, period)
    for table in ("brand_authors", "metric_sources", "period_rank", "period_coordinated"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    drop_period(conn)
    return written


def _brand_posts_sql() -> str:
    """Every counted brand mention by others with its engagement and usable sentiment: what each
    period's author totals are summed from (staged once per run as `brand_posts`)."""
    return f"""
        SELECT m.author_id, m.source, m.created_at, {ENGAGEMENT_SQL} AS engagement,
               {HAS_METRICS_SQL} AS has_metrics, CASE WHEN s.supported IS NOT false THEN s.compound END AS compound
        FROM mentions_by_others m LEFT JOIN sentiment s USING (mention_id)
        WHERE m.author_id IS NOT NULL AND m.counted AND NOT {is_placeholder("m.author_id")}
          AND m.mention_id IN (SELECT mention_id FROM mention_topics WHERE kind = 'brand')
    """


def _stage_brand_authors(conn: duckdb.DuckDBPyConnection, period: Period) -> None:
    lo, hi = period.bounds
    posts = "brand_posts" if temp_table_exists(conn, "brand_posts") else f"({_brand_posts_sql()})"
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE brand_authors AS
        SELECT author_id, any_value(source) AS source, sum(engagement)::DOUBLE AS engagement,
               count(*) AS mentions, avg(compound) AS avg_sentiment, count(compound) AS sentiment_n,
               stddev_samp(compound) AS sentiment_sd
        FROM {posts} WHERE created_at >= ? AND created_at < ? GROUP BY author_id
        """,
        [lo, hi],
    )
    # Dampening needs to know whether the source reports engagement at all (RSS does not).
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE metric_sources AS
        SELECT DISTINCT m.source FROM mentions m
        WHERE m.created_at >= ? AND m.created_at < ? AND {HAS_METRICS_SQL}
        """,
        [lo, hi],
    )


def _stage_pagerank(conn: duckdb.DuckDBPyConnection) -> None:
    """PageRank and weighted in-degree per scope, as `period_rank(scope, vid, pr_rel, pagerank, in_weight)`."""
    frames: dict[str, list[np.ndarray]] = {"scope": [], "vid": [], "pagerank": [], "pr_rel": [], "in_weight": []}
    for scope in period_scopes(conn):
        pg = load_graph(conn, scope)
        n = pg.graph.vcount()
        pagerank = np.asarray(pg.graph.pagerank(weights="weight", damping=PAGERANK_DAMPING, directed=True))
        in_weight = np.asarray(pg.graph.strength(mode="in", weights="weight"), dtype=float)
        frames["scope"].append(np.full(n, scope, dtype=object))
        frames["vid"].append(pg.vids)
        frames["pagerank"].append(pagerank)
        # Above the floor every vertex gets from random jumps, times n: 0 = nobody links here, 1 = average.
        frames["pr_rel"].append((pagerank - pagerank.min()) * n if n else pagerank)
        frames["in_weight"].append(in_weight)
    columns: dict[str, Any] = {
        k: (np.concatenate(v) if v else np.array([], dtype=object if k == "scope" else float))
        for k, v in frames.items()
    }
    columns["scope"] = columns["scope"].astype(str).tolist() if len(columns["scope"]) else []
    columns["vid"] = columns["vid"].astype(np.int64) if len(columns["vid"]) else np.array([], dtype=np.int64)
    to_sql(conn, "period_rank", columns)


def owned_keys(settings: Settings) -> list[str]:
    """`<source>:<handle>` of every configured own and competitor account (lowercase): never ranked."""
    accounts = owned_accounts(settings)
    return [
        f"{source}:{handle}" for source, handle in zip(accounts["source"].to_pylist(), accounts["handle"].to_pylist())
    ]


def _insert_ranked(conn: duckdb.DuckDBPyConnection, settings: Settings, period: Period) -> int:
    w = WEIGHTS
    components = (
        "json_object('engagement', round(ne, 6), 'pagerank', round(np_, 6), 'reach', round(nr, 6), "
        "'volume', round(nv, 6), 'dampening', round(d, 6), 'coordinated', coordinated, 'weights', "
        f"json('{json.dumps(WEIGHTS)}'))"
    )
    row = conn.execute(
        f"""
        INSERT INTO influencers (period_kind, period_start, period_end, scope, author_id, rank, score,
                                 engagement, pagerank, reach, mentions, avg_sentiment, sentiment_n,
                                 sentiment_ci_low, sentiment_ci_high, is_new,
                                 components, computed_at)
        WITH g AS (
            SELECT r.scope, v.author_id, v.source, r.pagerank, r.pr_rel, r.in_weight
            FROM period_rank r JOIN period_vertices v USING (vid)
        ),
        b AS (
            SELECT s.scope, ba.* FROM brand_authors ba
            JOIN (SELECT DISTINCT scope FROM period_rank) s ON s.scope IN ('{SCOPE_ALL}', ba.source)
        ),
        cand AS (
            SELECT coalesce(b.scope, g.scope) AS scope, coalesce(b.author_id, g.author_id) AS author_id,
                   coalesce(b.source, g.source) AS source,
                   coalesce(b.engagement, 0) AS engagement, coalesce(b.mentions, 0) AS mentions,
                   b.avg_sentiment, coalesce(b.sentiment_n, 0) AS sentiment_n, b.sentiment_sd,
                   coalesce(g.pagerank, 0) AS pagerank, coalesce(g.pr_rel, 0) AS pr_rel,
                   coalesce(g.in_weight, 0) AS in_weight
            FROM b FULL JOIN g ON b.scope = g.scope AND b.author_id = g.author_id
            WHERE b.author_id IS NOT NULL OR g.in_weight > 0
        ),
        people AS (
            SELECT c.*, coalesce(a.followers_count, 0) AS reach
            FROM cand c LEFT JOIN authors a ON a.author_id = c.author_id
            WHERE NOT coalesce(a.is_own, false) AND c.author_id NOT IN (SELECT author_id FROM owned_authors)
              AND lower(c.source || ':' || coalesce(a.handle, '')) NOT IN (SELECT unnest(?::VARCHAR[]))
              AND lower(replace(c.author_id, ':@', ':')) NOT IN (SELECT unnest(?::VARCHAR[]))
        ),
        normed AS (
            SELECT *,
                coalesce(ln(1 + engagement) / nullif(max(ln(1 + engagement)) OVER w, 0), 0) AS ne,
                coalesce(ln(1 + pr_rel) / nullif(max(ln(1 + pr_rel)) OVER w, 0), 0) AS np_,
                coalesce(ln(1 + reach) / nullif(max(ln(1 + reach)) OVER w, 0), 0) AS nr,
                coalesce(ln(1 + mentions) / nullif(max(ln(1 + mentions)) OVER w, 0), 0) AS nv,
                CASE WHEN mentions > {DAMPEN_AFTER_POSTS} AND source IN (SELECT source FROM metric_sources)
                     THEN least(1.0, sqrt((engagement + in_weight + 1) / mentions)) ELSE 1.0 END
                * CASE WHEN author_id IN (SELECT author_id FROM period_coordinated)
                       THEN {COORDINATED_DAMPING} ELSE 1.0 END AS d,
                author_id IN (SELECT author_id FROM period_coordinated) AS coordinated
            FROM people WINDOW w AS (PARTITION BY scope)
        ),
        scored AS (
            SELECT *, round(d * ({w["engagement"]} * ne + {w["pagerank"]} * np_ + {w["reach"]} * nr
                                 + {w["volume"]} * nv), 9) AS score
            FROM normed
        )
        SELECT ?, ?, ?, scope, author_id,
               row_number() OVER (PARTITION BY scope ORDER BY score DESC, author_id) AS rank,
               score, engagement, round(pagerank, 12), reach, mentions, round(avg_sentiment, 9), sentiment_n,
               round({t_interval_sql("avg_sentiment", "sentiment_sd", "sentiment_n", "low")}, 9),
               round({t_interval_sql("avg_sentiment", "sentiment_sd", "sentiment_n", "high")}, 9),
               NULL, {components}, now()
        FROM scored
        QUALIFY rank <= ?
        """,
        [
            owned_keys(settings),
            owned_keys(settings),
            period.kind,
            period.start,
            period.end,
            settings.analytics.top_influencers,
        ],
    ).fetchall()[0]
    return int(row[0])


def refresh_is_new(conn: duckdb.DuckDBPyConnection) -> None:
    """is_new = not ranked in the previous period of the same kind and scope.

    The previous week is the calendar week before; the previous rolling window
    is the one of the same length ending the day before it starts (`run`
    computes it when it is missing). Recomputed over the whole (small) table,
    so a recomputed week also corrects the week after it. Call inside a write
    transaction.
    """
    conn.execute(
        """
        UPDATE influencers SET is_new = x.is_new
        FROM (
            SELECT i.period_kind, i.scope, i.period_start, i.period_end, i.author_id,
                   p.author_id IS NULL AS is_new
            FROM influencers i
            LEFT JOIN influencers p ON p.period_kind = i.period_kind AND p.scope = i.scope
                 AND p.period_end = i.period_start - 1
                 AND p.period_start = i.period_start - CAST(i.period_end - i.period_start + 1 AS INTEGER)
                 AND p.author_id = i.author_id
        ) x
        WHERE influencers.period_kind = x.period_kind AND influencers.scope = x.scope
          AND influencers.period_start = x.period_start
          AND influencers.period_end = x.period_end AND influencers.author_id = x.author_id
          AND influencers.is_new IS DISTINCT FROM x.is_new
        """
    )
