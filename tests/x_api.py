"""Recorded X API v2 exchanges for tests, in vcrpy's JSON cassette format.

Bodies follow the public API reference shapes (data / includes / meta /
errors). Requests are matched on method, host, path and the parameters that
decide what comes back (query, ids, since_id, pagination tokens), so a
cassette reads like the conversation the connector has with X.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import vcr

API = "https://api.twitter.com/2"
DECIDING_PARAMS = ("query", "since_id", "next_token", "pagination_token", "usernames")


def x_params(r1: Any, r2: Any) -> None:
    """vcrpy matcher: the parameters that select the data must agree."""
    q1, q2 = parse_qs(urlparse(r1.uri).query), parse_qs(urlparse(r2.uri).query)
    for name in DECIDING_PARAMS:
        assert q1.get(name) == q2.get(name), f"{name}: {q1.get(name)} != {q2.get(name)}"


def x_vcr() -> vcr.VCR:
    recorder = vcr.VCR(
        serializer="json",
        record_mode="none",
        decode_compressed_response=True,
        filter_headers=["authorization"],
        ignore_localhost=True,
    )
    recorder.register_matcher("x_params", x_params)
    recorder.match_on = ("method", "host", "path", "x_params")
    return recorder


def user(uid: str, username: str, followers: int = 100, name: str | None = None) -> dict[str, Any]:
    return {
        "id": uid,
        "username": username,
        "name": name or username.title(),
        "verified": False,
        "public_metrics": {"followers_count": followers, "following_count": 10, "tweet_count": 5, "listed_count": 0},
        "created_at": "2015-01-01T00:00:00.000Z",
        "description": "",
        "url": "",
    }


def tweet(tid: str, author: str, text: str, created: str = "2026-11-20T09:30:00.000Z", **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "author_id": author,
        "text": text,
        "created_at": created,
        "lang": "en",
        "conversation_id": extra.pop("conversation_id", tid),
        "edit_history_tweet_ids": [tid],
        "public_metrics": {
            "retweet_count": 1,
            "reply_count": 2,
            "like_count": 3,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 50,
        },
        **extra,
    }


def page(
    tweets: list[dict],
    users: list[dict] = (),
    ref_tweets: list[dict] = (),
    next_token: str | None = None,
    errors: list[dict] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if tweets:
        body["data"] = tweets
        ids = [int(t["id"]) for t in tweets]
        body["meta"] = {"newest_id": str(max(ids)), "oldest_id": str(min(ids)), "result_count": len(tweets)}
    else:
        body["meta"] = {"result_count": 0}
    includes = {k: v for k, v in (("users", list(users)), ("tweets", list(ref_tweets))) if v}
    if includes:
        body["includes"] = includes
    if next_token:
        body["meta"]["next_token"] = next_token
    if errors:
        body["errors"] = errors
    return body


def exchange(
    path: str, params: dict[str, str], body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> dict:
    message = {
        200: "OK",
        401: "Unauthorized",
        403: "Forbidden",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
        400: "Bad Request",
    }.get(status, "")
    response_headers = {
        "content-type": ["application/json; charset=utf-8"],
        "x-rate-limit-limit": ["450"],
        "x-rate-limit-remaining": ["449"],
        "x-rate-limit-reset": ["1767225600"],
    }
    for key, value in (headers or {}).items():
        response_headers[key] = [value]
    return {
        "request": {"method": "GET", "uri": f"{API}{path}?{urlencode(params)}", "body": None, "headers": {}},
        "response": {
            "status": {"code": status, "message": message},
            "headers": response_headers,
            "body": {"string": json.dumps(body)},
        },
    }


def search(query: str, body: Any, status: int = 200, headers: dict[str, str] | None = None, **params: str) -> dict:
    return exchange("/tweets/search/recent", {"query": query, **params}, body, status, headers)


def write_cassette(path: Path, exchanges: list[dict]) -> Path:
    path.write_text(json.dumps({"version": 1, "interactions": exchanges}), encoding="utf-8")
    return path
