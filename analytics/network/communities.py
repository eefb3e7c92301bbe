"""Where the conversation happens, per ISO week -> `communities`, `community_members`.

Native communities come from the data itself: the `community` of a mention
(subreddit, feed) as `native:<source>:<name>`, and hashtags used by at least
`MIN_MEMBERS` authors as `native:<source>:#tag`.

Detected communities come from modularity-Leiden on the week's undirected,
weighted interaction graph (`analytics.network.graph`); groups of at least
`MIN_MEMBERS` authors are kept. Their label is their most distinctive terms
and hashtags plus their most connected members. Ids are stable across weeks:
a group whose members overlap a group of the previous week with Jaccard >=
`KEEP_ID_JACCARD` keeps that group's id (greedy, best overlap first), else it
gets a new `c<n>`. On a recomputation, a group not matched to the previous
week keeps the id it had in the same week before, so reruns converge.

Distinctive terms are TF-IDF-like, in SQL: for a group, (share of its posts
using the term) * ln(posts in the week / posts in the week using the term),
over lowercased words and hashtags minus stopwords, terms used in at least
two of the group's posts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np

from analytics.definitions import is_placeholder
from analytics.network.graph import (
    Period,
    drop_period,
    leiden,
    load_graph,
    run_stale_weeks,
    stage_period,
    to_sql,
    undirected,
)
from listener.core.settings import Settings
from listener.store.connection import Store

MIN_MEMBERS = 3
KEEP_ID_JACCARD = 0.3
TOP_TERMS = 5
TOP_MEMBERS_IN_LABEL = 3
TOKEN_RE = r"#[\pL\pN_]+|\pL[\pL\pN_']*[\pL\pN_]"
STOPWORDS = sorted(
    set(
        """
a about above after again against all also am an and any are aren as at be because been before being
below between both but by can cannot could couldn did didn do does doesn doing don down during each
few for from further get got had has have having he her here hers herself him himself his how i if in
into is isn it it's its itself just let me more most my myself no nor not now of off on once only or
other ought our ours ourselves out over own rt same she should so some such than that that's the
their theirs them themselves then there these they this those through to too under until up very was
wasn we were weren what when where which while who whom why will with won would you your yours
yourself yourselves i'm you're i've it’s amp via http https www com really one like just
""".split()
    )
)


def run(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Recompute the stale ISO weeks, oldest first (ids chain from week to week)."""
    return run_stale_weeks(store, "communities", compute_week)


def compute_week(conn: duckdb.DuckDBPyConnection, week: Period) -> int:
    """Inside the caller's write transaction: replace one week's communities and members; returns
    communities written."""
    stage_period(conn, week)
    _stage_docs(conn, week)
    _stage_native(conn)
    _stage_detected(conn, week)
    written = _write(conn, week)
    for table in ("week_docs", "week_tokens", "groups", "group_members", "group_docs", "detected"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    drop_period(conn)
    return written


def _stage_docs(conn: duckdb.DuckDBPyConnection, week: Period) -> None:
    lo, hi = week.bounds
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE week_docs AS
        SELECT m.mention_id, m.author_id, m.source, m.community,
               regexp_replace(lower(concat_ws(' ', m.title, m.text)), 'https?://\\S+', ' ', 'g') AS txt,
               CASE WHEN s.supported IS NOT false THEN s.compound END AS compound
        FROM mentions m LEFT JOIN sentiment s USING (mention_id)
        WHERE m.created_at >= ? AND m.created_at < ? AND m.author_id IS NOT NULL
          AND NOT {is_placeholder("m.author_id")}
        """,
        [lo, hi],
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE week_tokens AS
        SELECT DISTINCT mention_id, source, author_id, token FROM (
            SELECT mention_id, source, author_id, unnest(regexp_extract_all(txt, '{TOKEN_RE.replace("'", "''")}')) AS token FROM week_docs)
        WHERE length(token) >= 3 AND token NOT IN (SELECT unnest(?::VARCHAR[]))
          AND NOT regexp_full_match(token, '#?[0-9_]+')
        """,
        [STOPWORDS],
    )


def _stage_native(conn: duckdb.DuckDBPyConnection) -> None:
    """`groups` (one row per community), `group_docs` and `group_members` for native communities."""
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE hashtags AS
        SELECT source, token FROM week_tokens
        WHERE token LIKE '#%' GROUP BY ALL HAVING count(DISTINCT author_id) >= ?
        """,
        [MIN_MEMBERS],
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE groups AS
        SELECT DISTINCT 'native:' || source || ':' || community AS community_id, 'native' AS kind,
               source, community AS label
        FROM week_docs WHERE community IS NOT NULL
        UNION
        SELECT 'native:' || source || ':' || token, 'native', source, token FROM hashtags
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE group_docs AS
        SELECT 'native:' || source || ':' || community AS community_id, mention_id
        FROM week_docs WHERE community IS NOT NULL
        UNION
        SELECT 'native:' || t.source || ':' || t.token, t.mention_id
        FROM week_tokens t SEMI JOIN hashtags h ON h.source = t.source AND h.token = t.token
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE group_members AS
        SELECT DISTINCT g.community_id, d.author_id FROM group_docs g JOIN week_docs d USING (mention_id)
        """
    )
    conn.execute("DROP TABLE hashtags")


def _stage_detected(conn: duckdb.DuckDBPyConnection, week: Period) -> None:
    """Leiden groups of >= MIN_MEMBERS as `detected(k, vid, strength)`, then their stable ids."""
    pg = load_graph(conn, "all")
    graph = undirected(pg.graph)
    membership = np.asarray(leiden(graph).membership) if graph.ecount() else np.zeros(0, dtype=np.int64)
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, dtype=np.int64)
    keep = sizes[membership] >= MIN_MEMBERS if len(membership) else np.zeros(0, dtype=bool)
    strength = np.asarray(graph.strength(weights="weight"), dtype=float) if graph.vcount() else np.zeros(0)
    to_sql(
        conn,
        "detected",
        {"k": membership[keep].astype(np.int64), "vid": pg.vids[keep].astype(np.int64), "strength": strength[keep]},
    )
    ids = _stable_ids(conn, week)
    to_sql(
        conn,
        "detected_ids",
        {
            "k": np.array(list(ids), dtype=np.int64),
            "community_id": np.array(list(ids.values()), dtype=object).astype(str),
        },
    )
    conn.execute(
        """
        INSERT INTO group_members
        SELECT i.community_id, v.author_id FROM detected d
        JOIN detected_ids i USING (k) JOIN period_vertices v USING (vid)
        """
    )
    conn.execute(
        "INSERT INTO group_docs SELECT DISTINCT m.community_id, d.mention_id "
        "FROM group_members m JOIN week_docs d USING (author_id) "
        "WHERE m.community_id IN (SELECT community_id FROM detected_ids)"
    )
    conn.execute(
        """
        INSERT INTO groups
        SELECT i.community_id, 'detected',
               CASE WHEN count(DISTINCT v.source) = 1 THEN any_value(v.source) END,
               string_agg(coalesce('@' || a.handle, v.author_id), ', ' ORDER BY d.strength DESC, v.author_id)
                   FILTER (d.rnk <= ?)
        FROM (SELECT *, row_number() OVER (PARTITION BY k ORDER BY strength DESC, vid) AS rnk FROM detected) d
        JOIN detected_ids i USING (k) JOIN period_vertices v USING (vid)
        LEFT JOIN authors a ON a.author_id = v.author_id
        GROUP BY i.community_id
        """,
        [TOP_MEMBERS_IN_LABEL],
    )
    conn.execute("DROP TABLE detected_ids")


def _stable_ids(conn: duckdb.DuckDBPyConnection, week: Period) -> dict[int, str]:
    """Group k -> id: previous week's best Jaccard match, else this week's old id, else a new c<n>."""
    prev = week.start - timedelta(days=7)
    pairs = conn.execute(
        """
        WITH new AS (SELECT d.k, v.author_id FROM detected d JOIN period_vertices v USING (vid)),
        old AS (
            SELECT m.period_start, m.community_id, m.author_id FROM community_members m
            JOIN communities c USING (period_start, community_id)
            WHERE c.kind = 'detected' AND m.period_start IN (?, ?)
        ),
        overlap AS (SELECT k, period_start, community_id, count(*) AS both_
                    FROM new JOIN old USING (author_id) GROUP BY ALL),
        new_n AS (SELECT k, count(*) AS n FROM new GROUP BY k),
        old_n AS (SELECT period_start, community_id, count(*) AS n FROM old GROUP BY ALL)
        SELECT o.k, o.community_id, o.period_start = ? AS from_prev,
               o.both_ / (a.n + b.n - o.both_) AS jaccard
        FROM overlap o JOIN new_n a USING (k) JOIN old_n b USING (period_start, community_id)
        WHERE o.both_ / (a.n + b.n - o.both_) >= ?
        ORDER BY from_prev DESC, jaccard DESC, o.k, o.community_id
        """,
        [prev, week.start, prev, KEEP_ID_JACCARD],
    ).fetchall()
    ids: dict[int, str] = {}
    for k, community_id, _, _ in pairs:  # previous week first, best overlap first
        if k not in ids and community_id not in ids.values():
            ids[int(k)] = community_id
    groups = [r[0] for r in conn.execute("SELECT DISTINCT k FROM detected ORDER BY k").fetchall()]
    next_n = _max_detected_number(conn) + 1
    for k in groups:
        if k not in ids:
            ids[int(k)] = f"c{next_n}"
            next_n += 1
    return ids


def _max_detected_number(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute(
        "SELECT max(TRY_CAST(substr(community_id, 2) AS BIGINT)) FROM communities WHERE kind = 'detected'"
    ).fetchall()[0]
    return int(row[0] or 0)


def _write(conn: duckdb.DuckDBPyConnection, week: Period) -> int:
    conn.execute("DELETE FROM communities WHERE period_start = ?", [week.start])
    conn.execute("DELETE FROM community_members WHERE period_start = ?", [week.start])
    row = conn.execute(
        f"""
        INSERT INTO communities (period_start, community_id, kind, source, label, size, mentions,
                                 avg_sentiment, top_terms, computed_at)
        WITH stats AS (
            SELECT g.community_id, count(DISTINCT d.mention_id) AS mentions,
                   round(avg(d.compound), 9) AS avg_sentiment
            FROM group_docs g JOIN week_docs d USING (mention_id) GROUP BY ALL
        ),
        sizes AS (SELECT community_id, count(*) AS size FROM group_members GROUP BY ALL),
        df AS (SELECT token, count(*) AS df FROM week_tokens GROUP BY ALL),
        total AS (SELECT count(*) AS n FROM week_docs),
        tf AS (
            SELECT g.community_id, t.token, count(*) AS tf
            FROM group_docs g JOIN week_tokens t USING (mention_id) GROUP BY ALL HAVING count(*) >= 2
        ),
        terms AS (
            SELECT community_id, list(token ORDER BY score DESC, token) AS top_terms FROM (
                SELECT tf.community_id, tf.token, round(tf.tf / s.mentions * ln(total.n / df.df), 9) AS score
                FROM tf JOIN df USING (token) JOIN stats s USING (community_id), total
                QUALIFY row_number() OVER (PARTITION BY tf.community_id ORDER BY score DESC, tf.token) <= {TOP_TERMS}
            ) GROUP BY ALL
        )
        SELECT ?, g.community_id, g.kind, g.source,
               CASE WHEN g.kind = 'detected'
                    THEN concat_ws(' · ', array_to_string(coalesce(t.top_terms[1:3], []), ', '), g.label)
                    ELSE g.label END,
               coalesce(z.size, 0), coalesce(s.mentions, 0), s.avg_sentiment,
               to_json(coalesce(t.top_terms, [])), now()
        FROM groups g LEFT JOIN stats s USING (community_id) LEFT JOIN sizes z USING (community_id)
        LEFT JOIN terms t USING (community_id)
        """,
        [week.start],
    ).fetchall()[0]
    conn.execute(
        "INSERT INTO community_members (period_start, community_id, author_id) "
        "SELECT DISTINCT ?, community_id, author_id FROM group_members",
        [week.start],
    )
    return int(row[0])
