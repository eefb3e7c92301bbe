"""X (Twitter) API v2 through tweepy's `Client`: brand searches and own-account activity.

Streams: one recent search per query (default: one per brand/competitor,
built from config terms), and per own account its mentions and its own posts.
Each stream's cursor is JSON `{"since_id", "pending_newest", "next_token"}`:
while a pagination is under way the cursor keeps the old `since_id` and the
token of the next page, so a crash, a rate limit or the per-run cap resumes
exactly where it stopped; `since_id` moves to the newest id only when every
page down to the old one is stored. Fetching is I/O only; `map_response` is
a pure function of one API response.

A 200 that is not the documented shape (not JSON, `data` not a list, no
usable `meta`) fails its page with the stream's cursor unchanged; odd posts
inside a good page are skipped one by one with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    MalformedResponse,
    RawPage,
    as_list,
    as_mapping,
    as_text,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import DeadlineExceeded, network_reason, with_timeout
from connectors.queries import platform_queries
from connectors.settings import XSource
from listener.core.errors import TerminalError, TransientError
from listener.core.models import UNKNOWN_AUTHOR, AuthorRef, Mention, MentionRef, Metrics
from listener.core.settings import Settings
from listener.core.terms import query_terms, split_terms

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "X_BEARER_TOKEN"
EXPANSIONS = [
    "author_id",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "entities.mentions.username",
    "in_reply_to_user_id",
]
TWEET_FIELDS = [
    "created_at",
    "public_metrics",
    "lang",
    "conversation_id",
    "entities",
    "referenced_tweets",
    "in_reply_to_user_id",
    "author_id",
]
USER_FIELDS = ["username", "name", "public_metrics", "verified", "created_at", "description", "url"]
SERVER_RETRIES = 4
BACKOFF_CAP_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0  # per read; the whole response within 4 x this (connectors/http.py)
SNOWFLAKE_EPOCH_MS = 1288834974657


@dataclass
class StreamState:
    """Where one stream stands; stored as JSON in `cursors.value`."""

    since_id: str | None = None
    pending_newest: str | None = None
    next_token: str | None = None

    @classmethod
    def load(cls, value: str | None) -> StreamState:
        data = load_json_cursor(value)
        return cls(**{k: str(v) for k, v in data.items() if k in ("since_id", "pending_newest", "next_token") and v})

    def dump(self) -> str:
        return json.dumps({k: v for k, v in vars(self).items() if v}, sort_keys=True)


@dataclass
class Stream:
    key: str  # cursor key: search:<query>, mentions:<handle>, posts:<handle>
    call: Callable[..., dict[str, Any]]
    args: dict[str, Any]
    token_param: str  # search uses next_token, user timelines pagination_token
    min_results: int
    extra_cursor: dict[str, str] = field(default_factory=dict)  # e.g. a resolved user id


class XConnector:
    name = "x"

    def __init__(
        self,
        config: XSource,
        queries: list[str],
        own_handles: list[str],
        token: str | None,
        session: requests.Session | None = None,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        max_fetch_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.queries = queries
        self.own_handles = own_handles
        self.token = token
        self.session = session  # the HTTP session tweepy uses (tests point it at 127.0.0.1); None = tweepy's own
        self.timeout_seconds = timeout_seconds
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self.posts_read = 0
        self.rate_limit_waited = 0.0
        self._client: tweepy.Client | None = None
        self.known_handles: dict[str, str] = {}  # user id -> handle, for posts without expansions

    @classmethod
    def from_settings(cls, settings: Settings) -> XConnector:
        config = settings.sources.section(cls.name, XSource)
        queries = list(config.queries) or default_queries(settings)
        own_handles = settings.organization.own_accounts.for_source(cls.name)
        return cls(config, queries, own_handles, os.environ.get(TOKEN_VARIABLE))

    # -- fetching ------------------------------------------------------------
    @property
    def client(self) -> tweepy.Client:
        if not self.token:
            raise TerminalError(
                f"{TOKEN_VARIABLE} is not set: create a project and app at https://developer.x.com, "
                "copy its bearer token into the environment or .env (recent search needs the Basic "
                "plan or higher), or disable [sources.x]"
            )
        if self._client is None:
            self._client = tweepy.Client(bearer_token=self.token, return_type=dict, wait_on_rate_limit=False)
            if self.session is not None:
                self._client.session = self.session
            with_timeout(self._client.session, self.timeout_seconds)
        return self._client

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        streams = list(self._streams(cursors))
        for index, stream in enumerate(streams):
            if isinstance(stream, RawPage):
                yield stream  # a stream that could not even start (unknown handle)
                continue
            if deadline.passed():
                yield deadline.page(f"{len(streams) - index} of {len(streams)} streams")
                return
            # Each stream gets a fair share of what is left of the per-run cap, so a
            # busy query cannot starve the own-account streams behind it.
            share = max(1, self._budget_left() // (len(streams) - index))
            cut = yield from self._paginate(stream, StreamState.load(cursors.get(stream.key)), share, deadline)
            if cut:
                yield deadline.page(f"the rest of {stream.key} and {len(streams) - index - 1} more streams")
                return
        if self._budget_left() <= 0:
            log.warning("x: max_posts_per_run (%d) reached; the rest resumes next run", self.config.max_posts_per_run)

    def map_page(self, page: RawPage) -> list[Mention]:
        mentions, problems = map_response(page.payload or {}, self.known_handles)
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def _streams(self, cursors: Mapping[str, str]) -> Iterator[Stream | RawPage]:
        common = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
        for query in self.queries:
            yield Stream(
                f"search:{query}", self.client.search_recent_tweets, {"query": query, **common}, "next_token", 10
            )
        for handle in self.own_handles:
            try:
                user_id, resolved = self._user_id(handle, cursors)
            except MalformedResponse as exc:
                yield RawPage(
                    stream=f"user:{handle}",
                    error=f"user:{handle}: X answered the account lookup "
                    f"with a malformed response ({exc}); tried again next run",
                )
                continue
            if user_id is None:
                yield RawPage(stream=f"user:{handle}", error=f"X account @{handle} not found (check own_accounts.x)")
                continue
            self.known_handles[user_id] = handle
            extra = {f"user:{handle}": user_id} if resolved else {}
            yield Stream(
                f"mentions:{handle}",
                self.client.get_users_mentions,
                {"id": user_id, **common},
                "pagination_token",
                5,
                extra,
            )
            yield Stream(
                f"posts:{handle}", self.client.get_users_tweets, {"id": user_id, **common}, "pagination_token", 5, extra
            )

    def _user_id(self, handle: str, cursors: Mapping[str, str]) -> tuple[str | None, bool]:
        """Resolve a handle once; the id is cached in `cursors` (key user:<handle>)."""
        cached = cursors.get(f"user:{handle}")
        if cached:
            return cached, False
        response = self._call(self.client.get_users, usernames=[handle], user_fields=USER_FIELDS)
        users = response.get("data", []) if isinstance(response, Mapping) else None
        if not isinstance(users, list):
            raise MalformedResponse(f"expected an object with a `data` list, got {_shape(response, 'data')}")
        for user in users:
            if isinstance(user, Mapping) and str(user.get("username", "")).lower() == handle.lower():
                if _id(user.get("id")):
                    return _id(user.get("id")), True
        return None, False

    def _paginate(
        self, stream: Stream, state: StreamState, limit: int, deadline: FetchDeadline | None = None
    ) -> Generator[RawPage, None, bool]:
        """One stream's pages; returns True when the deadline cut it mid-pagination (cursor at the next page)."""
        extra = dict(stream.extra_cursor)
        stop_at = self.posts_read + limit
        while self.posts_read < stop_at:
            if deadline is not None and deadline.passed() and state.next_token:
                return True
            wanted = min(100, stop_at - self.posts_read)
            args = dict(stream.args, max_results=max(stream.min_results, wanted))
            if state.since_id:
                args["since_id"] = state.since_id
            if state.next_token:
                args[stream.token_param] = state.next_token
            try:
                response = self._call(stream.call, **args)
            except tweepy.BadRequest as exc:
                if state.next_token:  # an expired pagination token: start the gap again
                    log.warning("x: %s: pagination token refused, restarting from since_id", stream.key)
                    state = StreamState(since_id=state.since_id)
                    continue
                yield RawPage(stream=stream.key, error=f"X rejected the request for {stream.key}: {_api_message(exc)}")
                return False
            except tweepy.NotFound as exc:
                yield RawPage(stream=stream.key, error=f"X returned 404 for {stream.key}: {_api_message(exc)}")
                return False
            except MalformedResponse as exc:
                yield _malformed_page(stream.key, str(exc))
                return False
            problem = page_problem(response)
            if problem:
                yield _malformed_page(stream.key, problem)
                return False
            state = self._advance(state, response)
            self.posts_read += len(response.get("data") or [])
            page = RawPage(stream=stream.key, payload=response, cursor={**extra, stream.key: state.dump()})
            page.warnings.extend(_partial_errors(stream.key, response))
            yield page
            extra = {}
            if not state.next_token:
                return False
        return False  # the per-run cap: the cursor holds the next page

    @staticmethod
    def _advance(state: StreamState, response: dict[str, Any]) -> StreamState:
        meta = response["meta"]  # page_problem has checked its shape
        newest = state.pending_newest or _id(meta.get("newest_id"))
        token = meta.get("next_token")
        if token:
            return StreamState(since_id=state.since_id, pending_newest=newest, next_token=token)
        return StreamState(since_id=newest or state.since_id)  # every page down to since_id is stored

    def _budget_left(self) -> int:
        return self.config.max_posts_per_run - self.posts_read

    def _call(self, method: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        """One retry policy: wait out 429s within a budget, back off on 5xx and network errors."""
        failures = 0
        while True:
            try:
                return method(**kwargs)
            except requests.exceptions.JSONDecodeError as exc:  # tweepy decodes every 200 body as JSON
                raise MalformedResponse(_not_json(exc)) from None
            except DeadlineExceeded as exc:  # a server that trickles would trickle again: no retries
                raise TransientError(
                    f"X answered too slowly ({exc}); stopped with cursors intact, the next run resumes"
                ) from None
            except tweepy.TooManyRequests as exc:
                self._wait_for_reset(exc)
            except (tweepy.TwitterServerError, requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                if failures > SERVER_RETRIES:
                    raise TransientError(
                        f"X kept failing ({_describe(exc)}) after {SERVER_RETRIES} retries; "
                        "stopped with cursors intact, the next run resumes"
                    ) from None
                time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
            except tweepy.Unauthorized:
                raise TerminalError(
                    f"X returned 401: the token in {TOKEN_VARIABLE} was rejected; create a new "
                    "bearer token in the developer portal (https://developer.x.com)"
                ) from None
            except tweepy.Forbidden as exc:
                raise TerminalError(
                    f"X returned 403 ({_api_message(exc)}): the app behind {TOKEN_VARIABLE} has no access to "
                    "this endpoint; recent search and user timelines need the Basic plan or higher and an app "
                    "attached to a project; or disable [sources.x]"
                ) from None

    def _wait_for_reset(self, exc: tweepy.TooManyRequests) -> None:
        reset = exc.reset_time or _header_int(exc.response, "x-rate-limit-reset")
        wait = max(1.0, (reset - time.time() + 1) if reset else 60.0)
        budget = self.config.max_rate_limit_wait_seconds - self.rate_limit_waited
        if wait > budget:
            when = datetime.fromtimestamp(reset, UTC).strftime("%H:%M UTC") if reset else "unknown"
            raise TransientError(
                f"X rate limit reached; it resets at {when}, {wait:.0f}s away, beyond "
                f"max_rate_limit_wait_seconds ({self.config.max_rate_limit_wait_seconds}); "
                "stopped with cursors intact, the next run resumes"
            )
        log.warning("x: rate limited, waiting %.0fs for the reset", wait)
        self.rate_limit_waited += wait
        time.sleep(wait)


def default_queries(settings: Settings) -> list[str]:
    """The searches for the brand, competitors and topics: a term list as one boolean query (X has
    no prefix wildcard), a topic query translated for X (connectors.queries)."""
    org = settings.organization
    config = settings.sources.section("x", XSource)
    topics = [] if org.query is not None else [(org.brand_terms, org.exclude_terms)]
    topics += [(c.terms, c.exclude_terms) for c in org.competitors if c.query is None]
    queries = []
    for terms, excludes in topics:
        includes, inline_excludes = split_terms(terms)
        extra_in, extra_out = split_terms(excludes)
        queries.append(query_terms(includes, inline_excludes + extra_in + extra_out))
    queries += platform_queries(org, "x", config.max_query_length)
    return list(dict.fromkeys(queries))


# -- checking a response ------------------------------------------------------


def page_problem(response: Any) -> str | None:
    """Why a search/timeline answer cannot be trusted with the stream's cursor, or None.

    The cursor moves on `meta` (newest_id, next_token), so a page without a
    usable `meta` must fail rather than end the pagination early; odd items in
    `data` are the mapper's business (skipped one by one).
    """
    if not isinstance(response, Mapping):
        return f"expected a JSON object, got {json_kind(response)}"
    if "data" in response and not isinstance(response["data"], list):
        return f"`data` is {json_kind(response['data'])}, not a list"
    includes = response.get("includes", {})
    if not isinstance(includes, Mapping):
        return f"`includes` is {json_kind(includes)}, not an object"
    for name in ("users", "tweets"):
        if name in includes and not isinstance(includes[name], list):
            return f"`includes.{name}` is {json_kind(includes[name])}, not a list"
    meta = response.get("meta")
    if not isinstance(meta, Mapping):
        return (
            "no `meta` object (pagination cannot go on without it)"
            if meta is None
            else f"`meta` is {json_kind(meta)}, not an object"
        )
    if "newest_id" in meta and not _id(meta["newest_id"], digits=True):
        return f"`meta.newest_id` is {_shape(meta['newest_id'])}, not a post id"
    if "next_token" in meta and not (isinstance(meta["next_token"], str) and meta["next_token"]):
        return f"`meta.next_token` is {_shape(meta['next_token'])}, not a token"
    return None


def _malformed_page(stream: str, reason: str) -> RawPage:
    return RawPage(
        stream=stream,
        error=f"{stream}: X answered with a malformed response ({reason}); "
        "the stream's cursor is unchanged, the next run asks again",
    )


def _not_json(exc: ValueError) -> str:
    doc = getattr(exc, "doc", "") or ""
    start = " ".join(str(doc)[:60].split())
    return f"the body is not JSON ({getattr(exc, 'msg', exc)}); it starts {start!r}" if start else "the body is empty"


def _shape(value: Any, key: str | None = None) -> str:
    if key and isinstance(value, Mapping):
        return f"an object whose `{key}` is {json_kind(value.get(key))}"
    return json_kind(value) if not isinstance(value, str) else repr(value[:40])


# -- pure mapping -------------------------------------------------------------


def map_response(response: Any, known_handles: Mapping[str, str] | None = None) -> tuple[list[Mention], list[str]]:
    """One API v2 response (data + includes) -> mentions; odd tweets are skipped with a reason, never raised."""
    if not isinstance(response, Mapping):
        return [], [f"response skipped ({json_kind(response)}, not an object)"]
    data = response.get("data") or []
    if not isinstance(data, list):
        return [], [f"`data` skipped ({json_kind(data)}, not a list)"]
    includes = as_mapping(response.get("includes"))
    users = _by_id(includes.get("users"))
    referenced = _by_id(includes.get("tweets"))
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, tweet in enumerate(data):
        if not isinstance(tweet, Mapping):
            problems.append(f"item {index} of `data` skipped ({json_kind(tweet)}, not a post object)")
            continue
        try:
            mentions.append(map_tweet(tweet, users, referenced, known_handles or {}))
        except Exception as exc:  # one odd tweet must not lose the page
            problems.append(f"tweet {str(tweet.get('id', '?'))[:30]} skipped ({type(exc).__name__}: {exc})")
    return mentions, problems


def map_tweet(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    referenced: Mapping[str, Mapping[str, Any]],
    known_handles: Mapping[str, str],
) -> Mention:
    """Required: an id, and a time (created_at, else the id). Optional fields of the wrong type count as absent."""
    tweet_id = _id(tweet.get("id"))
    if tweet_id is None:
        raise ValueError("no post id")
    author_id = _id(tweet.get("author_id"))
    author = _author(author_id, users.get(author_id or ""), known_handles)
    refs = {
        r["type"]: rid
        for r in as_list(tweet.get("referenced_tweets"))
        if isinstance(r, Mapping) and isinstance(r.get("type"), str) and (rid := _id(r.get("id")))
    }
    ref_authors = {rid: aid for rid in refs.values() if (aid := _id(as_mapping(referenced.get(rid)).get("author_id")))}
    metrics = as_mapping(tweet.get("public_metrics"))
    entity_mentions = as_list(as_mapping(tweet.get("entities")).get("mentions"))
    handle = author.handle or "i/web"
    lang = as_text(tweet.get("lang"))
    return Mention(
        source="x",
        id=tweet_id,
        created_at=_created_at(tweet, tweet_id),
        author=author,
        text=as_text(tweet.get("text")) or "",
        url=f"https://x.com/{handle}/status/{tweet_id}",
        lang=None if lang in (None, "und") else lang,
        thread_id=_id(tweet.get("conversation_id")),
        parent_id=refs.get("replied_to"),
        in_reply_to_author=_id(tweet.get("in_reply_to_user_id")),
        metrics=Metrics(
            likes=_count(metrics.get("like_count")),
            reposts=_count(metrics.get("retweet_count")),
            replies=_count(metrics.get("reply_count")),
            quotes=_count(metrics.get("quote_count")),
        ),
        mentions=tuple(
            MentionRef(handle=name, id=_id(m.get("id")))
            for m in entity_mentions
            if isinstance(m, Mapping) and (name := as_text(m.get("username")))
        ),
        repost_of=refs.get("retweeted"),
        quote_of=refs.get("quoted"),
        referenced_authors=ref_authors,
        raw=dict(tweet),
    )


def _author(author_id: str | None, user: Mapping[str, Any] | None, known_handles: Mapping[str, str]) -> AuthorRef:
    if author_id is None:
        return UNKNOWN_AUTHOR
    if not user:  # no expansions: the id alone, plus the handle if it is one of ours
        return AuthorRef(id=author_id, handle=known_handles.get(author_id))
    metrics = as_mapping(user.get("public_metrics"))
    username = as_text(user.get("username"))
    verified = user.get("verified")
    return AuthorRef(
        id=author_id,
        handle=username,
        name=as_text(user.get("name")),
        followers=_count(metrics.get("followers_count")),
        following=_count(metrics.get("following_count")),
        verified=verified if isinstance(verified, bool) else None,
        url=f"https://x.com/{username}" if username else None,
    )


def _created_at(tweet: Mapping[str, Any], tweet_id: str) -> datetime:
    """`created_at`, else the time inside the id (a snowflake: stable across reruns), else the epoch,
    which the pipeline replaces with the fetch time and a warning: the post itself is kept."""
    value = tweet.get("created_at")
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    if tweet_id.isdigit() and len(tweet_id) <= 20:
        try:
            millis = (int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS
            return datetime.fromtimestamp(millis / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            pass
    return UNKNOWN_TIME


def _partial_errors(stream: str, response: Mapping[str, Any]) -> list[str]:
    """X reports missing referenced posts/users in `errors` next to good data."""
    errors = response.get("errors") or []
    if not errors:
        return []
    if not isinstance(errors, list):
        return [f"{stream}: X reported errors in an odd shape ({json_kind(errors)})"]
    kinds = sorted({str(e.get("title") or e.get("type") or "error") for e in errors if isinstance(e, Mapping)})
    return [f"{stream}: X reported {len(errors)} partial errors ({', '.join(kinds)[:200]})"]


def _by_id(items: Any) -> dict[str, Mapping[str, Any]]:
    """An `includes` list by id; entries that are not objects with an id are left out."""
    return {uid: item for item in as_list(items) if isinstance(item, Mapping) and (uid := _id(item.get("id")))}


def _id(value: Any, digits: bool = False) -> str | None:
    """X ids are strings of digits; a number is accepted, anything else (a list, a bool) is no id."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not text or (digits and not text.isdigit()):
        return None
    return text


def _count(value: Any) -> int | None:
    """A metric: an integer (or a whole float or digit string, as a lenient proxy might send); else unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _header_int(response: Any, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _api_message(exc: tweepy.HTTPException) -> str:
    messages = list(getattr(exc, "api_messages", []) or []) or list(getattr(exc, "api_errors", []) or [])
    return "; ".join(str(m) for m in messages)[:300] or f"HTTP {getattr(exc.response, 'status_code', '?')}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, tweepy.HTTPException):
        return f"HTTP {exc.response.status_code}"
    return network_reason(exc) or f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
