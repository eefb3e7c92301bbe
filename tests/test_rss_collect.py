"""RSS collection end to end: real HTTP on 127.0.0.1, real feedparser, real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FeedServer, Route, rss_feed, run_cli, table_rows

ITEMS = [
    {
        "title": "Acme coffee is great",
        "guid": "http://example.com/p/1",
        "link": "http://example.com/p/1",
        "pubDate": "Tue, 10 Nov 2026 04:00:00 GMT",
        "description": "&lt;p&gt;I &lt;b&gt;love&lt;/b&gt; Acme coffee!&lt;/p&gt;",
        "author": "jane@example.com (Jane)",
    },
    {
        "title": "Globex vs Acme",
        "guid": "http://example.com/p/2",
        "link": "http://example.com/p/2",
        "pubDate": "Wed, 11 Nov 2026 10:00:00 +0200",
        "description": "Globex is worse than acme.",
    },
    {
        "title": "Acme anvil cartoons",
        "guid": "http://example.com/p/3",
        "pubDate": "Thu, 12 Nov 2026 10:00:00 GMT",
        "description": "Classic acme anvil gags.",
    },
]


def _db(tmp_path: Path) -> Path:
    return tmp_path / "listener.duckdb"


def test_collect_then_rerun_inserts_nothing_new(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/a.xml"] = Route(
        body=rss_feed(ITEMS), etag='"v1"', last_modified="Thu, 12 Nov 2026 10:00:00 GMT"
    )
    config = config_for([feed_server.url("/a.xml")])
    first = run_cli("--config", str(config), "run", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["sources"][0]["inserted"] == 3
    assert report["sources"][0]["status"] == "ok", report
    rows = table_rows(_db(tmp_path), "SELECT mention_id, text, created_at FROM mentions ORDER BY 1")
    assert [r[0] for r in rows] == [
        "rss:http://example.com/p/1",
        "rss:http://example.com/p/2",
        "rss:http://example.com/p/3",
    ]
    assert rows[0][1] == "I love Acme coffee!"  # HTML reduced to text
    assert rows[1][2].isoformat() == "2026-11-11T08:00:00+00:00"  # timezone-aware, UTC
    topics = table_rows(_db(tmp_path), "SELECT mention_id, topic FROM mention_topics ORDER BY 1, 2")
    assert ("rss:http://example.com/p/3", "Acme") not in topics  # "acme anvil" is excluded
    assert ("rss:http://example.com/p/2", "Globex") in topics
    assert table_rows(_db(tmp_path), "SELECT count(*) FROM sentiment") == [(3,)]
    cursor = json.loads(table_rows(_db(tmp_path), "SELECT value FROM cursors")[0][0])
    assert cursor == {"etag": '"v1"', "modified": "Thu, 12 Nov 2026 10:00:00 GMT"}

    second = run_cli("--config", str(config), "run", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["sources"][0]
    assert (again["fetched"], again["inserted"]) == (0, 0)
    assert feed_server.requests[-1][1].get("If-None-Match") == '"v1"'  # conditional GET -> 304
    assert table_rows(_db(tmp_path), "SELECT count(*) FROM mentions") == [(3,)]


def test_changed_feed_updates_without_duplicates(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS[:2]))
    config = config_for([feed_server.url("/a.xml")])
    assert run_cli("--config", str(config), "run").returncode == 0
    edited = [dict(ITEMS[0], description="Acme coffee got worse, terrible."), ITEMS[1], ITEMS[2]]
    feed_server.routes["/a.xml"] = Route(body=rss_feed(edited))
    result = run_cli("--config", str(config), "run", "--json")
    assert result.returncode == 0, result.stderr
    src = json.loads(result.stdout)["sources"][0]
    assert (src["inserted"], src["updated"]) == (1, 2)
    rows = table_rows(
        _db(tmp_path),
        "SELECT m.text, s.label FROM mentions m JOIN sentiment s USING (mention_id) "
        "WHERE mention_id = 'rss:http://example.com/p/1'",
    )
    assert rows == [("Acme coffee got worse, terrible.", "negative")]  # edited text is scored again


def test_failing_feeds_are_reported_and_others_kept(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/good.xml"] = Route(body=rss_feed(ITEMS))
    feed_server.routes["/boom.xml"] = Route(status=500, body=b"error")
    feed_server.routes["/slow.xml"] = Route(body=rss_feed(ITEMS), delay=3)
    feed_server.routes["/garbage.xml"] = Route(body=bytes(range(256)) * 10)
    feeds = [feed_server.url(p) for p in ("/missing.xml", "/boom.xml", "/slow.xml", "/garbage.xml", "/good.xml")]
    config = config_for(feeds)
    result = run_cli("--config", str(config), "collect", "--json")
    assert result.returncode == 1  # a source failed, the good feed still committed
    run = json.loads(result.stdout)["sources"][0]
    assert run["status"] == "partial" and run["inserted"] == 3
    assert "missing.xml: HTTP 404" in run["error"]
    assert "boom.xml: HTTP 500" in run["error"]
    assert "slow.xml: timed out" in run["error"]
    assert "garbage.xml: not a readable RSS/Atom feed" in run["error"]
    assert sum(1 for path, _ in feed_server.requests if path == "/boom.xml") == 2  # one retry
    ledger = table_rows(tmp_path / "listener.duckdb", "SELECT status, inserted, error FROM runs")
    assert ledger[0][0] == "partial" and "404" in ledger[0][2]


def test_server_error_then_success_is_retried(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/flaky.xml"] = Route(body=rss_feed(ITEMS), failures=[503])
    config = config_for([feed_server.url("/flaky.xml")])
    result = run_cli("--config", str(config), "collect")
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_rows(tmp_path / "listener.duckdb", "SELECT count(*) FROM mentions") == [(3,)]


def test_ill_formed_feed_is_kept_with_warning(tmp_path, feed_server: FeedServer, config_for):
    broken = rss_feed(ITEMS).replace(b"<title>Acme coffee is great</title>", b"<title>Acme & friends &nbsp;</title>")
    feed_server.routes["/broken.xml"] = Route(body=broken)
    config = config_for([feed_server.url("/broken.xml")])
    result = run_cli("--config", str(config), "collect", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)["sources"][0]
    assert run["status"] == "warning" and run["inserted"] >= 1
    assert any("ill-formed feed" in w for w in run["warnings"])
    warnings = table_rows(tmp_path / "listener.duckdb", "SELECT warnings FROM runs")[0][0]
    assert "ill-formed" in warnings


def test_feed_without_guids_does_not_duplicate(tmp_path, feed_server: FeedServer, config_for):
    items = [
        {"title": "Acme news", "pubDate": "Tue, 10 Nov 2026 04:00:00 GMT", "description": "acme"},
        {"title": "Acme link only", "link": "http://example.com/only-link", "description": "acme"},
        {"title": "no date no link", "description": "acme again"},
    ]
    feed_server.routes["/noguid.xml"] = Route(body=rss_feed(items))
    config = config_for([feed_server.url("/noguid.xml")])
    for _ in range(2):
        assert run_cli("--config", str(config), "collect").returncode == 0
    ids = [r[0] for r in table_rows(tmp_path / "listener.duckdb", "SELECT mention_id FROM mentions ORDER BY 1")]
    assert len(ids) == 3 and "rss:http://example.com/only-link" in ids
