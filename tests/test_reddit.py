"""Reddit connector through the real praw/prawcore/requests stack, replayed by vcrpy, into real DuckDB files.

Cassettes in tests/fixtures/reddit/ are hand-written in the shapes of Reddit's API
reference (Listing -> children -> {kind, data}, `after` naming the next page,
error bodies as Reddit sends them); ../shared/data/reddit holds real recordings
from praw's own tests and is skipped when absent. Replay matches like praw's
tests (method, scheme, host, port, path, query). vcrpy compares the parsed,
sorted query parameters, so the recorded `raw_json=1&limit=100` matches praw 8's
`limit=100&raw_json=1` and no custom matcher is needed. Each recorded answer
plays once and in order, so "500 then 200" on one URL is two recorded answers,
and a request nobody recorded (say, a page past the cursor) fails the run.
prawcore's sleeps are made instant and recorded; every response is logged by a
hook on the requests session praw is given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import praw
import pytest
import requests
import vcr
from conftest import FIXTURES, SHARED, content_snapshot, shared_missing, table_rows

import connectors
from connectors.base import UNKNOWN_TIME, RawPage
from connectors.reddit import RedditConnector, item_data, map_items, search_queries
from listener.core.models import DELETED_AUTHOR, MentionRef
from listener.core.settings import Settings, settings_from_dict
from listener.ingest.loader import load_batch
from listener.pipeline import collect, mentions_to_batch, prepare
from listener.store.connection import Store
from listener.store.ledger import RunLedger

CASSETTES = FIXTURES / "reddit"
SHARED_REDDIT = SHARED / "reddit"
REPLAY = vcr.VCR(
    serializer="json",
    record_mode="none",
    decode_compressed_response=True,
    match_on=["method", "scheme", "host", "port", "path", "query"],
)
T0 = datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp()  # newest item of pages.json
BRAND_QUERY = '(acme OR "acme coffee")'
needs_shared = pytest.mark.skipif(
    not SHARED_REDDIT.is_dir(), reason=shared_missing("reddit/ (praw's recorded Reddit API exchanges)")
)


class SimulatedCrash(BaseException):
    """Stands in for SIGKILL: nothing on the way up catches a BaseException, so no cleanup runs."""


class Harness:
    """Credentials, instant sleeps, a request log, and the connector registered for the pipeline."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.requests: list[str] = []  # "GET /r/acme/new?limit=100&raw_json=1 200"
        self.sleeps: list[float] = []
        self.on_response: Callable[[requests.Response], None] | None = None  # may raise, on cue
        monkeypatch.setenv("REDDIT_CLIENT_ID", "<CLIENT_ID>")
        monkeypatch.setenv("REDDIT_CLIENT_SECRET", "<CLIENT_SECRET>")
        monkeypatch.delenv("LISTENER_STORE", raising=False)
        monkeypatch.setattr(time, "sleep", self.sleeps.append)  # prawcore's backoff and rate-limit waits
        monkeypatch.setitem(connectors.REGISTRY, "reddit", self.connector)

    def connector(self, settings: Settings) -> RedditConnector:
        session = requests.Session()
        session.hooks["response"].append(self._record)
        return RedditConnector(settings.sources.reddit, settings.organization, session=session)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = urlsplit(response.request.url)
        self.requests.append(
            f"{response.request.method} {url.path}{'?' + url.query if url.query else ''} {response.status_code}"
        )
        if self.on_response:
            self.on_response(response)

    def settings(self, db: str = "listener.duckdb", own: list[str] | None = None, **reddit: Any) -> Settings:
        return settings_from_dict(
            {
                "organization": {
                    "name": "Acme",
                    "brand_terms": ["acme", '"acme coffee"'],
                    "exclude_terms": ['"acme anvil"'],
                    "competitors": [{"name": "Globex", "terms": ["globex"]}],
                    "own_accounts": {"reddit": own or []},
                },
                "store": {"path": str(self.tmp_path / db)},
                "sources": {
                    "reddit": {
                        "enabled": True,
                        "search": False,
                        "subreddits": ["acme"],
                        "user_agent": "<USER_AGENT>",
                        **reddit,
                    }
                },
            }
        )

    def collect(self, settings: Settings, cassette: str | Path) -> RunLedger:
        path = cassette if isinstance(cassette, Path) else CASSETTES / cassette
        with REPLAY.use_cassette(str(path)), Store(settings.store_path) as store:
            return collect(store, settings, ["reddit"]).runs[0]

    def pages(self, settings: Settings, cassette: str, cursors: dict[str, str] | None = None) -> list[RawPage]:
        """The connector alone: every page fetch yields, as the pipeline would receive it."""
        with REPLAY.use_cassette(str(CASSETTES / cassette)):
            return list(self.connector(settings).fetch(cursors or {}))


@pytest.fixture
def reddit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(tmp_path, monkeypatch)


def rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    return table_rows(settings.store_path, sql)


def cursors(settings: Settings) -> dict[str, dict[str, Any]]:
    return {k: json.loads(v) for k, v in rows(settings, "SELECT key, value FROM cursors WHERE source = 'reddit'")}


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return content_snapshot(settings.store_path)


def seed_cursors(settings: Settings, values: dict[str, str]) -> None:
    with Store(settings.store_path) as store:
        store.write_transaction(lambda conn: store.set_cursors("reddit", values), "test")


# -- the pure mapper ------------------------------------------------------------


def _submission(**extra: Any) -> dict[str, Any]:
    return {
        "name": "t3_abc",
        "id": "abc",
        "title": "Acme coffee?",
        "selftext": "Ask u/acme_official or /u/Jane-Doe",
        "author": "bob",
        "author_fullname": "t2_bob1",
        "subreddit": "coffee",
        "is_self": True,
        "permalink": "/r/coffee/comments/abc/acme_coffee/",
        "url": "https://www.reddit.com/r/coffee/comments/abc/acme_coffee/",
        "score": 7,
        "num_comments": 3,
        "created_utc": T0,
        **extra,
    }


def test_mapper_submission_comment_and_link_post():
    comment = {
        "name": "t1_c1",
        "id": "c1",
        "body": "u/bob agreed, see https://reddit.com/u/not_me",
        "author": "jane",
        "author_fullname": "t2_jane1",
        "subreddit": "coffee",
        "link_id": "t3_abc",
        "parent_id": "t3_abc",
        "permalink": "/r/coffee/comments/abc/acme_coffee/c1/",
        "score": -2,
        "created_utc": T0 + 60,
    }
    link = _submission(name="t3_lnk", id="lnk", selftext="", is_self=False, url="https://example.com/acme")
    mentions, problems = map_items([_submission(), comment, link])
    assert problems == []
    post, reply, linked = mentions
    assert (post.source, post.id, post.title, post.thread_id, post.parent_id) == (
        "reddit",
        "t3_abc",
        "Acme coffee?",
        "t3_abc",
        None,
    )
    assert post.url == "https://www.reddit.com/r/coffee/comments/abc/acme_coffee/"
    assert post.community == "r/coffee"
    assert (post.metrics.score, post.metrics.replies) == (7, 3)
    assert (
        post.created_at == datetime(2026, 11, 20, 12, tzinfo=UTC) and post.created_at.utcoffset().total_seconds() == 0
    )
    assert (post.author.id, post.author.handle) == ("t2_bob1", "bob")
    assert post.mentions == (MentionRef("acme_official"), MentionRef("Jane-Doe"))
    assert post.lang is None and post.raw == _submission()
    assert (reply.text, reply.title, reply.parent_id, reply.thread_id, reply.metrics.score) == (
        comment["body"],
        None,
        "t3_abc",
        "t3_abc",
        -2,
    )
    assert reply.mentions == (MentionRef("bob"),)  # a /u/ inside a URL is not a mention
    assert linked.text == "https://example.com/acme"


def test_mapper_deleted_authors_removed_bodies_and_odd_items():
    deleted = _submission(author="[deleted]", author_fullname=None, selftext="[removed]")
    gone = {
        "name": "t1_c2",
        "body": "[deleted]",
        "author": None,
        "subreddit": "coffee",
        "link_id": "t3_abc",
        "parent_id": "t1_c1",
        "created_utc": T0,
    }  # no permalink: older payloads
    mentions, problems = map_items(
        [deleted, gone, {"name": "t3_x", "title": "no date"}, {"title": "no id", "created_utc": T0}, "junk"]
    )
    assert [m.author for m in mentions[:2]] == [DELETED_AUTHOR, DELETED_AUTHOR]
    assert [m.text for m in mentions[:2]] == ["[removed]", "[deleted]"]  # still stored
    assert mentions[1].url == "https://www.reddit.com/r/coffee/comments/abc/_/c2/"
    # no date: kept with UNKNOWN_TIME, which the pipeline replaces by the fetch time (with a warning)
    assert mentions[2].id == "t3_x" and mentions[2].created_at == UNKNOWN_TIME
    assert len(problems) == 2


def test_search_queries_one_per_topic_without_exclusions(reddit: Harness):
    settings = reddit.settings()
    assert search_queries(settings.organization) == [BRAND_QUERY, "globex"]


# -- credentials ----------------------------------------------------------------


@pytest.mark.parametrize("unset", [("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET"), ("REDDIT_CLIENT_SECRET",)])
def test_missing_credentials_stop_the_source_naming_them(reddit: Harness, monkeypatch, unset):
    for var in unset:
        monkeypatch.delenv(var)
    RedditConnector.from_settings(reddit.settings())  # building the connector never needs them
    run = reddit.collect(reddit.settings(), "token_401.json")  # the cassette is never reached
    assert run.status == "failed" and reddit.requests == []
    assert " and ".join(unset) in run.error and "https://www.reddit.com/prefs/apps" in run.error
    assert '"script" or "web"' in run.error
    assert ("REDDIT_CLIENT_ID and" in run.error) == (len(unset) == 2)


def test_rejected_credentials_are_terminal_without_the_secret(reddit: Harness, monkeypatch):
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "s3cr3t-do-not-print")
    run = reddit.collect(reddit.settings(), "token_401.json")
    assert run.status == "failed"
    assert run.error.startswith("Reddit rejected REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET (HTTP 401)")
    assert "s3cr3t" not in run.error and "<CLIENT_ID>" not in run.error
    assert reddit.requests == ["POST /api/v1/access_token 401"]


# -- paging, cursors, crash safety --------------------------------------------


def test_pages_of_100_and_only_the_last_page_advances_the_cursor(reddit: Harness):
    pages = [p for p in reddit.pages(reddit.settings(), "pages.json") if p.stream == "r/acme/new"]
    assert [len(p.payload) for p in pages] == [100, 100, 50]
    assert [p.cursor for p in pages[:2]] == [{}, {}]  # intermediate pages leave the cursor alone
    assert json.loads(pages[-1].cursor["r/acme/new"])["created_utc"] == T0
    after = [r for r in reddit.requests if "after=" in r]
    assert len(after) == 2 and all(r.startswith("GET /r/acme/new?limit=100&after=t3_") for r in after)
    assert not any(p.warnings or p.error for p in pages)


def test_max_items_per_stream_stops_with_a_warning(reddit: Harness):
    settings = reddit.settings(max_items_per_stream=150)
    pages = [p for p in reddit.pages(settings, "pages.json") if p.stream == "r/acme/new"]
    assert [len(p.payload) for p in pages] == [100, 50]
    assert "stopped after max_items_per_stream (150)" in pages[-1].warnings[0]
    assert json.loads(pages[-1].cursor["r/acme/new"])["created_utc"] == T0
    assert sum("/r/acme/new" in r for r in reddit.requests) == 2  # the third page is never asked for


def test_collect_stores_mentions_authors_and_interactions(reddit: Harness):
    settings = reddit.settings()
    run = reddit.collect(settings, "pages.json")
    assert (run.status, run.fetched, run.inserted, run.updated, run.error) == ("ok", 256, 256, 0, None)
    assert set(cursors(settings)) == {"r/acme/new", "r/acme/comments"}
    deleted = rows(
        settings, "SELECT native_id, title, text FROM mentions WHERE author_id = 'reddit:[deleted]' ORDER BY 1"
    )
    assert sorted(r[2] for r in deleted) == ["[deleted]", "[deleted]", "[removed]"]  # kept as Reddit shows them
    assert rows(settings, "SELECT handle FROM authors WHERE author_id = 'reddit:[deleted]'") == [("[deleted]",)]
    link = rows(settings, "SELECT text, url, score, reply_count FROM mentions WHERE title = 'Acme coffee review'")
    assert link == [
        (
            "https://coffee.example.com/acme-review",
            "https://www.reddit.com/r/acme/comments/1h1aah/acme_coffee_review/",
            42,
            9,
        )
    ]
    edges = rows(
        settings,
        "SELECT kind, from_author_id, to_author_id, target_handle FROM interactions "
        "WHERE mention_id = 'reddit:t1_lz9a001' ORDER BY ALL",
    )
    assert edges == [
        ("comment", "reddit:t2_jane01", "reddit:t2_user0", None),
        ("mention", "reddit:t2_jane01", "reddit:@bean-counter", "bean-counter"),
        ("mention", "reddit:t2_jane01", "reddit:t2_user3", "user3"),
    ]
    assert rows(
        settings, "SELECT count(*) FROM interactions WHERE mention_id = 'reddit:t1_lz9a006' AND kind = 'mention'"
    ) == [(0,)]
    assert rows(settings, "SELECT DISTINCT community FROM mentions") == [("r/acme",)]


def test_second_run_fetches_only_what_is_newer_than_the_cursor(reddit: Harness):
    settings = reddit.settings()  # overlap_minutes = 15
    first = reddit.collect(settings, "cursor_run1.json")
    assert (first.status, first.inserted) == ("ok", 40)
    before = cursors(settings)
    reddit.requests.clear()
    second = reddit.collect(settings, "cursor_run2.json")
    # New: 5 newer + 16 inside the overlap (re-read, scores refreshed); comments: 2 newer + 8 in the overlap.
    assert (second.status, second.inserted, second.updated, second.error) == ("ok", 7, 24, None)
    assert not any("after=" in r for r in reddit.requests)  # stopped at the cursor, next page never asked for
    after = cursors(settings)
    assert after["r/acme/new"]["created_utc"] == before["r/acme/new"]["created_utc"] + 300
    assert after["r/acme/comments"]["created_utc"] == before["r/acme/comments"]["created_utc"] + 120
    assert rows(settings, "SELECT score FROM mentions WHERE title = 'Acme run one 0'") == [(11,)]
    assert rows(settings, "SELECT score FROM mentions WHERE title = 'Acme run one 20'") == [(1,)]  # outside the overlap


def test_crash_between_pages_then_rerun_converges_to_a_clean_run(reddit: Harness):
    clean, crashed = reddit.settings("clean.duckdb"), reddit.settings("crashed.duckdb")
    assert reddit.collect(clean, "pages.json").status == "ok"

    def crash_on_third_page(response: requests.Response) -> None:
        if "/r/acme/new" in response.request.url and sum("after=" in r for r in reddit.requests) == 2:
            raise SimulatedCrash

    reddit.requests.clear()
    reddit.on_response = crash_on_third_page
    with pytest.raises(SimulatedCrash):
        reddit.collect(crashed, "pages.json")
    reddit.on_response = None
    assert rows(crashed, "SELECT count(*) FROM mentions") == [(200,)]  # the two committed pages, nothing else
    assert cursors(crashed) == {}  # the stream's cursor did not move past what was stored
    assert rows(crashed, "SELECT status FROM runs") == [("running",)]

    assert reddit.collect(crashed, "pages.json").status == "ok"
    assert snapshot(crashed) == snapshot(clean)
    assert rows(crashed, "SELECT status FROM runs ORDER BY started_at") == [("interrupted",), ("ok",)]
    before = snapshot(crashed)
    assert reddit.collect(crashed, "pages.json").status == "ok"  # and again: nothing changes
    assert snapshot(crashed) == before


# -- failures -------------------------------------------------------------------


def test_forbidden_subreddit_fails_alone(reddit: Harness):
    settings = reddit.settings(subreddits=["r/Private_Club", "acme"])
    run = reddit.collect(settings, "forbidden.json")
    assert run.status == "partial" and run.inserted == 5
    assert "r/private_club/new: HTTP 403 forbidden (private, quarantined or banned subreddit?)" in run.error
    assert "r/private_club/comments: HTTP 403" in run.error
    assert set(cursors(settings)) == {"r/acme/new", "r/acme/comments"}


def test_server_error_is_retried_by_prawcore(reddit: Harness):
    run = reddit.collect(reddit.settings(), "retry_500.json")
    assert (run.status, run.inserted, run.error) == ("ok", 3, None)
    assert reddit.requests == [
        "POST /api/v1/access_token 200",
        "GET /r/acme/new?limit=100&raw_json=1 500",
        "GET /r/acme/new?limit=100&raw_json=1 200",
        "GET /r/acme/comments/?limit=100&raw_json=1 200",
    ]
    assert len(reddit.sleeps) == 1 and 0 <= reddit.sleeps[0] < 2  # prawcore's own backoff, made instant


def _network_down(response: requests.Response) -> None:
    if "/comments/" in response.request.url:
        raise requests.ConnectionError("Connection reset by peer")


@pytest.mark.parametrize(
    "cassette, hook, message, attempts",
    [
        ("storm_429.json", None, "Reddit rate limit hit (HTTP 429) on r/acme/comments", 1),
        ("storm_503.json", None, "Reddit server error (HTTP 503) on r/acme/comments", 3),
        ("storm_503.json", _network_down, "could not reach Reddit on r/acme/comments (ConnectionError", 3),
    ],
    ids=["429", "503-storm", "network"],
)
def test_rate_limit_or_storm_ends_the_source_with_cursors_intact(reddit: Harness, cassette, hook, message, attempts):
    settings = reddit.settings(own=["acme_official"])
    old_new = json.dumps({"created_utc": T0 + 900, "name": "t3_old"})
    old_comments = json.dumps({"created_utc": T0, "name": "t1_old"})
    seed_cursors(settings, {"r/acme/new": old_new, "r/acme/comments": old_comments})
    reddit.on_response = hook
    run = reddit.collect(settings, cassette)
    assert run.status == "partial" and run.inserted == 4  # r/acme/new finished before the wall
    assert message in run.error and "keep their cursors" in run.error
    assert cursors(settings)["r/acme/new"]["created_utc"] == T0 + 1800
    assert cursors(settings)["r/acme/comments"] == json.loads(old_comments)  # untouched
    assert sum("/r/acme/comments/" in r for r in reddit.requests) == attempts
    assert len(reddit.sleeps) == attempts - 1  # prawcore's backoff between its retries, nothing of ours
    assert not any("/user/" in r for r in reddit.requests)  # the source stopped: later streams not tried


# -- search and own accounts ----------------------------------------------------


def test_search_and_own_accounts(reddit: Harness):
    settings = reddit.settings(own=["acme_official"], search=True, subreddits=[])
    run = reddit.collect(settings, "search_own.json")
    assert (run.status, run.inserted, run.updated, run.error) == ("ok", 6, 1, None)  # the own post is in two streams
    assert set(cursors(settings)) == {
        f"search:{BRAND_QUERY}",
        "search:globex",
        "u/acme_official/submissions",
        "u/acme_official/comments",
    }
    own = rows(settings, "SELECT native_id FROM mentions WHERE is_own ORDER BY 1")
    assert own == [("t1_o1a001",), ("t1_o1a002",), ("t3_5a0002",)]
    assert rows(settings, "SELECT is_own FROM authors WHERE author_id = 'reddit:t2_acme01'") == [(True,)]
    edges = rows(
        settings,
        "SELECT mention_id, kind, to_author_id, target_handle FROM interactions "
        "WHERE from_author_id = 'reddit:t2_acme01' ORDER BY ALL",
    )
    assert edges == [
        ("reddit:t1_o1a001", "comment", "reddit:t2_jane01", None),
        ("reddit:t1_o1a001", "mention", "reddit:t2_jane01", "jane_doe"),
        ("reddit:t1_o1a002", "comment", None, None),
    ]  # parent not collected (yet)
    topics = rows(settings, "SELECT native_id, topic FROM mention_topics JOIN mentions USING (mention_id) ORDER BY ALL")
    assert ("t3_5a0004", "Globex") in topics and ("t3_5a0001", "Acme") in topics
    assert not any(n == "t3_5a0003" for n, _ in topics)  # "acme anvil" only: excluded by tagging, still stored


# -- real recordings (praw's integration tests) -----------------------------------


@needs_shared
def test_shared_askreddit_listings_through_the_connector(reddit: Harness, monkeypatch):
    merged = {"version": 1, "interactions": []}
    for name in ("TestSubredditListings.test_new.json", "TestSubredditListings.test_comments.json"):
        merged["interactions"] += json.loads((SHARED_REDDIT / name).read_text(encoding="utf-8"))["interactions"]
    cassette = reddit.tmp_path / "askreddit.json"
    cassette.write_text(json.dumps(merged), encoding="utf-8")
    monkeypatch.setitem(connectors.REGISTRY, "reddit", RedditConnector.from_settings)  # the real factory
    # 100 per stream: the recordings hold one page each (the page after would not be in them).
    settings = reddit.settings(subreddits=["AskReddit"], max_items_per_stream=100)
    run = reddit.collect(settings, cassette)
    assert (run.status, run.fetched, run.inserted, run.error) == ("warning", 200, 200, None)
    assert len(run.warnings) == 2 and all("max_items_per_stream (100)" in w for w in run.warnings)
    assert cursors(settings) == {
        "r/askreddit/new": {"created_utc": 1456821458.0, "name": "t3_48fbm9"},
        "r/askreddit/comments": {"created_utc": 1467590690.0, "name": "t1_d4y8bdp"},
    }
    assert rows(settings, "SELECT DISTINCT community FROM mentions") == [("r/AskReddit",)]
    counts = rows(
        settings,
        "SELECT count(*) FILTER (native_id LIKE 't3_%'), count(*) FILTER (thread_id LIKE 'reddit:t3_%'), "
        "count(*) FILTER (url LIKE 'https://www.reddit.com/r/AskReddit/comments/%'), "
        "count(*) FILTER (year(created_at) = 2016), count(*) FILTER (raw ->> 'name' = native_id) FROM mentions",
    )
    assert counts == [(100, 200, 200, 200, 200)]
    assert rows(settings, "SELECT count(*) FROM interactions WHERE kind = 'comment'") == [(100,)]


@needs_shared
def test_shared_submission_comment_tree_through_the_mapper(reddit: Harness):
    with REPLAY.use_cassette(str(SHARED_REDDIT / "TestSubmission.test_comments.json")):
        client = praw.Reddit(
            client_id="<CLIENT_ID>", client_secret="<CLIENT_SECRET>", user_agent="<USER_AGENT>", check_for_updates=False
        )
        submission = client.submission("2gmzqe")
        tree = submission.comments.list()  # fetches the submission and its comments in one request
        items = [item_data(submission)] + [item_data(c) for c in tree]
    json.dumps(items)  # plain, JSON-serialisable values
    mentions, problems = map_items(items)
    assert problems == []
    post, question, answer = mentions
    assert (post.id, post.author.handle, post.community, post.metrics.replies) == (
        "t3_2gmzqe",
        "bboe",
        "r/redditdev",
        2,
    )
    assert post.url == "https://www.reddit.com/r/redditdev/comments/2gmzqe/praw_https_enabled_praw_testing_needed/"
    assert (question.parent_id, question.thread_id, question.author.handle) == (
        "t3_2gmzqe",
        "t3_2gmzqe",
        "paneer_burrito",
    )
    assert (answer.parent_id, answer.thread_id) == ("t1_cklfmye", "t3_2gmzqe")
    assert answer.url == "https://www.reddit.com/r/redditdev/comments/2gmzqe/_/cklhv0f/"
    assert answer.created_at == datetime.fromtimestamp(1411010034, tz=UTC)

    settings = reddit.settings()
    with Store(settings.store_path) as store:
        rules = prepare(store, settings)
        store.write_transaction(lambda conn: load_batch(conn, mentions_to_batch(mentions), None, rules), "test")
    assert rows(settings, "SELECT mention_id, kind, from_author_id, to_author_id FROM interactions ORDER BY 1") == [
        ("reddit:t1_cklfmye", "comment", "reddit:@paneer_burrito", "reddit:@bboe"),
        ("reddit:t1_cklhv0f", "comment", "reddit:@bboe", "reddit:@paneer_burrito"),
    ]


def test_nothing_configured_is_a_warning_not_a_failure(reddit: Harness):
    settings = reddit.settings(subreddits=[])
    run = reddit.collect(settings, "token_401.json")
    assert run.status == "warning" and "nothing to collect" in run.warnings[0] and reddit.requests == []
