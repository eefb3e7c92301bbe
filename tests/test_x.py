"""X connector through the real tweepy Client and requests, replaying recorded exchanges."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import x_api as X
from conftest import SHARED, FeedServer, Route, rss_feed, shared_missing, table_rows

from connectors.x import XConnector, map_response
from listener import pipeline
from listener.core.settings import settings_from_dict
from listener.store.connection import Store

Q = '(acme OR "acme coffee") -"acme anvil"'
USERS = [X.user("1", "acme", 5400, "Acme"), X.user("2", "bob", 120), X.user("3", "carol", 80000)]


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "test-token-not-real")


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """No real sleeping: record what would have been slept."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    return slept


def _settings(tmp_path: Path, own: list[str] | None = None, feeds: list[str] | None = None, **x) -> object:
    return settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "brand_terms": ["acme", '"acme coffee"'],
                "exclude_terms": ['"acme anvil"'],
                "own_accounts": {"x": own or []},
            },
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {
                "x": {"enabled": True, "max_rate_limit_wait_seconds": 120, **x},
                "rss": {"enabled": bool(feeds), "feeds": feeds or [], "retries": 0, "timeout_seconds": 2},
            },
        }
    )


def _collect(tmp_path: Path, settings, cassette: Path, sources=("x",)):
    with X.x_vcr().use_cassette(str(cassette)) as tape, Store(settings.store_path) as store:
        report = pipeline.collect(store, settings, list(sources))
        return report, tape


THREE_PAGES = [
    X.search(
        Q,
        X.page(
            [
                X.tweet(
                    "105",
                    "2",
                    "@acme your cold brew is burnt",
                    in_reply_to_user_id="1",
                    referenced_tweets=[{"type": "replied_to", "id": "101"}],
                    conversation_id="101",
                    entities={"mentions": [{"start": 0, "end": 5, "username": "acme", "id": "1"}]},
                ),
                X.tweet(
                    "104", "3", "RT @acme: new espresso machine", referenced_tweets=[{"type": "retweeted", "id": "101"}]
                ),
            ],
            USERS,
            [X.tweet("101", "1", "new espresso machine from Acme")],
            next_token="p2",
        ),
    ),
    X.search(
        Q,
        X.page(
            [
                X.tweet(
                    "103",
                    "2",
                    "Acme vs Globex, thoughts? @carol",
                    entities={"mentions": [{"start": 25, "end": 31, "username": "carol", "id": "3"}]},
                ),
                X.tweet("102", "3", "quoting this: acme", referenced_tweets=[{"type": "quoted", "id": "101"}]),
            ],
            USERS,
            [X.tweet("101", "1", "new espresso machine from Acme")],
            next_token="p3",
        ),
        next_token="p2",
    ),
    X.search(Q, X.page([X.tweet("101", "1", "new espresso machine from Acme")], USERS[:1]), next_token="p3"),
]


def test_pagination_maps_authors_threads_and_interactions(tmp_path, sleeps):
    settings = _settings(tmp_path, own=["acme"])
    cassette = X.write_cassette(
        tmp_path / "x.json",
        [
            X.exchange("/users/by", {"usernames": "acme"}, {"data": [USERS[0]]}),
            *THREE_PAGES,
            X.exchange("/users/1/mentions", {}, X.page([])),
            X.exchange("/users/1/tweets", {}, X.page([])),
        ],
    )
    report, tape = _collect(tmp_path, settings, cassette)
    assert report.runs[0].status == "ok", report.runs[0].error
    assert report.runs[0].inserted == 5 and tape.all_played
    db = settings.store_path
    assert table_rows(
        db, "SELECT mention_id, author_id, parent_id, thread_id, is_own, like_count FROM mentions ORDER BY 1"
    ) == [
        ("x:101", "x:1", None, "x:101", True, 3),
        ("x:102", "x:3", None, "x:102", False, 3),
        ("x:103", "x:2", None, "x:103", False, 3),
        ("x:104", "x:3", None, "x:104", False, 3),
        ("x:105", "x:2", "x:101", "x:101", False, 3),
    ]
    assert table_rows(db, "SELECT author_id, handle, followers_count, is_own FROM authors ORDER BY 1") == [
        ("x:1", "acme", 5400, True),
        ("x:2", "bob", 120, False),
        ("x:3", "carol", 80000, False),
    ]
    assert table_rows(db, "SELECT mention_id, from_author_id, to_author_id, kind FROM interactions ORDER BY ALL") == [
        ("x:102", "x:3", "x:1", "quote"),
        ("x:103", "x:2", "x:3", "mention"),
        ("x:104", "x:3", "x:1", "repost"),
        ("x:105", "x:2", "x:1", "mention"),
        ("x:105", "x:2", "x:1", "reply"),
    ]
    cursors = dict(table_rows(db, "SELECT key, value FROM cursors"))
    assert json.loads(cursors[f"search:{Q}"]) == {"since_id": "105"}
    assert cursors["user:acme"] == "1"  # resolved once, cached
    assert sleeps == []


def test_second_run_fetches_only_newer(tmp_path, sleeps):
    settings = _settings(tmp_path)
    first = X.write_cassette(tmp_path / "1.json", THREE_PAGES)
    assert _collect(tmp_path, settings, first)[0].runs[0].inserted == 5
    second = X.write_cassette(
        tmp_path / "2.json", [X.search(Q, X.page([X.tweet("107", "2", "acme again")], USERS), since_id="105")]
    )
    report, tape = _collect(tmp_path, settings, second)
    assert (report.runs[0].inserted, report.runs[0].fetched) == (1, 1) and tape.all_played
    assert json.loads(dict(table_rows(settings.store_path, "SELECT key, value FROM cursors"))[f"search:{Q}"]) == {
        "since_id": "107"
    }


def test_crash_between_pages_then_rerun_converges(tmp_path, sleeps):
    clean, crashed = tmp_path / "clean", tmp_path / "crash"
    clean.mkdir(), crashed.mkdir()
    full = X.write_cassette(tmp_path / "full.json", THREE_PAGES)
    _collect(clean, _settings(clean), full)
    # The connection dies after two pages: the third request has no answer.
    cut = X.write_cassette(tmp_path / "cut.json", THREE_PAGES[:2])
    report, _ = _collect(crashed, _settings(crashed), cut)
    assert report.runs[0].status == "partial" and report.runs[0].inserted == 4
    state = json.loads(dict(table_rows(crashed / "listener.duckdb", "SELECT key, value FROM cursors"))[f"search:{Q}"])
    assert state == {"next_token": "p3", "pending_newest": "105"}  # since_id not advanced past the gap
    resume = X.write_cassette(tmp_path / "resume.json", THREE_PAGES[2:])  # only the missing page is asked for
    report, tape = _collect(crashed, _settings(crashed), resume)
    assert report.runs[0].status == "ok" and tape.all_played
    query = "SELECT m.mention_id, m.author_id, m.text, m.parent_id, m.like_count, m.raw FROM mentions m ORDER BY 1"
    for sql in (
        query,
        "SELECT * FROM interactions ORDER BY ALL",
        "SELECT * FROM authors ORDER BY 1",
        "SELECT source, key, value FROM cursors ORDER BY ALL",
        "SELECT * FROM mention_topics ORDER BY ALL",
    ):
        assert table_rows(crashed / "listener.duckdb", sql) == table_rows(clean / "listener.duckdb", sql)


def test_rate_limit_waits_until_reset_then_continues(tmp_path, sleeps):
    reset = str(int(time.time()) + 30)
    cassette = X.write_cassette(
        tmp_path / "x.json",
        [
            X.search(
                Q,
                {"title": "Too Many Requests"},
                status=429,
                headers={"x-rate-limit-reset": reset, "x-rate-limit-remaining": "0"},
            ),
            *THREE_PAGES,
        ],
    )
    report, tape = _collect(tmp_path, _settings(tmp_path), cassette)
    assert report.runs[0].status == "ok" and tape.all_played
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 32


def test_rate_limit_beyond_max_wait_stops_cleanly(tmp_path, sleeps):
    settings = _settings(tmp_path)
    far = str(int(time.time()) + 900)
    limited = X.search(
        Q, {"title": "Too Many Requests"}, status=429, headers={"x-rate-limit-reset": far}, next_token="p2"
    )
    report, _ = _collect(tmp_path, settings, X.write_cassette(tmp_path / "x.json", [THREE_PAGES[0], limited]))
    run = report.runs[0]
    assert run.status == "partial" and run.inserted == 2 and sleeps == []
    assert "rate limit" in run.error and "max_rate_limit_wait_seconds" in run.error
    state = json.loads(dict(table_rows(settings.store_path, "SELECT key, value FROM cursors"))[f"search:{Q}"])
    assert state["next_token"] == "p2"  # intact: the next run resumes at page 2
    assert table_rows(settings.store_path, "SELECT status, error IS NOT NULL FROM runs") == [("partial", True)]


def test_server_error_then_success(tmp_path, sleeps):
    cassette = X.write_cassette(
        tmp_path / "x.json",
        [
            X.search(Q, {"title": "Internal"}, status=500),
            X.search(Q, {"title": "Unavailable"}, status=503),
            *THREE_PAGES,
        ],
    )
    report, tape = _collect(tmp_path, _settings(tmp_path), cassette)
    assert report.runs[0].status == "ok" and tape.all_played and sleeps == [2.0, 4.0]


@pytest.mark.parametrize(("status", "words"), [(401, "X_BEARER_TOKEN was rejected"), (403, "Basic plan")])
def test_rejected_credentials_fail_x_but_other_sources_run(tmp_path, sleeps, feed_server: FeedServer, status, words):
    feed_server.routes["/f.xml"] = Route(
        body=rss_feed([{"title": "acme", "guid": "http://e.com/1", "description": "acme"}])
    )
    settings = _settings(tmp_path, feeds=[feed_server.url("/f.xml")])
    body = {"title": "Unauthorized" if status == 401 else "Forbidden", "detail": "nope", "type": "about:blank"}
    report, _ = _collect(
        tmp_path,
        settings,
        X.write_cassette(tmp_path / "x.json", [X.search(Q, body, status=status)]),
        sources=("x", "rss"),
    )
    by_source = {r.source: r for r in report.runs}
    assert by_source["x"].status == "failed" and words in by_source["x"].error
    assert "test-token-not-real" not in by_source["x"].error
    assert by_source["rss"].status == "ok" and by_source["rss"].inserted == 1


def test_missing_token_names_the_variable(tmp_path, monkeypatch, sleeps):
    monkeypatch.delenv("X_BEARER_TOKEN")
    report, _ = _collect(tmp_path, _settings(tmp_path), X.write_cassette(tmp_path / "x.json", []))
    assert report.runs[0].status == "failed" and "X_BEARER_TOKEN is not set" in report.runs[0].error


def test_per_run_cap_stops_and_resumes(tmp_path, sleeps):
    settings = _settings(tmp_path, max_posts_per_run=2)
    report, tape = _collect(tmp_path, settings, X.write_cassette(tmp_path / "x.json", THREE_PAGES[:1]))
    assert report.runs[0].inserted == 2 and tape.all_played
    report, tape = _collect(tmp_path, settings, X.write_cassette(tmp_path / "y.json", THREE_PAGES[1:2]))
    assert report.runs[0].inserted == 2 and tape.all_played


def test_tweets_without_expansions_are_stored():
    bare = {
        "data": [{"id": "1578516068309794817", "text": "hello acme", "edit_history_tweet_ids": ["1"]}],
        "meta": {"result_count": 1},
    }
    (mention,), problems = map_response(bare)
    assert problems == []
    assert mention.author.id == "unknown" and mention.created_at.year == 2022  # time from the snowflake id
    assert mention.url == "https://x.com/i/web/status/1578516068309794817"


def test_odd_tweets_are_skipped_not_raised():
    mentions, problems = map_response(
        {"data": [{"text": "no id"}, {"id": "5", "text": "ok", "created_at": "bad"}, {"id": "6", "text": "fine"}]}
    )
    assert [m.id for m in mentions] == ["5", "6"] and len(problems) == 1
    # an unreadable created_at falls back to the time in the snowflake id (here: X's epoch)
    assert mentions[0].created_at.year == 2010


SHARED_X = SHARED / "x"


@pytest.mark.skipif(not SHARED_X.is_dir(), reason=shared_missing("x/ (tweepy's recorded X API exchanges)"))
def test_real_recorded_search_goes_through_pipeline(tmp_path, sleeps):
    settings = _settings(tmp_path, queries=["Tweepy"], max_posts_per_run=10)
    recorder = X.x_vcr()
    with (
        recorder.use_cassette(str(SHARED_X / "test_client_search_recent_tweets.yaml"), serializer="yaml") as tape,
        Store(settings.store_path) as store,
    ):
        report = pipeline.collect(store, settings, ["x"])
    assert report.runs[0].status == "ok" and report.runs[0].inserted == 10 and tape.all_played
    assert table_rows(settings.store_path, "SELECT DISTINCT author_id FROM mentions") == [("x:unknown",)]
    state = json.loads(table_rows(settings.store_path, "SELECT value FROM cursors")[0][0])
    assert state["next_token"] and "since_id" not in state  # capped mid-pagination: resumes next run


@pytest.mark.skipif(not SHARED_X.is_dir(), reason=shared_missing("x/ (tweepy's recorded X API exchanges)"))
def test_real_recorded_mentions_through_client_and_mapper(sleeps):
    connector = XConnector(_settings(Path("/tmp")).sources.x, [], [], "test-token-not-real")
    with X.x_vcr().use_cassette(str(SHARED_X / "test_client_get_users_mentions.yaml"), serializer="yaml"):
        response = connector._call(connector.client.get_users_mentions, id="783214")
    mentions, problems = map_response(response)
    assert len(mentions) == 10 and problems == []
    assert all(m.text for m in mentions)


@pytest.mark.skipif(
    not (SHARED_X / "search_recent_kpop_expanded.jsonl").is_file(),
    reason=shared_missing("x/search_recent_kpop_expanded.jsonl (a real X search page)"),
)
def test_real_expanded_page_maps_fully():
    response = json.loads((SHARED_X / "search_recent_kpop_expanded.jsonl").read_text(encoding="utf-8").splitlines()[0])
    mentions, problems = map_response(response)
    assert len(mentions) == 100 and problems == []
    assert sum(1 for m in mentions if m.author.followers is not None) == 100
    assert any(m.repost_of for m in mentions) and any(m.mentions for m in mentions)
    assert all(m.thread_id for m in mentions)
    for m in mentions:
        m.to_json()
