"""The shape of each week's conversation network -> `conversation_shapes`.

Vocabulary from Pew Research Center's "Mapping Twitter Topic Networks: From
Polarized Crowds to Community Clusters" (Smith, Rainie, Shneiderman,
Himelboim, 2014). Measures are taken on the week's directed interaction graph
(`analytics.network.graph`) per scope (`all` and each source); structure measures use
the connected part (authors with at least one edge), isolates are counted
apart. Rules, first match wins (thresholds in `THRESHOLDS`):

1. fewer than 3 connected authors            -> brand clusters (nothing connects)
2. support network: one hub replies to many. Out-degree centralisation of
   reply edges >= 0.4 and the hub wrote >= 40% of the reply edges.
3. broadcast network: many repost/mention one hub. In-degree
   centralisation >= 0.4 and >= 50% of the hub's incoming interactions are
   reposts, quotes or mentions.
4. brand clusters: isolates >= 50% of active authors (many people talk about
   the topic, few talk to each other).
5. polarized crowd: Leiden modularity >= 0.3 and the two largest groups hold
   >= 70% of connected authors, the second >= 25% (two big groups, few bridges).
6. tight crowd: modularity < 0.3 (one interconnected crowd).
7. community clusters: otherwise (modularity >= 0.3, several mid-size groups).

Freeman degree centralisation on n connected vertices:
sum(max d - d_i) / (n - 1)^2, 1 for a perfect star, about 0 when even.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import duckdb
import igraph as ig
import numpy as np

from analytics.network.graph import (
    Period,
    drop_period,
    leiden,
    load_graph,
    period_scopes,
    run_stale_weeks,
    stage_period,
    undirected,
)
from listener.core.settings import Settings
from listener.store.connection import Store

THRESHOLDS: dict[str, float] = {
    "min_connected": 3,
    "support_reply_out_centralization": 0.4,
    "support_hub_reply_share": 0.4,
    "broadcast_in_centralization": 0.4,
    "broadcast_hub_amplified_share": 0.5,
    "brand_isolate_share": 0.5,
    "clustered_modularity": 0.3,
    "polarized_top2_share": 0.7,
    "polarized_second_share": 0.25,
    "group_min_size": 3,
}


def run(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Recompute the stale ISO weeks (all scopes each)."""
    return run_stale_weeks(store, "conversation_shapes", compute_week)


def compute_week(conn: duckdb.DuckDBPyConnection, week: Period) -> int:
    """Inside the caller's write transaction: replace one week's shapes; returns rows written."""
    stage_period(conn, week)
    results = [(scope, *classify(measure(load_graph(conn, scope).graph))) for scope in period_scopes(conn)]
    conn.execute("DELETE FROM conversation_shapes WHERE period_start = ?", [week.start])
    if results:
        conn.executemany(
            "INSERT INTO conversation_shapes (period_start, period_end, scope, shape, measures, computed_at) "
            "VALUES (?, ?, ?, ?, ?, now())",
            [[week.start, week.end, scope, shape, json.dumps(m, sort_keys=True)] for scope, shape, m in results],
        )
    drop_period(conn)
    return len(results)


def _centralization(degrees: np.ndarray) -> float:
    n = len(degrees)
    if n < 3:
        return 0.0
    return float((degrees.max() * n - degrees.sum()) / (n - 1) ** 2)


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else 0.0


def measure(graph: ig.Graph) -> dict[str, Any]:
    """Everything the rules look at, rounded so reruns store identical JSON."""
    active = graph.vcount()
    connected = np.flatnonzero(np.asarray(graph.degree()) > 0)
    sub = graph.induced_subgraph(connected.tolist())
    n, m = sub.vcount(), sub.ecount()
    kinds = {k: float(sum(sub.es[k])) if m else 0.0 for k in ("replies", "quotes", "reposts", "mentions")}
    total = sum(kinds.values())
    out: dict[str, Any] = {
        "active_authors": active,
        "nodes": n,
        "edges": m,
        "density": _share(m, n * (n - 1)),
        "isolate_share": _share(active - n, active),
        **{f"{k}_share": _share(v, total) for k, v in kinds.items()},
    }
    out.update(_hub_measures(sub, kinds))
    out.update(_group_measures(sub))
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}


def _hub_measures(sub: ig.Graph, kinds: dict[str, float]) -> dict[str, float]:
    n = sub.vcount()
    if n == 0:
        return {
            "in_centralization": 0.0,
            "out_centralization": 0.0,
            "reply_out_centralization": 0.0,
            "hub_amplified_share": 0.0,
            "hub_reply_share": 0.0,
        }
    indeg, outdeg = np.asarray(sub.indegree()), np.asarray(sub.outdegree())
    edges = np.asarray(sub.get_edgelist(), dtype=np.int64).reshape(-1, 2)
    replies = np.asarray(sub.es["replies"], dtype=float)
    amplified = (
        np.asarray(sub.es["reposts"], dtype=float)
        + np.asarray(sub.es["quotes"], dtype=float)
        + np.asarray(sub.es["mentions"], dtype=float)
    )
    reply_out = np.bincount(edges[replies > 0, 0], minlength=n)
    hub = int(indeg.argmax())
    into_hub = edges[:, 1] == hub
    replier = int(reply_out.argmax())
    return {
        "in_centralization": _centralization(indeg),
        "out_centralization": _centralization(outdeg),
        "reply_out_centralization": _centralization(reply_out),
        "hub_amplified_share": _share(amplified[into_hub].sum(), (amplified + replies)[into_hub].sum()),
        "hub_reply_share": _share(replies[edges[:, 0] == replier].sum(), kinds["replies"]),
    }


def _group_measures(sub: ig.Graph) -> dict[str, Any]:
    if sub.ecount() == 0:
        return {"modularity": 0.0, "groups": 0, "group_sizes": [], "top2_share": 0.0, "second_share": 0.0}
    clusters = leiden(undirected(sub))
    sizes = sorted(clusters.sizes(), reverse=True)
    n = sub.vcount()
    return {
        "modularity": float(clusters.modularity),
        "groups": sum(1 for s in sizes if s >= THRESHOLDS["group_min_size"]),
        "group_sizes": sizes[:10],
        "top2_share": _share(sum(sizes[:2]), n),
        "second_share": _share(sizes[1] if len(sizes) > 1 else 0, n),
    }


def classify(m: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Pew's six shapes from the measures; see the module docstring for the rules."""
    t = THRESHOLDS
    if m["nodes"] < t["min_connected"]:
        shape = "brand clusters"
    elif (
        m["reply_out_centralization"] >= t["support_reply_out_centralization"]
        and m["hub_reply_share"] >= t["support_hub_reply_share"]
    ):
        shape = "support network"
    elif (
        m["in_centralization"] >= t["broadcast_in_centralization"]
        and m["hub_amplified_share"] >= t["broadcast_hub_amplified_share"]
    ):
        shape = "broadcast network"
    elif m["isolate_share"] >= t["brand_isolate_share"]:
        shape = "brand clusters"
    elif (
        m["modularity"] >= t["clustered_modularity"]
        and m["top2_share"] >= t["polarized_top2_share"]
        and m["second_share"] >= t["polarized_second_share"]
    ):
        shape = "polarized crowd"
    elif m["modularity"] < t["clustered_modularity"]:
        shape = "tight crowd"
    else:
        shape = "community clusters"
    return shape, m
