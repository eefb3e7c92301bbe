"""Influencer ranking on real DuckDB files loaded through the real loader.

The small data builder here (`Posts`, `new_store`, `load`) is shared with
test_communities.py and test_shapes.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from analytics.network import influencers
from listener import pipeline
from listener.core.settings import Settings, settings_from_dict
from listener.ingest.loader import (
    BATCH_SCHEMA,
    LoadResult,
    load_batch,
    resolve_pending_interactions,
)
from listener.store.connection import Store

MONDAY = date(2026, 3, 2)


def at(day: date, hour: int = 12) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()


@dataclass
class Posts:
    """Canonical mention documents, numbered; edges expressed the way connectors give them."""

    docs: list[dict[str, Any]] = field(default_factory=list)

    def post(
        self,
        author: str,
        day: date = MONDAY,
        text: str = "acme is great",
        source: str = "x",
        followers: int | None = None,
        likes: int = 0,
        reposts: int = 0,
        replies: int = 0,
        reply_to: str | None = None,
        repost_of: str | None = None,
        mention: str | None = None,
        community: str | None = None,
        metrics: bool = True,
    ) -> str:
        native = f"p{len(self.docs)}"
        doc: dict[str, Any] = {
            "source": source,
            "id": native,
            "created_at": at(day),
            "text": text,
            "lang": "en",
            "author": {"id": author, "handle": author, "followers": followers},
            "community": community,
        }
        if metrics:
            doc["metrics"] = {"likes": likes, "reposts": reposts, "replies": replies, "quotes": 0}
        if reply_to:  # the parent post is not in the store; the network told us its author
            doc["parent_id"], doc["in_reply_to_author"] = f"{native}-parent", reply_to
        if repost_of:
            doc["repost_of"] = f"{native}-orig"
            doc["referenced_authors"] = {f"{native}-orig": repost_of}
        if mention:
            doc["mentions"] = [mention]
        self.docs.append(doc)
        return native


def new_store(tmp_path: Path, **analytics: Any) -> tuple[Store, Settings]:
    settings = settings_from_dict(
        {
            "organization": {"name": "Acme", "brand_terms": ["acme"], "own_accounts": {"x": ["acme"]}},
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "analytics": analytics,
        }
    )
    return Store(settings.store_path), settings


def load(store: Store, settings: Settings, docs: list[dict[str, Any]]) -> None:
    rules = pipeline.prepare(store, settings)
    batch = pa.table(
        {"line_no": list(range(1, len(docs) + 1)), "doc": [json.dumps(d) for d in docs]}, schema=BATCH_SCHEMA
    )

    def load_and_resolve(conn: duckdb.DuckDBPyConnection) -> LoadResult:
        result = load_batch(conn, batch, "test", rules)
        resolve_pending_interactions(conn)
        return result

    result = store.write_transaction(load_and_resolve, "test")
    assert not result.errors


def ranking(store: Store, kind: str = "week", start: date = MONDAY, scope: str = "all") -> list[str]:
    return [
        r[0]
        for r in store.conn.execute(
            "SELECT author_id FROM influencers WHERE period_kind = ? AND period_start = ? AND scope = ? ORDER BY rank",
            [kind, start, scope],
        ).fetchall()
    ]


@pytest.fixture
def conversation(tmp_path: Path) -> tuple[Store, Settings]:
    store, settings = new_store(tmp_path)
    p = Posts()
    p.post("hub", text="acme news: the new grinder is out", likes=5, replies=30, followers=800)
    for i in range(30):
        p.post(f"fan{i}", text=f"@hub acme grinder question {i}", reply_to="hub", likes=1, followers=50)
        p.post("acme", text=f"acme here, thanks fan{i}!", reply_to=f"fan{i}", likes=200)  # own account
    for _ in range(3):
        p.post("celeb", text="acme exists", followers=10_000_000)
    for i in range(500):
        p.post("spammer", text=f"buy acme cheap {i}", followers=3)
    p.post("acme", text="acme official announcement", likes=5000, reposts=900)
    for i in range(5):
        p.post(f"booster{i}", text="acme!", repost_of="acme")
    load(store, settings, p.docs)
    return store, settings


def test_hub_outranks_followers_spam_and_own_accounts_never_rank(conversation):
    store, settings = conversation
    report = influencers.run(store, settings, today=MONDAY + timedelta(days=6))
    assert report["periods"] == ["week:2026-03-02", "rolling:2026-02-09"]
    top = ranking(store)
    assert top[0] == "x:hub"
    assert top.index("x:hub") < top.index("x:celeb")
    assert "x:spammer" not in top[:10]
    assert not store.conn.execute("SELECT count(*) FROM influencers WHERE author_id LIKE '%acme'").fetchone()[0]
    damp = store.conn.execute(
        "SELECT components->>'dampening' FROM influencers WHERE author_id = 'x:spammer' AND period_kind = 'week'"
    ).fetchone()
    assert damp is None or float(damp[0]) < 0.1
    hub = store.conn.execute(
        "SELECT engagement, mentions, reach, components FROM influencers "
        "WHERE author_id = 'x:hub' AND period_kind = 'week'"
    ).fetchone()
    assert hub[:3] == (65.0, 1, 800)
    assert set(json.loads(hub[3])) == {
        "engagement",
        "pagerank",
        "reach",
        "volume",
        "dampening",
        "coordinated",
        "weights",
    }
    assert ranking(store, "rolling", MONDAY + timedelta(days=6 - 27)) == top


def test_is_new_across_weeks_and_reruns_converge(tmp_path: Path):
    store, settings = new_store(tmp_path, top_influencers=3, rolling_days=14)
    p = Posts()
    next_week = MONDAY + timedelta(days=7)
    for name, n in (("ann", 3), ("bob", 2), ("cyd", 1)):
        for _ in range(n):
            p.post(name, likes=10 * n)
    for name, n in (("ann", 3), ("bob", 2), ("dee", 5)):
        for _ in range(n):
            p.post(name, day=next_week, likes=10 * n)
    p.post("red", source="reddit", text="acme on reddit", day=next_week, community="r/coffee")
    load(store, settings, p.docs)
    today = next_week + timedelta(days=6)
    first = influencers.run(store, settings, today=today)
    assert first["periods"] == ["week:2026-03-02", "week:2026-03-09", "rolling:2026-03-02"]
    is_new = dict(
        store.conn.execute(
            "SELECT author_id, is_new FROM influencers WHERE period_kind = 'week' AND period_start = ? "
            "AND scope = 'all'",
            [next_week],
        ).fetchall()
    )
    assert is_new == {"x:dee": True, "x:ann": False, "x:bob": False}
    assert all(
        r[0] for r in store.conn.execute("SELECT is_new FROM influencers WHERE period_start = ?", [MONDAY]).fetchall()
    )
    assert ranking(store, "week", next_week, "reddit") == ["reddit:red"]

    query = "SELECT * EXCLUDE (computed_at) FROM influencers ORDER BY ALL"
    before = store.conn.execute(query).fetchall()
    again = influencers.run(store, settings, today=today)
    assert again["periods"] == ["rolling:2026-03-02"]  # nothing changed: only the rolling window
    assert store.conn.execute(query).fetchall() == before

    load(store, settings, p.docs[:1])  # the same post again: unchanged, so no week to recompute
    assert influencers.run(store, settings, today=today)["periods"] == ["rolling:2026-03-02"]
    edited = {**p.docs[0], "text": p.docs[0]["text"] + " (edited)"}
    load(store, settings, [edited])  # the first week's post edited: that week recomputed, same rows
    third = influencers.run(store, settings, today=today)
    assert third["periods"] == ["week:2026-03-02", "rolling:2026-03-02"]
    assert store.conn.execute(query).fetchall() == before


def test_a_first_rolling_ranking_tells_newcomers_from_those_ranked_the_window_before(tmp_path: Path):
    """On a first run (a backfill, the demo) the window before the rolling one is ranked too, so
    `is_new` is not true for everyone; later runs find that window computed and leave it alone."""
    store, settings = new_store(tmp_path, top_influencers=5, rolling_days=7)
    p = Posts()
    for name in ("ann", "bob"):
        p.post(name, likes=10)  # the window before: 2026-03-02 .. 03-08
    for name in ("ann", "cyd"):
        p.post(name, day=MONDAY + timedelta(days=7), likes=10)  # the current one: 03-09 .. 03-15
    load(store, settings, p.docs)
    today = MONDAY + timedelta(days=13)
    first = influencers.run(store, settings, today=today)
    assert first["periods"] == ["week:2026-03-02", "week:2026-03-09", "rolling:2026-03-02", "rolling:2026-03-09"]
    current = dict(store.conn.execute("SELECT author_id, is_new FROM top_influencers_current").fetchall())
    assert current == {"x:ann": False, "x:cyd": True}
    again = influencers.run(store, settings, today=today)
    assert again["periods"] == ["rolling:2026-03-09"]
    assert dict(store.conn.execute("SELECT author_id, is_new FROM top_influencers_current").fetchall()) == current
