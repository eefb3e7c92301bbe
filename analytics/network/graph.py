"""Period interaction graphs: SQL aggregates the edges, igraph holds the graph.

An edge `a -> b` means `a` paid attention to `b` (replied to, commented on,
quoted, reposted or mentioned them), so importance flows towards `b`. Each
interaction adds its kind's weight to the pair's edge:

    reply 3, comment 3, quote 3   a written response: effort and a conversation
    repost 2                      amplification without words of one's own
    mention 1                     naming someone, often in passing or in lists

Interactions without a known target, self-loops and placeholder authors
(`<source>:unknown`, `<source>:[deleted]`) are left out. Authors are namespaced
by source, so the `all` graph is the disjoint union of the per-source graphs.

Vertices are integer-coded in SQL (`period_vertices`), edges arrive as numpy
arrays and become an igraph Graph in one call: no per-edge Python loop.
Results go back to SQL as Arrow tables keyed by the same integer ids.

Also here: the ISO-week periods shared by the analytics modules and the rule
that decides which of them must be recomputed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import igraph as ig
import numpy as np
import pyarrow as pa

from analytics.definitions import is_placeholder, iso_week, utc_day
from analytics.network.period_cache import kept_name
from listener.store.connection import Claim, Store, temp_table_exists

KIND_WEIGHTS: dict[str, int] = {"reply": 3, "comment": 3, "quote": 3, "repost": 2, "mention": 1}
LEIDEN_SEED = 20140220  # Pew's report date: any fixed seed makes reruns identical
SCOPE_ALL = "all"


@dataclass(frozen=True)
class Period:
    kind: str  # 'week' or 'rolling'
    start: date
    end: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end + 1 day) as UTC timestamps, for created_at filters."""
        lo = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return lo, lo + timedelta(days=(self.end - self.start).days + 1)


@dataclass
class PeriodGraph:
    """A directed graph of one period and scope; vertex i is `vids[i]` in `period_vertices`."""

    graph: ig.Graph
    vids: np.ndarray  # global vertex id of each local vertex
    scope: str


def utc_today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def week_of(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return Period("week", monday, monday + timedelta(days=6))


def rolling_window(today: date, days: int) -> Period:
    return Period("rolling", today - timedelta(days=days - 1), today)


def stale_weeks(conn: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> list[Period]:
    """ISO weeks with mentions changed (or scored) after the week's last `computed_at` in `table`.

    Weeks never computed count as stale. A week that produced no rows has no
    `computed_at`, so it is looked at again next time (cheap: it is empty).
    """
    rows = conn.execute(
        f"""
        WITH changed AS (
            SELECT {iso_week(utc_day("m.created_at"))} AS week,
                   max(greatest(m.updated_at, s.scored_at)) AS changed_at
            FROM mentions m LEFT JOIN sentiment s USING (mention_id)
            GROUP BY ALL
        ),
        done AS (SELECT period_start, max(computed_at) AS at FROM {table} WHERE {where} GROUP BY ALL)
        SELECT c.week FROM changed c LEFT JOIN done d ON d.period_start = c.week
        WHERE d.at IS NULL OR c.changed_at > d.at
        ORDER BY c.week
        """
    ).fetchall()
    return [week_of(row[0]) for row in rows]


def stage_period(conn: duckdb.DuckDBPyConnection, period: Period) -> int:
    """Temp tables `period_edges` and `period_vertices` for one period; returns the vertex count.

    Vertices are every author active in the period (so isolates count) plus
    every edge endpoint, numbered globally (`vid`) and within their source (`svid`).
    """
    kept = kept_name(conn, period.start, period.end)  # analytics.network.period_cache
    if kept and temp_table_exists(conn, f"{kept}_e"):
        conn.execute(f"CREATE OR REPLACE TEMP TABLE period_vertices AS SELECT * FROM {kept}_v")
        conn.execute(f"CREATE OR REPLACE TEMP TABLE period_edges AS SELECT * FROM {kept}_e")
    else:
        _build_period(conn, period)
        if kept:
            conn.execute(f"CREATE OR REPLACE TEMP TABLE {kept}_v AS SELECT * FROM period_vertices")
            conn.execute(f"CREATE OR REPLACE TEMP TABLE {kept}_e AS SELECT * FROM period_edges")
    return int(conn.execute("SELECT count(*) FROM period_vertices").fetchall()[0][0])


def _build_period(conn: duckdb.DuckDBPyConnection, period: Period) -> None:
    lo, hi = period.bounds
    weight = "CASE kind " + " ".join(f"WHEN '{k}' THEN {w}" for k, w in KIND_WEIGHTS.items()) + " ELSE 0 END"
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE period_pairs AS
        SELECT source, from_author_id AS src, to_author_id AS dst,
               sum({weight})::DOUBLE AS weight,
               count(*) FILTER (kind IN ('reply', 'comment')) AS replies,
               count(*) FILTER (kind = 'quote') AS quotes,
               count(*) FILTER (kind = 'repost') AS reposts,
               count(*) FILTER (kind = 'mention') AS mentions
        FROM interactions
        WHERE created_at >= ? AND created_at < ? AND to_author_id IS NOT NULL
          AND from_author_id IS NOT NULL AND from_author_id <> to_author_id
          AND NOT {is_placeholder("from_author_id")} AND NOT {is_placeholder("to_author_id")}
        GROUP BY ALL
        """,
        [lo, hi],
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE period_vertices AS
        SELECT author_id, source,
               (row_number() OVER (ORDER BY author_id) - 1)::BIGINT AS vid,
               (row_number() OVER (PARTITION BY source ORDER BY author_id) - 1)::BIGINT AS svid
        FROM (
            SELECT author_id, source FROM mentions
            WHERE created_at >= ? AND created_at < ? AND author_id IS NOT NULL AND NOT {is_placeholder("author_id")}
            UNION SELECT src, source FROM period_pairs
            UNION SELECT dst, source FROM period_pairs
        )
        """,
        [lo, hi],
    )
    # Join on author_id alone (ids carry their source): with `source` in the
    # condition too, DuckDB once joined vertices with vertices on source first.
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE period_edges AS
        SELECT p.source, a.vid AS src, b.vid AS dst, a.svid AS ssrc, b.svid AS sdst,
               p.weight, p.replies, p.quotes, p.reposts, p.mentions
        FROM period_pairs p
        JOIN period_vertices a ON a.author_id = p.src
        JOIN period_vertices b ON b.author_id = p.dst
        """
    )
    conn.execute("DROP TABLE period_pairs")


def period_scopes(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """'all' and each source present in the staged period."""
    sources = [r[0] for r in conn.execute("SELECT DISTINCT source FROM period_vertices ORDER BY 1").fetchall()]
    return [SCOPE_ALL, *sources] if sources else []


def load_graph(conn: duckdb.DuckDBPyConnection, scope: str) -> PeriodGraph:
    """The staged period's directed graph for a scope, with edge attributes weight and kind counts."""
    local = scope != SCOPE_ALL
    where, params = ("WHERE source = ?", [scope]) if local else ("", [])
    vids = conn.execute(
        f"SELECT vid FROM period_vertices {where} ORDER BY {'svid' if local else 'vid'}", params
    ).fetchnumpy()["vid"]
    cols = conn.execute(
        f"SELECT {'ssrc, sdst' if local else 'src, dst'}, weight, replies, quotes, reposts, mentions "
        f"FROM period_edges {where} ORDER BY 1, 2",
        params,
    ).fetchnumpy()
    src, dst = (np.asarray(cols[k]) for k in (("ssrc", "sdst") if local else ("src", "dst")))
    graph = ig.Graph(n=len(vids), edges=list(zip(src.tolist(), dst.tolist())), directed=True)
    for name in ("weight", "replies", "quotes", "reposts", "mentions"):
        graph.es[name] = np.asarray(cols[name]).tolist()
    return PeriodGraph(graph=graph, vids=np.asarray(vids), scope=scope)


def undirected(graph: ig.Graph) -> ig.Graph:
    """Both directions of a pair summed into one edge: who talks with whom, and how much."""
    return graph.as_undirected(
        combine_edges={"weight": "sum", "replies": "sum", "quotes": "sum", "reposts": "sum", "mentions": "sum"}
    )


@contextmanager
def seeded_rng(seed: int = LEIDEN_SEED) -> Iterator[None]:
    """igraph draws from Python's RNG; a fixed seed makes Leiden (and reruns) reproducible."""
    ig.set_random_number_generator(random.Random(seed))
    try:
        yield
    finally:
        ig.set_random_number_generator(random)


def leiden(graph: ig.Graph) -> ig.VertexClustering:
    """Modularity-Leiden on an undirected weighted graph (Louvain can return badly connected groups).

    Two iterations: on 100k-edge weeks iterating to convergence cost minutes
    for a modularity gain in the third decimal.
    """
    with seeded_rng():
        return graph.community_leiden(objective_function="modularity", weights="weight", n_iterations=2)


def to_sql(conn: duckdb.DuckDBPyConnection, name: str, columns: dict[str, np.ndarray | list]) -> None:
    """Materialise Python results as a temp table, for joining back in SQL."""
    table = pa.table({k: pa.array(v) for k, v in columns.items()})
    conn.register(f"{name}_arrow", table)
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    finally:
        conn.unregister(f"{name}_arrow")


def drop_period(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("DROP TABLE IF EXISTS period_edges")
    conn.execute("DROP TABLE IF EXISTS period_vertices")


def unless_done_meanwhile(
    table: str,
    week: Period,
    compute_week: Callable[[duckdb.DuckDBPyConnection, Period], int],
    where: str = "true",
) -> Callable[[duckdb.DuckDBPyConnection], int]:
    """A week's unit of work that, when run again after a lost write conflict, first asks
    whether the week is still stale: on DuckLake the worker that won has usually computed
    it, and recomputing would lose again to that worker's next week (a livelock that
    outlasted every retry when two workers analysed the same weeks in the same order)."""
    attempts = 0

    def unit(conn: duckdb.DuckDBPyConnection) -> int:
        nonlocal attempts
        attempts += 1
        if attempts > 1 and week not in stale_weeks(conn, table, where):
            return 0
        return compute_week(conn, week)

    return unit


def run_stale_weeks(
    store: Store,
    table: str,
    compute_week: Callable[[duckdb.DuckDBPyConnection, Period], int],
    prepare: Callable[[list[Period]], None] | None = None,
) -> dict[str, object]:
    """The weekly steps' common run: recompute the stale ISO weeks oldest first, each week in its
    own write transaction (`compute_week` replaces the week's rows), and report them. `prepare`
    is called with the stale weeks first, when there are any."""
    started = time.perf_counter()
    weeks = stale_weeks(store.conn, table)
    if weeks and prepare is not None:
        prepare(weeks)
    rows = 0
    for week in weeks:
        unit = unless_done_meanwhile(table, week, compute_week)
        rows += store.write_transaction(unit, f"{table} {week.start}", claim=Claim.ANALYSIS)
    return {
        "periods": [f"week:{w.start}" for w in weeks],
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 3),
    }
