"""`listener status`: what happened last time, for people and for scripts (and its exit code)."""

from __future__ import annotations

import json

from conftest import FeedServer, Route, rss_feed, run_cli, table_rows
from digest_helpers import run as listener


def test_status_reports_last_run_counts_and_errors(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/ok.xml"] = Route(
        body=rss_feed([{"title": "acme", "guid": "http://e.com/1", "description": "acme"}])
    )
    config = config_for([feed_server.url("/ok.xml"), feed_server.url("/gone.xml")])
    assert run_cli("--config", str(config), "run").returncode == 1
    result = run_cli("--config", str(config), "status", "--json")
    assert result.returncode == 1, result.stderr  # the enabled rss source's last run was partial
    status = json.loads(result.stdout)
    assert status["totals"]["mentions"] == 1 and status["totals"]["unscored"] == 0
    (rss,) = status["sources"]
    assert rss["source"] == "rss" and rss["mentions"] == 1 and rss["enabled"] is True
    assert rss["last_run"]["status"] == "partial" and "gone.xml: HTTP 404" in rss["last_run"]["error"]
    assert rss["cursor_lag_seconds"] is not None and rss["cursor_lag_seconds"] < 120
    assert status["failing"] == ["rss"] and status["healthy"] is False
    human = run_cli("--config", str(config), "status")
    assert human.returncode == 1
    assert "rss" in human.stdout and "error:" in human.stdout and "partial" in human.stdout
    assert "failing: rss" in human.stdout


def test_status_without_a_store_says_how_to_start(tmp_path, config_for):
    result = run_cli("--config", str(config_for()), "status")
    assert result.returncode == 2 and "no store yet" in result.stderr
    assert not (tmp_path / "listener.duckdb").exists()


def test_a_good_feed_answering_304_makes_a_run_with_failing_feeds_partial_not_failed(
    tmp_path, feed_server: FeedServer, config_for
):
    """Same feeds, second run: the good one answers 304 (nothing new), the broken ones fail. Some
    streams worked, so the run is `partial`, as it is when the good feed has new items."""
    feed_server.routes["/ok.xml"] = Route(
        body=rss_feed([{"title": "acme", "guid": "http://e.com/1", "description": "acme"}]), etag='"v1"'
    )
    feed_server.routes["/broken.xml"] = Route(status=500)
    config = str(config_for([feed_server.url("/ok.xml"), feed_server.url("/gone.xml"), feed_server.url("/broken.xml")]))
    assert listener("--config", config, "collect") == 1
    assert listener("--config", config, "collect") == 1
    answers = [(path, headers.get("If-None-Match")) for path, headers in feed_server.requests if path == "/ok.xml"]
    assert answers == [("/ok.xml", None), ("/ok.xml", '"v1"')]  # the second time: 304, nothing new
    runs = table_rows(tmp_path / "listener.duckdb", "SELECT status, inserted FROM runs ORDER BY started_at")
    assert runs == [("partial", 1), ("partial", 0)]
    # Every feed failing is `failed`.
    feed_server.routes["/ok.xml"] = Route(status=503)
    assert listener("--config", config, "collect") == 1
    assert table_rows(tmp_path / "listener.duckdb", "SELECT status FROM runs ORDER BY started_at DESC LIMIT 1") == [
        ("failed",)
    ]


def test_status_exits_1_only_for_enabled_sources_and_shows_disabled_ones_as_disabled(
    tmp_path, feed_server: FeedServer, config_for, capsys
):
    config = config_for([feed_server.url("/gone.xml")])  # every feed fails
    assert listener("--config", str(config), "collect") == 1
    capsys.readouterr()
    assert listener("--config", str(config), "status") == 1
    assert "failing: rss" in capsys.readouterr().out
    # The same store with rss switched off (and x switched on, never run yet): nothing is failing.
    text = config.read_text(encoding="utf-8").replace("enabled = true", "enabled = false")
    config.write_text(text + "\n[sources.x]\nenabled = true\n", encoding="utf-8")
    assert listener("--config", str(config), "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    by_source = {s["source"]: s for s in data["sources"]}
    assert by_source["rss"]["enabled"] is False and by_source["rss"]["last_run"]["status"] == "failed"
    assert by_source["x"]["enabled"] is True and by_source["x"]["last_run"] is None
    assert data["failing"] == [] and data["healthy"] is True
    human = run_cli("--config", str(config), "status")  # and in a real process, as cron runs it
    assert human.returncode == 0
    rss_line = next(line for line in human.stdout.splitlines() if line.startswith("rss"))
    assert "disabled in the config; last run" in rss_line and "failed" in rss_line
    assert "last error:" in human.stdout and "failing" not in human.stdout
    assert "x               0 mentions  enabled, never collected yet" in human.stdout
