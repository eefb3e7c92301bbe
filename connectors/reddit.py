"""Reddit through praw, read-only (an app's client id and secret, no user login).

Streams: a search across Reddit per topic (brand, each competitor), new
submissions and new comments of each configured subreddit, and the own
accounts' submissions and comments. Each stream is read newest-first until an
item is older than its cursor minus `overlap_minutes`, in pages of 100. Only
a stream's last page carries the advanced cursor, so a crash mid-stream
re-reads from the old cursor (upserts make that harmless).

Rate limits and retries are prawcore's: it paces requests from Reddit's
`x-ratelimit-*` headers and retries 5xx and network errors twice. What is left
after that (429, a 5xx storm, no network) stops the source with a clear error
and the cursors of unfinished streams untouched. A 403/404 on one subreddit or
user fails only that stream.

Fetching turns praw objects back into plain dicts (the item's JSON data);
the pure mapper `map_items` turns those into canonical mentions.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import praw
import prawcore
import requests
from praw.models.base import PRAWBase
from praw.models.reddit.base import RedditBase
from prawcore.exceptions import (
    Forbidden,
    InvalidToken,
    NotFound,
    OAuthException,
    PrawcoreException,
    Redirect,
    RequestException,
    ResponseException,
    ServerError,
    TooManyRequests,
)

from connectors.base import RawPage, load_json_cursor
from listener.errors import TerminalError, TransientError
from listener.models import DELETED_AUTHOR, AuthorRef, Mention, MentionRef, Metrics
from listener.settings import Organization, RedditSource, Settings
from listener.terms import query_terms, split_terms

SITE = "https://www.reddit.com"
PAGE_SIZE = 100  # Reddit's largest listing page
CREDENTIAL_VARS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")
APPS_URL = "https://www.reddit.com/prefs/apps"
_TOKEN_PATH = "/api/v1/access_token"
_PRAW_SETTINGS = frozenset({"comment_limit", "comment_sort"})  # praw's own knobs, not Reddit data
_DELETED = frozenset({"", "[deleted]", "[removed]"})
_WHAT = {"search": "search", "new": "subreddit", "comments": "subreddit",
         "submitted": "account", "user_comments": "account"}
# u/name or /u/name as a word of its own (not the tail of a URL); Reddit names are 3-20 of [A-Za-z0-9_-].
_USER_REF = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})(?![A-Za-z0-9_-])")


@dataclass(frozen=True)
class Stream:
    """One listing read newest-first, with its own cursor."""

    kind: str  # search | new | comments | submitted | user_comments
    target: str  # the query, subreddit or user name

    @property
    def key(self) -> str:
        return {
            "search": f"search:{self.target}",
            "new": f"r/{self.target}/new",
            "comments": f"r/{self.target}/comments",
            "submitted": f"u/{self.target}/submissions",
            "user_comments": f"u/{self.target}/comments",
        }[self.kind]


class RedditConnector:
    name = "reddit"

    def __init__(
        self, config: RedditSource, organization: Organization, session: requests.Session | None = None
    ) -> None:
        self.config = config
        self.organization = organization
        self.session = session  # the HTTP session praw uses (tests add hooks); None = praw's own

    @classmethod
    def from_settings(cls, settings: Settings) -> RedditConnector:
        # No credential check here: building a connector must not need the environment.
        return cls(settings.sources.reddit, settings.organization)

    def streams(self) -> list[Stream]:
        streams = [Stream("search", q) for q in search_queries(self.organization)] if self.config.search else []
        for name in subreddit_names(self.config.subreddits):
            streams += [Stream("new", name), Stream("comments", name)]
        for handle in self.organization.own_accounts.reddit:
            streams += [Stream("submitted", handle), Stream("user_comments", handle)]
        return streams

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        streams = self.streams()
        if not streams:
            yield RawPage(stream="reddit", warnings=[
                "reddit: nothing to collect (set sources.reddit.subreddits, search = true, "
                "or organization.own_accounts.reddit)"])
            return
        reddit = self._client()
        for stream in streams:
            yield from self._fetch_stream(reddit, stream, load_cursor(cursors.get(stream.key)))

    def map_page(self, page: RawPage) -> list[Mention]:
        if not page.payload:
            return []
        mentions, problems = map_items(page.payload)
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def _client(self) -> praw.Reddit:
        values = {var: os.environ.get(var, "").strip() for var in CREDENTIAL_VARS}
        missing = [var for var, value in values.items() if not value]
        if missing:
            raise TerminalError(
                f"Reddit credentials missing: set {' and '.join(missing)} in the environment or in .env "
                f"next to the config. Create a read-only app at {APPS_URL} (type \"script\" or \"web\"): "
                "the client id is the string under the app's name, the secret is labelled \"secret\""
            )
        extra = {"requestor_kwargs": {"session": self.session}} if self.session is not None else {}
        try:
            return praw.Reddit(
                client_id=values["REDDIT_CLIENT_ID"], client_secret=values["REDDIT_CLIENT_SECRET"],
                user_agent=self.config.user_agent, check_for_updates=False, **extra,
            )
        except prawcore.exceptions.InvalidInvocation as exc:  # e.g. a user agent Reddit would reject
            raise TerminalError(f"Reddit: {exc}; check sources.reddit.user_agent") from None

    def _fetch_stream(self, reddit: praw.Reddit, stream: Stream, cursor: dict[str, Any]) -> Iterator[RawPage]:
        limit = self.config.max_items_per_stream
        since = cursor.get("created_utc")
        floor = since - self.config.overlap_minutes * 60 if since is not None else None
        listing = open_listing(reddit, stream, limit)
        newest = cursor or None
        batch: list[dict[str, Any]] = []
        count = 0
        while True:
            try:
                thing = next(listing, None)
            except PrawcoreException as exc:
                yield RawPage(stream=stream.key, error=stream_error(stream, exc))
                return
            if thing is None:
                break
            data = item_data(thing)
            created = _number(data.get("created_utc"))
            if floor is not None and created is not None and created < floor:
                if data.get("stickied") or data.get("pinned"):
                    continue  # pinned posts sit above newer ones; they do not mark the end
                break
            count += 1
            newest = _newer(newest, data)
            batch.append(data)
            if len(batch) >= PAGE_SIZE:
                # Cursor left as it was: a crash after this page re-reads from the old cursor.
                yield RawPage(stream=stream.key, payload=batch)
                batch = []
        last = RawPage(stream=stream.key, payload=batch, cursor={stream.key: dump_cursor(newest)})
        if count >= limit:
            last.warnings.append(
                f"{stream.key}: stopped after max_items_per_stream ({limit}) items; "
                "older ones were not collected"
            )
        yield last


# -- fetching helpers ---------------------------------------------------------

def search_queries(organization: Organization) -> list[str]:
    """One query per topic, includes only.

    Exclusions stay with topic tagging, which cuts just the excluded phrase out
    of the text: a post about "acme anvil and acme coffee" still counts as the
    brand, while Reddit would drop it for -"acme anvil".
    """
    topics = [organization.brand_terms, *(c.terms for c in organization.competitors)]
    queries = [query_terms(split_terms(terms)[0], []) for terms in topics]
    return [q for q in dict.fromkeys(queries) if q]


def subreddit_names(configured: list[str]) -> list[str]:
    """`r/Espresso`, `/r/espresso/` and `espresso` are one subreddit (and one cursor)."""
    names = [n.strip().strip("/").removeprefix("r/").strip("/").lower() for n in configured]
    return [n for n in dict.fromkeys(names) if n]


def open_listing(reddit: praw.Reddit, stream: Stream, limit: int) -> Iterator[Any]:
    """A lazy praw listing, newest first; praw asks for one page of `request_limit` per request."""
    page = {"limit": limit, "request_limit": min(PAGE_SIZE, limit)}
    if stream.kind == "search":
        # time_filter "all": sort=new plus the cursor already bounds the read, and "week"
        # would silently lose items whenever the job had not run for a week.
        return reddit.subreddit("all").search(stream.target, sort="new", time_filter="all", **page)
    if stream.kind == "new":
        return reddit.subreddit(stream.target).new(**page)
    if stream.kind == "comments":
        return reddit.subreddit(stream.target).comments(**page)
    if stream.kind == "submitted":
        return reddit.redditor(stream.target).submissions.new(**page)
    if stream.kind == "user_comments":
        return reddit.redditor(stream.target).comments.new(**page)
    raise ValueError(f"unknown Reddit stream kind {stream.kind!r}")


def stream_error(stream: Stream, exc: PrawcoreException) -> str:
    """A failure that concerns only this stream, as a message; raises for source-wide ones.

    Credentials, rate limits, server storms and network errors stop the whole
    source (the next stream would fail the same way); prawcore has already
    retried and waited where Reddit allows it.
    """
    status = exc.response.status_code if isinstance(exc, ResponseException) else None
    token_refused = type(exc) is ResponseException and _is_token_request(exc)
    if isinstance(exc, (OAuthException, InvalidToken)) or (token_refused and status == 401):
        detail = f"{exc.error}" if isinstance(exc, OAuthException) else f"HTTP {status}"
        raise TerminalError(
            f"Reddit rejected REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET ({detail}): check both values "
            f"against the app at {APPS_URL}; it must be a \"script\" or \"web\" app"
        ) from None
    if isinstance(exc, TooManyRequests) or status == 429:
        raise TransientError(
            f"Reddit rate limit hit (HTTP 429) on {stream.key}: stopped collecting Reddit for this run; "
            "unfinished streams keep their cursors and the next run resumes"
        ) from None
    if isinstance(exc, ServerError) or (status is not None and status >= 500):
        raise TransientError(
            f"Reddit server error (HTTP {status}) on {stream.key}, still failing after prawcore's retries: "
            "stopped collecting Reddit for this run; unfinished streams keep their cursors"
        ) from None
    if isinstance(exc, RequestException):
        original = exc.original_exception
        reason = (str(original).splitlines() or [""])[0][:160]
        raise TransientError(
            f"could not reach Reddit on {stream.key} ({type(original).__name__}: {reason}), "
            "still failing after prawcore's retries: stopped collecting Reddit for this run; "
            "unfinished streams keep their cursors"
        ) from None
    if token_refused:
        raise TerminalError(
            f"Reddit refused the access token request (HTTP {status}); check REDDIT_CLIENT_ID, "
            "REDDIT_CLIENT_SECRET and sources.reddit.user_agent"
        ) from None
    where = _WHAT[stream.kind]
    if isinstance(exc, Forbidden):
        return f"{stream.key}: HTTP 403 forbidden (private, quarantined or banned {where}?)"
    if isinstance(exc, NotFound):
        return f"{stream.key}: HTTP 404 not found (no such {where}, or banned/suspended)"
    if isinstance(exc, Redirect):
        return f"{stream.key}: no such {where} (Reddit redirected to {exc.path})"
    if status is not None:
        return f"{stream.key}: HTTP {status} ({type(exc).__name__})"
    return f"{stream.key}: {type(exc).__name__}: {str(exc)[:200]}"


def _is_token_request(exc: ResponseException) -> bool:
    return exc.response.url.split("?")[0].endswith(_TOKEN_PATH)


def item_data(thing: Any) -> dict[str, Any]:
    """A praw object -> its JSON data in plain values (author -> name, subreddit -> display name)."""
    return {
        key: _plain(value) for key, value in vars(thing).items()
        if not key.startswith("_") and key not in _PRAW_SETTINGS
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, RedditBase):
        return str(value)  # Redditor -> name, Subreddit -> display name, Submission -> id
    if isinstance(value, PRAWBase):
        return item_data(value)  # e.g. poll data
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def load_cursor(value: str | None) -> dict[str, Any]:
    loaded = load_json_cursor(value)
    return loaded if _number(loaded.get("created_utc")) is not None else {}


def dump_cursor(cursor: dict[str, Any] | None) -> str | None:
    return json.dumps(cursor, sort_keys=True) if cursor else None


def _newer(cursor: dict[str, Any] | None, data: dict[str, Any]) -> dict[str, Any] | None:
    created = _number(data.get("created_utc"))
    if created is None or (cursor and created <= cursor["created_utc"]):
        return cursor
    return {"created_utc": created, "name": data.get("name")}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# -- pure mapping -------------------------------------------------------------

def map_items(items: list[dict[str, Any]]) -> tuple[list[Mention], list[str]]:
    """Reddit items (submissions t3, comments t1) -> mentions. Odd items are skipped with a reason."""
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, data in enumerate(items):
        try:
            mention = map_item(data)
        except Exception as exc:  # one odd item must not lose the rest of the page
            ident = data.get("name") if isinstance(data, dict) else None
            problems.append(f"item {index} ({ident or 'no id'}) skipped ({type(exc).__name__}: {exc})")
            continue
        mentions.append(mention)
    return mentions, problems


def map_item(data: dict[str, Any]) -> Mention:
    fullname = _fullname(data)
    created = _number(data.get("created_utc"))
    if created is None:
        raise ValueError("no created_utc")
    is_comment = fullname.startswith("t1_")
    subreddit = _str(data.get("subreddit"))
    if is_comment:
        title, text = None, _str(data.get("body"))
        metrics = Metrics(score=_int(data.get("score")))
        thread_id, parent_id = _str(data.get("link_id")), _str(data.get("parent_id"))
    else:
        title, text = _str(data.get("title")), _submission_text(data)
        metrics = Metrics(score=_int(data.get("score")), replies=_int(data.get("num_comments")))
        thread_id, parent_id = fullname, None
    if not title and not text:
        raise ValueError("neither title nor text")
    return Mention(
        source="reddit",
        id=fullname,
        created_at=datetime.fromtimestamp(created, tz=timezone.utc),
        author=_author(data),
        title=title,
        text=text,
        url=_url(data, subreddit, fullname, thread_id),
        community=f"r/{subreddit}" if subreddit else None,
        thread_id=thread_id,
        parent_id=parent_id,
        metrics=metrics,
        mentions=user_mentions(" ".join(filter(None, (title, text)))),
        raw=data,
    )


def user_mentions(text: str) -> tuple[MentionRef, ...]:
    """`u/name` and `/u/name` references, once each (Reddit names are case-insensitive)."""
    seen: dict[str, MentionRef] = {}
    for match in _USER_REF.finditer(text):
        seen.setdefault(match.group(1).lower(), MentionRef(handle=match.group(1)))
    return tuple(seen.values())


def _fullname(data: dict[str, Any]) -> str:
    name = _str(data.get("name"))
    if name and name[:3] in ("t1_", "t3_"):
        return name
    ident = _str(data.get("id"))
    if not ident:
        raise ValueError("no name or id")
    return ("t1_" if "body" in data else "t3_") + ident


def _submission_text(data: dict[str, Any]) -> str | None:
    selftext = _str(data.get("selftext"))
    if selftext:
        return selftext
    url = _str(data.get("url"))
    if not url or data.get("is_self"):
        return None  # a self post's url is only its own permalink
    return SITE + url if url.startswith("/") else url  # a link post's content is its link (crossposts: relative)


def _author(data: dict[str, Any]) -> AuthorRef:
    name = _str(data.get("author"))
    if not name or name in _DELETED:
        return DELETED_AUTHOR
    fullname = _str(data.get("author_fullname"))
    return AuthorRef(
        id=fullname if fullname and fullname.startswith("t2_") else None,
        handle=name,
        url=f"{SITE}/user/{name}/",
    )


def _url(data: dict[str, Any], subreddit: str | None, fullname: str, thread_id: str | None) -> str | None:
    permalink = _str(data.get("permalink"))
    if permalink and permalink.startswith("/"):
        return SITE + permalink
    if permalink and permalink.startswith(("https://", "http://")):
        return permalink
    # Older payloads have no permalink; these forms resolve to the item all the same.
    if not subreddit or not thread_id or not thread_id.startswith("t3_"):
        return None
    thread = f"{SITE}/r/{subreddit}/comments/{thread_id[3:]}/"
    return thread + f"_/{fullname[3:]}/" if fullname.startswith("t1_") else thread


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
