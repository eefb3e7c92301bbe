"""Issue 11, connector part: hostile answers and network faults, against real servers on 127.0.0.1.

The real clients talk to `HostileServer` below: requests for RSS, tweepy's
Client (its session rewrites https://api.twitter.com to the server, the only
thing tweepy does not let us configure) and praw (given the server as its
oauth_url and reddit_url). Pages go through the real pipeline into real
DuckDB files where cursors matter.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import x_api as X
from conftest import rss_feed, run_cli, table_rows, write_config

import connectors
from connectors.base import UNKNOWN_TIME
from connectors.http import describe_http_error
from connectors.reddit import RedditConnector, map_items
from connectors.rss import RssConnector, map_feed
from connectors.x import XConnector, map_response
from listener import pipeline
from listener.core.errors import TransientError
from listener.core.settings import Settings, settings_from_dict
from listener.store.connection import Store

# -- a server that misbehaves on purpose -------------------------------------------


@dataclass
class Answer:
    body: bytes | str | Any = b""  # bytes as they are; str as UTF-8; anything else as JSON
    status: int = 200
    content_type: str = "application/json"
    trickle: float = 0.0  # seconds between body bytes (headers first, Content-Length set)
    trickle_headers: float = 0.0  # seconds between header bytes: even the status line crawls
    delay: float = 0.0  # before anything is sent
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return self.body.encode("utf-8") if isinstance(self.body, str) else json.dumps(self.body).encode("utf-8")


Route = Answer | list[Answer] | Callable[[dict[str, str]], Answer]
TOKEN = Answer({"access_token": "tok", "token_type": "bearer", "expires_in": 3600, "scope": "*"})


class HostileServer:
    """Answers per path (query ignored, trailing slash too): one Answer, a queue of them (the
    last one repeats), or a function of the query parameters. Unknown paths get 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {"/api/v1/access_token": TOKEN}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self._answer()

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                url = urlsplit(self.path)
                path = url.path.rstrip("/") or "/"
                server.requests.append(f"{self.command} {self.path}")
                answer = server.pick(path, {k: v[0] for k, v in parse_qs(url.query).items()})
                try:
                    self._send(answer)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass  # the client cut us off: that is what some tests want

            def _send(self, answer: Answer) -> None:
                time.sleep(answer.delay)
                body = answer.payload()
                head = (
                    f"HTTP/1.1 {answer.status} X\r\nContent-Type: {answer.content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    + "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                    + "\r\n"
                ).encode()
                self._write(head, answer.trickle_headers)
                self._write(body, answer.trickle)
                self.close_connection = bool(answer.trickle or answer.trickle_headers)

            def _write(self, data: bytes, pause: float) -> None:
                if not pause:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(pause)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def pick(self, path: str, params: dict[str, str]) -> Answer:
        route = self.routes.get(path)
        if route is None:
            return Answer({"error": 404}, status=404)
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route(params) if callable(route) else route

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[HostileServer]:
    hostile = HostileServer()
    yield hostile
    hostile.close()


NO_STORE = Path("/tmp")  # connector-only tests: settings need a store path; nothing is written there


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalX(requests.Session):
    """The session handed to tweepy: its host is fixed to https://api.twitter.com, so send it here."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        return super().request(method, url.replace("https://api.twitter.com", self.base, 1), *args, **kwargs)


def settings_for(
    tmp_path: Path,
    feeds: list[str] | None = None,
    x: dict[str, Any] | None = None,
    reddit: dict[str, Any] | None = None,
    own_x: list[str] | None = None,
) -> Settings:
    return settings_from_dict(
        {
            "organization": {"name": "Acme", "brand_terms": ["acme"], "own_accounts": {"x": own_x or []}},
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {
                "rss": {"enabled": bool(feeds), "feeds": feeds or [], "timeout_seconds": 1, "retries": 0},
                "x": {"enabled": x is not None, **(x or {})},
                "reddit": {
                    "enabled": reddit is not None,
                    "search": False,
                    "user_agent": "listener tests",
                    **(reddit or {}),
                },
            },
        }
    )


def x_connector(settings: Settings, base: str, queries: list[str], **kwargs: Any) -> XConnector:
    return XConnector(
        settings.sources.x,
        queries,
        settings.organization.own_accounts.x,
        "test-token-not-real",
        session=LocalX(base),
        **kwargs,
    )


def reddit_connector(settings: Settings, base: str, **kwargs: Any) -> RedditConnector:
    return RedditConnector(
        settings.sources.reddit, settings.organization, endpoints={"oauth_url": base, "reddit_url": base}, **kwargs
    )


@pytest.fixture
def reddit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "<CLIENT_ID>")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "<CLIENT_SECRET>")


def collect(settings: Settings, monkeypatch: pytest.MonkeyPatch, **factories: Callable[[Settings], Any]):
    """The real pipeline into the real DuckDB file, with these connectors registered."""
    for name, factory in factories.items():
        monkeypatch.setitem(connectors.REGISTRY, name, factory)
    with Store(settings.store_path) as store:
        return {run.source: run for run in pipeline.collect(store, settings, list(factories)).runs}


def seed_cursors(settings: Settings, source: str, values: dict[str, str]) -> None:
    with Store(settings.store_path) as store:
        store.write_transaction(lambda conn: store.set_cursors(source, values), "test")


def cursors(settings: Settings, source: str) -> dict[str, str]:
    return dict(table_rows(settings.store_path, f"SELECT key, value FROM cursors WHERE source = '{source}'"))


def native_ids(settings: Settings) -> list[str]:
    return [r[0] for r in table_rows(settings.store_path, "SELECT native_id FROM mentions ORDER BY 1")]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert "Traceback" not in caplog.text and "unexpected" not in caplog.text


# -- X shapes -------------------------------------------------------------------------

X_SEARCH = "/2/tweets/search/recent"
USERS = [X.user("1", "acme"), X.user("2", "bob")]


def x_page(*tweets: dict[str, Any], users: list[dict[str, Any]] = USERS) -> dict[str, Any]:
    return X.page(list(tweets), users)


# -- item 8: malformed answers are failed pages, odd items are skipped --------------------


def test_item08_x_non_json_body_is_a_failed_page(tmp_path, server, monkeypatch, caplog):
    settings = settings_for(tmp_path, x={})
    seed_cursors(settings, "x", {"search:acme": json.dumps({"since_id": "100"})})
    html = Answer("<html><body>Service Unavailable</body></html>", content_type="text/html")
    good = Answer(x_page(X.tweet("201", "2", "globex is fine")))
    server.routes[X_SEARCH] = lambda q: html if q["query"] == "acme" else good
    runs = collect(settings, monkeypatch, x=lambda s: x_connector(s, server.base, ["acme", "globex"]))
    run = runs["x"]
    assert run.status == "partial" and run.inserted == 1
    assert run.error.startswith("search:acme: X answered with a malformed response (the body is not JSON")
    assert "'<html><body>Service Unavailable</body></html>'" in run.error and "\n" not in run.error
    assert json.loads(cursors(settings, "x")["search:acme"]) == {"since_id": "100"}  # intact
    assert json.loads(cursors(settings, "x")["search:globex"]) == {"since_id": "201"}
    no_traceback(caplog)

    server.routes[X_SEARCH] = lambda q: Answer(x_page(X.tweet("150", "2", "acme is back")))  # X is well again
    again = collect(settings, monkeypatch, x=lambda s: x_connector(s, server.base, ["acme"]))["x"]
    assert again.status == "ok" and native_ids(settings) == ["150", "201"]
    assert json.loads(cursors(settings, "x")["search:acme"]) == {"since_id": "150"}
    assert any("since_id=100" in r for r in server.requests)  # the rerun asked from the old cursor


GOOD_TWEET = X.tweet("301", "2", "acme good")
MALFORMED_X = {
    "data-not-a-list": ({"data": "oops", "meta": {"result_count": 1}}, "`data` is a string, not a list"),
    "users-not-a-list": (
        {"data": [GOOD_TWEET], "includes": {"users": "oops"}, "meta": {"newest_id": "301"}},
        "`includes.users` is a string, not a list",
    ),
    "includes-a-list": (
        {"data": [GOOD_TWEET], "includes": [], "meta": {"newest_id": "301"}},
        "`includes` is a list, not an object",
    ),
    "no-meta": ({"data": [GOOD_TWEET]}, "no `meta` object"),
    "meta-a-string": ({"data": [GOOD_TWEET], "meta": "x"}, "`meta` is a string, not an object"),
    "next-token-a-number": (
        {"data": [GOOD_TWEET], "meta": {"newest_id": "301", "next_token": 5}},
        "`meta.next_token` is a number, not a token",
    ),
    "newest-id-not-an-id": (
        {"data": [GOOD_TWEET], "meta": {"newest_id": "abc"}},
        "`meta.newest_id` is 'abc', not a post id",
    ),
    "top-level-list": ([GOOD_TWEET], "expected a JSON object, got a list"),
    "top-level-null": (None, "expected a JSON object, got null"),
    "empty-body": (b"", "the body is empty"),
    "truncated": (b'{"data": [{"id": "3', "the body is not JSON"),
}


@pytest.mark.parametrize("body, reason", MALFORMED_X.values(), ids=MALFORMED_X.keys())
def test_item08_x_malformed_shapes_fail_the_page_with_the_cursor_intact(tmp_path, server, body, reason):
    settings = settings_for(tmp_path, x={})
    server.routes[X_SEARCH] = Answer(body)
    mid_pagination = json.dumps({"since_id": "100", "pending_newest": "250", "next_token": "p2"})
    pages = list(x_connector(settings, server.base, ["acme"]).fetch({"search:acme": mid_pagination}))
    assert [(p.stream, p.cursor, p.payload) for p in pages] == [("search:acme", {}, None)]
    assert pages[0].error.startswith(f"search:acme: X answered with a malformed response ({reason}")
    assert "cursor is unchanged" in pages[0].error and "\n" not in pages[0].error


def test_item08_x_odd_items_are_skipped_and_good_ones_kept(tmp_path, server, monkeypatch, caplog):
    settings = settings_for(tmp_path, x={})
    odd_types = {
        "id": 402,
        "author_id": 2,
        "text": "acme with odd fields",
        "created_at": None,
        "public_metrics": {"like_count": "lots", "retweet_count": "7", "reply_count": 1.0, "quote_count": None},
        "lang": ["en"],
        "entities": "none",
        "referenced_tweets": "nope",
        "conversation_id": ["x"],
    }
    body = x_page(X.tweet("401", "2", "acme good one"), odd_types, users=[*USERS, "junk", {"id": None}])
    body["data"] = [1, "x", None, *body["data"], {"id": ["403"], "text": "a list for an id"}, []]
    body["meta"]["newest_id"] = "402"
    server.routes[X_SEARCH] = Answer(body)
    run = collect(settings, monkeypatch, x=lambda s: x_connector(s, server.base, ["acme"]))["x"]
    assert (run.status, run.inserted, run.error) == ("warning", 2, None)
    assert sorted(run.warnings) == sorted(
        [
            "search:acme: item 0 of `data` skipped (a number, not a post object)",
            "search:acme: item 1 of `data` skipped (a string, not a post object)",
            "search:acme: item 2 of `data` skipped (null, not a post object)",
            "search:acme: tweet ['403'] skipped (ValueError: no post id)",
            "search:acme: item 6 of `data` skipped (a list, not a post object)",
        ]
    )
    rows = table_rows(
        settings.store_path,
        "SELECT native_id, author_id, like_count, repost_count, reply_count, "
        "lang, thread_id, created_at FROM mentions ORDER BY 1",
    )
    assert rows[0][:7] == ("401", "x:2", 3, 1, 2, "en", "x:401")
    odd = rows[1]
    assert odd[:7] == ("402", "x:2", None, 7, 1, None, None)  # wrong-typed fields count as absent
    assert odd[7].year == 2010  # no created_at: the time in the snowflake id
    assert json.loads(cursors(settings, "x")["search:acme"]) == {"since_id": "402"}
    no_traceback(caplog)


def test_item08_x_malformed_account_lookup_fails_only_that_account(tmp_path, server):
    settings = settings_for(tmp_path, x={}, own_x=["acme"])
    server.routes["/2/users/by"] = Answer({"data": {"id": "1", "username": "acme"}})  # an object, not a list
    server.routes[X_SEARCH] = Answer(x_page(X.tweet("501", "2", "acme")))
    pages = list(x_connector(settings, server.base, ["acme"]).fetch({}))
    assert [p.stream for p in pages] == ["search:acme", "user:acme"]  # searches first, then own accounts
    assert pages[0].error is None and pages[0].cursor == {"search:acme": '{"since_id": "501"}'}
    assert pages[1].error == (
        "user:acme: X answered the account lookup with a malformed response (expected an "
        "object with a `data` list, got an object whose `data` is an object); tried again next run"
    )


ODD_X_RESPONSES = [
    None,
    1,
    "x",
    [],
    [1],
    {"data": "x"},
    {"data": {"id": "1"}},
    {"data": [None, 1, [], {}]},
    {"data": [{"id": {}}, {"id": True, "text": "t"}, {"id": "7", "created_at": 5}]},
    {
        "data": [{"id": "8", "text": ["a"], "public_metrics": [], "entities": {"mentions": "x"}}],
        "includes": {"users": {"1": 2}, "tweets": [None, {"id": []}]},
    },
    {
        "data": [{"id": "9", "author_id": "1", "referenced_tweets": [{"type": 1, "id": "2"}, "x"]}],
        "includes": {"users": [{"id": "1", "username": 5, "public_metrics": {"followers_count": "x"}}]},
    },
    {"data": [{"id": "10", "created_at": "0001-01-01T00:00:00+05:00"}]},
]


@pytest.mark.parametrize("response", ODD_X_RESPONSES)
def test_item08_x_mapper_never_raises(response):
    mentions, problems = map_response(response)
    assert all(isinstance(p, str) and p for p in problems)
    for mention in mentions:
        mention.to_json()
        assert isinstance(mention.text, str) and (
            mention.author.handle is None or isinstance(mention.author.handle, str)
        )


# -- Reddit shapes ----------------------------------------------------------------------

T0 = 1_795_000_000.0  # 2026-11-18


def thing(kind: str, ident: str, created: float = T0, **data: Any) -> dict[str, Any]:
    base = {
        "id": ident,
        "name": f"{kind}_{ident}",
        "created_utc": created,
        "subreddit": "acme",
        "author": "bob",
        "author_fullname": "t2_bob",
        "permalink": f"/r/acme/comments/{ident}/x/",
        "score": 3,
    }
    base.update(
        {"title": f"acme post {ident}", "selftext": "about acme", "num_comments": 1}
        if kind == "t3"
        else {"body": f"acme comment {ident}", "link_id": "t3_p1", "parent_id": "t3_p1"}
    )
    return {"kind": kind, "data": {**base, **data}}


def listing(*children: Any, after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"children": list(children), "after": after, "before": None}}


def test_item08_reddit_html_body_is_a_failed_page(tmp_path, server, monkeypatch, reddit_env, caplog):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    old = json.dumps({"created_utc": T0 - 3600, "name": "t3_old"})
    seed_cursors(settings, "reddit", {"r/acme/new": old})
    server.routes["/r/acme/new"] = Answer("<html>we'll be right back</html>", content_type="text/html")
    server.routes["/r/acme/comments"] = Answer(listing(thing("t1", "c1")))
    run = collect(settings, monkeypatch, reddit=lambda s: reddit_connector(s, server.base))["reddit"]
    assert run.status == "partial" and run.inserted == 1
    assert run.error.startswith("r/acme/new: Reddit answered with a malformed listing (the body is not JSON")
    assert "\n" not in run.error
    assert cursors(settings, "reddit")["r/acme/new"] == old  # intact
    assert json.loads(cursors(settings, "reddit")["r/acme/comments"])["name"] == "t1_c1"
    no_traceback(caplog)


def test_item08_reddit_odd_children_are_skipped_and_good_ones_kept(tmp_path, server, monkeypatch, reddit_env, caplog):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    odd_fields = thing("t3", "p3", T0 - 20, score="lots", num_comments="3", title=["x"], selftext="acme text")
    children = [
        1,
        "x",
        None,
        {"kind": "t3"},
        {"kind": "t3", "data": "oops"},
        thing("t3", "p1"),
        thing("t1", "bad", replies=5),  # praw itself chokes on this one
        {"kind": "zz", "data": {"a": 1}},  # a kind praw does not know: it stays a dict
        thing("t3", "p2", T0 - 10, author=5),  # praw's Redditor(5) cannot be named
        odd_fields,
    ]
    server.routes["/r/acme/new"] = Answer(listing(*children))
    server.routes["/r/acme/comments"] = Answer(listing())
    run = collect(settings, monkeypatch, reddit=lambda s: reddit_connector(s, server.base))["reddit"]
    assert (run.status, run.inserted, run.error) == ("warning", 2, None)
    screened = [w for w in run.warnings if "listing entries skipped" in w]
    assert len(screened) == 1 and screened[0].startswith(
        "r/acme/new: 6 listing entries skipped (a number, not a "
        "Reddit object; a string, not a Reddit object; null, not a"
    )
    assert any(w.startswith("r/acme/new: listing entry skipped (") for w in run.warnings)  # zz / author=5
    rows = table_rows(settings.store_path, "SELECT native_id, title, text, score, reply_count FROM mentions ORDER BY 1")
    assert rows == [("t3_p1", "acme post p1", "about acme", 3, 1), ("t3_p3", None, "acme text", None, None)]
    assert json.loads(cursors(settings, "reddit")["r/acme/new"])["name"] == "t3_p1"
    no_traceback(caplog)


MALFORMED_REDDIT = {
    "a-list": ([1, 2], "expected a Listing object, got a list"),
    "a-string": (b'"oops"', "expected a Listing object, got a string"),
    "not-a-listing": ({"foo": 1}, "expected kind Listing, got 'None'"),
    "data-a-string": ({"kind": "Listing", "data": "oops"}, "the listing's `data` is a string, not an object"),
    "children-a-string": (
        {"kind": "Listing", "data": {"children": "oops"}},
        "the listing's `children` is a string, not a list",
    ),
    "after-a-number": (
        {"kind": "Listing", "data": {"children": [], "after": 5}},
        "the listing's `after` is a number, not a name",
    ),
    "empty": (b"", "the body is not JSON"),
    "truncated": (b'{"kind": "Listing", "data": {"chil', "the body is not JSON"),
}


@pytest.mark.parametrize("body, reason", MALFORMED_REDDIT.values(), ids=MALFORMED_REDDIT.keys())
def test_item08_reddit_malformed_listing_fails_only_its_stream(tmp_path, server, reddit_env, body, reason):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    server.routes["/r/acme/new"] = Answer(body)
    server.routes["/r/acme/comments"] = Answer(listing(thing("t1", "c1")))
    pages = list(reddit_connector(settings, server.base).fetch({}))
    failed, good = [p for p in pages if p.error], [p for p in pages if not p.error]
    assert [(p.stream, p.cursor, p.payload) for p in failed] == [("r/acme/new", {}, None)]
    assert failed[0].error.startswith(f"r/acme/new: Reddit answered with a malformed listing ({reason}")
    assert "cursor is unchanged" in failed[0].error
    assert [p.stream for p in good] == ["r/acme/comments"] and good[0].payload[0]["name"] == "t1_c1"


@pytest.mark.parametrize("body", ["<html>sign in</html>", b"[1]", b'{"token": "x"}'], ids=["html", "list", "no-token"])
def test_item08_reddit_malformed_token_answer_stops_the_source(tmp_path, server, monkeypatch, reddit_env, caplog, body):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    seed_cursors(settings, "reddit", {"r/acme/new": json.dumps({"created_utc": T0, "name": "t3_old"})})
    server.routes["/api/v1/access_token"] = Answer(body)
    server.routes["/r/acme/new"] = Answer(listing(thing("t3", "p1")))
    run = collect(settings, monkeypatch, reddit=lambda s: reddit_connector(s, server.base))["reddit"]
    assert run.status == "failed" and run.error.startswith(
        "Reddit's token endpoint answered with a malformed response ("
    )
    assert "unfinished streams keep their cursors" in run.error and "\n" not in run.error
    assert list(cursors(settings, "reddit")) == ["r/acme/new"]  # the seeded one, untouched
    assert not any(r.startswith("GET /r/acme/comments") for r in server.requests)  # the source stopped
    no_traceback(caplog)


def test_item08_reddit_items_read_before_a_failure_are_kept(tmp_path, server, reddit_env):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    # A first page of 3 that says there is more, then HTML where the second page should be.
    first = listing(thing("t3", "p1"), thing("t3", "p2", T0 - 1), thing("t3", "p3", T0 - 2), after="t3_p3")
    html = Answer("<html>", content_type="text/html")
    server.routes["/r/acme/new"] = lambda q: html if "after" in q else Answer(first)
    pages = [p for p in reddit_connector(settings, server.base).fetch({}) if p.stream == "r/acme/new"]
    assert [(len(p.payload or []), p.cursor, p.error is None) for p in pages] == [(3, {}, True), (0, {}, False)]
    assert pages[1].error.startswith("r/acme/new: Reddit answered with a malformed listing (the body is not JSON")


ODD_REDDIT_ITEMS = [
    None,
    1,
    "x",
    [],
    {},
    {"name": ["t3_x"], "created_utc": T0},
    {"name": "t3_a", "created_utc": float("nan"), "title": "t"},
    {"name": "t3_b", "created_utc": 1e300, "title": "t"},
    {
        "name": "t3_c",
        "created_utc": T0,
        "title": "t",
        "score": float("inf"),
        "num_comments": "2",
        "author": ["x"],
        "permalink": 5,
        "subreddit": {"a": 1},
        "selftext": ["y"],
        "url": 3,
    },
    {"name": "t1_d", "created_utc": T0, "body": 5, "link_id": [], "parent_id": {}},
]


def test_item08_reddit_mapper_never_raises():
    mentions, problems = map_items(ODD_REDDIT_ITEMS)
    # an unreadable time keeps the post (UNKNOWN_TIME: the pipeline gives it the fetch time)
    assert [m.id for m in mentions] == ["t3_a", "t3_b", "t3_c"] and len(problems) == len(ODD_REDDIT_ITEMS) - 3
    assert mentions[0].created_at == mentions[1].created_at == UNKNOWN_TIME
    odd = mentions[2]
    assert (odd.metrics.score, odd.metrics.replies, odd.community, odd.url, odd.text) == (None, None, None, None, None)
    odd.to_json()
    assert map_items("not a list") == ([], ["page skipped (a string, not a list of items)"])


# -- RSS shapes ---------------------------------------------------------------------


def test_item08_rss_malformed_body_is_a_failed_page_with_the_cursor_intact(tmp_path, server, monkeypatch, caplog):
    feed = [{"title": "acme news", "guid": "http://e.com/1", "description": "acme"}]
    server.routes["/f.xml"] = Answer(rss_feed(feed), content_type="application/rss+xml", headers={"ETag": '"v1"'})
    settings = settings_for(tmp_path, feeds=[server.url("/f.xml")])
    assert collect(settings, monkeypatch, rss=RssConnector.from_settings)["rss"].status == "ok"
    before = cursors(settings, "rss")
    for body, kind in [({"items": []}, "application/json"), ("<html><p>login</p>", "text/html"), (b"", "text/xml")]:
        server.routes["/f.xml"] = Answer(body, content_type=kind)
        run = collect(settings, monkeypatch, rss=RssConnector.from_settings)["rss"]
        assert run.status == "failed" and run.error.startswith(f"{server.url('/f.xml')}: not a readable RSS/Atom feed")
        assert cursors(settings, "rss") == before and "\n" not in run.error
    no_traceback(caplog)


def test_item08_rss_mapper_never_raises_on_odd_entries():
    fetched = datetime(2026, 11, 20, tzinfo=UTC)
    good = {"title": "acme", "id": "http://e.com/1", "summary": "text"}
    odd = {
        "title": ["x"],
        "summary": 5,
        "id": ["y"],
        "content": "not blocks",
        "author_detail": "z",
        "links": 5,
        "published_parsed": "soon",
        7: "an int key",
    }
    mentions, problems = map_feed({"feed": "x", "entries": [None, 1, "s", good, odd]}, "http://e.com/f", None, fetched)
    assert [m.id for m in mentions] == ["http://e.com/1"] and len(problems) == 3  # odd has no text: not a mention
    assert map_feed(None, "http://e.com/f", None, fetched) == (
        [],
        ["http://e.com/f: feed skipped (parsed into null, not a feed)"],
    )
    assert map_feed({"entries": "x", "feed": []}, "http://e.com/f", None, fetched) == ([], [])


# -- item 2: absurd RSS dates ---------------------------------------------------------

ABSURD_DATES = [
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Sat, 00 Jan 0000 00:00:00 GMT",
    "Mon, 01 Jan 0000 00:00:00 GMT",
    "Thu, 31 Dec 9999 23:59:59 -0100",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+05:00",
    "Tue, 10 Nov 2026 25:61:61 GMT",
    "Tue, 99 Nov 2026 04:00:00 GMT",
    "yesterday-ish",
    "",
]


def test_item02_rss_absurd_pubdates_map(server):
    items = [
        {"title": f"acme {i}", "guid": f"http://e.com/{i}", "pubDate": d, "description": "acme"}
        for i, d in enumerate(ABSURD_DATES)
    ]
    items.append({"title": "acme no guid", "pubDate": "Sat, 00 Jan 0000 00:00:00 GMT", "description": "acme"})
    server.routes["/dates.xml"] = Answer(rss_feed(items), content_type="application/rss+xml")
    config = settings_for(NO_STORE, feeds=[server.url("/dates.xml")]).sources.rss
    connector = RssConnector(config)
    (page,) = list(connector.fetch({}))
    assert page.error is None
    mentions = connector.map_page(page)
    assert len(mentions) == len(items) and page.warnings == []  # nothing vanished
    fetched = page.context["fetched_at"]
    by_id = {m.id: m for m in mentions}
    assert by_id["http://e.com/0"].created_at == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # kept as is
    assert by_id["http://e.com/1"].created_at == datetime(1, 1, 1, tzinfo=UTC)
    for i in (2, 3, 4, 7, 8, 9, 10, 11):  # feedparser could not read these (or gave year 0): the fetch time
        assert by_id[f"http://e.com/{i}"].created_at == fetched, ABSURD_DATES[i]
    for mention in mentions:
        assert mention.created_at.tzinfo is not None
        mention.to_json()
    # The date text still makes the hash id of a guid-less entry stable.
    again = connector.map_page(next(iter(RssConnector(config).fetch({}))))
    assert {m.id for m in again} == set(by_id)


# -- item 10: network failures in words ----------------------------------------------


def rss_error(url: str, timeout: float = 1) -> str:
    settings = settings_for(NO_STORE, feeds=[url])
    config = settings.sources.rss.model_copy(update={"timeout_seconds": timeout})
    (page,) = list(RssConnector(config).fetch({}))
    assert page.payload is None and page.cursor == {url: None}
    return page.error


def test_item10_refused_connection_says_connection_refused():
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    error = rss_error(url)
    assert error.startswith(f"{url}: connection refused (nothing listens at 127.0.0.1:")
    assert "timed out" not in error and "timeout_seconds" not in error


def test_item10_dns_failure_says_could_not_resolve_host():
    error = rss_error("http://no-such-host.invalid/feed.xml")
    assert error.startswith("http://no-such-host.invalid/feed.xml: could not resolve host no-such-host.invalid")


def test_item10_tls_failure_says_tls_error(server):
    url = server.url("/f.xml").replace("http://", "https://")  # TLS spoken to a plain-HTTP server
    error = rss_error(url)
    assert error.startswith(f"{url}: TLS error (") and "timed out" not in error


def test_item10_read_timeout_says_timed_out(server):
    server.routes["/slow.xml"] = Answer(rss_feed([]), delay=2)
    error = rss_error(server.url("/slow.xml"), timeout=0.3)
    assert error.startswith(f"{server.url('/slow.xml')}: timed out") and "raise timeout_seconds" in error


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The connectors' own backoff (X: 2, 4, 8, 16 s; prawcore's) made instant and recorded."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


def test_item10_x_refused_connection_says_connection_refused(tmp_path, no_sleep):
    settings = settings_for(tmp_path, x={})
    connector = x_connector(settings, f"http://127.0.0.1:{free_port()}", ["acme"])
    with pytest.raises(TransientError) as caught:
        list(connector.fetch({}))
    assert str(caught.value).startswith("X kept failing (connection refused) after 4 retries")
    assert no_sleep == [2.0, 4.0, 8.0, 16.0]


def test_item10_reddit_refused_connection_says_connection_refused(tmp_path, reddit_env, no_sleep):
    settings = settings_for(tmp_path, reddit={"subreddits": ["acme"]})
    connector = reddit_connector(settings, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientError) as caught:
        list(connector.fetch({}))
    assert "could not reach Reddit on r/acme/new (ConnectionError: connection refused)" in str(caught.value)


# -- item 13: deadlines per request and per source ----------------------------------------

TRICKLE = 0.2  # seconds per byte: a 100-byte answer would take 20 s


def test_item13_trickling_feed_hits_the_request_deadline_then_analyze_runs(tmp_path, server):
    good = [{"title": "acme coffee is great", "guid": "http://e.com/g1", "description": "acme"}]
    server.routes["/trickle.xml"] = Answer(rss_feed(good * 3), content_type="application/rss+xml", trickle=TRICKLE)
    server.routes["/good.xml"] = Answer(rss_feed(good), content_type="application/rss+xml")
    feeds = [server.url("/trickle.xml"), server.url("/good.xml")]
    config = write_config(tmp_path, feeds, timeout=0.5)  # per read; the whole response within 4 x 0.5 s
    started = time.monotonic()
    result = run_cli("--config", str(config), "run", "--json", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    (rss,) = report["sources"]
    assert rss["status"] == "partial" and rss["inserted"] == 1
    assert rss["error"] == (
        f"{feeds[0]}: response not complete within the request deadline (2s): the server "
        "sends too slowly (a whole response must arrive within 4 x timeout_seconds)"
    )
    assert report["analyze"]["scored"] >= 1  # analyze ran after it
    assert "Traceback" not in result.stderr
    assert elapsed < 15  # process start and analyze included; the trickle alone would take minutes
    keys = [k for (k,) in table_rows(tmp_path / "listener.duckdb", "SELECT key FROM cursors")]
    assert keys == [feeds[1]]  # the trickling feed has no cursor: the next run asks again


@pytest.mark.parametrize(
    "answer",
    [Answer(rss_feed([]), trickle=TRICKLE), Answer(rss_feed([]), trickle_headers=TRICKLE)],
    ids=["body", "headers"],
)
def test_item13_request_deadline_covers_headers_and_body(server, answer):
    server.routes["/t.xml"] = answer
    started = time.monotonic()
    error = rss_error(server.url("/t.xml"), timeout=0.3)
    assert time.monotonic() - started < 3  # deadline 1.2 s
    assert error.startswith(f"{server.url('/t.xml')}: response not complete within the request deadline (1.2s): ")


def test_item13_tweepy_and_praw_sessions_have_the_deadline(tmp_path, server, reddit_env):
    server.routes[X_SEARCH] = Answer(x_page(X.tweet("1", "2", "acme")), trickle=TRICKLE)
    server.routes["/r/acme/new"] = Answer(listing(thing("t3", "p1")), trickle=TRICKLE)
    settings = settings_for(tmp_path, x={}, reddit={"subreddits": ["acme"]})
    started = time.monotonic()
    with pytest.raises(TransientError) as x_stop:
        list(x_connector(settings, server.base, ["acme"], timeout_seconds=0.3).fetch({}))
    assert time.monotonic() - started < 3
    assert str(x_stop.value).startswith(
        "X answered too slowly (response not complete within the request deadline (1.2s)); stopped with cursors intact"
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as reddit_stop:  # prawcore's 16 s timeout would give 64 s
        list(reddit_connector(settings, server.base, request_deadline_seconds=1.2).fetch({}))
    assert time.monotonic() - started < 4
    assert str(reddit_stop.value).startswith(
        "Reddit answered too slowly on r/acme/new (response not complete "
        "within the request deadline (1.2s)): stopped collecting Reddit"
    )


def test_item13_source_time_limit_stops_cleanly_and_the_other_sources_run(tmp_path, server, monkeypatch, caplog):
    urls = []
    for n in range(5):
        posts = [{"title": f"acme {n}", "guid": f"http://e.com/{n}", "description": "acme"}]
        server.routes[f"/f{n}.xml"] = Answer(
            rss_feed(posts), content_type="application/rss+xml", delay=0.4, headers={"ETag": f'"e{n}"'}
        )
        urls.append(server.url(f"/f{n}.xml"))
    server.routes[X_SEARCH] = Answer(x_page(X.tweet("77", "2", "acme on x")))
    settings = settings_for(tmp_path, feeds=urls, x={})
    limited = {
        "rss": lambda s: RssConnector(s.sources.rss, max_fetch_seconds=1.0),
        "x": lambda s: x_connector(s, server.base, ["acme"]),
    }
    runs = collect(settings, monkeypatch, **limited)
    rss, x = runs["rss"], runs["x"]
    assert x.status == "ok" and x.inserted == 1  # the next source still ran
    assert rss.status == "partial" and 1 <= rss.inserted <= 4
    left = 5 - rss.inserted
    assert rss.error == (
        f"rss: stopped at the per-source time limit (max_fetch_seconds = 1s) with {left} of 5 feeds "
        "not fetched; what was stored keeps its cursors, the rest resumes next run"
    )
    assert sorted(cursors(settings, "rss")) == urls[: rss.inserted]  # every stored feed has its cursor, no other
    no_traceback(caplog)

    again = collect(settings, monkeypatch, rss=RssConnector.from_settings)["rss"]  # the default limit: converges
    assert again.status == "ok" and again.inserted == left
    assert sorted(cursors(settings, "rss")) == urls and len(native_ids(settings)) == 6


def test_item13_x_and_reddit_stop_at_the_source_limit_between_pages(tmp_path, server, reddit_env):
    settings = settings_for(tmp_path, x={}, reddit={"subreddits": ["acme", "globex"]})
    # acme answers at once, globex takes 1 s: the limit passes while globex is read, initech is never asked.
    server.routes[X_SEARCH] = lambda q: Answer(
        x_page(X.tweet("9", "2", "acme")), delay=1.0 if q["query"] == "globex" else 0
    )
    x_pages = list(x_connector(settings, server.base, ["acme", "globex", "initech"], max_fetch_seconds=0.5).fetch({}))
    assert [p.stream for p in x_pages] == ["search:acme", "search:globex", "x"]
    assert x_pages[-1].error.startswith(
        "x: stopped at the per-source time limit (max_fetch_seconds = 0.5s) with 1 of 3 streams not fetched"
    )
    server.routes["/r/acme/new"] = Answer(listing(thing("t3", "p1")), delay=0.6)
    server.routes["/r/acme/comments"] = Answer(listing())
    pages = list(reddit_connector(settings, server.base, max_fetch_seconds=0.5).fetch({}))
    assert [p.stream for p in pages] == ["r/acme/new", "reddit"]
    assert pages[0].cursor and pages[-1].error.startswith(
        "reddit: stopped at the per-source time limit (max_fetch_seconds = 0.5s) with 3 of 4 streams not fetched"
    )


def test_item13_x_cut_mid_pagination_resumes_at_the_next_page(tmp_path, server):
    settings = settings_for(tmp_path, x={})
    first = X.page([X.tweet("12", "2", "acme new")], USERS, next_token="p2")
    second = X.page([X.tweet("11", "2", "acme old")], USERS)
    server.routes[X_SEARCH] = lambda q: Answer(second) if q.get("next_token") == "p2" else Answer(first, delay=0.6)
    pages = list(x_connector(settings, server.base, ["acme", "globex"], max_fetch_seconds=0.5).fetch({}))
    assert [p.stream for p in pages] == ["search:acme", "x"]
    assert pages[1].error.startswith(
        "x: stopped at the per-source time limit (max_fetch_seconds = 0.5s) with the "
        "rest of search:acme and 1 more streams not fetched"
    )
    cursor = pages[0].cursor
    assert json.loads(cursor["search:acme"]) == {"next_token": "p2", "pending_newest": "12"}
    resumed = list(x_connector(settings, server.base, ["acme"]).fetch(cursor))
    assert [json.loads(p.cursor["search:acme"]) for p in resumed] == [{"since_id": "12"}]
    assert [t["id"] for t in resumed[0].payload["data"]] == ["11"]  # exactly the missing page


def test_item13_oversized_body_is_refused_while_reading(server):
    server.routes["/big.xml"] = Answer(b"<rss>" + b" " * 5000 + b"</rss>")
    settings = settings_for(NO_STORE, feeds=[server.url("/big.xml")])
    config = settings.sources.rss.model_copy(update={"max_feed_bytes": 1024})
    (page,) = list(RssConnector(config).fetch({}))
    assert page.error == f"{server.url('/big.xml')}: response larger than max_feed_bytes (1024 bytes)"


def test_item02_reddit_future_post_never_moves_the_cursor_past_today():
    from connectors.reddit import _newer

    now = time.time()
    cursor = _newer(None, {"created_utc": now - 60, "name": "t3_ok"})
    assert _newer(cursor, {"created_utc": now + 400 * 86400, "name": "t3_future"}) == cursor
    assert _newer(cursor, {"created_utc": now, "name": "t3_new"})["name"] == "t3_new"


def test_a_feed_url_with_credentials_never_shows_them_in_the_error():
    """`http://user:password@host/feed` is a valid feed URL; the error names the host, not the password."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://reader:hunter2pass@127.0.0.1:{port}/feed.xml"
    try:
        requests.get(url, timeout=5)
    except requests.RequestException as exc:
        message = describe_http_error(url, exc)
    assert "hunter2pass" not in message and "reader" not in message
    assert f"127.0.0.1:{port}/feed.xml" in message
