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

Every listing is screened before praw parses it (`_screen_listing`): a body
that is not a Listing fails only its stream, cursor unchanged; children praw
cannot parse are dropped with a warning so the good items on the page are kept.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import praw
import prawcore
import requests
from praw.models.base import PRAWBase
from praw.models.reddit.base import RedditBase
from prawcore.exceptions import (
    BadJSON,
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

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    MalformedResponse,
    RawPage,
    as_text,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import DeadlineExceeded, network_reason, with_timeout
from connectors.queries import platform_queries
from connectors.settings import RedditSource
from listener.core.errors import TerminalError, TransientError
from listener.core.models import (
    DELETED_AUTHOR,
    MAX_FUTURE,
    AuthorRef,
    Mention,
    MentionRef,
    Metrics,
)
from listener.core.settings import Organization, Settings
from listener.core.terms import query_terms, split_terms

SITE = "https://www.reddit.com"
PAGE_SIZE = 100  # Reddit's largest listing page
PRAWCORE_TIMEOUT_SECONDS = 16.0  # what prawcore passes with every request (praw's `timeout` is not used)
CREDENTIAL_VARS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")
APPS_URL = "https://www.reddit.com/prefs/apps"
_TOKEN_PATH = "/api/v1/access_token"
_PRAW_SETTINGS = frozenset({"comment_limit", "comment_sort"})  # praw's own knobs, not Reddit data
_DELETED = frozenset({"", "[deleted]", "[removed]"})
_WHAT = {
    "search": "search",
    "new": "subreddit",
    "comments": "subreddit",
    "submitted": "account",
    "user_comments": "account",
}
# u/name or /u/name as a word of its own (not the tail of a URL); Reddit names are 3-20 of [A-Za-z0-9_-].
_USER_REF = re.compile(r"(?<![\w/])/?u/([A-Za-z0-9_-]{3,20})(?![A-Za-z0-9_-])")


class MalformedToken(MalformedResponse):
    """The access-token answer is unusable: no stream can be read."""


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
        self,
        config: RedditSource,
        organization: Organization,
        session: requests.Session | None = None,
        endpoints: Mapping[str, str] | None = None,
        request_deadline_seconds: float | None = None,
        max_fetch_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.organization = organization
        self.session = session  # the HTTP session praw uses (tests add hooks); None = a new one
        self.endpoints = dict(endpoints or {})  # praw's oauth_url/reddit_url: a test server on 127.0.0.1
        # prawcore reads with a fixed 16 s timeout: the whole response within 4 x that, unless set here.
        self.request_deadline_seconds = request_deadline_seconds
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self._screened: list[str] = []  # what the listing screen dropped, for the next page's warnings
        self._reddit: praw.Reddit | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RedditConnector:
        # No credential check here: building a connector must not need the environment.
        return cls(settings.sources.section(cls.name, RedditSource), settings.organization)

    def streams(self) -> list[Stream]:
        streams = [Stream("search", q) for q in search_queries(self.organization)] if self.config.search else []
        for name in subreddit_names(self.config.subreddits):
            streams += [Stream("new", name), Stream("comments", name)]
        for handle in self.organization.own_accounts.for_source(self.name):
            streams += [Stream("submitted", handle), Stream("user_comments", handle)]
        return streams

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        streams = self.streams()
        if not streams:
            yield RawPage(
                stream="reddit",
                warnings=[
                    "reddit: nothing to collect (set sources.reddit.subreddits, search = true, "
                    "or organization.own_accounts.reddit)"
                ],
            )
            return
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        reddit = self._client()
        for index, stream in enumerate(streams):
            if deadline.passed():
                yield deadline.page(f"{len(streams) - index} of {len(streams)} streams")
                return
            cut = yield from self._fetch_stream(reddit, stream, load_cursor(cursors.get(stream.key)), deadline)
            if cut:
                yield deadline.page(f"the rest of {stream.key} and {len(streams) - index - 1} more streams")
                return

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
                f'next to the config. Create a read-only app at {APPS_URL} (type "script" or "web"): '
                'the client id is the string under the app\'s name, the secret is labelled "secret"'
            )
        session = self.session if self.session is not None else requests.Session()
        with_timeout(session, PRAWCORE_TIMEOUT_SECONDS, deadline=self.request_deadline_seconds)
        if self._screen_listing not in session.hooks["response"]:
            session.hooks["response"].append(self._screen_listing)
        extra: dict[str, Any] = {"requestor_kwargs": {"session": session}, **self.endpoints}
        try:
            self._reddit = praw.Reddit(
                client_id=values["REDDIT_CLIENT_ID"],
                client_secret=values["REDDIT_CLIENT_SECRET"],
                user_agent=self.config.user_agent,
                check_for_updates=False,
                **extra,
            )
        except prawcore.exceptions.InvalidInvocation as exc:  # e.g. a user agent Reddit would reject
            raise TerminalError(f"Reddit: {exc}; check sources.reddit.user_agent") from None
        return self._reddit

    def _screen_listing(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests hook: check a listing before praw parses it.

        praw turns a whole listing into objects at once and fails on the first
        child that is not an object, losing every good item on the page; such
        children are dropped here (with a warning). A body that is no listing at
        all raises MalformedResponse, which fails only this stream.
        """
        if response.status_code != 200:
            return  # errors are prawcore's to report
        try:
            body = response.json()
        except ValueError as exc:
            start = " ".join(response.text[:60].split())
            problem = f"the body is not JSON ({exc}); it starts {start!r}"
            raise (MalformedToken if response.request.method == "POST" else MalformedResponse)(problem) from None
        if response.request.method == "POST":  # the token request
            if not (
                isinstance(body, Mapping)
                and isinstance(body.get("access_token"), str)
                and _number(body.get("expires_in")) is not None
            ):
                raise MalformedToken(f"expected an object with access_token and expires_in, got {json_kind(body)}")
            return
        listing_error = listing_problem(body)
        if listing_error:
            raise MalformedResponse(listing_error)
        children = body["data"]["children"]
        verdicts = [(child, self._child_problem(child)) for child in children]
        dropped = [problem for _, problem in verdicts if problem]
        if dropped:
            shown = "; ".join(dropped[:3]) + (f"; and {len(dropped) - 3} more" if len(dropped) > 3 else "")
            self._screened.append(f"{len(dropped)} listing entries skipped ({shown})")
            body["data"]["children"] = [child for child, problem in verdicts if not problem]
            response._content = json.dumps(body).encode("utf-8")  # what praw will parse instead

    def _child_problem(self, child: Any) -> str | None:
        """Why praw could not parse this listing child on its own, or None; tried on a copy."""
        if not _is_thing(child):
            return (
                f"{json_kind(child) if not isinstance(child, Mapping) else 'an object without kind/data'}, "
                "not a Reddit object"
            )
        objector = getattr(self._reddit, "_objector", None)  # praw's parser; absent, praw finds out itself
        if objector is None:
            return None
        try:
            objector.objectify(data=copy.deepcopy(child))
        except Exception as exc:  # praw's parser on hostile data can fail in any way
            name = child["data"].get("name") or child["data"].get("id") or "no id"
            return f"{child['kind']} {str(name)[:30]}: {type(exc).__name__}: {str(exc)[:80]}"
        return None

    def _take_screened(self, stream: Stream) -> list[str]:
        taken, self._screened = self._screened, []
        return [f"{stream.key}: {w}" for w in taken]

    def _fetch_stream(
        self, reddit: praw.Reddit, stream: Stream, cursor: dict[str, Any], deadline: FetchDeadline | None = None
    ) -> Generator[RawPage, None, bool]:
        """One stream's pages; returns True when the deadline cut it short (its cursor untouched)."""
        limit = self.config.max_items_per_stream
        since = cursor.get("created_utc")
        floor = since - self.config.overlap_minutes * 60 if since is not None else None
        listing = open_listing(reddit, stream, limit)
        newest = cursor or None
        batch: list[dict[str, Any]] = []
        warnings: list[str] = []
        count = 0
        while True:
            try:
                thing = next(listing, None)
            except PrawcoreException as exc:
                yield from self._flush(stream, batch, warnings)
                yield RawPage(stream=stream.key, error=stream_error(stream, exc))
                return False
            except Exception as exc:  # praw's parser choking on a body that is no listing it knows
                yield from self._flush(stream, batch, warnings)
                yield RawPage(stream=stream.key, error=malformed_message(stream, f"{type(exc).__name__}: {exc}"))
                return False
            warnings += self._take_screened(stream)
            if thing is None:
                break
            try:
                data = item_data(thing)
            except Exception as exc:  # e.g. a name that is a number: praw's __str__ raises
                warnings.append(f"{stream.key}: listing entry skipped ({type(exc).__name__}: {str(exc)[:120]})")
                continue
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
                yield from self._flush(stream, batch, warnings)
                batch, warnings = [], []
                if deadline is not None and deadline.passed():
                    return True
        last = RawPage(stream=stream.key, payload=batch, cursor={stream.key: dump_cursor(newest)}, warnings=warnings)
        if count >= limit:
            last.warnings.append(
                f"{stream.key}: stopped after max_items_per_stream ({limit}) items; older ones were not collected"
            )
        yield last
        return False

    @staticmethod
    def _flush(stream: Stream, batch: list[dict[str, Any]], warnings: list[str]) -> Iterator[RawPage]:
        """The items read so far as a page without a cursor: kept, and re-read next run."""
        if batch or warnings:
            yield RawPage(stream=stream.key, payload=list(batch), warnings=list(warnings))


# -- fetching helpers ---------------------------------------------------------


def search_queries(organization: Organization) -> list[str]:
    """One search per topic: a topic query translated for Reddit (connectors.queries, exclusions
    included, as NOT excludes the whole post), a term list as its includes only.

    A term list's exclusions stay with topic tagging, which cuts just the excluded phrase out
    of the text: a post about "acme anvil and acme coffee" still counts as the brand, while
    Reddit would drop it for -"acme anvil".
    """
    topics = [] if organization.query is not None else [organization.brand_terms]
    topics += [c.terms for c in organization.competitors if c.query is None]
    queries = [query_terms(split_terms(terms)[0], []) for terms in topics]
    queries += platform_queries(organization, "reddit")
    return [q for q in dict.fromkeys(queries) if q]


def subreddit_names(configured: list[str]) -> list[str]:
    """`r/Espresso`, `/r/espresso/` and `espresso` are one subreddit (and one cursor)."""
    names = [n.strip().strip("/").removeprefix("r/").strip("/").lower() for n in configured]
    return [n for n in dict.fromkeys(names) if n]


def open_listing(reddit: praw.Reddit, stream: Stream, limit: int) -> Iterator[Any]:
    """A lazy praw listing, newest first; praw asks for one page of `request_limit` per request."""
    page: dict[str, Any] = {"limit": limit, "request_limit": min(PAGE_SIZE, limit)}
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
    original = exc.original_exception if isinstance(exc, RequestException) else None
    if isinstance(original, MalformedToken):  # every stream needs the token
        raise TransientError(
            f"Reddit's token endpoint answered with a malformed response ({original}) on {stream.key}: stopped "
            "collecting Reddit for this run; unfinished streams keep their cursors"
        ) from None
    if isinstance(original, MalformedResponse):  # from the listing screen: this stream only
        return malformed_message(stream, str(original))
    if isinstance(exc, BadJSON) and not _is_token_request(exc):
        return malformed_message(stream, f"HTTP {status} with a body that is not JSON")
    token_refused = type(exc) is ResponseException and _is_token_request(exc)
    if isinstance(exc, (OAuthException, InvalidToken)) or (token_refused and status == 401):
        detail = f"{exc.error}" if isinstance(exc, OAuthException) else f"HTTP {status}"
        raise TerminalError(
            f"Reddit rejected REDDIT_CLIENT_ID/REDDIT_CLIENT_SECRET ({detail}): check both values "
            f'against the app at {APPS_URL}; it must be a "script" or "web" app'
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
    if isinstance(original, DeadlineExceeded):
        raise TransientError(
            f"Reddit answered too slowly on {stream.key} ({original}): stopped collecting Reddit for this run; "
            "unfinished streams keep their cursors"
        ) from None
    if isinstance(exc, RequestException):
        reason = (network_reason(original) if original else None) or (str(original).splitlines() or [""])[0][:160]
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


def malformed_message(stream: Stream, reason: str) -> str:
    return (
        f"{stream.key}: Reddit answered with a malformed listing ({reason[:200]}); "
        "the stream's cursor is unchanged, the next run reads it again"
    )


def listing_problem(body: Any) -> str | None:
    """Why a JSON body is not a Reddit Listing (`{kind: Listing, data: {children: [...]}}`), or None."""
    if not isinstance(body, Mapping):
        return f"expected a Listing object, got {json_kind(body)}"
    if body.get("kind") != "Listing":
        return f"expected kind Listing, got {str(body.get('kind'))[:40]!r}"
    data = body.get("data")
    if not isinstance(data, Mapping):
        return f"the listing's `data` is {json_kind(data)}, not an object"
    if not isinstance(data.get("children"), list):
        return f"the listing's `children` is {json_kind(data.get('children'))}, not a list"
    if data.get("after") is not None and not isinstance(data.get("after"), str):
        return f"the listing's `after` is {json_kind(data.get('after'))}, not a name"
    return None


def _is_thing(child: Any) -> bool:
    """A listing child praw can parse: {kind: "t3", data: {...}}."""
    return isinstance(child, Mapping) and isinstance(child.get("kind"), str) and isinstance(child.get("data"), Mapping)


def item_data(thing: Any) -> dict[str, Any]:
    """A praw object -> its JSON data in plain values (author -> name, subreddit -> display name)."""
    if not isinstance(thing, PRAWBase):
        raise TypeError(f"{json_kind(thing)}, not a Reddit object")
    return {
        key: _plain(value)
        for key, value in vars(thing).items()
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
    if created > time.time() + MAX_FUTURE.total_seconds():
        return cursor  # a post "from next year" would make every later run stop before today's posts
    return {"created_utc": created, "name": data.get("name")}


def _time(value: Any) -> datetime:
    """`created_utc` as a time; unreadable (missing, 1e300) gives UNKNOWN_TIME: kept, with the fetch time."""
    seconds = _number(value)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC) if seconds is not None else UNKNOWN_TIME
    except (ValueError, OverflowError, OSError):
        return UNKNOWN_TIME


def _number(value: Any) -> float | None:
    """A finite number, else None (Python's json reads NaN and Infinity, which would poison a cursor)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# -- pure mapping -------------------------------------------------------------


def map_items(items: list[dict[str, Any]]) -> tuple[list[Mention], list[str]]:
    """Reddit items (submissions t3, comments t1) -> mentions. Odd items are skipped with a reason."""
    mentions: list[Mention] = []
    problems: list[str] = []
    if not isinstance(items, list):
        return [], [f"page skipped ({json_kind(items)}, not a list of items)"]
    for index, data in enumerate(items):
        if not isinstance(data, Mapping):
            problems.append(f"item {index} skipped ({json_kind(data)}, not an object)")
            continue
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
    is_comment = fullname.startswith("t1_")
    subreddit = as_text(data.get("subreddit"))
    if is_comment:
        title, text = None, as_text(data.get("body"))
        metrics = Metrics(score=_int(data.get("score")))
        thread_id, parent_id = as_text(data.get("link_id")), as_text(data.get("parent_id"))
    else:
        title, text = as_text(data.get("title")), _submission_text(data)
        metrics = Metrics(score=_int(data.get("score")), replies=_int(data.get("num_comments")))
        thread_id, parent_id = fullname, None
    if not title and not text:
        raise ValueError("neither title nor text")
    return Mention(
        source="reddit",
        id=fullname,
        created_at=_time(data.get("created_utc")),
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
    name = as_text(data.get("name"))
    if name and name[:3] in ("t1_", "t3_"):
        return name
    ident = as_text(data.get("id"))
    if not ident:
        raise ValueError("no name or id")
    return ("t1_" if "body" in data else "t3_") + ident


def _submission_text(data: dict[str, Any]) -> str | None:
    selftext = as_text(data.get("selftext"))
    if selftext:
        return selftext
    url = as_text(data.get("url"))
    if not url or data.get("is_self"):
        return None  # a self post's url is only its own permalink
    return SITE + url if url.startswith("/") else url  # a link post's content is its link (crossposts: relative)


def _author(data: dict[str, Any]) -> AuthorRef:
    name = as_text(data.get("author"))
    if not name or name in _DELETED:
        return DELETED_AUTHOR
    fullname = as_text(data.get("author_fullname"))
    return AuthorRef(
        id=fullname if fullname and fullname.startswith("t2_") else None,
        handle=name,
        url=f"{SITE}/user/{name}/",
    )


def _url(data: dict[str, Any], subreddit: str | None, fullname: str, thread_id: str | None) -> str | None:
    permalink = as_text(data.get("permalink"))
    if permalink and permalink.startswith("/"):
        return SITE + permalink
    if permalink and permalink.startswith(("https://", "http://")):
        return permalink
    # Older payloads have no permalink; these forms resolve to the item all the same.
    if not subreddit or not thread_id or not thread_id.startswith("t3_"):
        return None
    thread = f"{SITE}/r/{subreddit}/comments/{thread_id[3:]}/"
    return thread + f"_/{fullname[3:]}/" if fullname.startswith("t1_") else thread


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    return int(number) if number is not None else None
