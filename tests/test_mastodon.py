"""Mastodon connector through the real Mastodon.py client and requests, replaying recorded exchanges (vcrpy).

Own cassettes are written per test (JSON, vcrpy's format) from small status builders; the real
recordings in ../shared/data/mastodon are replayed too: rtoot's R `vcr` YAML converted here, and
Mastodon.py's own vcrpy YAML as they are.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import vcr
import yaml  # type: ignore[import-untyped]
from conftest import FIXTURES, SHARED, run_in_process, shared_missing, table_rows

from connectors.mastodon import MastodonConnector, html_to_text, map_payload
from listener import pipeline
from listener.core.settings import settings_from_dict
from listener.store.connection import Store

SOCIAL, FOSS = "https://mastodon.social", "https://fosstodon.org"
SHARED_M = SHARED / "mastodon"
DECIDING = ("min_id", "max_id", "since_id", "q", "type", "types[]")


@pytest.fixture(autouse=True)
def no_tokens(monkeypatch):
    for name in (
        "MASTODON_ACCESS_TOKEN",
        "MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL",
        "MASTODON_ACCESS_TOKEN_FOSSTODON_ORG",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    return slept


# -- building exchanges ----------------------------------------------------------------


def account(acct: str, followers: int = 10) -> dict[str, Any]:
    """An account as an instance shows it: `acct` is local ("bob") or remote ("bob@fosstodon.org")."""
    user, _, home = acct.partition("@")
    home = home or "mastodon.social"
    return {
        "id": str(abs(hash(acct)) % 10**9),
        "username": user,
        "acct": acct,
        "display_name": user.title(),
        "url": f"https://{home}/@{user}",
        "uri": f"https://{home}/users/{user}",
        "followers_count": followers,
        "following_count": 1,
    }


def status(local: int, n: int, acct: str = "bob", text: str = "acme rocks", **extra: Any) -> dict[str, Any]:
    """Status `n` of `acct`'s home server, with `local` its id on the instance that serves it."""
    user, _, home = acct.partition("@")
    home = home or "mastodon.social"
    return {
        "id": str(local),
        "created_at": f"2026-11-20T09:{n % 60:02d}:00.000Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://{home}/users/{user}/statuses/{n}",
        "url": f"https://{home}/@{user}/{n}",
        "replies_count": 0,
        "reblogs_count": 1,
        "favourites_count": 2,
        "content": f"<p>{text} #acme</p>",
        "reblog": None,
        "account": account(acct),
        "mentions": [],
        "tags": [{"name": "acme", "url": f"https://{home}/tags/acme"}],
        **extra,
    }


def exchange(
    base: str,
    path: str,
    body: Any,
    status_code: int = 200,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    link: tuple[str | None, str | None] | None = None,
) -> dict[str, Any]:
    """One recorded request and answer; `link` = (max_id of the next page, min_id of the previous)."""
    response_headers = {"content-type": ["application/json; charset=utf-8"]}
    if link:
        url = f"{base}{path}"
        parts = []
        if link[0]:
            parts.append(f'<{url}?limit=40&max_id={link[0]}>; rel="next"')
        if link[1]:
            parts.append(f'<{url}?limit=40&min_id={link[1]}>; rel="prev"')
        response_headers["link"] = [", ".join(parts)]
    for key, value in (headers or {}).items():
        response_headers[key] = [value]
    text = body if isinstance(body, str) else json.dumps(body)
    query = f"?{urlencode(params)}" if params else ""
    return {
        "request": {"method": "GET", "uri": f"{base}{path}{query}", "body": None, "headers": {}},
        "response": {
            "status": {"code": status_code, "message": ""},
            "headers": response_headers,
            "body": {"string": text},
        },
    }


def page(base: str, path: str, statuses: list[dict[str, Any]], **params: str) -> dict[str, Any]:
    """A timeline page with Mastodon's Link header (none when empty)."""
    link = (statuses[-1]["id"], statuses[0]["id"]) if statuses else None
    return exchange(base, path, statuses, params=params, link=link)


def tag(base: str, statuses: list[dict[str, Any]], name: str = "acme", **params: str) -> dict[str, Any]:
    return page(base, f"/api/v1/timelines/tag/{name}", statuses, **params)


def deciding_params(r1: Any, r2: Any) -> None:
    q1, q2 = parse_qs(urlparse(r1.uri).query), parse_qs(urlparse(r2.uri).query)
    for name in DECIDING:
        assert q1.get(name) == q2.get(name), f"{name}: {q1.get(name)} != {q2.get(name)}"


def recorder(loose: bool = False) -> vcr.VCR:
    tape = vcr.VCR(record_mode="none", decode_compressed_response=True, filter_headers=["authorization"])
    tape.register_matcher("deciding", deciding_params)
    tape.match_on = ("method", "host", "path") if loose else ("method", "host", "path", "deciding")
    return tape


def cassette(path: Path, exchanges: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": exchanges}), encoding="utf-8")
    return path


def r_vcr_cassette(source: Path, target: Path) -> Path:
    """An R `vcr` YAML cassette (rtoot's) as a vcrpy JSON one: bodies are stored decoded there."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    exchanges = []
    for item in data["http_interactions"]:
        request, response = item["request"], item["response"]
        status_code = response["status"]["status_code"] if isinstance(response["status"], dict) else response["status"]
        headers = {
            k: [str(v)]
            for k, v in (response.get("headers") or {}).items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        exchanges.append(
            {
                "request": {"method": request["method"].upper(), "uri": request["uri"], "body": None, "headers": {}},
                "response": {
                    "status": {"code": int(status_code), "message": ""},
                    "headers": headers,
                    "body": {"string": response["body"]["string"]},
                },
            }
        )
    return cassette(target, exchanges)


def settings(tmp_path: Path, own: list[str] | None = None, terms: tuple[str, ...] = ("acme",), **mastodon: Any) -> Any:
    """`terms` = brand terms; a phrase gives a search query but no hashtag (an empty `hashtags` is the default)."""
    config = {"enabled": True, "instances": [SOCIAL], "hashtags": ["acme"], "search": False, **mastodon}
    return settings_from_dict(
        {
            "organization": {"name": "Acme", "brand_terms": list(terms), "own_accounts": {"mastodon": own or []}},
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {"mastodon": config},
        }
    )


def collect(config: Any, tape_path: Path, loose: bool = False) -> tuple[Any, Any]:
    with recorder(loose).use_cassette(str(tape_path), serializer="json") as tape, Store(config.store_path) as store:
        report = pipeline.collect(store, config, ["mastodon"])
    return report.runs[0], tape


def cursors(db: Path) -> dict[str, Any]:
    return {k: json.loads(v) if v.startswith("{") else v for k, v in table_rows(db, "SELECT key, value FROM cursors")}


# A tag timeline of five statuses, newest first, served as pages of two (local ids 105..101).
FIVE = [status(100 + i, 500 + i, acct="bob" if i % 2 else "carol@fosstodon.org") for i in range(5, 0, -1)]
BACKFILL = [
    tag(SOCIAL, FIVE[:2]),
    tag(SOCIAL, FIVE[2:4], max_id="104"),
    tag(SOCIAL, FIVE[4:], max_id="102"),
    tag(SOCIAL, [], max_id="101"),
]


# -- pagination, cursors, convergence ------------------------------------------------------


def test_first_run_pages_back_later_runs_page_forward(tmp_path, sleeps):
    config = settings(tmp_path)
    run, tape = collect(config, cassette(tmp_path / "1.json", BACKFILL))
    assert (run.status, run.inserted) == ("ok", 5) and tape.all_played
    assert cursors(config.store_path)["tag:mastodon.social:acme"] == {"min_id": "105"}
    newer = [status(107, 507), status(106, 506)]
    forward = [tag(SOCIAL, newer, min_id="105"), tag(SOCIAL, [], min_id="107")]  # the second via the Link prev
    run, tape = collect(config, cassette(tmp_path / "2.json", forward))
    assert (run.status, run.inserted) == ("ok", 2) and tape.all_played
    assert cursors(config.store_path)["tag:mastodon.social:acme"] == {"min_id": "107"}
    run, tape = collect(config, cassette(tmp_path / "3.json", [tag(SOCIAL, [], min_id="107")]))
    assert (run.status, run.inserted, run.updated) == ("ok", 0, 0) and tape.all_played
    db = config.store_path
    assert table_rows(db, "SELECT count(*), count(DISTINCT author_id) FROM mentions") == [(7, 2)]
    assert table_rows(db, "SELECT author_id, handle, display_name, followers_count FROM authors ORDER BY 1") == [
        ("mastodon:https://fosstodon.org/@carol", "carol@fosstodon.org", "Carol", 10),
        ("mastodon:https://mastodon.social/@bob", "bob@mastodon.social", "Bob", 10),
    ]
    row = table_rows(
        db, "SELECT text, url, lang, like_count, repost_count, thread_id FROM mentions ORDER BY mention_id LIMIT 1"
    )
    assert row == [("acme rocks #acme", "https://fosstodon.org/@carol/502", "en", 2, 1, row[0][5])]
    assert row[0][5] == "mastodon:https://fosstodon.org/users/carol/statuses/502"
    assert sleeps == []


def test_crash_between_pages_converges_on_rerun(tmp_path, sleeps):
    clean, crashed = tmp_path / "clean", tmp_path / "crash"
    clean.mkdir(), crashed.mkdir()
    collect(settings(clean), cassette(tmp_path / "full.json", BACKFILL))
    # The connection dies after two pages: the third request has no answer (retried, then the instance stops).
    run, _ = collect(settings(crashed), cassette(tmp_path / "cut.json", BACKFILL[:2]))
    assert run.status == "partial" and run.inserted == 4 and "kept failing" in run.error
    state = cursors(crashed / "listener.duckdb")["tag:mastodon.social:acme"]
    assert state == {"newest": "105", "max_id": "102", "read": "4"}  # the backfill resumes, min_id not yet set
    run, tape = collect(settings(crashed), cassette(tmp_path / "rest.json", BACKFILL[2:]))
    assert run.status == "ok" and run.inserted == 1 and tape.all_played  # only the missing pages are asked for
    for sql in (
        "SELECT mention_id, author_id, text, parent_id, thread_id, like_count, raw FROM mentions ORDER BY 1",
        "SELECT * FROM authors ORDER BY 1",
        "SELECT * FROM interactions ORDER BY ALL",
        "SELECT source, key, value FROM cursors ORDER BY ALL",
    ):
        assert table_rows(crashed / "listener.duckdb", sql) == table_rows(clean / "listener.duckdb", sql)


def test_same_status_through_two_instances_is_stored_once(tmp_path, sleeps):
    config = settings(tmp_path, instances=[SOCIAL, FOSS])
    shared_post = status(900, 42, acct="dana@example.net", text="acme everywhere")
    seen_on_foss = dict(shared_post, id="55", favourites_count=7)  # its own local id and counts there
    tape_path = cassette(
        tmp_path / "two.json",
        [
            tag(SOCIAL, [shared_post]),
            tag(SOCIAL, [], max_id="900"),
            tag(FOSS, [seen_on_foss]),
            tag(FOSS, [], max_id="55"),
        ],
    )
    run, tape = collect(config, tape_path)
    assert run.status == "ok" and run.inserted == 1 and tape.all_played
    assert table_rows(config.store_path, "SELECT mention_id, author_id, like_count FROM mentions") == [
        ("mastodon:https://example.net/users/dana/statuses/42", "mastodon:https://example.net/@dana", 7)
    ]
    keys = set(cursors(config.store_path))
    assert keys == {"tag:mastodon.social:acme", "tag:fosstodon.org:acme"}


def test_cap_ends_the_backfill_with_a_warning(tmp_path, sleeps):
    config = settings(tmp_path, max_statuses_per_stream=2)
    run, tape = collect(config, cassette(tmp_path / "cap.json", BACKFILL[:1]))
    assert run.inserted == 2 and tape.all_played and run.status == "warning"
    assert any("max_statuses_per_stream (2)" in w for w in run.warnings)
    assert cursors(config.store_path)["tag:mastodon.social:acme"] == {"min_id": "105"}


# -- rate limits, errors -----------------------------------------------------------------


def limited(reset_in: float, **params: str) -> dict[str, Any]:
    reset = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + reset_in))
    headers = {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0", "Date": formatdate(usegmt=True)}
    return exchange(SOCIAL, "/api/v1/timelines/tag/acme", {"error": "Too many requests"}, 429, params, headers)


def test_rate_limit_waits_until_the_reset(tmp_path, sleeps):
    run, tape = collect(settings(tmp_path), cassette(tmp_path / "429.json", [limited(30), *BACKFILL]))
    assert run.status == "ok" and run.inserted == 5 and tape.all_played
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 33


def test_rate_limit_beyond_the_wait_budget_stops_with_cursor_intact(tmp_path, sleeps):
    config = settings(tmp_path, max_rate_limit_wait_seconds=60)
    run, _ = collect(config, cassette(tmp_path / "429.json", [BACKFILL[0], limited(900, max_id="104")]))
    assert run.status == "partial" and run.inserted == 2 and sleeps == []
    assert "rate limit" in run.error and "max_rate_limit_wait_seconds (60)" in run.error
    assert cursors(config.store_path)["tag:mastodon.social:acme"]["max_id"] == "104"


def test_server_error_then_success(tmp_path, sleeps):
    error = exchange(SOCIAL, "/api/v1/timelines/tag/acme", {"error": "oops"}, 500)
    run, tape = collect(settings(tmp_path), cassette(tmp_path / "500.json", [error, *BACKFILL]))
    assert run.status == "ok" and run.inserted == 5 and tape.all_played and sleeps == [2.0]


def test_401_names_the_variable_and_hides_the_token(tmp_path, sleeps, monkeypatch):
    refused = exchange(SOCIAL, "/api/v1/timelines/tag/acme", {"error": "The access token is invalid"}, 401)
    run, _ = collect(settings(tmp_path), cassette(tmp_path / "anon.json", [refused]))
    assert run.status == "failed" and "set MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL" in run.error
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL", "secret-token-not-real")
    run, _ = collect(settings(tmp_path), cassette(tmp_path / "token.json", [refused]))
    assert run.status == "failed" and "the token in MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL was rejected" in run.error
    assert "secret-token-not-real" not in run.error + " ".join(run.warnings)


def test_malformed_json_fails_that_stream_only(tmp_path, sleeps):
    config = settings(tmp_path, instances=[SOCIAL, FOSS])
    broken = exchange(SOCIAL, "/api/v1/timelines/tag/acme", "<html>502 from a proxy</html>")
    reshaped = exchange(FOSS, "/api/v1/timelines/tag/acme", {"statuses": []})
    run, _ = collect(config, cassette(tmp_path / "bad.json", [broken, reshaped]))
    assert run.status == "failed"
    assert "tag:mastodon.social:acme: Mastodon answered with a malformed response" in run.error
    assert "'<html>502 from a proxy</html>'" in run.error and "expected a list, got an object" in run.error
    good = [tag(FOSS, [status(9, 9)]), tag(FOSS, [], max_id="9")]
    run, _ = collect(config, cassette(tmp_path / "half.json", [broken, *good]))
    assert run.status == "partial" and run.inserted == 1
    assert set(cursors(config.store_path)) == {"tag:fosstodon.org:acme"}  # the broken stream's cursor untouched


def test_odd_statuses_are_skipped_not_raised():
    payload = json.loads((FIXTURES / "mastodon" / "odd_statuses.json").read_text(encoding="utf-8"))
    mentions, problems = map_payload(payload, "m.example", {})
    by_id = {m.id.rsplit("/", 1)[-1]: m for m in mentions}
    assert sorted(by_id) == ["2", "5", "6", "7", "9"]
    odd = by_id["2"]
    assert odd.text == "acme\nsecond line" and odd.lang is None and odd.author.handle == "a@m.example"
    assert odd.author.followers is None and odd.metrics.likes is None and odd.metrics.reposts == 1
    assert odd.created_at.year == 1970  # unreadable: the pipeline stores it with the fetch time
    assert by_id["5"].title == "acme spoilers" and by_id["5"].text == "a photo of an acme mug"
    assert by_id["5"].author.handle == "a@elsewhere.example"
    assert by_id["6"].quote_of == "https://q.example/users/q/statuses/7" and by_id["9"].quote_of is None
    assert len(problems) == 4 and any("no uri" in p for p in problems)  # not a status, no uri, no text, no account
    for mention in mentions:
        mention.to_json()


def test_html_keeps_line_breaks_and_drops_hidden_link_parts():
    html = (
        '<p>Hello <span class="h-card"><a href="https://x.example/@a" class="u-url mention">@<span>a</span></a></span>'
        '<br />line two</p><p>see <a href="https://example.com/a/very/long/path"><span class="invisible">https://'
        '</span><span class="ellipsis">example.com/a/very</span><span class="invisible">/long/path</span></a></p>'
    )
    assert html_to_text(html) == "Hello @a\nline two\n\nsee example.com/a/very…"


# -- threads, reblogs, own accounts, search ----------------------------------------------------


def test_reply_thread_resolved_through_status_context(tmp_path, sleeps):
    root = status(300, 30, acct="erin@fosstodon.org", text="root post")
    middle = status(
        301, 31, acct="bob", text="middle", in_reply_to_id="300", in_reply_to_account_id=root["account"]["id"]
    )
    reply = status(
        302,
        32,
        acct="carol@fosstodon.org",
        text="acme reply to bob",
        in_reply_to_id="301",
        in_reply_to_account_id=middle["account"]["id"],
        mentions=[
            {"id": middle["account"]["id"], "username": "bob", "acct": "bob", "url": "https://mastodon.social/@bob"}
        ],
    )
    reblog = status(
        303,
        33,
        acct="dana@example.net",
        text="",
        reblog=status(302, 32, acct="carol@fosstodon.org", text="acme reply to bob"),
    )
    reblog["reblog"] = reply
    reblog["uri"] += "/activity"
    context = exchange(SOCIAL, "/api/v1/statuses/302/context", {"ancestors": [root, middle], "descendants": []})
    tape_path = cassette(tmp_path / "ctx.json", [tag(SOCIAL, [reblog]), context, tag(SOCIAL, [], max_id="303")])
    run, tape = collect(settings(tmp_path), tape_path)
    assert run.status == "ok" and tape.all_played, run.error
    db = tmp_path / "listener.duckdb"
    rows = table_rows(db, "SELECT native_id, parent_id, thread_id, repost_of FROM mentions ORDER BY native_id")
    base = "mastodon:https://"
    assert rows == [
        (
            "https://example.net/users/dana/statuses/33/activity",
            None,
            f"{base}example.net/users/dana/statuses/33/activity",
            f"{base}fosstodon.org/users/carol/statuses/32",
        ),
        (
            "https://fosstodon.org/users/carol/statuses/32",
            f"{base}mastodon.social/users/bob/statuses/31",
            f"{base}fosstodon.org/users/erin/statuses/30",
            None,
        ),
        ("https://fosstodon.org/users/erin/statuses/30", None, f"{base}fosstodon.org/users/erin/statuses/30", None),
        (
            "https://mastodon.social/users/bob/statuses/31",
            f"{base}fosstodon.org/users/erin/statuses/30",
            f"{base}fosstodon.org/users/erin/statuses/30",
            None,
        ),
    ]
    edges = table_rows(db, "SELECT kind, from_author_id, to_author_id FROM interactions ORDER BY ALL")
    assert ("repost", f"{base}example.net/@dana", f"{base}fosstodon.org/@carol") in edges
    assert ("reply", f"{base}fosstodon.org/@carol", f"{base}mastodon.social/@bob") in edges


def test_own_account_statuses_and_mention_notifications(tmp_path, sleeps, monkeypatch):
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "own-token-not-real")  # the first instance's
    config = settings(tmp_path, own=["@Acme@mastodon.social"], terms=('"acme coffee"',), hashtags=[])
    acme = account("acme", 5400)
    own_post = dict(status(400, 40, acct="acme", text="new acme espresso"), account=acme)
    mention = {"id": "77", "type": "mention", "status": status(401, 41, acct="bob", text="@acme broken")}
    favourite = {"id": "76", "type": "favourite", "status": own_post}
    statuses_path = f"/api/v1/accounts/{acme['id']}/statuses"
    tape_path = cassette(
        tmp_path / "own.json",
        [
            exchange(SOCIAL, "/api/v1/accounts/lookup", acme, params={}),
            page(SOCIAL, statuses_path, [own_post]),
            page(SOCIAL, statuses_path, [], max_id="400"),
            exchange(
                SOCIAL, "/api/v1/notifications", [mention, favourite], params={"types[]": "mention"}, link=("76", "77")
            ),
            exchange(SOCIAL, "/api/v1/notifications", [], params={"types[]": "mention", "max_id": "76"}),
        ],
    )
    run, tape = collect(config, tape_path)
    assert run.status == "ok" and run.inserted == 2 and tape.all_played, run.error
    db = config.store_path
    assert table_rows(db, "SELECT handle, followers_count, is_own FROM authors ORDER BY 1") == [
        ("acme@mastodon.social", 5400, True),
        ("bob@mastodon.social", 10, False),
    ]
    state = cursors(db)
    assert state["account_id:acme@mastodon.social"] == acme["id"]  # looked up once, cached
    assert state["notifications:acme@mastodon.social"] == {"min_id": "77"}


def test_search_with_token_and_refusal_without(tmp_path, sleeps, monkeypatch):
    config = settings(tmp_path, instances=[SOCIAL, FOSS], hashtags=[], search=True, terms=('"acme coffee"',))
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL", "search-token-not-real")
    found = {"accounts": [], "hashtags": [], "statuses": [status(600, 60), status(599, 59)]}
    refused = {"error": "Search queries that are not hashtags are not supported without authentication"}
    tape_path = cassette(
        tmp_path / "search.json",
        [
            exchange(SOCIAL, "/api/v2/search", found, params={"q": '"acme coffee"', "type": "statuses"}),
            exchange(FOSS, "/api/v2/search", refused, 401, params={"q": '"acme coffee"', "type": "statuses"}),
        ],
    )
    run, tape = collect(config, tape_path)
    assert run.status == "warning" and run.inserted == 2 and tape.all_played, run.error
    assert any("set MASTODON_ACCESS_TOKEN_FOSSTODON_ORG to search it" in w for w in run.warnings)
    assert cursors(config.store_path) == {'search:mastodon.social:"acme coffee"': {"min_id": "600"}}


# -- the real recordings ---------------------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED_M.is_dir(), reason=shared_missing("mastodon/ (rtoot's and Mastodon.py's recorded exchanges)")
)


@needs_shared
def test_real_hashtag_timeline_through_pipeline(tmp_path, sleeps):
    config = settings(tmp_path, instances=[FOSS], hashtags=["rstats"], max_statuses_per_stream=5)
    tape_path = r_vcr_cassette(SHARED_M / "get_timeline_hashtag_default.yml", tmp_path / "tag.json")
    run, tape = collect(config, tape_path, loose=True)
    assert run.status == "warning" and run.inserted == 5 and tape.all_played  # warning: capped at 5
    db = config.store_path
    assert table_rows(db, "SELECT count(DISTINCT author_id), count(*) FILTER (lang = 'en') FROM mentions") == [(5, 5)]
    texts = [t for (t,) in table_rows(db, "SELECT text FROM mentions")]
    assert all("<" not in t for t in texts) and any("#rstats" in t for t in texts)
    assert cursors(db)["tag:fosstodon.org:rstats"] == {"min_id": "114870142263126875"}  # from the Link header


@needs_shared
def test_real_account_statuses_and_context_map(tmp_path, sleeps):
    connector = MastodonConnector.from_settings(settings(tmp_path, instances=[FOSS]))
    instance = connector.instance(FOSS)
    client = connector._client(instance)
    with recorder(loose=True).use_cassette(
        str(r_vcr_cassette(SHARED_M / "get_account_statuses_default.yml", tmp_path / "a.json")), serializer="json"
    ):
        connector._call(instance, client.account_statuses, "109302436954721982")
        statuses = connector._body(list)
    mentions, problems = map_payload({"statuses": statuses}, "fosstodon.org")
    assert problems == [] and len(mentions) >= 20
    assert any(m.repost_of for m in mentions) or all(not s.get("reblog") for s in statuses)
    with recorder(loose=True).use_cassette(
        str(r_vcr_cassette(SHARED_M / "get_context_with_ancesters.yml", tmp_path / "c.json")), serializer="json"
    ):
        connector._call(instance, client.status_context, "114027213608365869")
        context = connector._body(dict)
    mentions, problems = map_payload({"statuses": [], "ancestors": context["ancestors"]}, "fosstodon.org")
    assert problems == [] and len(mentions) == len(context["ancestors"]) >= 1
    for name in ("get_status_anonymous.yml", "get_reblogged_by_anonymous.yml"):
        r_vcr_cassette(SHARED_M / name, tmp_path / f"{name}.json")  # the other recordings convert too


@needs_shared
def test_real_mastodon_py_recordings(tmp_path, sleeps):
    connector = MastodonConnector.from_settings(settings(tmp_path, instances=["http://localhost:3000"]))
    instance = connector.instance("http://localhost:3000")
    client = connector._client(instance)
    tape = recorder(loose=True)
    with tape.use_cassette(str(SHARED_M / "mastodon.py-test_hashtag_tl.yaml"), serializer="yaml"):
        page_ = connector._call(instance, client.timeline_hashtag, "hoot")
        (mention,), problems = map_payload({"statuses": connector._body(list)}, "localhost:3000")
    assert (
        problems == []
        and mention.text == "#hoot (hashtag toot)"
        and str(mention.author.handle).endswith("@localhost:3000")
    )
    assert page_._pagination_next is not None  # Link pagination read by Mastodon.py
    with tape.use_cassette(str(SHARED_M / "mastodon.py-test_search.yaml"), serializer="yaml"):
        connector._call(instance, client.search_v2, "mastodonpy_test", result_type="statuses")
        body = connector._body(dict)
    assert isinstance(body["statuses"], list)
    # a reblog as the server returns it (the POST /reblog answer: the same shape timelines carry)
    exchanges = yaml.safe_load((SHARED_M / "mastodon.py-test_id_hook_within_reblog.yaml").read_text(encoding="utf-8"))
    reblogged = json.loads(exchanges["interactions"][1]["response"]["body"]["string"])
    mentions, problems = map_payload({"statuses": [reblogged]}, "localhost:3000")
    assert problems == [] and mentions[0].repost_of == mentions[1].id
    # account statuses paged back with max_id via the Link header (limit=5 in the recording)
    fetch = MastodonConnector.from_settings(
        settings(
            tmp_path,
            own=["mastodonpy_test@localhost:3000"],
            instances=["http://localhost:3000"],
            terms=('"a b"',),
            hashtags=[],
            max_statuses_per_stream=10,
        )
    )
    with tape.use_cassette(str(SHARED_M / "mastodon.py-test_fetch_next_previous.yaml"), serializer="yaml"):
        pages = list(fetch.fetch({"account_id:mastodonpy_test@localhost:3000": "117020565966271181"}))
    assert [p.error for p in pages] == [None, None]
    assert sum(len(fetch.map_page(p)) for p in pages) == 10
    assert json.loads(str(pages[-1].cursor["account:mastodonpy_test@localhost:3000"])) == {
        "min_id": "117020580518794573"
    }


def test_cli_collect_source_mastodon(tmp_path, sleeps, capsys):
    config_path = tmp_path / "listener.toml"
    config_path.write_text(
        f"""
[organization]
name = "Acme"
brand_terms = ["acme"]
[store]
path = "{(tmp_path / "listener.duckdb").as_posix()}"
[sources.mastodon]
enabled = true
instances = ["mastodon.social"]
hashtags = ["acme"]
search = false
""",
        encoding="utf-8",
    )
    with recorder().use_cassette(str(cassette(tmp_path / "cli.json", BACKFILL)), serializer="json") as tape:
        code, out, err = run_in_process(capsys, "--config", str(config_path), "collect", "--source", "mastodon")
    assert code == 0, err
    assert tape.all_played
    assert table_rows(tmp_path / "listener.duckdb", "SELECT count(*) FROM mentions WHERE source = 'mastodon'") == [(5,)]


def test_hashtags_unset_derive_from_the_topics_and_an_empty_list_follows_none(tmp_path: Path) -> None:
    derived = settings(tmp_path, terms=("acme", '"acme coffee"'))
    unset = {k: v for k, v in derived.sources.mastodon.model_dump().items() if k != "hashtags"}
    derived = settings_from_dict(
        {
            "organization": {"name": "Acme", "brand_terms": ["acme", '"acme coffee"']},
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {"mastodon": unset},
        }
    )
    assert MastodonConnector.from_settings(derived).hashtags == ["acme"]
    assert MastodonConnector.from_settings(settings(tmp_path, hashtags=[])).hashtags == []
