"""Conversation shapes: one textbook network per ISO week, each classified by the rules."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import igraph as ig
from test_influencers import MONDAY, Posts, load, new_store

from analytics.network import shapes


def week(n: int):
    return MONDAY + timedelta(days=7 * n)


def replies(p: Posts, graph: ig.Graph, prefix: str, day) -> None:
    for a, b in graph.get_edgelist():
        p.post(f"{prefix}{a}", day=day, text="acme talk", reply_to=f"{prefix}{b}")


def scenarios() -> dict[str, list]:
    random.seed(3)
    p = Posts()
    for i in range(20):  # 0: everyone reposts one account
        p.post(f"fan{i}", day=week(0), repost_of="news")
    for i in range(20):  # 1: one account answers everyone
        p.post(f"customer{i}", day=week(1), text="acme broke", mention="help")
        p.post("help", day=week(1), text=f"sorry customer{i}", reply_to=f"customer{i}")
    two = ig.Graph.SBM([[0.5, 0.005], [0.005, 0.5]], [15, 15], directed=False)  # 2: two camps
    replies(p, two, "camp", week(2))
    replies(p, ig.Graph.Erdos_Renyi(15, 0.6), "crowd", week(3))  # 3: one dense crowd
    five = ig.Graph.SBM([[0.6 if i == j else 0.004 for j in range(5)] for i in range(5)], [10] * 5)
    replies(p, five, "club", week(4))  # 4: several mid-size groups
    for i in range(30):  # 5: many people talk about the brand, hardly to each other
        p.post(f"solo{i}", day=week(5))
    p.post("solo0", day=week(5), reply_to="solo1")
    p.post("solo2", day=week(5), reply_to="solo3")
    p.post("r1", source="reddit", day=week(5), text="acme", reply_to="r2")
    return {"docs": p.docs}


EXPECTED = [
    "broadcast network",
    "support network",
    "polarized crowd",
    "tight crowd",
    "community clusters",
    "brand clusters",
]


def test_textbook_networks_get_their_shape_and_reruns_converge(tmp_path: Path):
    store, settings = new_store(tmp_path)
    load(store, settings, scenarios()["docs"])
    report = shapes.run(store, settings)
    assert len(report["periods"]) == 6
    got = dict(store.conn.execute("SELECT period_start, shape FROM conversation_shapes WHERE scope = 'all'").fetchall())
    assert [got[week(i)] for i in range(6)] == EXPECTED
    scopes = store.conn.execute(
        "SELECT scope, shape FROM conversation_shapes WHERE period_start = ? ORDER BY scope", [week(5)]
    ).fetchall()
    assert scopes == [("all", "brand clusters"), ("reddit", "brand clusters"), ("x", "brand clusters")]

    star = json.loads(
        store.conn.execute(
            "SELECT measures FROM conversation_shapes WHERE period_start = ? AND scope = 'all'", [week(0)]
        ).fetchone()[0]
    )
    assert star["in_centralization"] == 1.0 and star["reposts_share"] == 1.0 and star["nodes"] == 21
    camps = json.loads(
        store.conn.execute(
            "SELECT measures FROM conversation_shapes WHERE period_start = ? AND scope = 'all'", [week(2)]
        ).fetchone()[0]
    )
    assert camps["modularity"] > 0.3 and camps["group_sizes"][:2] == [15, 15]

    query = "SELECT * EXCLUDE (computed_at) FROM conversation_shapes ORDER BY ALL"
    before = store.conn.execute(query).fetchall()
    assert shapes.run(store, settings)["periods"] == []
    load(store, settings, scenarios()["docs"])  # the same posts again: unchanged, nothing to recompute
    assert shapes.run(store, settings)["periods"] == []
    edited = [{**d, "metrics": {**(d.get("metrics") or {}), "likes": 7}} for d in scenarios()["docs"]]
    load(store, settings, edited)  # every post changed (its likes): every week recomputed, same shapes
    assert len(shapes.run(store, settings)["periods"]) == 6
    assert store.conn.execute(query).fetchall() == before


def test_classify_rules_in_order():
    base = {
        "nodes": 50,
        "reply_out_centralization": 0.0,
        "hub_reply_share": 0.0,
        "in_centralization": 0.0,
        "hub_amplified_share": 0.0,
        "isolate_share": 0.1,
        "modularity": 0.5,
        "top2_share": 0.4,
        "second_share": 0.2,
    }
    assert shapes.classify({**base, "nodes": 2})[0] == "brand clusters"
    assert (
        shapes.classify(
            {
                **base,
                "reply_out_centralization": 0.9,
                "hub_reply_share": 0.9,
                "in_centralization": 0.9,
                "hub_amplified_share": 0.9,
            }
        )[0]
        == "support network"
    )
    assert shapes.classify({**base, "in_centralization": 0.9, "hub_amplified_share": 0.4})[0] == "community clusters"
    assert shapes.classify({**base, "isolate_share": 0.6})[0] == "brand clusters"
    assert shapes.classify({**base, "top2_share": 0.8, "second_share": 0.3})[0] == "polarized crowd"
    assert shapes.classify({**base, "modularity": 0.1})[0] == "tight crowd"
