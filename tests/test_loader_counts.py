"""The loader's merge of a mention seen again: a record without engagement counts (a Jetstream
event, a feed entry) keeps the counts a search gave; new counts replace them; a real DuckDB store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from conftest import table_rows

from listener import pipeline
from listener.core.models import AuthorRef, Mention, Metrics
from listener.core.settings import settings_from_dict
from listener.ingest.loader import load_batch
from listener.store.connection import Store

COUNTS = "SELECT like_count, repost_count, reply_count, quote_count, text FROM mentions"


def _post(metrics: Metrics, text: str = "acme cold brew is back") -> Mention:
    return Mention(
        source="bluesky",
        id="at://did:plc:abc/app.bsky.feed.post/3k",
        created_at=datetime(2026, 11, 20, 9, tzinfo=UTC),
        author=AuthorRef(id="did:plc:abc", handle="abc.bsky.social"),
        text=text,
        metrics=metrics,
    )


def _load(db: Path, mention: Mention) -> None:
    settings = settings_from_dict(
        {"organization": {"name": "Acme", "brand_terms": ["acme"]}, "store": {"path": str(db)}}
    )
    with Store(db) as store:
        rules = pipeline.prepare(store, settings)
        batch = pipeline.mentions_to_batch([mention])
        store.write_transaction(lambda conn: load_batch(conn, batch, "test", rules), "test")


def test_a_record_without_counts_keeps_the_known_ones(tmp_path: Path) -> None:
    db = tmp_path / "listener.duckdb"
    _load(db, _post(Metrics(likes=12, reposts=3, replies=2, quotes=1)))
    _load(db, _post(Metrics()))
    assert table_rows(db, COUNTS) == [(12, 3, 2, 1, "acme cold brew is back")]
    _load(db, _post(Metrics(), text="acme cold brew is back!"))  # an edit: the text changes, counts stay
    assert table_rows(db, COUNTS) == [(12, 3, 2, 1, "acme cold brew is back!")]
    _load(db, _post(Metrics(likes=20, reposts=0, replies=2, quotes=1), text="acme cold brew is back!"))
    assert table_rows(db, COUNTS) == [(20, 0, 2, 1, "acme cold brew is back!")]  # zero is a count, not "unknown"
