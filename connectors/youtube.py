"""YouTube comments through the Data API v3 (google-api-python-client, an API key, no login).

Streams: the comment threads of every video of each `channel_ids` channel
(`commentThreads.list` with `allThreadsRelatedToChannelId`) and of each
`video_ids` video (`videoId`), newest first (`order=time`), 100 threads a
page, with the replies the thread embeds; a thread with more replies than it
embeds has them read through `comments.list` (`parentId`) before its page is
yielded, so a page is stored whole or not at all. A channel that is one of the
organization's own accounts is read whole; another channel is read once per
search term (`searchTerms`, the topics' words), so only matching threads are
paid for; a listed video is read whole (the user chose it as the topic).

Cursors: per stream (`channel:<id>`, `channel:<id>:search:<terms>`,
`video:<id>`) JSON `{"since", "pending_newest", "page_token"}`: `since` is the
newest top-level `publishedAt` stored; paging stops at the first thread older
than it. While a pagination is under way the cursor keeps the old `since`, the
newest time seen and the next page's token, so a crash, the quota or the
per-stream cap resumes at the missing page; `since` moves only once every page
down to it is stored. `quota` holds the day's quota use, JSON `{"day", "used"}`
(the day in Pacific time: Google resets the quota at midnight there).

Every request costs one quota unit (retries too); a run spends at most what is
left of `daily_quota_units` today and of `max_quota_units_per_run`, shared fairly
across the streams. Fetching is I/O only; `map_threads` is a pure function of
one page.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httplib2  # type: ignore[import-untyped]
from googleapiclient.discovery import build  # type: ignore[import-untyped]
from googleapiclient.errors import HttpError  # type: ignore[import-untyped]

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    RawPage,
    as_count,
    as_list,
    as_mapping,
    as_text,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import network_reason
from connectors.queries import platform_queries
from connectors.settings import YouTubeSource
from listener.core.errors import TerminalError, TransientError
from listener.core.models import MAX_FUTURE, UNKNOWN_AUTHOR, AuthorRef, Mention, MentionRef, Metrics
from listener.core.settings import Organization, Settings
from listener.core.terms import split_terms

log = logging.getLogger(__name__)

KEY_VARIABLE = "YOUTUBE_API_KEY"
CREDENTIALS_URL = "https://console.cloud.google.com/apis/credentials"
API_LIBRARY_URL = "https://console.cloud.google.com/apis/library/youtube.googleapis.com"
QUOTA_KEY = "quota"
DEFAULT_API_URL = "https://youtube.googleapis.com"  # the discovery document's rootUrl
PAGE_SIZE = 100  # the largest page commentThreads.list and comments.list give
SERVER_RETRIES = 4
BACKOFF_CAP_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_TERMS_LENGTH = 300
WATCH_URL = "https://www.youtube.com/watch"
try:
    PACIFIC: timezone | ZoneInfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no time zone database: standard time, an hour off in summer at worst
    PACIFIC = timezone(timedelta(hours=-8))

_RETRY_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError", "internalError"})
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DISABLED_API_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
_QUIET_REASONS = frozenset({"commentsDisabled", "videoNotFound", "channelNotFound", "commentThreadNotFound"})
_PAGE_TOKEN_REASONS = frozenset({"invalidPageToken", "pageTokenInvalid"})
# A handle written in a comment: @ then 3-30 of letters, digits, '_', '-', '.' (YouTube's handle rule).
_HANDLE_REF = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.-]{1,28}[A-Za-z0-9_])")


# -- state ---------------------------------------------------------------------


@dataclass
class StreamState:
    """Where one stream stands; stored as JSON in `cursors.value`."""

    since: str | None = None
    pending_newest: str | None = None
    page_token: str | None = None

    @classmethod
    def load(cls, value: str | None) -> StreamState:
        data = load_json_cursor(value)
        kept = {k: v for k, v in data.items() if k in ("since", "pending_newest", "page_token") and v}
        state = cls(**{k: v for k, v in kept.items() if isinstance(v, str)})
        for name in ("since", "pending_newest"):  # an unreadable time counts as none (re-read, upserts dedupe)
            if getattr(state, name) and _time(getattr(state, name)) is None:
                setattr(state, name, None)
        return state

    def dump(self) -> str:
        return json.dumps({k: v for k, v in vars(self).items() if v}, sort_keys=True)


@dataclass
class Quota:
    """The day's quota units: used before this run (from the cursor) and in it."""

    day: str
    before: int
    daily: int
    per_run: int | None
    used: int = 0

    @classmethod
    def load(cls, value: str | None, config: YouTubeSource, today: str) -> Quota:
        data = load_json_cursor(value)
        used = data.get("used")
        same_day = data.get("day") == today and isinstance(used, int) and not isinstance(used, bool)
        before = max(0, used) if same_day and isinstance(used, int) else 0
        return cls(today, before, config.daily_quota_units, config.max_quota_units_per_run)

    @property
    def total(self) -> int:
        return self.before + self.used

    def left(self) -> int:
        left = self.daily - self.total
        if self.per_run is not None:
            left = min(left, self.per_run - self.used)
        return max(0, left)

    def exhausted(self) -> None:
        """Google says the day's quota is gone: count it as spent, so later runs today ask nothing."""
        self.before = max(self.before, self.daily - self.used)

    def dump(self) -> str:
        return json.dumps({"day": self.day, "used": self.total}, sort_keys=True)

    def usage(self, units_spent: int) -> dict[str, Any]:
        """For `runs.usage` and `listener status`: this run's units and the day's."""
        return {
            "quota_units": units_spent,
            "quota_day": self.day,
            "quota_used_today": self.total,
            "daily_quota_units": self.daily,
            "quota_left_today": max(0, self.daily - self.total),
            "summary": f"{units_spent} quota units in this run; {self.total} of {self.daily} used on {self.day} "
            "(Pacific time)",
        }

    def summary(self) -> str:
        return (
            f"{self.used} units used in this run, {self.total} of {self.daily} today (Pacific time), {self.left()} left"
        )


@dataclass(frozen=True)
class Stream:
    key: str  # cursor key: channel:<id>, channel:<id>:search:<terms>, video:<id>
    params: dict[str, str] = field(default_factory=dict)  # what selects the threads


class ApiError(Exception):
    """A non-retryable HTTP error answer, reduced to what messages need (never the URL: it holds the key)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status, reason, message)
        self.status, self.reason, self.message = status, reason, message

    def __str__(self) -> str:
        return (
            f"HTTP {self.status} {self.reason}: {self.message}" if self.message else f"HTTP {self.status} {self.reason}"
        )


class QuotaGone(Exception):
    """No unit left in this stream's share or the run's budget."""


# -- the connector -------------------------------------------------------------


class YouTubeConnector:
    name = "youtube"

    def __init__(
        self,
        config: YouTubeSource,
        organization: Organization,
        api_key: str | None,
        http: Any = None,
        api_endpoint: str | None = None,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        max_fetch_seconds: float | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.organization = organization
        self.api_key = api_key
        self.http = http  # an httplib2.Http (tests: one pointed at 127.0.0.1 or replayed); None = a new one
        self.api_endpoint = api_endpoint  # the API's base URL; None = Google's
        self.timeout_seconds = timeout_seconds
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self.now = now or (lambda: datetime.now(UTC))
        self.quota_used = 0  # units spent in the last fetch, for `runs` / `listener status`
        self.quota: Quota | None = None
        self._service: Any = None
        self._recorded = 0  # the day's units the last stored page's cursor says
        self._answered = False  # a page of this run was answered (then trailing units are recorded too)

    @classmethod
    def from_settings(cls, settings: Settings) -> YouTubeConnector:
        # No key check here: building a connector must not need the environment.
        config = settings.sources.section(cls.name, YouTubeSource)
        endpoint = None if config.api_url == DEFAULT_API_URL else config.api_url + "/"
        return cls(config, settings.organization, os.environ.get(KEY_VARIABLE), api_endpoint=endpoint)

    # -- streams -------------------------------------------------------------
    def streams(self) -> list[Stream]:
        own = set(self.organization.own_accounts.for_source(self.name))  # lowercased ids and handles
        terms = search_terms(self.organization) if self.config.search_terms else []
        streams: list[Stream] = []
        for channel in dict.fromkeys(self.config.channel_ids):
            whole = Stream(f"channel:{channel}", {"allThreadsRelatedToChannelId": channel})
            if channel.lower() in own or not terms:
                streams.append(whole)  # the own channel: every comment is about the organization
            else:
                streams += [
                    Stream(f"channel:{channel}:search:{t}", {"allThreadsRelatedToChannelId": channel, "searchTerms": t})
                    for t in terms
                ]
        streams += [Stream(f"video:{video}", {"videoId": video}) for video in dict.fromkeys(self.config.video_ids)]
        return streams

    # -- fetching ------------------------------------------------------------
    def service(self) -> Any:
        if not self.api_key or not self.api_key.strip():
            raise TerminalError(
                f"{KEY_VARIABLE} is not set: create an API key at {CREDENTIALS_URL} in a project with the "
                "YouTube Data API v3 enabled, put it in the environment or .env, or disable [sources.youtube]"
            )
        if self._service is None:
            # googleapiclient logs every request URL at DEBUG, and the URL carries the key
            logging.getLogger("googleapiclient.discovery").setLevel(logging.INFO)
            http = self.http if self.http is not None else httplib2.Http(timeout=self.timeout_seconds)
            options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
            self._service = build(
                "youtube",
                "v3",
                developerKey=self.api_key.strip(),
                http=http,
                static_discovery=True,  # the discovery document ships in the wheel: nothing is downloaded
                cache_discovery=False,
                client_options=options,
            )
        return self._service

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        self.quota_used = 0
        streams = self.streams()
        if not streams:
            yield RawPage(
                stream=self.name,
                warnings=["youtube: nothing to collect (set sources.youtube.channel_ids or video_ids)"],
            )
            return
        service = self.service()
        quota = self.quota = Quota.load(cursors.get(QUOTA_KEY), self.config, pacific_day(self.now()))
        self._recorded, self._answered = quota.total, False
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        try:
            for index, stream in enumerate(streams):
                left = len(streams) - index
                if deadline.passed():
                    yield deadline.page(f"{left} of {len(streams)} streams")
                    break
                if quota.left() < 1:
                    yield RawPage(stream=stream.key, warnings=[self._quota_stop(f"{left} streams were not fetched")])
                    break
                share = max(1, quota.left() // left)  # a busy stream cannot starve the ones behind it
                state = StreamState.load(cursors.get(stream.key))
                if (yield from self._paginate(service, stream, state, share, deadline)):
                    yield deadline.page(f"the rest of {stream.key} and {left - 1} more streams")
                    break
        except QuotaExhaustedError:
            quota.exhausted()
            yield RawPage(stream=QUOTA_KEY, cursor={QUOTA_KEY: quota.dump()})
            raise TransientError(
                f"YouTube says the API key's daily quota is exhausted (quotaExceeded; {quota.summary()}): "
                "stopped with cursors intact; it resets at midnight Pacific time"
            ) from None
        finally:
            self.quota_used = quota.used
        if quota.total != self._recorded and self._answered:  # units spent after the last stored page
            yield RawPage(stream=QUOTA_KEY, cursor={QUOTA_KEY: quota.dump()})
        log.info("youtube: %s", quota.summary())

    def usage(self) -> dict[str, Any] | None:
        """The last fetch's quota units and the day's, for `runs.usage` and `listener status`."""
        return self.quota.usage(self.quota_used) if self.quota is not None else None

    def _page(self, page: RawPage) -> RawPage:
        """A page on its way out: what the quota cursor it carries has recorded."""
        if QUOTA_KEY in page.cursor:
            self._recorded = self._quota().total
        self._answered = self._answered or page.error is None
        return page

    def map_page(self, page: RawPage) -> list[Mention]:
        if not page.payload:
            return []
        mentions, problems = map_threads(page.payload)
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def _paginate(
        self, service: Any, stream: Stream, state: StreamState, share: int, deadline: FetchDeadline
    ) -> Generator[RawPage, None, bool]:
        """One stream's pages, each with its replies; stops at the cursor, the quota share or the per-stream
        cap; returns True when the deadline cut it mid-pagination (the cursor holds the next page)."""
        quota = self._quota()
        budget_end = quota.used + share
        floor = state.since or self._backfill_floor()
        stop = self._share_stop(share)
        read = 0
        while True:
            if state.page_token and deadline.passed():
                return True
            if read >= self.config.max_threads_per_stream:
                yield RawPage(
                    stream=stream.key,
                    warnings=[
                        f"{stream.key}: stopped after max_threads_per_stream ({self.config.max_threads_per_stream}) "
                        "threads in this run; the rest resumes next run"
                    ],
                )
                return False
            params: dict[str, Any] = dict(
                stream.params, part="snippet,replies", order="time", maxResults=PAGE_SIZE, textFormat="plainText"
            )
            if state.page_token:
                params["pageToken"] = state.page_token
            try:
                response = self._call(functools.partial(service.commentThreads().list, **params), budget_end)
            except QuotaGone:
                yield RawPage(stream=stream.key, warnings=[f"{stream.key}: {stop()}"])
                return False
            except ApiError as exc:
                if state.page_token and (exc.reason in _PAGE_TOKEN_REASONS or exc.status == 400):
                    log.warning("youtube: %s: page token refused (%s), restarting from the cursor", stream.key, exc)
                    state = StreamState(since=state.since)
                    continue
                yield self._page(stream_problem(stream, exc))
                return False
            problem = listing_problem(response)
            if problem:
                yield self._page(malformed_page(stream.key, problem))
                return False
            items: list[Any] = response["items"]
            fresh, reached = newer_than(items, floor)
            try:
                replies, warnings = self._replies(service, stream, fresh, budget_end)
                complete = True
            except QuotaGone:
                replies, warnings, complete = {}, [f"{stream.key}: {stop()}"], False
            payload = {"items": fresh, "replies": replies}
            if not complete:  # keep what was read, cursor unmoved: the next run reads this page again
                yield self._page(
                    RawPage(stream=stream.key, payload=payload, cursor={QUOTA_KEY: quota.dump()}, warnings=warnings)
                )
                return False
            state = advance(state, fresh, None if reached else response.get("nextPageToken"), self.now())
            cursor: dict[str, str | None] = {stream.key: state.dump(), QUOTA_KEY: quota.dump()}
            yield self._page(RawPage(stream=stream.key, payload=payload, cursor=cursor, warnings=warnings))
            read += len(items)
            if not state.page_token:
                return False

    def _replies(
        self, service: Any, stream: Stream, threads: list[Any], budget_end: int
    ) -> tuple[dict[str, list[Any]], list[str]]:
        """Every reply of the threads that embed fewer than they have (YouTube embeds up to 5)."""
        replies: dict[str, list[Any]] = {}
        warnings: list[str] = []
        for thread in threads:
            thread_id, total, embedded = _thread_counts(thread)
            if thread_id is None or total is None or total <= embedded:
                continue
            found: list[Any] = []
            token: str | None = None
            while True:
                params: dict[str, Any] = {
                    "part": "snippet",
                    "parentId": thread_id,
                    "maxResults": PAGE_SIZE,
                    "textFormat": "plainText",
                }
                if token:
                    params["pageToken"] = token
                try:
                    response = self._call(functools.partial(service.comments().list, **params), budget_end)
                except ApiError as exc:
                    warnings.append(f"{stream.key}: replies of thread {thread_id} not read ({exc})")
                    break
                problem = listing_problem(response)
                if problem:
                    warnings.append(f"{stream.key}: replies of thread {thread_id} not read (malformed: {problem})")
                    break
                found += response["items"]
                token = response.get("nextPageToken")
                if not token:
                    replies[thread_id] = found
                    break
        return replies, warnings

    def _call(self, make: Callable[[], Any], budget_end: int) -> Any:
        """One request, one unit per attempt: back off on 5xx, rate limits and network errors."""
        quota = self._quota()
        failures = 0
        while True:
            if quota.left() < 1 or quota.used >= budget_end:
                raise QuotaGone
            try:
                quota.used += 1
                self.quota_used = quota.used
                return make().execute(num_retries=0)
            except HttpError as exc:
                error = api_error(exc)
                if error.reason in _QUOTA_REASONS:
                    raise QuotaExhaustedError from None
                if error.reason in _KEY_REASONS or (error.status in (400, 401) and "api key" in error.message.lower()):
                    raise TerminalError(
                        f"YouTube rejected the key in {KEY_VARIABLE} ({error.reason}): check it at {CREDENTIALS_URL} "
                        "(an API key, restricted to the YouTube Data API v3 if at all, without HTTP referrer or IP "
                        "restrictions that exclude this machine)"
                    ) from None
                if error.reason in _DISABLED_API_REASONS:
                    raise TerminalError(
                        f"the YouTube Data API v3 is not enabled in the Google Cloud project of the key in "
                        f"{KEY_VARIABLE}: enable it at {API_LIBRARY_URL}"
                    ) from None
                if not (error.status >= 500 or error.status == 429 or error.reason in _RETRY_REASONS):
                    raise error from None
                failures = self._back_off(failures, str(error))
            except (OSError, httplib2.HttpLib2Error) as exc:
                quota.used -= 1  # no answer, no unit
                self.quota_used = quota.used
                failures = self._back_off(failures, network_reason(exc) or type(exc).__name__)

    def _back_off(self, failures: int, what: str) -> int:
        failures += 1
        if failures > SERVER_RETRIES:
            raise TransientError(
                f"YouTube kept failing ({what[:200]}) after {SERVER_RETRIES} retries; "
                "stopped with cursors intact, the next run resumes"
            )
        time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
        return failures

    def _quota(self) -> Quota:
        if self.quota is None:
            self.quota = Quota(
                pacific_day(self.now()), 0, self.config.daily_quota_units, self.config.max_quota_units_per_run
            )
        return self.quota

    def _quota_stop(self, rest: str) -> str:
        return f"YouTube quota budget reached ({self._quota().summary()}); {rest}"

    def _share_stop(self, share: int) -> Callable[[], str]:
        """The warning of a stream that ran out of units: the whole budget, or only its fair share of it."""

        def message() -> str:
            if self._quota().left() < 1:
                return self._quota_stop("the rest resumes next run")
            return (
                f"stopped at its fair share ({share} units) of the run's YouTube quota budget "
                f"({self._quota().summary()}); the rest resumes next run"
            )

        return message

    def _backfill_floor(self) -> str | None:
        days = self.config.backfill_days
        return _iso(self.now() - timedelta(days=days)) if days else None


class QuotaExhaustedError(Exception):
    """quotaExceeded: Google refuses every request with this key until midnight Pacific time."""


# -- fetching helpers ------------------------------------------------------------


def pacific_day(now: datetime) -> str:
    """The quota day Google counts in: the date in Pacific time."""
    return now.astimezone(PACIFIC).date().isoformat()


def search_terms(organization: Organization) -> list[str]:
    """The searchTerms to narrow other channels' threads: the topics' words (connectors.queries), and a
    term list's terms without quotes or wildcards. A term whose words include another term's is left
    out: the shorter one already finds it (searchTerms matches comments holding every word)."""
    topics = [] if organization.query is not None else [organization.brand_terms]
    topics += [c.terms for c in organization.competitors if c.query is None]
    terms = [" ".join(t.replace("*", " ").split()) for terms in topics for t in split_terms(terms)[0]]
    terms += platform_queries(organization, "youtube", MAX_TERMS_LENGTH)
    unique = [t for t in dict.fromkeys(t.strip() for t in terms) if t]
    words = {t: set(t.lower().split()) for t in unique}
    return [t for t in unique if not any(o != t and words[o] < words[t] for o in unique)]


def api_error(exc: HttpError) -> ApiError:
    """Status, reason and message of an error answer, from Google's JSON error body when there is one."""
    status = int(getattr(exc.resp, "status", 0) or 0)
    reason, message = "", ""
    try:
        body = json.loads(exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content)
    except (ValueError, TypeError, AttributeError):
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        given = error.get("message")
        message = given if isinstance(given, str) else ""
        reasons = [e.get("reason") for e in as_list(error.get("errors")) if isinstance(e, Mapping)]
        reasons += [d.get("reason") for d in as_list(error.get("details")) if isinstance(d, Mapping)]
        named = [r for r in reasons if isinstance(r, str) and r]
        # the specific reason (API_KEY_INVALID in `details`) over the generic one (badRequest)
        known = _QUOTA_REASONS | _KEY_REASONS | _DISABLED_API_REASONS | _QUIET_REASONS | _PAGE_TOKEN_REASONS
        reason = next((r for r in named if r in known), named[0] if named else "")
    return ApiError(status, reason or f"HTTP {status}", " ".join(message.split())[:200])


def stream_problem(stream: Stream, exc: ApiError) -> RawPage:
    """An error answer that concerns this stream only: a warning (comments off, gone) or an error."""
    if exc.reason == "commentsDisabled":
        return RawPage(stream=stream.key, warnings=[f"{stream.key}: comments are disabled on this video; skipped"])
    if exc.status == 404 or exc.reason in _QUIET_REASONS:
        what = "video" if "videoId" in stream.params else "channel"
        return RawPage(stream=stream.key, warnings=[f"{stream.key}: YouTube has no such {what} ({exc}); skipped"])
    return RawPage(stream=stream.key, error=f"{stream.key}: YouTube refused the request ({exc}); cursor unchanged")


def listing_problem(response: Any) -> str | None:
    """Why a commentThreads/comments answer cannot be trusted with the stream's cursor, or None."""
    if not isinstance(response, Mapping):
        if isinstance(response, (str, bytes)):
            start = " ".join(str(response[:60]).split())
            return f"the body is not JSON; it starts {start!r}" if start else "the body is empty"
        return f"expected a JSON object, got {json_kind(response)}"
    if not isinstance(response.get("items"), list):
        return f"`items` is {json_kind(response.get('items'))}, not a list"
    token = response.get("nextPageToken")
    if token is not None and not (isinstance(token, str) and token):
        return f"`nextPageToken` is {json_kind(token)}, not a token"
    return None


def malformed_page(stream: str, reason: str) -> RawPage:
    return RawPage(
        stream=stream,
        error=f"{stream}: YouTube answered with a malformed response ({reason}); "
        "the stream's cursor is unchanged, the next run asks again",
    )


def newer_than(items: list[Any], floor: str | None) -> tuple[list[Any], bool]:
    """The threads at or after `floor` and whether an older one was reached (the page is newest first).
    A thread whose time cannot be read is kept and does not end the stream."""
    limit = _time(floor) if floor else None
    if limit is None:
        return list(items), False
    kept: list[Any] = []
    for item in items:
        published = _time(_top_snippet(item).get("publishedAt"))
        if published is not None and published < limit:
            return kept, True
        kept.append(item)
    return kept, False


def advance(state: StreamState, fresh: list[Any], token: Any, now: datetime) -> StreamState:
    """The state after a stored page: mid-pagination the old `since` stays; at the end it is the newest seen."""
    # a comment "from next year" would make every later run stop before today's comments
    times = [t for item in fresh if (t := _time(_top_snippet(item).get("publishedAt"))) and t <= now + MAX_FUTURE]
    pending = max([*times, *filter(None, [_time(state.pending_newest)])], default=None)
    if isinstance(token, str) and token:
        return StreamState(since=state.since, pending_newest=_iso(pending) if pending else None, page_token=token)
    since = max(filter(None, [pending, _time(state.since)]), default=None)
    return StreamState(since=_iso(since) if since else None)


def _thread_counts(thread: Any) -> tuple[str | None, int | None, int]:
    if not isinstance(thread, Mapping):
        return None, None, 0
    snippet = as_mapping(thread.get("snippet"))
    embedded = len(as_list(as_mapping(thread.get("replies")).get("comments")))
    thread_id = as_text(thread.get("id")) or as_text(as_mapping(snippet.get("topLevelComment")).get("id"))
    return thread_id, as_count(snippet.get("totalReplyCount")), embedded


def _top_snippet(item: Any) -> Mapping[str, Any]:
    return as_mapping(as_mapping(as_mapping(as_mapping(item).get("snippet")).get("topLevelComment")).get("snippet"))


# -- pure mapping ----------------------------------------------------------------


def map_threads(payload: Any) -> tuple[list[Mention], list[str]]:
    """A page `{"items": [commentThread], "replies": {thread id: [comment]}}` -> mentions.

    A top-level comment is a mention with `thread_id` its own id; a reply has
    `parent_id` the top-level comment (YouTube keeps one level of replies).
    Replies read through comments.list replace the ones the thread embeds.
    Odd items are skipped with a reason, never raised.
    """
    if not isinstance(payload, Mapping):
        return [], [f"page skipped ({json_kind(payload)}, not an object)"]
    items = payload.get("items")
    if not isinstance(items, list):
        return [], [f"`items` skipped ({json_kind(items)}, not a list)"]
    fetched = as_mapping(payload.get("replies"))
    mentions: dict[str, Mention] = {}
    problems: list[str] = []
    for index, thread in enumerate(items):
        if not isinstance(thread, Mapping):
            problems.append(f"item {index} skipped ({json_kind(thread)}, not a comment thread)")
            continue
        try:
            top, replies = map_thread(thread, fetched)
        except Exception as exc:  # one odd thread must not lose the page
            problems.append(f"thread {str(thread.get('id', '?'))[:40]} skipped ({type(exc).__name__}: {exc})")
            continue
        mentions.setdefault(top.id, top)
        for index_r, reply in enumerate(replies):
            if isinstance(reply, str):
                problems.append(f"thread {top.id}: reply {index_r} skipped ({reply})")
            else:
                mentions.setdefault(reply.id, reply)
    return list(mentions.values()), problems


def map_thread(thread: Mapping[str, Any], fetched: Mapping[str, Any]) -> tuple[Mention, list[Mention | str]]:
    """One thread -> its top-level comment and its replies (a string says why a reply was skipped)."""
    snippet = as_mapping(thread.get("snippet"))
    comment = snippet.get("topLevelComment")
    if not isinstance(comment, Mapping):
        raise ValueError("no topLevelComment")
    thread_id = as_text(thread.get("id")) or as_text(comment.get("id"))
    if thread_id is None:
        raise ValueError("no thread id")
    top_snippet = as_mapping(comment.get("snippet"))
    video = as_text(snippet.get("videoId")) or as_text(top_snippet.get("videoId"))
    channel = as_text(snippet.get("channelId")) or as_text(top_snippet.get("channelId"))
    thread_info = {k: v for k, v in snippet.items() if k != "topLevelComment"}
    top = map_comment(
        comment,
        thread_id=thread_id,
        video=video,
        channel=channel,
        replies=as_count(snippet.get("totalReplyCount")),
        raw={**comment, "thread": thread_info},
    )
    given = fetched.get(thread_id)
    replies = given if isinstance(given, list) else as_list(as_mapping(thread.get("replies")).get("comments"))
    mapped: list[Mention | str] = []
    for reply in replies:
        if not isinstance(reply, Mapping):
            mapped.append(f"{json_kind(reply)}, not a comment")
            continue
        try:
            parent = as_text(as_mapping(reply.get("snippet")).get("parentId")) or thread_id
            mapped.append(
                map_comment(
                    reply,
                    thread_id=thread_id,
                    video=video,
                    channel=channel,
                    parent=parent,
                    parent_author=top.author.id if top.author is not UNKNOWN_AUTHOR else None,
                )
            )
        except Exception as exc:  # an odd reply is skipped, its thread kept
            mapped.append(f"{str(reply.get('id', '?'))[:60]}: {type(exc).__name__}: {exc}")
    return top, mapped


def map_comment(
    comment: Mapping[str, Any],
    *,
    thread_id: str,
    video: str | None,
    channel: str | None,
    parent: str | None = None,
    parent_author: str | None = None,
    replies: int | None = None,
    raw: Any = None,
) -> Mention:
    """Required: an id and some text. Optional fields of the wrong type count as absent."""
    comment_id = as_text(comment.get("id"))
    if comment_id is None:
        raise ValueError("no comment id")
    snippet = as_mapping(comment.get("snippet"))
    text = as_text(snippet.get("textDisplay")) or as_text(snippet.get("textOriginal"))
    if text is None:
        raise ValueError("no text")
    video = video or as_text(snippet.get("videoId"))
    return Mention(
        source="youtube",
        id=comment_id,
        created_at=_time(snippet.get("publishedAt")) or UNKNOWN_TIME,
        author=_author(snippet),
        text=text,
        url=f"{WATCH_URL}?v={video}&lc={comment_id}" if video else None,
        community=channel or as_text(snippet.get("channelId")),
        thread_id=thread_id,
        parent_id=parent,
        in_reply_to_author=parent_author if parent else None,
        metrics=Metrics(likes=as_count(snippet.get("likeCount")), replies=replies),
        mentions=handle_mentions(text),
        raw=dict(comment) if raw is None else raw,
    )


def handle_mentions(text: str) -> tuple[MentionRef, ...]:
    """`@handle` references (YouTube's replies start with one), once each, case-insensitively."""
    seen: dict[str, MentionRef] = {}
    for match in _HANDLE_REF.finditer(text):
        seen.setdefault(match.group(1).lower(), MentionRef(handle=match.group(1)))
    return tuple(seen.values())


def _author(snippet: Mapping[str, Any]) -> AuthorRef:
    """The channel id is the author's id; a display name in "@handle" form is the handle. No follower
    counts: YouTube does not give them for commenters (a channels.list per author would cost quota)."""
    channel = as_text(as_mapping(snippet.get("authorChannelId")).get("value"))
    display = as_text(snippet.get("authorDisplayName"))
    handle = display if display and display.startswith("@") and " " not in display and len(display) > 1 else None
    if channel is None and handle is None:
        return UNKNOWN_AUTHOR
    url = as_text(snippet.get("authorChannelUrl"))
    return AuthorRef(
        id=channel,
        handle=handle,
        name=display,
        url=url if url and url.startswith(("https://", "http://")) else None,
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
