"""YouTube connector through the real google-api-python-client and httplib2, answered by a real HTTP
server on 127.0.0.1 (`api_url` points the client there): our own small bodies in the documented
shapes, and the recorded real bodies in ../shared/data/youtube."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FIXTURES, SHARED, run_in_process, shared_missing, table_rows

from connectors import registry
from connectors.settings import YouTubeSource
from connectors.youtube import map_threads, pacific_day, search_terms
from listener import pipeline
from listener.core.settings import settings_from_dict
from listener.publish.status import gather_status, status_lines
from listener.store.connection import Store

KEY = "test-youtube-key-not-real"
OWN = "UCacmeacmeacmeacmeacme01"  # the organization's channel
OTHER = "UCotherotherotherother01"
VIDEO = "vidAAAAAAA1"
ERIN = "UCerinerinerinerinerin01"
DATA = FIXTURES / "youtube"
SHARED_YT = SHARED / "youtube"
if "youtube" not in registry.REGISTRY:  # the entry went missing from connectors/registry.py: the same entry here
    registry.register(
        registry.SourceSpec(
            name="youtube",
            label="YouTube",
            factory=registry.built_by("connectors.youtube", "YouTubeConnector"),
            settings_model=YouTubeSource,
            reply_kind="comment",
        )
    )
DECIDING = ("videoId", "allThreadsRelatedToChannelId", "searchTerms", "pageToken", "parentId")


# -- the server ------------------------------------------------------------------


class YouTubeServer:
    """Answers /youtube/v3/<resource> by the parameters that select the data; each answer is used once
    (a list of answers plays in order). Every request is recorded (without the key)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[int, bytes]]] = {}
        self.requests: list[dict[str, str]] = []
        self.keys: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                server.keys.add(params.pop("key", ""))
                resource = url.path.rsplit("/", 1)[-1]
                server.requests.append({"resource": resource, **params})
                queue = server.answers.get(_match(resource, params))
                status, body = queue.pop(0) if queue else (418, json.dumps({"unscripted": [resource, params]}).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def on(self, resource: str, body: Any, status: int = 200, **params: str) -> YouTubeServer:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers.setdefault(_match(resource, params), []).append((status, raw))
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _match(resource: str, params: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return resource, tuple(sorted((k, v) for k, v in params.items() if k in DECIDING))


@pytest.fixture
def yt() -> Iterator[YouTubeServer]:
    server = YouTubeServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("YOUTUBE_API_KEY", KEY)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    return slept


# -- bodies in the documented shapes ----------------------------------------------


def comment(cid: str, author: str, text: str, published: str, channel: str = "UCbobbobbobbobbobbobbob1", **snip: Any):
    return {
        "kind": "youtube#comment",
        "id": cid,
        "snippet": {
            "authorDisplayName": author,
            "authorChannelUrl": f"http://www.youtube.com/{author}",
            "authorChannelId": {"value": channel},
            "channelId": snip.pop("owner", OWN),
            "textDisplay": text,
            "textOriginal": text,
            "likeCount": snip.pop("likes", 2),
            "publishedAt": published,
            "updatedAt": published,
            **snip,
        },
    }


def thread(tid: str, text: str, published: str, replies: list[dict] | tuple = (), total: int | None = None, **kw: Any):
    video = kw.pop("video", VIDEO)
    top = comment(tid, kw.pop("author", "@bob"), text, published, videoId=video, **kw)
    body: dict[str, Any] = {
        "kind": "youtube#commentThread",
        "id": tid,
        "snippet": {
            "channelId": OWN,
            "videoId": video,
            "topLevelComment": top,
            "canReply": True,
            "totalReplyCount": len(replies) if total is None else total,
            "isPublic": True,
        },
    }
    if replies:
        body["replies"] = {"comments": list(replies)}
    return body


def listing(items: list[dict], next_token: str | None = None, kind: str = "commentThreadListResponse") -> dict:
    body: dict[str, Any] = {"kind": f"youtube#{kind}", "pageInfo": {"resultsPerPage": 100}, "items": items}
    if next_token:
        body["nextPageToken"] = next_token
    return body


def error(status: int, reason: str, message: str = "nope") -> dict:
    return {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}


OWN_REPLY = comment(
    "T3.r1",
    "@AcmeCoffee",
    "@carol thanks, a new batch ships monday",
    "2026-11-20T11:00:00Z",
    channel=OWN,
    parentId="T3",
)
PAGES = [
    listing(
        [
            thread(
                "T5",
                "acme cold brew is great",
                "2026-11-21T10:00:00Z",
                author="@dave",
                channel="UCdavedavedavedavedave01",
            ),
            thread("T4", "where can I buy this?", "2026-11-21T09:00:00Z"),
        ],
        next_token="P2",
    ),
    listing(
        [
            thread(
                "T3",
                "mine arrived burnt",
                "2026-11-20T10:00:00Z",
                [OWN_REPLY],
                total=7,
                author="@carol",
                channel="UCcarolcarolcarolcarol01",
            )
        ],
        next_token="P3",
    ),
    listing([thread("T2", "first!", "2026-11-19T08:00:00Z"), thread("T1", "old one", "2026-11-18T08:00:00Z")]),
]
MORE_REPLIES = [
    listing(
        [
            OWN_REPLY,
            *(
                comment(f"T3.r{n}", "@erin", f"reply {n}", f"2026-11-20T12:0{n}:00Z", ERIN, parentId="T3")
                for n in (2, 3)
            ),
        ],
        next_token="R2",
        kind="commentListResponse",
    ),
    listing(
        [
            comment(f"T3.r{n}", "@erin", f"reply {n}", f"2026-11-20T12:0{n}:00Z", ERIN, parentId="T3")
            for n in (4, 5, 6, 7)
        ],
        kind="commentListResponse",
    ),
]


def script(server: YouTubeServer, pages: list[dict] = PAGES, video: str = VIDEO) -> YouTubeServer:
    """The three thread pages of `video` and the extra replies of T3."""
    tokens = [None, "P2", "P3"]
    for page, token in zip(pages, tokens):
        if token:
            server.on("commentThreads", page, videoId=video, pageToken=token)
        else:
            server.on("commentThreads", page, videoId=video)
    server.on("comments", MORE_REPLIES[0], parentId="T3")
    server.on("comments", MORE_REPLIES[1], parentId="T3", pageToken="R2")
    return server


def _settings(tmp_path: Path, server: YouTubeServer, own: list[str] | None = None, **youtube: Any):
    return settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "brand_terms": ["acme", '"acme coffee"'],
                "own_accounts": {"youtube": own if own is not None else [OWN, "@AcmeCoffee"]},
            },
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {"youtube": {"enabled": True, "api_url": server.url, "video_ids": [VIDEO], **youtube}},
        }
    )


def _collect(settings) -> Any:
    with Store(settings.store_path) as store:
        report = pipeline.collect(store, settings, ["youtube"])
    return report.runs[0]


def _cursors(settings) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in table_rows(settings.store_path, "SELECT key, value FROM cursors")}


def _thread_requests(server: YouTubeServer) -> list[str | None]:
    return [r.get("pageToken") for r in server.requests if r["resource"] == "commentThreads"]


# -- the tests -------------------------------------------------------------------


def test_pages_replies_threads_and_own_activity(tmp_path, yt, sleeps):
    settings = _settings(tmp_path, script(yt))
    run = _collect(settings)
    assert run.status == "ok", run.error
    assert run.inserted == 12  # 5 top-level comments, 7 replies of T3 (the embedded one once)
    db = settings.store_path
    rows = table_rows(
        db,
        "SELECT mention_id, author_id, parent_id, thread_id, is_own, like_count, reply_count, community, url "
        "FROM mentions WHERE native_id IN ('T5', 'T3', 'T3.r1', 'T3.r7') ORDER BY 1",
    )
    assert rows == [
        (
            "youtube:T3",
            "youtube:UCcarolcarolcarolcarol01",
            None,
            "youtube:T3",
            False,
            2,
            7,
            OWN,
            f"https://www.youtube.com/watch?v={VIDEO}&lc=T3",
        ),
        (
            "youtube:T3.r1",
            f"youtube:{OWN}",
            "youtube:T3",
            "youtube:T3",
            True,
            2,
            None,
            OWN,
            f"https://www.youtube.com/watch?v={VIDEO}&lc=T3.r1",
        ),
        (
            "youtube:T3.r7",
            f"youtube:{ERIN}",
            "youtube:T3",
            "youtube:T3",
            False,
            2,
            None,
            OWN,
            f"https://www.youtube.com/watch?v={VIDEO}&lc=T3.r7",
        ),
        (
            "youtube:T5",
            "youtube:UCdavedavedavedavedave01",
            None,
            "youtube:T5",
            False,
            2,
            0,
            OWN,
            f"https://www.youtube.com/watch?v={VIDEO}&lc=T5",
        ),
    ]
    assert table_rows(db, "SELECT author_id, handle, followers_count, is_own FROM authors ORDER BY 1") == [
        (f"youtube:{OWN}", "AcmeCoffee", None, True),
        ("youtube:UCbobbobbobbobbobbobbob1", "bob", None, False),
        ("youtube:UCcarolcarolcarolcarol01", "carol", None, False),
        ("youtube:UCdavedavedavedavedave01", "dave", None, False),
        (f"youtube:{ERIN}", "erin", None, False),
    ]
    kinds = table_rows(
        db,
        "SELECT from_author_id, to_author_id, kind FROM interactions WHERE mention_id = 'youtube:T3.r1' ORDER BY ALL",
    )
    assert (f"youtube:{OWN}", "youtube:UCcarolcarolcarolcarol01", "comment") in kinds
    assert any(k == "mention" for _, _, k in kinds)  # "@carol" in the text
    cursors = _cursors(settings)
    assert cursors[f"video:{VIDEO}"] == {"since": "2026-11-21T10:00:00Z"}
    quota = cursors["quota"]
    assert quota["used"] == 5 and quota["day"] == pacific_day(datetime.now(UTC))  # 3 thread pages, 2 reply pages
    assert _thread_requests(yt) == [None, "P2", "P3"] and sleeps == []
    first = yt.requests[0]
    assert (first["part"], first["order"], first["maxResults"], first["textFormat"]) == (
        "snippet,replies",
        "time",
        "100",
        "plainText",
    )
    assert "searchTerms" not in first  # a listed video is read whole
    assert yt.keys == {KEY}


def test_second_run_stops_at_the_cursor_and_inserts_nothing(tmp_path, yt, sleeps):
    settings = _settings(tmp_path, script(yt))
    assert _collect(settings).inserted == 12
    yt.on("commentThreads", PAGES[0], videoId=VIDEO)  # nothing new: the newest page is the same
    run = _collect(settings)
    assert (run.status, run.inserted) == ("ok", 0), run.error
    assert _thread_requests(yt)[3:] == [None]  # one request: T5 is the cursor, T4 is older
    assert _cursors(settings)["quota"]["used"] == 6


def test_crash_between_pages_converges_on_rerun(tmp_path, yt, sleeps):
    clean, crashed = tmp_path / "clean", tmp_path / "crash"
    clean.mkdir(), crashed.mkdir()
    clean_settings = _settings(clean, script(yt))
    _collect(clean_settings)
    # Page 3 never answers (the service keeps failing): pages 1 and 2 are stored with their cursor.
    broken = YouTubeServer()
    try:
        script(broken, PAGES[:2])
        for _ in range(5):
            broken.on("commentThreads", error(503, "backendError"), status=503, videoId=VIDEO, pageToken="P3")
        crashed_settings = _settings(crashed, broken)
        run = _collect(crashed_settings)
        assert run.status == "partial" and "kept failing" in run.error and run.inserted == 10
        assert sleeps == [2.0, 4.0, 8.0, 16.0]
        state = _cursors(crashed_settings)[f"video:{VIDEO}"]
        assert state == {"page_token": "P3", "pending_newest": "2026-11-21T10:00:00Z"}
        broken.on("commentThreads", PAGES[2], videoId=VIDEO, pageToken="P3")
        run = _collect(crashed_settings)
        assert run.status == "ok" and run.inserted == 2
        assert [r.get("pageToken") for r in broken.requests if r["resource"] == "commentThreads"][-1:] == ["P3"]
    finally:
        broken.close()
    for sql in (
        "SELECT mention_id, author_id, text, parent_id, thread_id, like_count, reply_count, raw FROM mentions ORDER BY 1",
        "SELECT * FROM interactions ORDER BY ALL",
        "SELECT * EXCLUDE (first_seen, last_seen) FROM authors ORDER BY 1",
        "SELECT source, key, value FROM cursors WHERE key <> 'quota' ORDER BY ALL",
    ):
        assert table_rows(crashed / "listener.duckdb", sql) == table_rows(clean / "listener.duckdb", sql)


def test_quota_runs_out_mid_run_then_resumes(tmp_path, yt, sleeps, caplog):
    settings = _settings(tmp_path, script(yt), max_quota_units_per_run=2)
    with caplog.at_level("INFO", logger="connectors.youtube"):
        run = _collect(settings)
    assert run.status == "warning" and run.inserted == 4  # page 1, page 2 without its extra replies
    (warning,) = [w for w in run.warnings if "quota" in w]
    assert "2 units used in this run" in warning and "0 left" in warning and "resumes next run" in warning
    assert any("units used in this run" in r.message and r.levelname == "INFO" for r in caplog.records)
    # page 2 was read but its replies were not: its threads are kept, the cursor still points at page 2
    assert _cursors(settings)[f"video:{VIDEO}"]["page_token"] == "P2"
    assert _cursors(settings)["quota"]["used"] == 2
    yt.on("commentThreads", PAGES[1], videoId=VIDEO, pageToken="P2")
    settings = _settings(tmp_path, yt)
    run = _collect(settings)
    assert run.status == "ok" and run.inserted == 8, run.error
    assert _cursors(settings)["quota"]["used"] == 6  # 2, then page 2 again, its 2 reply pages and page 3
    # the runs table and `listener status` say what each run spent and what the day has left
    usage = [json.loads(u) for (u,) in table_rows(settings.store_path, "SELECT usage FROM runs ORDER BY started_at")]
    assert [u["quota_units"] for u in usage] == [2, 4]
    assert usage[-1]["quota_used_today"] == 6 and usage[-1]["quota_left_today"] == 10_000 - 6
    assert usage[-1]["quota_day"] == pacific_day(datetime.now(UTC))
    with Store(settings.store_path) as store:
        status = gather_status(store.conn, ["youtube"])
    (source,) = status["sources"]
    assert source["last_run"]["usage"]["quota_units"] == 4
    assert any("usage: 4 quota units in this run; 6 of 10000 used on" in line for line in status_lines(status))


def test_daily_budget_is_kept_per_pacific_day(tmp_path, yt, sleeps):
    settings = _settings(tmp_path, script(yt), daily_quota_units=5)
    assert _collect(settings).status == "ok"  # exactly the 5 units of the day
    asked = len(yt.requests)
    run = _collect(settings)
    assert run.status == "warning" and len(yt.requests) == asked  # nothing asked: the day's budget is spent
    assert any("0 left" in w and "1 streams were not fetched" in w for w in run.warnings)
    assert _cursors(settings)["quota"] == {"day": pacific_day(datetime.now(UTC)), "used": 5}


def test_quota_exceeded_stops_cleanly(tmp_path, yt, sleeps):
    yt.on("commentThreads", PAGES[0], videoId=VIDEO)
    yt.on(
        "commentThreads",
        error(403, "quotaExceeded", "The request cannot be completed"),
        status=403,
        videoId=VIDEO,
        pageToken="P2",
    )
    settings = _settings(tmp_path, yt, daily_quota_units=500)
    run = _collect(settings)
    assert run.status == "partial" and run.inserted == 2
    assert "quotaExceeded" in run.error and "\n" not in run.error and KEY not in run.error
    cursors = _cursors(settings)
    assert cursors[f"video:{VIDEO}"]["page_token"] == "P2"
    assert cursors["quota"]["used"] == 500  # the day counts as spent: no more requests today
    before = len(yt.requests)
    assert _collect(settings).status == "warning" and len(yt.requests) == before


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (400, error(400, "keyInvalid", "API key not valid. Please pass a valid API key."), "YOUTUBE_API_KEY"),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "errors": [{"reason": "badRequest"}],
                    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
                }
            },
            "YOUTUBE_API_KEY",
        ),
        (403, error(403, "accessNotConfigured", "YouTube Data API v3 has not been used"), "not enabled"),
    ],
)
def test_rejected_key_is_terminal_and_names_the_variable(tmp_path, yt, sleeps, status, body, words):
    yt.on("commentThreads", body, status=status, videoId=VIDEO)
    run = _collect(_settings(tmp_path, yt))
    assert run.status == "failed" and words in run.error and "YOUTUBE_API_KEY" in run.error
    assert KEY not in run.error and "key=" not in run.error


def test_missing_key_names_the_variable(tmp_path, yt, monkeypatch, sleeps):
    monkeypatch.delenv("YOUTUBE_API_KEY")
    run = _collect(_settings(tmp_path, yt))
    assert run.status == "failed" and "YOUTUBE_API_KEY is not set" in run.error and yt.requests == []


def test_comments_disabled_and_missing_video_warn_for_that_stream_only(tmp_path, yt, sleeps):
    off, gone = "offOFFoff01", "goneGONE001"
    yt.on("commentThreads", error(403, "commentsDisabled"), status=403, videoId=off)
    yt.on("commentThreads", error(404, "videoNotFound"), status=404, videoId=gone)
    script(yt)
    run = _collect(_settings(tmp_path, yt, video_ids=[off, gone, VIDEO]))
    assert run.status == "warning" and run.inserted == 12, run.error
    assert any(f"video:{off}: comments are disabled" in w for w in run.warnings)
    assert any(f"video:{gone}: YouTube has no such video" in w for w in run.warnings)


def test_server_error_then_success(tmp_path, yt, sleeps):
    yt.on("commentThreads", error(500, "backendError"), status=500, videoId=VIDEO)
    script(yt)
    run = _collect(_settings(tmp_path, yt))
    assert run.status == "ok" and run.inserted == 12 and sleeps == [2.0]
    assert _cursors(_settings(tmp_path, yt))["quota"]["used"] == 6  # the failed attempt cost a unit too


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html><body>proxy login</body></html>", "not JSON"),
        (
            json.dumps({"kind": "youtube#commentThreadListResponse", "items": {"T1": 1}}).encode(),
            "`items` is an object",
        ),
        (json.dumps({"items": [], "nextPageToken": 5}).encode(), "`nextPageToken`"),
    ],
)
def test_malformed_body_fails_the_stream_only(tmp_path, yt, sleeps, body, words):
    yt.on("commentThreads", PAGES[0], videoId=VIDEO)
    yt.on("commentThreads", body, videoId=VIDEO, pageToken="P2")
    other = "otherVIDEO1"
    yt.on(
        "commentThreads", listing([thread("X1", "acme elsewhere", "2026-11-22T10:00:00Z", video=other)]), videoId=other
    )
    settings = _settings(tmp_path, yt, video_ids=[VIDEO, other])
    run = _collect(settings)
    assert run.status == "partial" and run.inserted == 3
    assert f"video:{VIDEO}: YouTube answered with a malformed response" in run.error and words in run.error
    cursors = _cursors(settings)
    assert cursors[f"video:{VIDEO}"]["page_token"] == "P2" and cursors[f"video:{other}"]["since"]


def test_odd_items_are_skipped_not_raised():
    good = thread("T9", "fine", "2026-11-21T10:00:00Z")
    no_text = thread("T8", "", "2026-11-21T09:00:00Z")
    bad_time = thread("T7", "when?", "not a time")
    bad_time["snippet"]["topLevelComment"]["snippet"]["likeCount"] = "many"
    mentions, problems = map_threads({"items": [good, 5, {"id": "x", "snippet": []}, no_text, bad_time], "replies": {}})
    assert [m.id for m in mentions] == ["T9", "T7"] and len(problems) == 3
    assert mentions[1].created_at.year == 1970 and mentions[1].metrics.likes is None  # the pipeline uses the fetch time
    assert map_threads([]) == ([], ["page skipped (a list, not an object)"])


def test_search_terms_for_other_channels_only(tmp_path, yt, sleeps):
    yt.on(
        "commentThreads",
        listing([thread("C1", "any comment", "2026-11-21T10:00:00Z")]),
        allThreadsRelatedToChannelId=OWN,
    )
    yt.on(
        "commentThreads",
        listing([thread("C2", "acme is ok", "2026-11-21T10:00:00Z")]),
        allThreadsRelatedToChannelId=OTHER,
        searchTerms="acme",
    )
    settings = _settings(tmp_path, yt, channel_ids=[OWN, OTHER], video_ids=[])
    assert search_terms(settings.organization) == ["acme"]  # "acme coffee" is found by "acme" already
    run = _collect(settings)
    assert run.status == "ok" and run.inserted == 2, run.error
    assert set(_cursors(settings)) == {f"channel:{OWN}", f"channel:{OTHER}:search:acme", "quota"}
    assert [r.get("searchTerms") for r in yt.requests] == [None, "acme"]


def test_bad_ids_in_config_are_one_line_errors(tmp_path, yt):
    with pytest.raises(Exception) as caught:
        _settings(tmp_path, yt, channel_ids=["acme"])
    assert "not a channel id" in str(caught.value)
    settings = _settings(
        tmp_path, yt, video_ids=[f"https://www.youtube.com/watch?v={VIDEO}&t=3", f"https://youtu.be/{VIDEO}"]
    )
    assert settings.sources.youtube.video_ids == [VIDEO, VIDEO]


def test_fixture_files_replay_through_the_client(tmp_path, yt, sleeps):
    """The committed fixtures (tests/fixtures/youtube) in the recorded shapes, for a clone without ../shared."""
    page = json.loads((DATA / "comment_threads_video.json").read_text(encoding="utf-8"))
    replies = json.loads((DATA / "comments_parent.json").read_text(encoding="utf-8"))
    video = page["items"][0]["snippet"]["videoId"]
    yt.on("commentThreads", page, videoId=video)
    parent = replies["items"][0]["snippet"]["parentId"]
    yt.on("comments", replies, parentId=parent)
    run = _collect(_settings(tmp_path, yt, video_ids=[video]))
    assert run.status == "ok" and run.inserted == 4, run.error


def test_cli_collect_source_youtube(tmp_path, yt, capsys, monkeypatch, sleeps):
    monkeypatch.delenv("LISTENER_STORE", raising=False)
    script(yt)
    config = tmp_path / "listener.toml"
    config.write_text(
        f"""
[organization]
name = "Acme"
brand_terms = ["acme"]
[organization.own_accounts]
youtube = ["{OWN}"]
[store]
path = "{(tmp_path / "cli.duckdb").as_posix()}"
[sources.youtube]
enabled = true
api_url = "{yt.url}"
video_ids = ["{VIDEO}"]
""",
        encoding="utf-8",
    )
    code, out, err = run_in_process(capsys, "--config", str(config), "collect", "--source", "youtube", "--json")
    assert code == 0, err
    assert table_rows(tmp_path / "cli.duckdb", "SELECT count(*), count(*) FILTER (is_own) FROM mentions") == [(12, 1)]
    assert KEY not in out + err


# -- the recorded real bodies (../shared/data/youtube) ------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED_YT.is_dir(), reason=shared_missing("youtube/ (python-youtube's recorded Data API bodies)")
)


def _recorded(name: str) -> Any:
    return json.loads((SHARED_YT / name).read_text(encoding="utf-8"))


@needs_shared
def test_recorded_bodies_through_client_pipeline_and_store(tmp_path, yt, sleeps):
    paged = _recorded("comment_threads_by_video_paged_1.json")
    single = _recorded("comment_thread_single.json")
    replies = _recorded("comments_by_parent_paged_1.json")
    yt.on("commentThreads", paged, videoId="F1UP7wRCPH8")
    yt.on("commentThreads", single, videoId="D-lhorsDlUQ")
    # the thread with 2 replies (the recording embeds none) gets the recorded replies page, then its end
    yt.on("comments", replies, parentId="UgwI_ylXVnzPS8Q-oAV4AaABAg")
    yt.on(
        "comments",
        listing([], kind="commentListResponse"),
        parentId="UgwI_ylXVnzPS8Q-oAV4AaABAg",
        pageToken=replies["nextPageToken"],
    )
    settings = _settings(tmp_path, yt, video_ids=["F1UP7wRCPH8", "D-lhorsDlUQ"], max_threads_per_stream=5)
    run = _collect(settings)
    assert run.inserted == 8 and run.status == "warning", run.error  # 5 + 2 replies, 1; capped at 5 threads
    assert any("max_threads_per_stream (5)" in w for w in run.warnings)
    cursors = _cursors(settings)
    assert cursors["video:F1UP7wRCPH8"]["page_token"] == paged["nextPageToken"]  # resumes at page 2
    assert cursors["video:D-lhorsDlUQ"] == {"since": "2019-04-20T01:03:39Z"}
    rows = table_rows(
        settings.store_path,
        "SELECT native_id, author_id, like_count, url FROM mentions WHERE native_id = 'UgysQP-vp089eFP0Stl4AaABAg'",
    )
    assert rows == [
        (
            "UgysQP-vp089eFP0Stl4AaABAg",
            "youtube:UCzZ87J8wYVpOADFviqyFKhw",
            4,
            "https://www.youtube.com/watch?v=F1UP7wRCPH8&lc=UgysQP-vp089eFP0Stl4AaABAg",
        )
    ]
    reply = table_rows(
        settings.store_path, "SELECT parent_id, thread_id FROM mentions WHERE native_id LIKE '%.91zT3cYb5B291za6voUoRh'"
    )
    assert reply == [("youtube:Ugw5zYU6n9pmIgAZWvN4AaABAg", "youtube:UgwI_ylXVnzPS8Q-oAV4AaABAg")]


@needs_shared
def test_recorded_bodies_map_without_warnings():
    for name in ("comment_threads_by_video_paged_1.json", "comment_thread_single.json"):
        body = _recorded(name)
        mentions, problems = map_threads({"items": body["items"], "replies": {}})
        assert problems == [] and len(mentions) == len(body["items"])
        assert all(m.text and m.author.id and m.created_at.year == 2019 for m in mentions)
        assert all(m.author.handle is None and m.author.name for m in mentions)  # 2019 names, not @handles
