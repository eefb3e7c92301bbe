"""Bluesky through the atproto SDK's `Client`: post searches, own accounts' feeds and their mentions.

Streams (each a `cursors.key`):
- `search:<query>`: `app.bsky.feed.searchPosts` (`sort=latest`, `limit` up to 100) per query
  (default: the brand's and competitors' terms, one search each, plus the topics' queries
  translated for Bluesky, which has no OR).
- `mentions:<handle>`: the same search for `mentions:<handle>`, per own account.
- `posts:<handle>`: `app.bsky.feed.getAuthorFeed` per own account: its posts, replies and
  reposts; a repost is a mention by the reposting account with `repost_of` the original
  post, and the original post is stored too.

Each cursor is JSON `{"newest", "pending_newest", "since", "page"}`: `newest` is the newest
post time stored (its `indexedAt`, or `createdAt` when earlier: what Bluesky sorts by). A
search asks `since = newest - overlap_minutes`; a feed is read back to that time. While a
pagination is under way the cursor keeps the old `newest`, the `since` it asked with and the
token of the next page, so a crash, a rate limit or the per-run cap resumes exactly at the
missing page; `newest` moves on only once every page down to the old one is stored.

The post's `at://` URI is its id. Authors' follower counts come from
`app.bsky.actor.getProfiles` (25 per call, cached for the run) and travel in the page's
context, so `map_page` stays a pure function of one page. The mapping helpers
(`map_post_view`, `map_post_record`, `reply_refs`, `quote_ref`, `facet_refs`) are public
and pure: the Jetstream connector maps firehose records with them.

A 200 that is not the documented shape (not JSON, `posts`/`feed` not a list, an odd
`cursor`) fails its stream with the cursor unchanged; odd items inside a good page are
skipped one by one with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from atproto import Client, models  # type: ignore[import-untyped]  # no py.typed (pyproject overrides lack atproto.*)
from atproto_client import exceptions as at_errors  # type: ignore[import-untyped]
from atproto_client.request import Request  # type: ignore[import-untyped]

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    MalformedResponse,
    RawPage,
    as_count,
    as_list,
    as_mapping,
    as_text,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.queries import platform_queries
from connectors.settings import BlueskySource
from listener.core.errors import TerminalError, TransientError
from listener.core.models import UNKNOWN_AUTHOR, AuthorRef, Mention, MentionRef, Metrics
from listener.core.settings import Settings
from listener.core.terms import split_terms

log = logging.getLogger(__name__)

HANDLE_VARIABLE = "BLUESKY_HANDLE"
PASSWORD_VARIABLE = "BLUESKY_APP_PASSWORD"
CREDENTIALS = f"{HANDLE_VARIABLE} and {PASSWORD_VARIABLE}"
APP_PASSWORDS = "https://bsky.app/settings/app-passwords"
MAX_QUERY_LENGTH = 300
PAGE_LIMIT = 100  # searchPosts and getAuthorFeed both take at most 100
PROFILES_PER_CALL = 25  # app.bsky.actor.getProfiles takes at most 25 actors
SERVER_RETRIES = 4
BACKOFF_CAP_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
POST_COLLECTION = "app.bsky.feed.post"
REASON_REPOST = "app.bsky.feed.defs#reasonRepost"
SEARCH, FEED = "search", "feed"
EXPIRED = ("ExpiredToken", "InvalidToken")  # a session the server no longer takes (400 or 401)


class RateLimited(TransientError):
    """The rate limit resets later than the wait budget allows: the stream stops, its cursor intact."""


@dataclass
class StreamState:
    """Where one stream stands; stored as JSON in `cursors.value`."""

    newest: str | None = None  # the newest post time stored (ISO, UTC)
    pending_newest: str | None = None  # the newest time of the pagination under way
    since: str | None = None  # what the pagination under way asked with (a page token belongs to it)
    page: str | None = None  # the next page's token

    @classmethod
    def load(cls, value: str | None) -> StreamState:
        data = load_json_cursor(value)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and isinstance(v, str) and v})

    def dump(self) -> str:
        return json.dumps({k: v for k, v in vars(self).items() if v}, sort_keys=True)


@dataclass
class Stream:
    key: str  # search:<query>, mentions:<handle>, posts:<handle>
    kind: str  # SEARCH or FEED
    target: str  # the query, or the account's handle
    extra: dict[str, str] = field(default_factory=dict)


class BlueskyConnector:
    name = "bluesky"

    def __init__(
        self,
        config: BlueskySource,
        queries: list[str],
        own_handles: list[str],
        handle: str | None,
        password: str | None,
        overlap_minutes: int | None = None,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        max_fetch_seconds: float | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.queries = queries
        self.own_handles = own_handles
        self.handle = (handle or "").strip().lstrip("@") or None
        self.password = password or None
        self.overlap = timedelta(minutes=config.overlap_minutes if overlap_minutes is None else overlap_minutes)
        self.timeout_seconds = timeout_seconds
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self.now = now or (lambda: datetime.now(UTC))
        self.posts_read = 0
        self.rate_limit_waited = 0.0
        self.profiles: dict[str, dict[str, Any] | None] = {}  # did -> profile view (None: not returned)
        self._client: Client | None = None
        self._reset_at: float | None = None  # epoch seconds when an exhausted limit resets

    @classmethod
    def from_settings(cls, settings: Settings) -> BlueskyConnector:
        # No credential check here: building a connector must not need the environment.
        config = settings.sources.section(cls.name, BlueskySource)
        queries = list(config.queries) or default_queries(settings)
        own = [h for h in (_plain(h) for h in settings.organization.own_accounts.for_source(cls.name)) if h]
        return cls(config, queries, own, os.environ.get(HANDLE_VARIABLE), os.environ.get(PASSWORD_VARIABLE))

    # -- fetching ------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The logged-in client; created on first use (atproto refreshes an expiring session itself)."""
        if self._client is None:
            missing = [n for n, v in ((HANDLE_VARIABLE, self.handle), (PASSWORD_VARIABLE, self.password)) if not v]
            if missing:
                raise TerminalError(
                    f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: put your Bluesky "
                    f"handle in {HANDLE_VARIABLE} and an app password ({APP_PASSWORDS}) in {PASSWORD_VARIABLE}, "
                    "in the environment or .env, or disable [sources.bluesky]"
                )
            client = Client(self.config.service_url, request=Request(timeout=httpx.Timeout(self.timeout_seconds)))
            self._call(lambda: self._login(client), login=True)
            self._client = client
        return self._client

    def _login(self, client: Client) -> None:
        try:
            client.login(self.handle, self.password, fetch_bsky_profile=False)
        except (at_errors.UnauthorizedError, at_errors.BadRequestError) as exc:
            raise _rejected(exc, True) from None

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        streams = self.streams()
        for index, stream in enumerate(streams):
            if deadline.passed():
                yield deadline.page(f"{len(streams) - index} of {len(streams)} streams")
                return
            # A fair share of what is left of the per-run cap, so a busy query cannot
            # starve the own-account streams behind it.
            share = max(1, self._budget_left() // (len(streams) - index))
            state = StreamState.load(cursors.get(stream.key))
            try:
                cut = yield from self._paginate(stream, state, share, deadline)
            except RateLimited as exc:
                yield RawPage(stream=stream.key, error=f"{stream.key}: {exc}")
                continue
            if cut:
                yield deadline.page(f"the rest of {stream.key} and {len(streams) - index - 1} more streams")
                return
        if self._budget_left() <= 0:
            log.warning(
                "bluesky: max_posts_per_run (%d) reached; the rest resumes next run", self.config.max_posts_per_run
            )

    def map_page(self, page: RawPage) -> list[Mention]:
        profiles = page.context.get("profiles") or {}
        if page.context.get("kind") == FEED:
            mentions, problems = map_feed_response(page.payload, profiles)
        else:
            mentions, problems = map_search_response(page.payload, profiles)
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def streams(self) -> list[Stream]:
        streams = [Stream(f"search:{q}", SEARCH, q) for q in self.queries]
        for handle in self.own_handles:
            streams.append(Stream(f"mentions:{handle}", SEARCH, f"mentions:{handle}"))
            streams.append(Stream(f"posts:{handle}", FEED, handle))
        return streams

    def _paginate(
        self, stream: Stream, state: StreamState, limit: int, deadline: FetchDeadline
    ) -> Generator[RawPage, None, bool]:
        """One stream's pages; returns True when the deadline cut it mid-pagination (cursor at the next page)."""
        stop_at = self.posts_read + limit
        if not state.page:  # a new pagination: fix what it asks for, so every page token stays valid
            state = StreamState(newest=state.newest, since=self._since(state))
        while self.posts_read < stop_at:
            if deadline.passed() and state.page:
                return True
            wanted = min(PAGE_LIMIT, stop_at - self.posts_read)
            try:
                response = self._request(stream, state, wanted)
            except at_errors.BadRequestError as exc:
                if state.page:  # a page token the server no longer takes: ask for the gap again
                    log.warning("bluesky: %s: page token refused, restarting the pagination", stream.key)
                    state = StreamState(newest=state.newest, since=state.since)
                    continue
                yield RawPage(stream=stream.key, error=f"Bluesky rejected the request for {stream.key}: {_why(exc)}")
                return False
            except MalformedResponse as exc:
                yield _malformed_page(stream.key, str(exc))
                return False
            items_key = "feed" if stream.kind == FEED else "posts"
            problem = page_problem(response, items_key)
            if problem:
                yield _malformed_page(stream.key, problem)
                return False
            items = [i for i in response[items_key] if isinstance(i, Mapping)]
            times = [t for t in (item_time(i, stream.kind) for i in items) if t is not None]
            floor = _parse_time(state.since) if state.since else None
            done = not response.get("cursor") or not response[items_key]
            if stream.kind == FEED and floor is not None and any(t < floor for t in times):
                # read back to the newest post stored: the older rest of this page is known already
                response = {**response, "feed": [i for i in response["feed"] if _not_older(i, floor)]}
                done = True
            elif floor is not None and times and max(times) < floor:
                done = True  # a search that ignored `since`: nothing newer comes after this
            pending = max([t for t in [*times, _parse_time(state.pending_newest)] if t is not None], default=None)
            if done:
                best = max([t for t in (pending, _parse_time(state.newest)) if t is not None], default=None)
                state = StreamState(newest=_iso(best) if best else None)
            else:
                state = StreamState(
                    newest=state.newest, pending_newest=_iso(pending) if pending else None, since=state.since
                )
                state.page = str(response["cursor"])
            self.posts_read += len(response[items_key])
            page = RawPage(
                stream=stream.key,
                payload=response,
                cursor={**stream.extra, stream.key: state.dump()},
                context={"kind": stream.kind},
            )
            page.context["profiles"] = self._profiles_for(response[items_key], page.warnings)
            yield page
            if done:
                return False
        return False  # the per-run cap: the cursor holds the next page

    def _since(self, state: StreamState) -> str | None:
        """Where a new pagination stops: the newest stored minus the overlap, else the first run's bound."""
        newest = _parse_time(state.newest)
        if newest is not None:
            return _iso(newest - self.overlap)
        if self.config.backfill_days:
            return _iso(self.now() - timedelta(days=self.config.backfill_days))
        return None

    def _request(self, stream: Stream, state: StreamState, limit: int) -> dict[str, Any]:
        if stream.kind == FEED:
            feed_params = models.AppBskyFeedGetAuthorFeed.Params(
                actor=stream.target, limit=limit, cursor=state.page, filter="posts_with_replies"
            )
            return self._query("app.bsky.feed.getAuthorFeed", feed_params)
        search_params = models.AppBskyFeedSearchPosts.Params(
            q=stream.target, sort="latest", since=state.since, limit=limit, cursor=state.page
        )
        return self._query("app.bsky.feed.searchPosts", search_params)

    def _profiles_for(self, items: list[Any], warnings: list[str]) -> dict[str, dict[str, Any]]:
        """The profiles of a page's authors (and reposters), fetched 25 at a time, once per run."""
        dids = list(dict.fromkeys(d for item in items for d in _author_dids(item)))
        wanted = [d for d in dids if d not in self.profiles]
        for start in range(0, len(wanted), PROFILES_PER_CALL):
            batch = wanted[start : start + PROFILES_PER_CALL]
            try:
                response = self._query(
                    "app.bsky.actor.getProfiles", models.AppBskyActorGetProfiles.Params(actors=batch)
                )
            except (TransientError, MalformedResponse, at_errors.BadRequestError) as exc:
                warnings.append(f"follower counts of {len(batch)} authors unknown this time (getProfiles: {exc})")
                continue
            found = response.get("profiles")
            for profile in found if isinstance(found, list) else []:
                if isinstance(profile, Mapping) and isinstance(profile.get("did"), str):
                    self.profiles[profile["did"]] = dict(profile)
            for did in batch:
                self.profiles.setdefault(did, None)
        return {d: p for d in dids if (p := self.profiles.get(d))}

    def _budget_left(self) -> int:
        return self.config.max_posts_per_run - self.posts_read

    def _query(self, nsid: str, params: Any) -> dict[str, Any]:
        client = self.client  # logs in first, under its own retry policy
        response = self._call(lambda: client.invoke_query(nsid, params=params))
        self._note_limits(response.headers)
        content = response.content
        if not isinstance(content, dict):
            raise MalformedResponse(_not_an_object(content))
        return content

    def _call(self, request: Callable[[], Any], login: bool = False) -> Any:
        """One retry policy: wait out rate limits within a budget, back off on 5xx and network errors,
        refresh (then recreate) a session the server calls expired, once."""
        failures = 0
        renewed = login  # a failed login is not retried with the same password
        while True:
            self._wait_for_reset()
            try:
                return request()
            except ValueError as exc:  # atproto decodes a JSON content type with pydantic_core
                raise MalformedResponse(_not_json(exc)) from None
            except at_errors.RateLimitExceededError as exc:
                self._reset_at = _reset_from(exc)
            except (at_errors.UnauthorizedError, at_errors.BadRequestError) as exc:
                if isinstance(exc, at_errors.BadRequestError) and _error_name(exc) not in EXPIRED:
                    raise  # the request itself was refused: the caller decides
                if renewed or self._client is None:
                    raise _rejected(exc, login) from None
                renewed = True
                self._renew_session()
            except httpx.TransportError as exc:  # what atproto does not wrap (a protocol error mid-body)
                failures += 1
                if failures > SERVER_RETRIES:
                    raise TransientError(
                        f"Bluesky kept failing ({type(exc).__name__}) after {SERVER_RETRIES} retries; "
                        "stopped with cursors intact, the next run resumes"
                    ) from None
                time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
            except (at_errors.NetworkError, at_errors.RequestException) as exc:
                status = exc.response.status_code if exc.response is not None else None
                if status is not None and status < 500 and status not in (409, 413):
                    raise TerminalError(f"Bluesky answered {_why(exc)} ({status}); stopped") from None
                failures += 1
                if failures > SERVER_RETRIES:
                    said = f"HTTP {status}: {_why(exc)}" if status is not None else _why(exc)
                    raise TransientError(
                        f"Bluesky kept failing ({said}) after {SERVER_RETRIES} retries; "
                        "stopped with cursors intact, the next run resumes"
                    ) from None
                time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))

    def _renew_session(self) -> None:
        """The access token was refused: refresh the session, or log in again when the refresh token is gone."""
        client = self._client
        assert client is not None
        log.info("bluesky: session refused, refreshing it")
        try:
            self._wait_for_reset()
            client._refresh_and_set_session()
        except (at_errors.UnauthorizedError, at_errors.BadRequestError, at_errors.LoginRequiredError):
            log.info("bluesky: the refresh token was refused too, logging in again")
            self._wait_for_reset()
            self._login(client)

    def _note_limits(self, headers: Mapping[str, Any]) -> None:
        """`RateLimit-Remaining: 0` means the next request would be refused until `RateLimit-Reset`."""
        remaining, reset = _int(headers.get("ratelimit-remaining")), _int(headers.get("ratelimit-reset"))
        self._reset_at = float(reset) if remaining is not None and remaining <= 0 and reset else None

    def _wait_for_reset(self) -> None:
        if self._reset_at is None:
            return
        wait = max(1.0, self._reset_at - time.time() + 1)
        budget = self.config.max_rate_limit_wait_seconds - self.rate_limit_waited
        if wait > budget:
            when = datetime.fromtimestamp(self._reset_at, UTC).strftime("%H:%M UTC")
            raise RateLimited(
                f"Bluesky rate limit reached; it resets at {when}, {wait:.0f}s away, beyond "
                f"max_rate_limit_wait_seconds ({self.config.max_rate_limit_wait_seconds}); "
                "stopped with the cursor intact, the next run resumes"
            )
        log.warning("bluesky: rate limited, waiting %.0fs for the reset", wait)
        self.rate_limit_waited += wait
        time.sleep(wait)
        self._reset_at = None


def default_queries(settings: Settings) -> list[str]:
    """One search per brand/competitor term (Bluesky has no OR), then the topics' queries translated."""
    org = settings.organization
    term_lists = [] if org.query is not None else [org.brand_terms]
    term_lists += [c.terms for c in org.competitors if c.query is None]
    queries = []
    for terms in term_lists:
        for term in split_terms(terms)[0]:
            term = term.rstrip("*").strip()  # no prefix search; the matcher decides what is tagged
            if term:
                queries.append(f'"{term}"' if " " in term else term)
    queries += platform_queries(org, "bluesky", MAX_QUERY_LENGTH)
    return list(dict.fromkeys(queries))


# -- checking a response ------------------------------------------------------


def page_problem(response: Any, items_key: str) -> str | None:
    """Why a searchPosts/getAuthorFeed answer cannot be trusted with the stream's cursor, or None."""
    if not isinstance(response, Mapping):
        return f"expected a JSON object, got {json_kind(response)}"
    if items_key not in response:
        return f"no `{items_key}` list"
    if not isinstance(response[items_key], list):
        return f"`{items_key}` is {json_kind(response[items_key])}, not a list"
    cursor = response.get("cursor")
    if cursor is not None and not (isinstance(cursor, str) and cursor):
        return f"`cursor` is {json_kind(cursor)}, not a page token"
    return None


def _malformed_page(stream: str, reason: str) -> RawPage:
    return RawPage(
        stream=stream,
        error=f"{stream}: Bluesky answered with a malformed response ({reason}); "
        "the stream's cursor is unchanged, the next run asks again",
    )


def _not_json(exc: ValueError) -> str:
    return f"the body is not JSON ({(str(exc).splitlines() or [''])[0][:120]})"


def _not_an_object(content: Any) -> str:
    if isinstance(content, bytes):
        start = " ".join(content[:60].decode("utf-8", "replace").split())
        return f"the body is not JSON; it starts {start!r}" if start else "the body is empty"
    return f"expected a JSON object, got {json_kind(content)}"


def _rejected(exc: at_errors.RequestErrorBase, login: bool) -> TerminalError:
    status = exc.response.status_code if exc.response is not None else 401
    what = "the login was refused" if login else "the session was refused even after logging in again"
    return TerminalError(
        f"Bluesky returned {status} ({_why(exc)}): {what}; check {CREDENTIALS} (your handle, e.g. "
        f"acme.bsky.social, and an app password from {APP_PASSWORDS}), or disable [sources.bluesky]"
    )


def _error_name(exc: at_errors.RequestErrorBase) -> str | None:
    content = exc.response.content if exc.response is not None else None
    return getattr(content, "error", None)


def _why(exc: at_errors.AtProtocolError) -> str:
    """The server's error name and message, or what happened on the wire; never the request itself."""
    response = getattr(exc, "response", None)
    if response is None:
        cause = exc.__cause__ or exc.__context__
        return f"{type(cause or exc).__name__}: {(str(cause or exc).splitlines() or [''])[0][:160]}"
    content = response.content
    error = getattr(content, "error", None)
    message = getattr(content, "message", None)
    text = ": ".join(str(p) for p in (error, message) if p)
    return (text or f"HTTP {response.status_code}")[:300]


def _reset_from(exc: at_errors.RateLimitExceededError) -> float:
    """When a 429 says to try again: Retry-After, else RateLimit-Reset, else a minute from now."""
    if exc.retry_after is not None:
        return time.time() + exc.retry_after
    if exc.reset_at is not None:
        return exc.reset_at.timestamp()
    return time.time() + 60


# -- pure mapping -------------------------------------------------------------


def map_search_response(
    response: Any, profiles: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[Mention], list[str]]:
    """A searchPosts (or getPosts) answer -> mentions; odd posts are skipped with a reason, never raised."""
    posts = response.get("posts") if isinstance(response, Mapping) else None
    if not isinstance(posts, list):
        return [], [f"response skipped (`posts` is {json_kind(posts)}, not a list)"]
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, view in enumerate(posts):
        try:
            mentions.append(map_post_view(view, profiles or {}))
        except Exception as exc:  # one odd post must not lose the page
            problems.append(f"post {index} skipped ({_item_name(view)}: {type(exc).__name__}: {exc})")
    return mentions, problems


def map_feed_response(
    response: Any, profiles: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[list[Mention], list[str]]:
    """A getAuthorFeed answer -> mentions: each post, and for a repost also the repost itself."""
    feed = response.get("feed") if isinstance(response, Mapping) else None
    if not isinstance(feed, list):
        return [], [f"response skipped (`feed` is {json_kind(feed)}, not a list)"]
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, item in enumerate(feed):
        try:
            mentions.extend(map_feed_item(item, profiles or {}))
        except Exception as exc:
            post = item.get("post") if isinstance(item, Mapping) else item
            problems.append(f"feed item {index} skipped ({_item_name(post)}: {type(exc).__name__}: {exc})")
    return mentions, problems


def map_feed_item(item: Any, profiles: Mapping[str, Mapping[str, Any]]) -> list[Mention]:
    """A feedViewPost: the post, plus a repost mention when `reason` is a reasonRepost."""
    if not isinstance(item, Mapping):
        raise ValueError(f"{json_kind(item)}, not a feed item")
    post = map_post_view(item.get("post"), profiles)
    reason = as_mapping(item.get("reason"))
    if reason.get("$type") != REASON_REPOST:
        return [post]
    by = as_mapping(reason.get("by"))
    did = _did(by.get("did"))
    if did is None:
        raise ValueError("a repost without the reposting account's did")
    repost_id = _at_uri(reason.get("uri")) or f"repost:{did}:{post.id}"  # older answers carry no repost uri
    created = _parse_time(reason.get("indexedAt")) or post.created_at
    repost = Mention(
        source="bluesky",
        id=repost_id,
        created_at=created,
        author=_author(by, profiles.get(did)),
        text=post.text or "",  # a repost says what the original says (X's RT text does the same)
        url=post.url,
        lang=post.lang,
        repost_of=post.id,
        referenced_authors={post.id: post.author.id} if post.author.id else {},
        raw={"reason": dict(reason), "subject": post.id},
    )
    return [post, repost]


def map_post_view(view: Any, profiles: Mapping[str, Mapping[str, Any]] | None = None) -> Mention:
    """A postView (searchPosts, getAuthorFeed, getPosts) -> a mention with engagement and author."""
    if not isinstance(view, Mapping):
        raise ValueError(f"{json_kind(view)}, not a post view")
    uri = _at_uri(view.get("uri"))
    if uri is None:
        raise ValueError("no at:// uri")
    author_view = as_mapping(view.get("author"))
    did = _did(author_view.get("did")) or did_of(uri)
    profile = (profiles or {}).get(did or "")
    author = _author({**author_view, "did": did}, profile) if did else UNKNOWN_AUTHOR
    return map_post_record(
        uri,
        view.get("record"),
        author,
        indexed_at=view.get("indexedAt"),
        metrics=Metrics(
            likes=as_count(view.get("likeCount")),
            reposts=as_count(view.get("repostCount")),
            replies=as_count(view.get("replyCount")),
            quotes=as_count(view.get("quoteCount")),
        ),
        raw=dict(view),
    )


def map_post_record(
    uri: str,
    record: Any,
    author: AuthorRef,
    indexed_at: Any = None,
    metrics: Metrics | None = None,
    raw: Any = None,
) -> Mention:
    """An app.bsky.feed.post record at `uri` -> a mention (Jetstream gives records without views).

    Required: the uri. A record that is not an object counts as empty; fields of the wrong type
    count as absent. Links and hashtags from the facets are kept in `raw` (`links`, `tags`).
    """
    post = as_mapping(record)
    text = as_text(post.get("text")) or ""
    parent, root = reply_refs(post)
    facets = facet_refs(post)
    handle = author.handle or did_of(uri) or "unknown"
    raw_doc = dict(raw) if isinstance(raw, Mapping) else {"record": dict(post)}
    if facets.links:
        raw_doc["links"] = list(facets.links)
    if facets.tags:
        raw_doc["tags"] = list(facets.tags)
    quoted = quote_ref(post)
    referenced = {ref: d for ref in (parent, root, quoted) if ref and (d := did_of(ref))}
    return Mention(
        source="bluesky",
        id=uri,
        created_at=_created_at(post.get("createdAt"), indexed_at),
        author=author,
        text=text,
        url=post_url(handle, uri),
        lang=_first_lang(post.get("langs")),
        thread_id=root or uri,
        parent_id=parent,
        in_reply_to_author=did_of(parent) if parent else None,
        metrics=metrics or Metrics(),
        mentions=facets.mentions,
        quote_of=quoted,
        referenced_authors=referenced,
        raw=raw_doc,
    )


@dataclass(frozen=True)
class Facets:
    mentions: tuple[MentionRef, ...] = ()
    links: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


def facet_refs(record: Any) -> Facets:
    """Mentions (DID, and the handle as written in the text), links and tags of a post's facets."""
    post = as_mapping(record)
    data = (as_text(post.get("text")) or "").encode("utf-8")
    mentions: dict[str, MentionRef] = {}
    links: list[str] = []
    tags: list[str] = []
    for facet in as_list(post.get("facets")):
        facet = as_mapping(facet)
        index = as_mapping(facet.get("index"))
        for feature in as_list(facet.get("features")):
            feature = as_mapping(feature)
            kind = feature.get("$type")
            if kind == "app.bsky.richtext.facet#mention" and (did := _did(feature.get("did"))):
                written = _slice(data, index.get("byteStart"), index.get("byteEnd")).strip().lstrip("@")
                mentions.setdefault(did, MentionRef(handle=written or did, id=did))
            elif kind == "app.bsky.richtext.facet#link" and (link := as_text(feature.get("uri"))):
                links.append(link)
            elif kind == "app.bsky.richtext.facet#tag" and (tag := as_text(feature.get("tag"))):
                tags.append(tag.lstrip("#"))
    return Facets(tuple(mentions.values()), tuple(dict.fromkeys(links)), tuple(dict.fromkeys(tags)))


def reply_refs(record: Any) -> tuple[str | None, str | None]:
    """(parent uri, root uri) of a reply; (None, None) for a post that starts a thread."""
    reply = as_mapping(as_mapping(record).get("reply"))
    parent = _at_uri(as_mapping(reply.get("parent")).get("uri"))
    root = _at_uri(as_mapping(reply.get("root")).get("uri"))
    return parent, root or parent


def quote_ref(record: Any) -> str | None:
    """The post a record quotes: app.bsky.embed.record, or the record part of recordWithMedia."""
    embed = as_mapping(as_mapping(record).get("embed"))
    kind = embed.get("$type")
    if kind == "app.bsky.embed.recordWithMedia":
        embed = as_mapping(embed.get("record"))
    elif kind != "app.bsky.embed.record":
        return None
    uri = _at_uri(as_mapping(embed.get("record")).get("uri"))
    return uri if uri and collection_of(uri) == POST_COLLECTION else None  # not a quoted list or feed


def post_url(handle: str, uri: str) -> str:
    """https://bsky.app/profile/<handle>/post/<rkey>, the post's web page."""
    return f"https://bsky.app/profile/{handle}/post/{uri.rstrip('/').rsplit('/', 1)[-1]}"


def did_of(uri: str | None) -> str | None:
    """The repository (author) DID of an at:// uri, when it names one."""
    if not uri or not uri.startswith("at://"):
        return None
    return _did(uri[5:].split("/", 1)[0])


def collection_of(uri: str) -> str | None:
    parts = uri[5:].split("/") if uri.startswith("at://") else []
    return parts[1] if len(parts) >= 3 else None


def item_time(item: Mapping[str, Any], kind: str) -> datetime | None:
    """What Bluesky sorts an item by: a repost's time, else the post's indexedAt or createdAt if earlier."""
    if kind == FEED:
        reason = as_mapping(item.get("reason"))
        if reason.get("$type") == REASON_REPOST and (when := _parse_time(reason.get("indexedAt"))):
            return when
        item = as_mapping(item.get("post"))
    times = [
        t
        for t in (_parse_time(item.get("indexedAt")), _parse_time(as_mapping(item.get("record")).get("createdAt")))
        if t
    ]
    return min(times, default=None)


def _not_older(item: Any, floor: datetime) -> bool:
    when = item_time(item, FEED) if isinstance(item, Mapping) else None
    return when is None or when >= floor


def _author_dids(item: Any) -> list[str]:
    if not isinstance(item, Mapping):
        return []
    post = as_mapping(item.get("post")) if "post" in item else item
    dids = [_did(as_mapping(post.get("author")).get("did"))]
    dids.append(_did(as_mapping(as_mapping(item.get("reason")).get("by")).get("did")))
    return [d for d in dids if d]


def _author(view: Mapping[str, Any], profile: Mapping[str, Any] | None) -> AuthorRef:
    did = _did(view.get("did"))
    full = {**view, **(profile or {})}
    handle = as_text(full.get("handle"))
    handle = None if handle in (None, "handle.invalid") else handle
    return AuthorRef(
        id=did,
        handle=handle,
        name=as_text(full.get("displayName")),
        followers=as_count(full.get("followersCount")),
        following=as_count(full.get("followsCount")),
        url=f"https://bsky.app/profile/{handle or did}" if (handle or did) else None,
    )


def _created_at(created: Any, indexed: Any) -> datetime:
    """The record's createdAt, else when Bluesky indexed it, else the epoch (the pipeline then uses the
    fetch time, with a warning: the post itself is kept)."""
    return _parse_time(created) or _parse_time(indexed) or UNKNOWN_TIME


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _first_lang(langs: Any) -> str | None:
    """The first of the post's languages as a lower-case primary tag ('en-US' -> 'en')."""
    first = next((lang for lang in as_list(langs) if isinstance(lang, str) and lang.strip()), None)
    if first is None:
        return None
    primary = first.strip().split("-")[0].lower()
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 and primary != "und" else None


def _slice(data: bytes, start: Any, end: Any) -> str:
    """A facet's byte range of the UTF-8 text, as text; empty when the range does not fit."""
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or isinstance(end, bool):
        return ""
    if not 0 <= start < end <= len(data):
        return ""
    return data[start:end].decode("utf-8", "replace")


def _item_name(value: Any) -> str:
    uri = value.get("uri") if isinstance(value, Mapping) else None
    return str(uri)[:120] if isinstance(uri, str) else json_kind(value)


def _plain(handle: str) -> str:
    return handle.strip().lstrip("@").strip().lower()


def _at_uri(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip().startswith("at://") else None


def _did(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip().startswith("did:") else None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
