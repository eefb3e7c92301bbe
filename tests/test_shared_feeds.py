"""Every feed of feedparser's own test suite goes through our mapper without an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
import pytest
from conftest import SHARED, shared_missing

from connectors.rss import map_feed

FEEDS = SHARED / "feeds"


@pytest.mark.skipif(not FEEDS.is_dir(), reason=shared_missing("feeds/ (feedparser's 2,100 test feeds)"))
def test_every_shared_feed_maps_without_exception():
    files = [p for p in FEEDS.rglob("*") if p.is_file() and p.suffix not in (".txt",) and p.name != "LICENSE"]
    assert len(files) > 2000
    now = datetime.now(UTC)
    mapped = 0
    for path in files:
        parsed = feedparser.parse(path.read_bytes())
        mentions, _problems = map_feed(parsed, f"http://127.0.0.1/{path.name}", None, now)
        for mention in mentions:
            assert mention.created_at.tzinfo is not None
            assert mention.title or mention.text
            mention.to_json()  # everything we keep in raw serialises
        mapped += len(mentions)
    assert mapped > 400
