"""Hacker News through the Algolia HN Search API (`search_by_date`), no credentials.

Streams: `search:<query>` per topic query (stories and comments, tags
`(story,comment)`), and `author:<name>` per own account (tags
`(story,comment),author_<name>`). Each stream reads the time range after its
cursor, newest first, in pages of `hits_per_page`.

Algolia lets one query reach at most 1,000 hits however it is paged. A window
whose `nbHits` is more than its pages can reach is bisected on `created_at_i`
until every part fits; the parts are read newest first.

Cursor (`cursors.value`, JSON): `{"newest": N}` once a pass is complete, N the
newest `created_at_i` stored; the next pass reads `(N - overlap_minutes, now]`.
While a pass is under way the cursor also holds `"pass": {"windows": [[lo, hi],
...], "page": p, "per": hitsPerPage, "seen": S}`: the `(lo, hi]` ranges still
to read (the first from page p), so a crash, the per-run cap or the time limit
resumes at the missing page, splits included. `newest` moves to S only when the
last window is stored.

Fetching is I/O only; `map_hits` is a pure function of one page's hits.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from bs4 import BeautifulSoup, Tag

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    MalformedResponse,
    RawPage,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import DeadlineExceeded, make_session, network_reason
from connectors.queries import platform_queries
from connectors.settings import HackerNewsSource
from listener.core.errors import TransientError
from listener.core.models import UNKNOWN_AUTHOR, AuthorRef, Mention, Metrics
from listener.core.settings import Organization, Settings
from listener.core.terms import split_terms

log = logging.getLogger(__name__)

SITE = "https://news.ycombinator.com"
SEARCH_TAGS = "(story,comment)"
PAGINATION_LIMIT = 1000  # Algolia's paginationLimitedTo on the HN index: hits past it are unreachable
HN_EPOCH = 1160418000  # 2006-10-09, just before the first HN item: a first run's window starts here
SERVER_RETRIES = 4
BACKOFF_CAP_SECONDS = 60.0
DEFAULT_RATE_LIMIT_WAIT = 60.0  # a 429 without Retry-After
MAX_BODY_BYTES = 64 * 1024 * 1024
USER_AGENT = "listener-hackernews/0.1 (+https://github.com/listener)"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # HN usernames: letters, digits, - and _


@dataclass(frozen=True)
class Stream:
    key: str  # search:<query> | author:<name>
    query: str  # "" for an author stream
    tags: str


@dataclass
class StreamState:
    """Where one stream stands; stored as JSON in `cursors.value` (see the module docstring)."""

    newest: int | None = None
    windows: list[tuple[int, int]] = field(default_factory=list)  # (lo, hi] still to read, newest first
    page: int = 0  # the next page of windows[0]
    per: int = 0  # hitsPerPage the pass pages with (page numbers depend on it)
    seen: int | None = None  # newest created_at_i read in this pass

    @classmethod
    def load(cls, value: str | None) -> StreamState:
        """Anything unreadable counts as absent: a bad pass restarts from `newest` (upserts dedupe)."""
        data = load_json_cursor(value)
        state = cls(newest=_seconds(data.get("newest")))
        pending = data.get("pass")
        if not isinstance(pending, Mapping):
            return state
        windows = [_window(w) for w in pending.get("windows") or []] if isinstance(pending.get("windows"), list) else []
        page, per = _seconds(pending.get("page")), _seconds(pending.get("per"))
        if not windows or None in windows or page is None or not per:
            return state
        state.windows = [w for w in windows if w is not None]
        state.page, state.per, state.seen = page, per, _seconds(pending.get("seen"))
        return state

    def dump(self) -> str:
        doc: dict[str, Any] = {"newest": self.newest} if self.newest is not None else {}
        if self.windows:
            doc["pass"] = {"windows": [list(w) for w in self.windows], "page": self.page, "per": self.per}
            if self.seen is not None:
                doc["pass"]["seen"] = self.seen
        return json.dumps(doc, sort_keys=True)


class HackerNewsConnector:
    name = "hackernews"

    def __init__(
        self,
        config: HackerNewsSource,
        queries: list[str],
        authors: list[str],
        session: requests.Session | None = None,
        max_fetch_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.queries = queries
        self.authors = authors
        self.session = session or make_session(
            USER_AGENT, retries=0, backoff_seconds=0, timeout=config.timeout_seconds, max_body_bytes=MAX_BODY_BYTES
        )
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self.hits_read = 0
        self.requests_made = 0
        self.rate_limit_waited = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HackerNewsConnector:
        config = settings.sources.section(cls.name, HackerNewsSource)
        queries = list(dict.fromkeys(q.strip() for q in config.queries if q.strip()))
        return cls(
            config,
            queries or default_queries(settings.organization),
            own_authors(config.own_usernames, settings.organization.own_accounts.for_source(cls.name)),
        )

    def streams(self) -> list[Stream]:
        streams = [Stream(f"search:{q}", q, SEARCH_TAGS) for q in self.queries]
        return streams + [Stream(f"author:{a}", "", f"{SEARCH_TAGS},author_{a}") for a in self.authors]

    # -- fetching ------------------------------------------------------------

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        streams = self.streams()
        if not streams:
            yield RawPage(
                stream=self.name,
                warnings=[
                    "hackernews: nothing to collect (set sources.hackernews.queries, a topic query, "
                    "or organization.own_accounts.hackernews)"
                ],
            )
            return
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        for index, stream in enumerate(streams):
            if deadline.passed():
                yield deadline.page(f"{len(streams) - index} of {len(streams)} streams")
                return
            # A fair share of what is left of the per-run cap, so one busy query cannot starve the rest.
            share = max(1, (self.config.max_hits_per_run - self.hits_read) // (len(streams) - index))
            cut = yield from self._read_stream(stream, StreamState.load(cursors.get(stream.key)), share, deadline)
            if cut:
                yield deadline.page(f"the rest of {stream.key} and {len(streams) - index - 1} more streams")
                return

    def map_page(self, page: RawPage) -> list[Mention]:
        if not page.payload:
            return []
        mentions, problems = map_hits(page.payload)
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def _start_pass(self, state: StreamState) -> StreamState:
        now = int(time.time())
        if state.newest is not None:
            lo = state.newest - self.config.overlap_minutes * 60
        elif self.config.backfill_days:
            lo = now - self.config.backfill_days * 86400
        else:
            lo = HN_EPOCH
        return StreamState(newest=state.newest, windows=[(lo, max(now, lo + 1))], per=self.config.hits_per_page)

    def _read_stream(
        self, stream: Stream, state: StreamState, limit: int, deadline: FetchDeadline
    ) -> Generator[RawPage, None, bool]:
        """One stream's pages; True when the time limit cut it (its cursor at the next page)."""
        if not state.windows:
            state = self._start_pass(state)
        stop_at = self.hits_read + limit
        while state.windows:
            if deadline.passed():
                return True
            if self.hits_read >= stop_at:
                yield RawPage(
                    stream=stream.key,
                    warnings=[
                        f"{stream.key}: max_hits_per_run ({self.config.max_hits_per_run}) reached; "
                        "the rest resumes next run"
                    ],
                )
                return False
            lo, hi = state.windows[0]
            try:
                body = self._search(stream, lo, hi, state.page, state.per)
            except MalformedResponse as exc:
                yield RawPage(
                    stream=stream.key,
                    error=f"{stream.key}: the HN Search API answered with a malformed response ({exc}); "
                    "the stream's cursor is unchanged, the next run asks again",
                )
                return False
            except _StreamRefused as exc:
                yield RawPage(stream=stream.key, error=str(exc))
                return False
            hits: list[Any] = body["hits"]
            warnings: list[str] = []
            reachable = _reachable(body, state.per)
            total = _count(body.get("nbHits"))
            if state.page == 0 and total is not None and total > reachable:
                if hi - lo > 1:
                    # Too many for one query: read the two halves instead, newer first. The split is
                    # stored with the next page that has hits (a crash before it only repeats requests).
                    mid = lo + (hi - lo) // 2
                    state.windows[:1] = [(mid, hi), (lo, mid)]
                    continue
                warnings.append(
                    f"{stream.key}: {total} hits within one second ({hi}); only the first {reachable} "
                    "can be read through the API"
                )
            self.hits_read += len(hits)
            state.seen = _max(state.seen, _newest_time(hits, hi))
            if _window_done(body, len(hits), state.page, state.per, reachable):
                state.windows.pop(0)
                state.page = 0
            else:
                state.page += 1
            if not state.windows:  # every window of the pass is stored: the cursor moves on
                state = StreamState(newest=_max(state.newest, state.seen))
            elif not hits and not warnings:
                continue  # an empty window: its state travels with the next page (one transaction less)
            yield RawPage(stream=stream.key, payload=hits, cursor={stream.key: state.dump()}, warnings=warnings)
        return False

    def _search(self, stream: Stream, lo: int, hi: int, page: int, per: int) -> dict[str, Any]:
        params: dict[str, str | int] = {
            "tags": stream.tags,
            "numericFilters": f"created_at_i>{lo},created_at_i<={hi}",
            "hitsPerPage": per,
            "page": page,
        }
        if stream.query:
            params["query"] = stream.query
        response = self._get(f"{self.config.api_url}/search_by_date", params, stream.key)
        return checked_page(response)

    def _get(self, url: str, params: Mapping[str, str | int], where: str) -> requests.Response:
        """One retry policy: bounded waits on 429, backoff on 5xx and network errors, then a clear error."""
        failures = 0
        while True:
            self.requests_made += 1
            try:
                response = self.session.get(url, params=params, timeout=self.config.timeout_seconds)
            except DeadlineExceeded as exc:  # a server that trickles would trickle again: no retries
                raise TransientError(
                    f"the HN Search API answered too slowly on {where} ({exc}); stopped with cursors intact, "
                    "the next run resumes"
                ) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                if failures > SERVER_RETRIES:
                    raise TransientError(
                        f"could not reach the HN Search API at {self.config.api_url} on {where} "
                        f"({network_reason(exc) or type(exc).__name__}) after {SERVER_RETRIES} retries; "
                        "stopped with cursors intact, the next run resumes"
                    ) from None
                time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
                continue
            status = response.status_code
            if status == 200:
                return response
            if status == 429:
                self._wait_for_rate_limit(response, where)
                continue
            if status >= 500:
                failures += 1
                if failures > SERVER_RETRIES:
                    raise TransientError(
                        f"the HN Search API kept failing (HTTP {status}) on {where} after {SERVER_RETRIES} "
                        "retries; stopped with cursors intact, the next run resumes"
                    )
                time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
                continue
            if status in (401, 403):
                # No credential is involved: a proxy or a block of this address answered.
                raise TransientError(
                    f"the HN Search API refused the request on {where} (HTTP {status}); it needs no key, so "
                    f"check sources.hackernews.api_url ({self.config.api_url}) and any proxy in between"
                )
            raise _StreamRefused(f"{where}: the HN Search API answered HTTP {status} ({_error_message(response)})")

    def _wait_for_rate_limit(self, response: requests.Response, where: str) -> None:
        wait = _retry_after(response)
        budget = self.config.max_rate_limit_wait_seconds - self.rate_limit_waited
        if wait > budget:
            raise TransientError(
                f"HN Search API rate limit reached (HTTP 429) on {where}: it asks for {wait:.0f}s, beyond "
                f"max_rate_limit_wait_seconds ({self.config.max_rate_limit_wait_seconds}); "
                "stopped with cursors intact, the next run resumes"
            )
        log.warning("hackernews: rate limited on %s, waiting %.0fs", where, wait)
        self.rate_limit_waited += wait
        time.sleep(wait)


class _StreamRefused(Exception):
    """A 4xx that concerns one request (a query Algolia cannot parse): that stream fails, the rest go on."""


# -- queries and accounts -----------------------------------------------------


def default_queries(organization: Organization) -> list[str]:
    """One search per included term of a term list (Algolia has no OR; a phrase stays quoted), and the
    topics' queries translated for HN (connectors.queries). Exclusions stay with topic tagging."""
    topics = [] if organization.query is not None else [organization.brand_terms]
    topics += [c.terms for c in organization.competitors if c.query is None]
    queries = [f'"{t}"' if " " in t else t for terms in topics for t in split_terms(terms)[0]]
    queries += platform_queries(organization, "hackernews")
    return [q for q in dict.fromkeys(q.strip() for q in queries) if q]


def own_authors(spelt: list[str], own_accounts: list[str]) -> list[str]:
    """The own accounts as HN spells them: `own_usernames` first, then own_accounts not spelt there.

    Names that cannot be HN usernames are left out with a warning (they would end up inside a tag).
    """
    names: dict[str, str] = {}
    for raw in [*spelt, *own_accounts]:
        name = raw.strip().lstrip("@").strip()
        if not name:
            continue
        if not _NAME.match(name):
            log.warning("hackernews: %r is not a Hacker News username; left out", name[:40])
            continue
        names.setdefault(name.lower(), name)
    return list(names.values())


# -- checking a response ------------------------------------------------------


def checked_page(response: requests.Response) -> dict[str, Any]:
    """The body of a search answer, or MalformedResponse saying why it cannot be trusted with a cursor."""
    try:
        body = response.json()
    except ValueError as exc:
        start = " ".join(response.text[:60].split())
        raise MalformedResponse(
            f"the body is not JSON ({exc}); it starts {start!r}" if start else "empty body"
        ) from None
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"expected a JSON object, got {json_kind(body)}")
    if not isinstance(body.get("hits"), list):
        raise MalformedResponse(f"`hits` is {json_kind(body.get('hits'))}, not a list")
    for name in ("nbHits", "nbPages"):
        if name in body and _count(body[name]) is None:
            raise MalformedResponse(f"`{name}` is {json_kind(body[name])}, not a count")
    return dict(body)


def _reachable(body: Mapping[str, Any], per: int) -> int:
    """How many hits of this query pagination can reach: nbPages x hitsPerPage, at most Algolia's limit."""
    pages = _count(body.get("nbPages"))
    limit = PAGINATION_LIMIT if pages is None else pages * per
    return min(limit, PAGINATION_LIMIT)


def _window_done(body: Mapping[str, Any], count: int, page: int, per: int, reachable: int) -> bool:
    """This page was the window's last: a short or empty page, the last of nbPages, or the last reachable."""
    pages = _count(body.get("nbPages"))
    return count < per or (page + 1) * per >= reachable or (pages is not None and page + 1 >= pages)


def _newest_time(hits: list[Any], hi: int) -> int | None:
    """The newest created_at_i on a page, never past the window's top (a hit from next year would
    make every later pass start after today's posts)."""
    times = [t for h in hits if isinstance(h, Mapping) and (t := _seconds(h.get("created_at_i"))) is not None]
    return min(max(times), hi) if times else None


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return max(1.0, float(value))
    if value:
        try:
            return max(1.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError):
            pass
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    if reset.isdigit():
        return max(1.0, int(reset) - time.time())
    return DEFAULT_RATE_LIMIT_WAIT


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text[:120].split()) or "no body"
    message = body.get("message") if isinstance(body, Mapping) else None
    return str(message)[:200] if message else json_kind(body)


# -- pure mapping -------------------------------------------------------------


def map_hits(hits: Any) -> tuple[list[Mention], list[str]]:
    """Search hits (stories, comments, polls) -> mentions; odd hits are skipped with a reason, never raised."""
    if not isinstance(hits, list):
        return [], [f"page skipped ({json_kind(hits)}, not a list of hits)"]
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, hit in enumerate(hits):
        if not isinstance(hit, Mapping):
            problems.append(f"hit {index} skipped ({json_kind(hit)}, not an object)")
            continue
        try:
            mentions.append(map_hit(hit))
        except Exception as exc:  # one odd hit must not lose the page
            ident = str(hit.get("objectID") or "no id")[:30]
            problems.append(f"hit {index} ({ident}) skipped ({type(exc).__name__}: {exc})")
    return mentions, problems


def map_hit(hit: Mapping[str, Any]) -> Mention:
    """One hit -> a mention. Mention.url is the HN item page; a story's link is its text when it has
    no text of its own (as for Reddit link posts), and stays in raw["url"]."""
    item_id = _id(hit.get("objectID"))
    if item_id is None:
        raise ValueError("no objectID")
    tags = [t for t in hit.get("_tags") or [] if isinstance(t, str)] if isinstance(hit.get("_tags"), list) else []
    is_comment = "comment" in tags or (not tags and isinstance(hit.get("comment_text"), str))
    points = _count(hit.get("points"))
    if is_comment:
        title, text = None, html_text(hit.get("comment_text"))
        thread_id, parent_id = _id(hit.get("story_id")), _id(hit.get("parent_id"))
        metrics = Metrics(score=points)
    else:
        title = _str(hit.get("title"))
        text = html_text(hit.get("story_text")) or _link(hit.get("url"))
        thread_id, parent_id = item_id, None
        metrics = Metrics(score=points, replies=_count(hit.get("num_comments")))
    if not title and not text:
        raise ValueError("neither title nor text")
    return Mention(
        source="hackernews",
        id=item_id,
        created_at=_created_at(hit),
        author=_author(hit.get("author")),
        title=title,
        text=text,
        url=f"{SITE}/item?id={item_id}",
        thread_id=thread_id,
        parent_id=parent_id,
        metrics=metrics,
        raw={k: v for k, v in hit.items() if k != "_highlightResult"},  # the highlights repeat the text
    )


def html_text(value: Any) -> str | None:
    """HN's comment/story HTML as plain text: <p> starts a paragraph, a link shows its full address
    (HN cuts long ones in the text), entities are decoded."""
    if not isinstance(value, str) or not value.strip():
        return None
    soup = BeautifulSoup(value, "html.parser")
    for link in soup.find_all("a"):
        href = link.get("href") if isinstance(link, Tag) else None
        shown = link.get_text()
        if isinstance(href, str) and href.startswith(("http://", "https://")) and _cut_form(shown, href):
            link.replace_with(href)
    for paragraph in soup.find_all("p"):
        paragraph.insert_before("\n\n")
    text = soup.get_text()
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() or None


def _cut_form(shown: str, href: str) -> bool:
    """True when a link's text is its address, or HN's shortened form of it ("https://example.com/a/b...")."""
    shown = shown.strip()
    return shown == href or (shown.endswith("...") and href.startswith(shown[:-3]))


def _author(value: Any) -> AuthorRef:
    name = _str(value)
    if name is None:
        return UNKNOWN_AUTHOR
    return AuthorRef(handle=name, url=f"{SITE}/user?id={name}")


def _created_at(hit: Mapping[str, Any]) -> datetime:
    """created_at_i, else the ISO created_at, else UNKNOWN_TIME (kept, with the fetch time)."""
    seconds = _seconds(hit.get("created_at_i"))
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError):
            pass
    value = hit.get("created_at")
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    return UNKNOWN_TIME


def _link(value: Any) -> str | None:
    url = _str(value)
    return url if url and url.lower().startswith(("http://", "https://")) else None


def _id(value: Any) -> str | None:
    """HN item ids are positive integers; Algolia sends objectID as a string, parent/story ids as numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return str(int(value.strip()))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _count(value: Any) -> int | None:
    """A non-negative whole number (a whole float too); anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _seconds(value: Any) -> int | None:
    """A Unix time or counter from JSON: a finite whole number, else None (NaN would poison a cursor)."""
    return _count(value)


def _window(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2:
        lo, hi = _seconds(value[0]), _seconds(value[1])
        if lo is not None and hi is not None and lo < hi:
            return (lo, hi)
    return None


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
