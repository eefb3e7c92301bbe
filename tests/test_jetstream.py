"""Jetstream following through the real websockets client against a real websocket server on 127.0.0.1.

The server replays a list of recorded-shape Jetstream events (the shapes of the Jetstream README:
`commit`, `identity`, `account`; post records as in ../shared/data/bluesky) from the `cursor` query
parameter on, optionally dropping the connection after some events; handles resolve through a real
HTTP server (`com.atproto.identity.resolveHandle`).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml  # type: ignore[import-untyped]
from conftest import SHARED, FeedServer, Route, shared_missing, table_rows
from websockets.sync.server import ServerConnection, serve

import connectors
from connectors.base import RawPage
from connectors.jetstream import JetstreamFollower, map_event, topic_patterns
from listener import pipeline
from listener.core.settings import Settings, settings_from_dict
from listener.store.connection import Store

ACME = "did:plc:acmeacmeacmeacmeacmeacme"  # own, given as the handle acme.example.com
ACME2 = "did:plc:acmesupportsupportsuppor"  # own, given as a DID
BOB = "did:plc:bobbobbobbobbobbobbobbob"
CAROL = "did:plc:carolcarolcarolcarolcaro"
T0 = 1_746_000_000_000_000  # 2025-04-30, microseconds


def post(
    n: int, did: str, text: str, *, reply: str | None = None, quote: str | None = None, **record: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"$type": "app.bsky.feed.post", "createdAt": "2025-04-30T08:00:00.000Z", "text": text}
    if reply:
        ref = {"uri": reply, "cid": "bafyreiparent"}
        body["reply"] = {"parent": ref, "root": ref}
    if quote:
        body["embed"] = {"$type": "app.bsky.embed.record", "record": {"uri": quote, "cid": "bafyreiquoted"}}
    body.update(record)
    return commit(n, did, "app.bsky.feed.post", f"3lpost{n:04d}", body)


def commit(n: int, did: str, collection: str, rkey: str, record: dict[str, Any] | None, op: str = "create") -> dict:
    event: dict[str, Any] = {
        "did": did,
        "time_us": T0 + n * 1000,
        "kind": "commit",
        "commit": {"rev": f"3lrev{n}", "operation": op, "collection": collection, "rkey": rkey, "cid": "bafyrei"},
    }
    if record is not None:
        event["commit"]["record"] = record
    return event


def identity(n: int, did: str, handle: str) -> dict[str, Any]:
    return {
        "did": did,
        "time_us": T0 + n * 1000,
        "kind": "identity",
        "identity": {"did": did, "handle": handle, "seq": n, "time": "2025-04-30T08:00:00Z"},
    }


def uri(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def mention_facet(text: str, target: str, did: str) -> dict[str, Any]:
    start = text.encode().index(target.encode())
    return {
        "index": {"byteStart": start, "byteEnd": start + len(target.encode())},
        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
    }


OWN_POST = uri(ACME, "3lpost0001")
EVENTS: list[dict[str, Any]] = [
    post(1, ACME, "Our new cold brew is out today", langs=["en"]),  # own
    post(2, BOB, "what a lovely morning"),  # dropped
    identity(3, BOB, "bob.example.org"),
    post(4, BOB, "Trying the Acme coffee now", langs=["en"]),  # topic, handle from the identity event
    post(5, CAROL, "congrats!", reply=OWN_POST),  # reply to own
    post(6, CAROL, "look at this", quote=OWN_POST),  # quote of own
    post(7, CAROL, "hey @acme.example.com", facets=[mention_facet("hey @acme.example.com", "@acme.example.com", ACME)]),
    commit(
        8,
        ACME2,
        "app.bsky.feed.repost",
        "3lrepost8",
        {"subject": {"uri": OWN_POST, "cid": "x"}, "createdAt": "2025-04-30T08:01:00Z"},
    ),
    commit(
        9,
        BOB,
        "app.bsky.feed.repost",
        "3lrepost9",
        {"subject": {"uri": uri(CAROL, "z"), "cid": "x"}, "createdAt": "2025-04-30T08:01:00Z"},
    ),  # dropped
    commit(10, CAROL, "app.bsky.feed.post", "3lpost0005", None, op="delete"),
    {"did": BOB, "time_us": T0 + 11_000, "kind": "account", "account": {"active": True, "did": BOB, "seq": 11}},
    post(12, BOB, "Globex is cheaper"),  # competitor term
    post(13, CAROL, "#acme fans unite", facets=[]),  # hashtag query topic
    post(14, BOB, "nothing about anvils here"),  # dropped
]
KEPT = [
    uri(ACME, "3lpost0001"),
    uri(BOB, "3lpost0004"),
    uri(CAROL, "3lpost0005"),
    uri(CAROL, "3lpost0006"),
    uri(CAROL, "3lpost0007"),
    f"at://{ACME2}/app.bsky.feed.repost/3lrepost8",
    uri(BOB, "3lpost0012"),
    uri(CAROL, "3lpost0013"),
]


class Jetstream:
    """A websocket server on 127.0.0.1 replaying `events` from the `cursor` parameter on, then idling.

    `drop_after`: per connection, in order, how many events to send before closing abruptly (None: all).
    """

    def __init__(self, events: list[Any]) -> None:
        self.events = events  # dicts, or raw strings sent as is (malformed on purpose)
        self.drop_after: list[int | None] = []
        self.requests: list[dict[str, list[str]]] = []
        self.server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/subscribe"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        params = parse_qs(urlsplit(ws.request.path).query)
        self.requests.append(params)
        cursor = int(params["cursor"][0]) if "cursor" in params else None
        limit = self.drop_after.pop(0) if self.drop_after else None
        sent = 0
        for event in self.events:
            if cursor is not None and isinstance(event, dict) and event.get("time_us", 0) < cursor:
                continue
            if limit is not None and sent >= limit:
                ws.socket.shutdown(socket.SHUT_RDWR)  # abrupt: no close frame
                ws.socket.close()
                return
            ws.send(event if isinstance(event, str) else json.dumps(event))
            sent += 1
        try:
            ws.recv()  # idle until the client leaves
        except Exception:
            pass

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def jetstream() -> Iterator[Jetstream]:
    server = Jetstream(list(EVENTS))
    yield server
    server.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    return slept


@pytest.fixture
def pds(feed_server: FeedServer) -> FeedServer:
    path = "/xrpc/com.atproto.identity.resolveHandle?handle=acme.example.com"
    feed_server.routes[path] = Route(json.dumps({"did": ACME}).encode(), headers={"Content-Type": "application/json"})
    return feed_server


def make_settings(tmp_path: Path, server: Jetstream, pds: FeedServer, own: list[str] | None = None) -> Settings:
    return settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "query": 'acme OR "cold brew" OR #acme NOT anvil',
                "competitors": [{"name": "Globex", "terms": ["globex"]}],
                "own_accounts": {"bluesky": ["acme.example.com", ACME2] if own is None else own},
            },
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {
                "bluesky": {"enabled": True, "jetstream": True, "jetstream_url": server.url, "service_url": pds.base}
            },
        }
    )


def follower(settings: Settings, **options: Any) -> JetstreamFollower:
    options = {"max_seconds": 0.5, "batch_seconds": 0.1, "open_timeout": 2, **options}
    return JetstreamFollower.from_settings(settings, **options)


def kept_ids(pages: list[RawPage], f: JetstreamFollower) -> list[str]:
    return [m.id for page in pages if page.payload for m in f.map_page(page)]


def test_keeps_own_mentions_replies_quotes_topics_and_drops_the_rest(tmp_path, jetstream, pds, sleeps):
    settings = make_settings(tmp_path, jetstream, pds)
    f = follower(settings)
    pages = list(f.fetch({}))
    assert not [p.error for p in pages if p.error]
    assert kept_ids(pages, f) == KEPT
    assert f.counts.reasons == {"own": 1, "topic": 3, "reply": 1, "quote": 1, "mention": 1, "repost": 1}
    assert (f.counts.dropped, f.counts.deletes, f.counts.identities, f.counts.malformed) == (3, 1, 1, 0)
    assert jetstream.requests[0]["wantedCollections"] == ["app.bsky.feed.post", "app.bsky.feed.repost"]
    assert "cursor" not in jetstream.requests[0] and "wantedDids" not in jetstream.requests[0]
    assert json.loads(pages[-1].cursor["jetstream"] or "") == {"time_us": EVENTS[-1]["time_us"]}
    mentions = {m.id: m for page in pages if page.payload for m in f.map_page(page)}
    assert mentions[uri(ACME, "3lpost0001")].author.handle == "acme.example.com"  # own: resolved handle
    assert mentions[uri(BOB, "3lpost0004")].author.handle == "bob.example.org"  # from the identity event
    assert mentions[uri(CAROL, "3lpost0005")].author.handle is None  # unknown: search fills it
    assert sleeps == []


def test_mapper_reads_reply_quote_facets_langs_and_reposts():
    text = "Thanks @acme.example.com! ☕ more at example.com #ColdBrew"
    facets = [
        mention_facet(text, "@acme.example.com", ACME),
        {
            "index": {"byteStart": text.encode().index(b"example.com #"), "byteEnd": text.encode().index(b" #")},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/"}],
        },
        {
            "index": {"byteStart": text.encode().index(b"#Cold"), "byteEnd": len(text.encode())},
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "ColdBrew"}],
        },
    ]
    root = uri(ACME, "3lroot")
    event = post(20, CAROL, text, langs=["de", "en"], facets=facets)
    event["commit"]["record"]["reply"] = {"parent": {"uri": OWN_POST, "cid": "a"}, "root": {"uri": root, "cid": "b"}}
    event["commit"]["record"]["embed"] = {
        "$type": "app.bsky.embed.recordWithMedia",
        "media": {"$type": "app.bsky.embed.images", "images": []},
        "record": {"$type": "app.bsky.embed.record", "record": {"uri": uri(BOB, "3lq"), "cid": "c"}},
    }
    m = map_event(event, {CAROL: "carol.example.net"})
    assert m.source == "bluesky" and m.id == uri(CAROL, "3lpost0020")
    assert m.url == f"https://bsky.app/profile/{CAROL}/post/3lpost0020"
    assert (m.parent_id, m.thread_id, m.in_reply_to_author) == (OWN_POST, root, ACME)
    assert m.quote_of == uri(BOB, "3lq") and m.referenced_authors[uri(BOB, "3lq")] == BOB
    assert [(r.handle, r.id) for r in m.mentions] == [("acme.example.com", ACME)]
    assert m.lang == "de" and m.text == text and m.created_at.isoformat() == "2025-04-30T08:00:00+00:00"
    assert (m.author.id, m.author.handle) == (CAROL, "carol.example.net")
    top = map_event(post(21, BOB, "hello"), {})
    assert (top.parent_id, top.thread_id, top.author.handle) == (None, top.id, None)
    repost = map_event(EVENTS[7], {})
    assert repost.id == f"at://{ACME2}/app.bsky.feed.repost/3lrepost8" and repost.repost_of == OWN_POST
    assert repost.url == f"https://bsky.app/profile/{ACME}/post/3lpost0001" and repost.text == ""


def test_malformed_events_are_counted_and_skipped(tmp_path, pds, sleeps):
    odd = [
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"did": BOB, "kind": "commit"}),  # no time_us
        json.dumps({"did": BOB, "time_us": T0 + 1, "kind": "mystery"}),
        json.dumps({"did": "nobody", "time_us": T0 + 2, "kind": "commit"}),
        json.dumps({"did": BOB, "time_us": T0 + 3, "kind": "commit", "commit": {"operation": "create"}}),
        json.dumps(post(4, BOB, "acme")["commit"] | {"x": 1}),  # a commit without its envelope
        json.dumps({**post(5, BOB, "acme"), "commit": {**post(5, BOB, "acme")["commit"], "record": {"text": 5}}}),
        post(6, BOB, "acme is fine"),
    ]
    server = Jetstream(odd)
    try:
        f = follower(make_settings(tmp_path, server, pds, own=[]))
        pages = list(f.fetch({}))
    finally:
        server.close()
    assert kept_ids(pages, f) == [uri(BOB, "3lpost0006")]
    assert f.counts.malformed == 8
    assert any("skipped" in w and "malformed" in w for p in pages for w in p.warnings)
    assert server.requests[0]["wantedCollections"] == ["app.bsky.feed.post"]  # no own accounts: no reposts
    page = RawPage(stream="jetstream", payload=[{"commit": {"collection": "app.bsky.feed.post"}}, "x", None])
    assert f.map_page(page) == [] and len(page.warnings) == 3  # the mapper never raises


def test_disconnect_resumes_from_the_cursor_without_gaps_or_duplicates(tmp_path, jetstream, pds, sleeps):
    jetstream.drop_after = [5, 3]  # two cuts mid-stream, then the whole rest
    f = follower(make_settings(tmp_path, jetstream, pds), max_seconds=0.7)
    pages = list(f.fetch({}))
    assert not [p.error for p in pages if p.error]
    assert kept_ids(pages, f) == KEPT  # every kept event once, in order
    assert len(jetstream.requests) == 3 and f.counts.reconnects == 2
    assert f.counts.backoffs == [1.0, 2.0] and sum(sleeps) == 3.0  # the second link gave nothing new: backoff grew
    # each reconnect starts from the cursor committed with the last page, minus the overlap
    first_cut = EVENTS[4]["time_us"]
    assert int(jetstream.requests[1]["cursor"][0]) == first_cut - 5_000_000
    assert f.counts.duplicates > 0  # the overlap was replayed and recognised
    cursors = [json.loads(p.cursor["jetstream"] or "")["time_us"] for p in pages if p.cursor]
    assert cursors == sorted(cursors) and cursors[-1] == EVENTS[-1]["time_us"]


def test_resume_from_a_stored_cursor_and_its_overlap(tmp_path, jetstream, pds, sleeps):
    f = follower(make_settings(tmp_path, jetstream, pds), overlap_seconds=0.004)
    cursor = json.dumps({"time_us": EVENTS[5]["time_us"]})
    pages = list(f.fetch({"jetstream": cursor}))
    assert int(jetstream.requests[0]["cursor"][0]) == EVENTS[5]["time_us"] - 4000
    assert kept_ids(pages, f) == KEPT[1:]  # from event 2 on: the overlap re-reads 3 already stored


def test_unreachable_and_refused(tmp_path, jetstream, pds, sleeps):
    settings = make_settings(tmp_path, jetstream, pds)
    jetstream.close()
    f = follower(settings, max_reconnects=3)
    pages = list(f.fetch({}))
    assert pages[-1].error and "unreachable after 3 reconnects" in pages[-1].error
    assert f.counts.backoffs == [1.0, 2.0, 4.0] and sum(sleeps) == 7.0
    sleeps.clear()
    with serve(
        lambda ws: None, "127.0.0.1", 0, process_request=lambda ws, _: ws.respond(404, "no such path\n")
    ) as gone:
        threading.Thread(target=gone.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{gone.socket.getsockname()[1]}/subscribe"
        pages = list(JetstreamFollower.from_settings(settings, url=url, max_seconds=1).fetch({}))
        gone.shutdown()
    assert len(pages) == 1 and "HTTP 404" in str(pages[0].error) and sleeps == []
    pages = list(JetstreamFollower.from_settings(settings, url="http://127.0.0.1:1/subscribe").fetch({}))
    assert len(pages) == 1 and "not a websocket URL" in str(pages[0].error)


def test_a_handle_that_does_not_resolve_is_an_error_page_and_the_rest_runs(tmp_path, jetstream, pds, sleeps):
    settings = make_settings(tmp_path, jetstream, pds, own=["ghost.example.com", ACME])
    f = follower(settings)
    pages = list(f.fetch({}))
    assert pages[0].error and "ghost.example.com" in pages[0].error
    assert uri(ACME, "3lpost0001") in kept_ids(pages[1:], f)


def test_stop_event_ends_the_follow(tmp_path, jetstream, pds, sleeps):
    stop = threading.Event()
    f = follower(make_settings(tmp_path, jetstream, pds), max_seconds=30, stop=stop)
    seen: list[str] = []
    for page in f.fetch({}):
        seen += [m.id for m in f.map_page(page)]
        if len(seen) >= len(KEPT):
            stop.set()  # as the scheduler does at shutdown
    assert seen == KEPT


def test_topic_prefilter_takes_positive_words_only(tmp_path, jetstream, pds):
    org = make_settings(tmp_path, jetstream, pds).organization
    patterns = topic_patterns(org)
    assert not any("anvil" in p for p in patterns) and any("globex" in p for p in patterns)


# -- end to end through the pipeline ----------------------------------------------------------


def collect(settings: Settings, monkeypatch: pytest.MonkeyPatch, seconds: float = 0.4) -> Any:
    monkeypatch.setitem(connectors.REGISTRY, "bluesky", lambda s: follower(s, max_seconds=seconds))
    with Store(settings.store_path) as store:
        return pipeline.collect(store, settings, ["bluesky"]).runs[0]


def test_collect_stores_pages_and_cursor_and_a_rerun_converges(tmp_path, jetstream, pds, sleeps, monkeypatch):
    settings = make_settings(tmp_path, jetstream, pds)
    db = settings.store_path
    first = collect(settings, monkeypatch)
    assert (first.status, first.inserted) == ("ok", len(KEPT))
    rows = dict(table_rows(db, "SELECT mention_id, is_own FROM mentions"))
    assert rows[f"bluesky:{uri(ACME, '3lpost0001')}"] is True
    assert rows[f"bluesky:at://{ACME2}/app.bsky.feed.repost/3lrepost8"] is True
    assert rows[f"bluesky:{uri(CAROL, '3lpost0005')}"] is False
    (parent,) = table_rows(db, f"SELECT parent_id FROM mentions WHERE native_id = '{uri(CAROL, '3lpost0005')}'")[0]
    assert parent == f"bluesky:{OWN_POST}"
    kinds = dict(table_rows(db, "SELECT kind, count(*) FROM interactions GROUP BY kind"))
    assert kinds.get("reply") == 1 and kinds.get("quote") == 1 and kinds.get("repost") == 1
    (cursor,) = table_rows(db, "SELECT value FROM cursors WHERE source = 'bluesky' AND key = 'jetstream'")[0]
    assert json.loads(cursor) == {"time_us": EVENTS[-1]["time_us"]}
    second = collect(settings, monkeypatch)  # the overlap replays everything: nothing new
    assert (second.status, second.inserted) == ("ok", 0)
    assert "cursor" in jetstream.requests[-1]
    jetstream.events.append(post(30, BOB, "acme again"))
    third = collect(settings, monkeypatch)
    assert third.inserted == 1
    assert table_rows(db, "SELECT count(*) FROM mentions")[0][0] == len(KEPT) + 1


def test_a_crash_between_pages_converges(tmp_path, jetstream, pds, sleeps, monkeypatch):
    settings = make_settings(tmp_path, jetstream, pds)

    class Crash(Exception):
        pass

    def crashing(s: Settings) -> JetstreamFollower:
        f = follower(s, batch_size=3, max_seconds=5)  # time for three pages on a busy machine
        fetch = f.fetch

        def fetch_then_die(cursors: Any) -> Iterator[RawPage]:
            for n, page in enumerate(fetch(cursors)):
                if n == 2:
                    raise Crash("killed")
                yield page

        f.fetch = fetch_then_die  # type: ignore[method-assign]
        return f

    monkeypatch.setitem(connectors.REGISTRY, "bluesky", crashing)
    with Store(settings.store_path) as store:
        crashed = pipeline.collect(store, settings, ["bluesky"]).runs[0]
    assert crashed.status == "partial" and 0 < crashed.inserted < len(KEPT)
    rerun = collect(settings, monkeypatch, seconds=3)
    assert crashed.inserted + rerun.inserted == len(KEPT)
    assert table_rows(settings.store_path, "SELECT count(*) FROM mentions")[0][0] == len(KEPT)


# -- real post records (../shared/data/bluesky) ---------------------------------------------


def test_real_post_records_from_the_author_feed_cassette(tmp_path, pds, sleeps):
    cassette = SHARED / "bluesky" / "f_autfeed.yml"
    if not cassette.exists():
        pytest.skip(shared_missing("bluesky/f_autfeed.yml"))
    exchange = yaml.safe_load(cassette.read_text(encoding="utf-8"))["http_interactions"][0]
    feed = json.loads(exchange["response"]["body"]["string"])["feed"]
    views = [item["post"] for item in feed]
    events = []
    for n, view in enumerate(views):
        did, _, rkey = view["uri"].removeprefix("at://").partition("/app.bsky.feed.post/")
        events.append(commit(n, did, "app.bsky.feed.post", rkey, view["record"]))
    author = Counter(e["did"] for e in events).most_common(1)[0][0]  # the feed's own account
    server = Jetstream(events)
    try:
        f = follower(make_settings(tmp_path, server, pds, own=[author]))
        pages = list(f.fetch({}))
    finally:
        server.close()
    own_views = [v for v in views if v["author"]["did"] == author]
    mapped = {m.id: m for page in pages if page.payload for m in f.map_page(page)}
    assert f.counts.malformed == 0 and set(mapped) >= {v["uri"] for v in own_views}
    for view in views:
        m = mapped.get(view["uri"])
        if m is None:
            continue
        record = view["record"]
        assert m.text == record.get("text", "")
        assert m.parent_id == record.get("reply", {}).get("parent", {}).get("uri")
        assert m.lang == (record.get("langs") or [None])[0]
    assert any(m.parent_id for m in mapped.values()) and any(m.quote_of for m in mapped.values())


def test_the_scheduler_follows_jetstream_in_a_job_of_its_own(tmp_path, jetstream, pds, sleeps):
    import threading as _threading

    from listener.ops.scheduler import build_scheduler, follow_job

    base = make_settings(tmp_path, jetstream, pds)
    data = base.model_dump(mode="json", exclude={"config_path"})
    data["sources"]["bluesky"]["max_fetch_seconds"] = 0.6  # the follow job's length
    settings = settings_from_dict(data)
    daemon = build_scheduler(settings, run_at_start=False)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert jobs["follow:bluesky"].executor == "follow"  # beside the polls, not in their thread
    status, summary = follow_job(settings, "bluesky", _threading.Event())
    assert status == "ok", summary
    assert f"inserted {len(KEPT)}" in summary
    (cursor,) = table_rows(settings.store_path, "SELECT value FROM cursors WHERE key = 'jetstream'")[0]
    assert json.loads(cursor) == {"time_us": EVENTS[-1]["time_us"]}
    (command,) = table_rows(settings.store_path, "SELECT DISTINCT command FROM runs")[0]
    assert command == "follow"
