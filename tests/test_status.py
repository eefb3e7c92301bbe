"""`listener status`: what happened last time, for people and for scripts."""
from __future__ import annotations

import json

from conftest import FeedServer, Route, rss_feed, run_cli


def test_status_reports_last_run_counts_and_errors(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/ok.xml"] = Route(body=rss_feed([{"title": "acme", "guid": "http://e.com/1", "description": "acme"}]))
    config = config_for([feed_server.url("/ok.xml"), feed_server.url("/gone.xml")])
    assert run_cli("--config", str(config), "run").returncode == 1
    result = run_cli("--config", str(config), "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["totals"]["mentions"] == 1 and status["totals"]["unscored"] == 0
    (rss,) = status["sources"]
    assert rss["source"] == "rss" and rss["mentions"] == 1
    assert rss["last_run"]["status"] == "partial" and "gone.xml: HTTP 404" in rss["last_run"]["error"]
    assert rss["cursor_lag_seconds"] is not None and rss["cursor_lag_seconds"] < 120
    human = run_cli("--config", str(config), "status")
    assert "rss" in human.stdout and "error:" in human.stdout and "partial" in human.stdout


def test_status_without_a_store_says_how_to_start(tmp_path, config_for):
    result = run_cli("--config", str(config_for()), "status")
    assert result.returncode == 2 and "no store yet" in result.stderr
    assert not (tmp_path / "listener.duckdb").exists()
