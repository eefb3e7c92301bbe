"""Mastodon through Mastodon.py: hashtag timelines, status search and own accounts, on several instances.

Streams, per configured instance: the hashtag timeline of each hashtag (`tag:<host>:<tag>`), and with
`search = true` a `search_v2` status search per topic query (`search:<host>:<query>`); per own account
(`user@host`, looked up on its own instance): its statuses with replies and reblogs
(`account:<acct>`) and, with a token for that instance, its mention notifications
(`notifications:<acct>`). The account's local id is cached in `cursors` as `account_id:<acct>`.

Cursors (JSON in `cursors.value`):
- timelines (tag, account, notifications): `{"min_id"}` once caught up. A later run pages *forward*
  from it with `min_id` (Mastodon returns the statuses immediately newer than it), each page
  committing the newest id it holds, so a crash between pages resumes at the next one and nothing
  is skipped. The first run pages *back* from the newest status while the cursor reads
  `{"newest", "max_id", "read"}` (the future `min_id`, the next older page, statuses read so far); it
  becomes `{"min_id": newest}` once the timeline ends, `max_statuses_per_stream` or `backfill_days`
  is reached, so a crashed first run resumes its backfill where it stopped.
- search: `{"min_id"}`, and while a result set is paged back with `max_id`
  `{"min_id", "pending", "max_id"}` (the old bound, the newest id seen, the next page), as X does.

The status `uri` (its ActivityPub id) is the mention id, so a post seen through two instances is one
row; authors are keyed by their account `url` (else `uri`), the same from every instance. Reply
threads come from `status_context` (bounded by `max_contexts_per_run`): `parent_id` and `thread_id`
are the parent's and the root's `uri`, resolved while fetching and handed to the pure mapper in
`RawPage.context`. Reblogs are reposts of the reblogged status (stored too), quotes (Mastodon 4.4+
`quote.quoted_status`) are quotes.

Rate limits: Mastodon.py runs with `ratelimit_method="throw"`; a 429 waits until `X-RateLimit-Reset`
within `max_rate_limit_wait_seconds` per run, else that instance stops for the run with its cursors
intact. 5xx and network errors are retried 4 times with backoff; an instance that keeps failing,
or refuses a token (401), fails its own streams only. A 200 that is not the documented JSON fails its
page's stream, cursor unchanged; odd statuses inside a good page are skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from bs4 import BeautifulSoup
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from connectors.base import (
    UNKNOWN_TIME,
    FetchDeadline,
    MalformedResponse,
    RawPage,
    as_list,
    as_mapping,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import DeadlineExceeded, network_reason, with_timeout
from connectors.queries import platform_queries, topic_hashtags
from connectors.settings import MastodonSource
from listener.core.models import AuthorRef, Mention, MentionRef, Metrics
from listener.core.settings import Organization, Settings
from listener.core.terms import split_terms

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "MASTODON_ACCESS_TOKEN"
PAGE_LIMIT = 40  # the largest page Mastodon serves for timelines and search
SERVER_RETRIES = 4
BACKOFF_CAP_SECONDS = 60.0
DEFAULT_RATE_LIMIT_WAIT = 60.0  # a 429 without a usable X-RateLimit-Reset
REQUEST_TIMEOUT_SECONDS = 30.0  # per read; the whole response within 4 x this (connectors/http.py)
USER_AGENT = "listener-mastodon/0.1 (+https://github.com/listener)"
ASSUMED_VERSION = (4, 0, 0)  # skips Mastodon.py's version probe; every endpoint used exists since 3.5
PUBLIC = frozenset({"public", "unlisted"})  # private and direct statuses are never stored
_TAG = re.compile(r"\w{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def token_variable(host: str) -> str:
    """`mastodon.social` -> MASTODON_ACCESS_TOKEN_MASTODON_SOCIAL (host upper-cased, the rest `_`)."""
    return f"{TOKEN_VARIABLE}_{re.sub(r'[^A-Z0-9]', '_', host.upper())}"


@dataclass(frozen=True)
class Instance:
    base_url: str  # https://mastodon.social
    host: str  # mastodon.social (with :port when the URL has one)
    token: str | None
    variable: str | None  # the variable the token came from, for messages


@dataclass(frozen=True)
class Stream:
    key: str
    kind: str  # tag | search | account | notifications
    instance: Instance
    target: str  # the hashtag, the query, the acct (user@host)


class InstanceFailed(Exception):
    """This instance cannot be read any more this run (down, rate limited, token refused): its
    remaining streams are skipped with their cursors intact; other instances go on."""


class Unauthorized(InstanceFailed):
    """401: the instance wants a (valid) token."""


class Refused(Exception):
    """The instance answered this one request with an error (403, 404, 422...): the stream's business."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Run:
    """What one fetch learns as it goes: thread links, account ids, budgets."""

    seen: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)  # (host, id) -> uri, root
    contexts_left: int = 0
    rate_limit_waited: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)  # host -> why it stopped


class MastodonConnector:
    name = "mastodon"

    def __init__(
        self,
        config: MastodonSource,
        organization: Organization,
        hashtags: list[str],
        queries: list[str],
        own_accounts: list[str],
        environ: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        timeout_seconds: float = REQUEST_TIMEOUT_SECONDS,
        max_fetch_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.organization = organization
        self.hashtags = hashtags
        self.queries = queries
        self.own_accounts = own_accounts
        self.environ = environ if environ is not None else os.environ
        self.session = session  # shared by every instance's client (tests add vcrpy or point at 127.0.0.1)
        self.timeout_seconds = timeout_seconds
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)
        self._clients: dict[str, Mastodon] = {}
        self._last: requests.Response | None = None  # the last response, for the raw JSON body
        self._run = _Run()

    @classmethod
    def from_settings(cls, settings: Settings) -> MastodonConnector:
        config = settings.sources.section(cls.name, MastodonSource)
        org = settings.organization
        hashtags = default_hashtags(org) if config.hashtags is None else list(config.hashtags)
        queries = default_queries(org) if config.search else []
        return cls(config, org, hashtags, queries, org.own_accounts.for_source(cls.name))

    # -- streams ---------------------------------------------------------------
    def instance(self, base_url: str) -> Instance:
        host = (urlsplit(base_url).netloc or base_url).lower()
        for variable in (token_variable(host), TOKEN_VARIABLE):
            # The plain variable is the first instance's (your home server): a token is sent only to
            # the server that issued it, never to the other instances.
            if variable == TOKEN_VARIABLE and base_url != (self.config.instances or [""])[0]:
                continue
            token = (self.environ.get(variable) or "").strip()
            if token:
                return Instance(base_url, host, token, variable)
        return Instance(base_url, host, None, None)

    def streams(self) -> tuple[list[Stream], list[str]]:
        streams: list[Stream] = []
        warnings: list[str] = []
        instances = [self.instance(url) for url in dict.fromkeys(self.config.instances)]
        for acct in dict.fromkeys(self.own_accounts):
            user, _, host = acct.lstrip("@").partition("@")
            if not user or not host:
                warnings.append(f"mastodon: own account {acct!r} skipped: write it as user@instance")
                continue
            home = next((i for i in instances if i.host == host), None) or self.instance(f"https://{host}")
            streams.append(Stream(f"account:{acct}", "account", home, acct))
            if home.token:
                streams.append(Stream(f"notifications:{acct}", "notifications", home, acct))
        for instance in instances:
            for tag in dict.fromkeys(t.lower() for t in self.hashtags):
                if not _TAG.fullmatch(tag):
                    warnings.append(f"mastodon: hashtag {tag[:60]!r} skipped (letters, digits and _ only)")
                    continue
                streams.append(Stream(f"tag:{instance.host}:{tag}", "tag", instance, tag))
            for query in self.queries:
                streams.append(Stream(f"search:{instance.host}:{query}", "search", instance, query))
        return streams, list(dict.fromkeys(warnings))

    # -- fetching --------------------------------------------------------------
    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        streams, warnings = self.streams()
        if warnings or not streams:
            if not streams:
                warnings.append(
                    "mastodon: nothing to collect (set sources.mastodon.hashtags, topic queries, "
                    "or organization.own_accounts.mastodon)"
                )
            yield RawPage(stream="mastodon", warnings=warnings)
        self._run = _Run(contexts_left=self.config.max_contexts_per_run)
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        unsearchable: set[str] = set()
        for index, stream in enumerate(streams):
            host = stream.instance.host
            if host in self._run.failed:
                continue  # said once, on the stream that found out
            if stream.kind == "search" and host in unsearchable:
                continue
            if deadline.passed():
                yield deadline.page(f"{len(streams) - index} of {len(streams)} streams")
                return
            try:
                if stream.kind == "search":
                    cut = yield from self._search(stream, cursors, deadline, unsearchable)
                else:
                    cut = yield from self._timeline(stream, cursors, deadline)
            except InstanceFailed as exc:
                self._run.failed[host] = str(exc)
                yield RawPage(stream=stream.key, error=str(exc))
                continue
            except MalformedResponse as exc:
                yield _malformed_page(stream.key, str(exc))
                continue
            except Refused as exc:
                yield RawPage(stream=stream.key, error=f"{stream.key}: {exc}")
                continue
            if cut:
                yield deadline.page(f"the rest of {stream.key} and {len(streams) - index - 1} more streams")
                return

    def map_page(self, page: RawPage) -> list[Mention]:
        if not page.payload:
            return []
        mentions, problems = map_payload(page.payload, page.context.get("host", ""), page.context.get("threads"))
        page.warnings.extend(f"{page.stream}: {p}" for p in problems)
        return mentions

    def _timeline(
        self, stream: Stream, cursors: Mapping[str, str], deadline: FetchDeadline
    ) -> Generator[RawPage, None, bool]:
        """A newest-first timeline: back-filled once, then paged forward from `min_id`."""
        state = load_json_cursor(cursors.get(stream.key))
        call, extra = self._timeline_call(stream, cursors)
        client = self._client(stream.instance)
        limit = self.config.max_statuses_per_stream
        forward = bool(_text(state.get("min_id")))
        read = _int(state.get("read")) or 0
        newest = _text(state.get("newest"))
        days = self.config.backfill_days
        cutoff = datetime.now(UTC) - timedelta(days=days) if days and not forward else None
        page: Any = None
        while True:
            if page is not None and deadline.passed():
                return True
            rel = "prev" if forward else "next"
            if page is not None and getattr(page, f"_pagination_{rel}", None):
                # Mastodon's Link header: the page just newer (prev, min_id) or older (next, max_id)
                page = self._call(stream.instance, client.fetch_previous if forward else client.fetch_next, page)
            elif forward:
                page = self._call(stream.instance, call, min_id=_text(state.get("min_id")))
            else:
                page = self._call(stream.instance, call, max_id=_text(state.get("max_id")))
            items = self._body(list)
            statuses, dropped = _notification_statuses(items) if stream.kind == "notifications" else (items, [])
            read += len(items)
            if forward:
                if not items and not extra:
                    return False  # caught up: nothing to store, the cursor stays as it is
                top = _link_id(page, "prev", "min_id") or _first_id(items)
                cursor: dict[str, str] = {"min_id": top or str(state["min_id"])}
                more = bool(items) and read < limit
                if items and read >= limit:
                    dropped.append(f"max_statuses_per_stream ({limit}) reached; the rest follows next run")
            else:
                newest = newest or _link_id(page, "prev", "min_id") or _first_id(items)
                older = _link_id(page, "next", "max_id") or _last_id(items)
                ended = not items or not older or read >= limit or _older_than(items, cutoff)
                if items and read >= limit:
                    dropped.append(f"stopped after max_statuses_per_stream ({limit}); older statuses not collected")
                if not newest:
                    cursor = {}  # an empty timeline: nothing to remember, the next run looks again
                elif ended or not older:
                    cursor = {"min_id": newest}
                else:
                    cursor = {"newest": newest, "max_id": older, "read": str(read)}
                more = not ended
            value = json.dumps(cursor) if cursor else None
            yield self._page(stream, statuses, {**extra, stream.key: value}, dropped)
            extra = {}
            if not more:
                return False
            state = cursor

    def _timeline_call(
        self, stream: Stream, cursors: Mapping[str, str]
    ) -> tuple[Callable[..., Any], dict[str, str | None]]:
        client = self._client(stream.instance)
        if stream.kind == "tag":
            tag = quote(stream.target, safe="")
            return (lambda **kw: client.timeline_hashtag(tag, limit=PAGE_LIMIT, **kw)), {}
        if stream.kind == "notifications":
            return (lambda **kw: client.notifications(types=["mention"], limit=PAGE_LIMIT, **kw)), {}
        account_id, extra = self._account_id(stream, cursors)
        return (
            lambda **kw: client.account_statuses(
                account_id, exclude_replies=False, exclude_reblogs=False, limit=PAGE_LIMIT, **kw
            )
        ), extra

    def _account_id(self, stream: Stream, cursors: Mapping[str, str]) -> tuple[str, dict[str, str | None]]:
        """The own account's local id on its instance, looked up once and cached in `cursors`."""
        key = f"account_id:{stream.target}"
        cached = _text(cursors.get(key))
        if cached:
            return cached, {}
        user = stream.target.partition("@")[0]
        try:
            self._call(stream.instance, self._client(stream.instance).account_lookup, user)
        except Refused as exc:
            if exc.status == 404:
                raise Refused(404, f"no account {stream.target} (check organization.own_accounts.mastodon)") from None
            raise
        account = self._body(dict)
        account_id = _text(account.get("id"))
        if not account_id:
            raise MalformedResponse("the account lookup answered without an id")
        return account_id, {key: account_id}

    def _search(
        self, stream: Stream, cursors: Mapping[str, str], deadline: FetchDeadline, unsearchable: set[str]
    ) -> Generator[RawPage, None, bool]:
        """search_v2 statuses newer than `min_id`, paged back with `max_id` until the old bound."""
        state = load_json_cursor(cursors.get(stream.key))
        floor, pending, max_id = (_text(state.get(k)) for k in ("min_id", "pending", "max_id"))
        client = self._client(stream.instance)
        read, first = 0, True
        while True:
            if not first and deadline.passed():
                return True
            try:
                self._call(
                    stream.instance,
                    client.search_v2,
                    stream.target,
                    resolve=False,
                    result_type="statuses",
                    min_id=floor,
                    max_id=max_id,
                    limit=PAGE_LIMIT,
                )
            except (Refused, Unauthorized) as exc:
                if isinstance(exc, Unauthorized) and stream.instance.token:
                    raise  # a refused token: the other streams of this instance would fail the same way
                if isinstance(exc, Unauthorized) or getattr(exc, "status", None) in (403, 422):
                    unsearchable.add(stream.instance.host)
                    yield RawPage(stream=stream.key, warnings=[self._search_refused(stream, str(exc))])
                    return False
                raise
            body = self._body(dict)
            statuses = body.get("statuses")
            if not isinstance(statuses, list):
                raise MalformedResponse(f"`statuses` is {json_kind(statuses)}, not a list")
            if first and not statuses and not stream.instance.token and not floor:
                unsearchable.add(stream.instance.host)
                yield RawPage(stream=stream.key, warnings=[self._search_refused(stream, "no results")])
                return False
            first = False
            read += len(statuses)
            pending = pending or _max_id(statuses)
            oldest = _min_id(statuses)
            done = len(statuses) < PAGE_LIMIT or not oldest or read >= self.config.max_statuses_per_stream
            if done:
                cursor = {"min_id": pending or floor} if (pending or floor) else {}
            else:
                cursor = {"min_id": floor, "pending": pending, "max_id": oldest}
            cursor = {k: v for k, v in cursor.items() if v}
            yield self._page(stream, statuses, {stream.key: json.dumps(cursor, sort_keys=True) if cursor else None}, [])
            if done:
                return False
            max_id = oldest

    @staticmethod
    def _search_refused(stream: Stream, why: str) -> str:
        hint = (
            f"set {token_variable(stream.instance.host)} to search it"
            if not stream.instance.token
            else "the instance may not offer full-text search"
        )
        return f"{stream.key}: {stream.instance.host} does not search statuses for us ({why[:160]}); {hint}"

    def _page(self, stream: Stream, statuses: list[Any], cursor: dict[str, str | None], warnings: list[str]) -> RawPage:
        """A page of statuses with their threads resolved (status_context where needed)."""
        host = stream.instance.host
        ancestors, threads, problems = self._threads(stream.instance, statuses)
        return RawPage(
            stream=stream.key,
            payload={"statuses": statuses, "ancestors": ancestors},
            cursor=cursor,
            warnings=[f"{stream.key}: {w}" for w in warnings + problems],
            context={"host": host, "threads": threads},
        )

    # -- threads -----------------------------------------------------------------
    def _threads(
        self, instance: Instance, statuses: list[Any]
    ) -> tuple[list[dict[str, Any]], dict[str, list[str | None]], list[str]]:
        """(ancestors fetched, {status uri: [parent uri, root uri]}, warnings) for a page's statuses."""
        host, seen = instance.host, self._run.seen
        inner = [s for s in statuses if isinstance(s, Mapping)]
        inner += [s["reblog"] for s in inner if isinstance(s.get("reblog"), Mapping)]
        for status in inner:
            local, uri = _text(status.get("id")), _uri(status)
            if local and uri and (host, local) not in seen:
                seen[(host, local)] = (uri, None if _text(status.get("in_reply_to_id")) else uri)
        ancestors: list[dict[str, Any]] = []
        threads: dict[str, list[str | None]] = {}
        problems: list[str] = []
        for status in reversed(inner):  # oldest first: a parent on this page is resolved before its replies
            uri, parent_local = _uri(status), _text(status.get("in_reply_to_id"))
            if not uri or not parent_local:
                continue
            known = seen.get((host, parent_local))
            if (known is None or known[1] is None) and self._run.contexts_left > 0 and host not in self._run.failed:
                ancestors += self._context(instance, status, problems)
                known = seen.get((host, parent_local))
            parent, root = known if known else (None, None)
            threads[uri] = [parent, root]
            local = _text(status.get("id"))
            if local:
                seen[(host, local)] = (uri, root)
        for ancestor in ancestors:  # stored too: their own links come from the chain
            above = seen.get((host, _text(ancestor.get("in_reply_to_id")) or ""))
            own = seen.get((host, _text(ancestor.get("id")) or ""))
            threads[_uri(ancestor) or ""] = [above[0] if above else None, own[1] if own else None]
        return ancestors, threads, problems

    def _context(self, instance: Instance, status: Mapping[str, Any], problems: list[str]) -> list[dict[str, Any]]:
        """The status's ancestors (root first), recorded in `seen`; failures only cost the thread link."""
        self._run.contexts_left -= 1
        local = _text(status.get("id")) or ""
        try:
            self._call(instance, self._client(instance).status_context, local)
            body = self._body(dict)
        except (Refused, MalformedResponse) as exc:
            problems.append(f"thread of status {local[:30]} not resolved ({exc})")
            return []
        except InstanceFailed as exc:
            self._run.contexts_left = 0  # the page itself was read: keep it, skip further threads
            problems.append(f"thread of status {local[:30]} not resolved ({exc})")
            return []
        chain = [a for a in body.get("ancestors") or [] if isinstance(a, Mapping) and _uri(a)]
        if not chain:
            return []
        root = _uri(chain[0]) if not _text(chain[0].get("in_reply_to_id")) else None
        for item in chain:
            if _text(item.get("id")):
                self._run.seen[(instance.host, str(item["id"]))] = (_uri(item) or "", root)
        return [dict(a) for a in chain]

    # -- one request -------------------------------------------------------------
    def _client(self, instance: Instance) -> Mastodon:
        client = self._clients.get(instance.base_url)
        if client is None:
            session = self.session if self.session is not None else requests.Session()
            with_timeout(session, self.timeout_seconds)
            if self._remember not in session.hooks["response"]:
                session.hooks["response"].append(self._remember)
            client = Mastodon(
                access_token=instance.token,
                api_base_url=instance.base_url,
                ratelimit_method="throw",
                request_timeout=self.timeout_seconds,
                session=session,
                user_agent=USER_AGENT,
                mastodon_version=".".join(map(str, ASSUMED_VERSION)),
            )
            client.mastodon_major, client.mastodon_minor, client.mastodon_patch = ASSUMED_VERSION
            self._clients[instance.base_url] = client
        return client

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A requests hook: keep the last response, whose JSON body becomes the page's payload as sent."""
        self._last = response

    def _body(self, kind: type) -> Any:
        """The last response's JSON body, checked to be a list or an object."""
        response = self._last
        try:
            body = json.loads(response.content) if response is not None else None
        except ValueError as exc:
            raise MalformedResponse(_not_json(exc, response)) from None
        if not isinstance(body, kind):
            raise MalformedResponse(f"expected {'a list' if kind is list else 'an object'}, got {json_kind(body)}")
        return body

    def _call(self, instance: Instance, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One retry policy: wait out 429s within a budget, back off on 5xx and network errors."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        failures = 0
        while True:
            self._last = None
            try:
                return method(*args, **kwargs)
            except MastodonRatelimitError as exc:
                if str(exc) != "Hit rate limit.":  # Mastodon.py could not read the reset header of an answer
                    raise MalformedResponse(f"unreadable rate-limit headers ({str(exc)[:120]})") from None
                self._wait_for_reset(instance)
            except MastodonNetworkError as exc:
                reason = network_reason(exc)
                if any(isinstance(e, DeadlineExceeded) for e in _chain(exc)):
                    raise InstanceFailed(
                        f"{instance.host} answered too slowly ({reason}); stopped reading it for this run "
                        "with cursors intact, the next run resumes"
                    ) from None
                failures = self._backoff(instance, failures, reason or _first_line(exc))
            except MastodonServerError as exc:
                failures = self._backoff(instance, failures, f"HTTP {_status(exc)}")
            except MastodonUnauthorizedError as exc:
                raise Unauthorized(self._unauthorized(instance, exc)) from None
            except MastodonNotFoundError as exc:
                raise Refused(404, f"{instance.host} answered 404 ({_api_message(exc)})") from None
            except MastodonAPIError as exc:
                status = _status(exc)
                if status is None or (self._last is not None and self._last.status_code == 200):
                    raise MalformedResponse(_not_json(None, self._last)) from None
                if status == 403 and not instance.token:
                    raise Refused(
                        403,
                        f"{instance.host} answered 403 ({_api_message(exc)}); it may need a token: "
                        f"set {token_variable(instance.host)}",
                    ) from None
                raise Refused(status, f"{instance.host} answered HTTP {status} ({_api_message(exc)})") from None
            except MastodonError as exc:  # version or argument errors from the library itself
                raise Refused(None, f"Mastodon.py refused the request ({_first_line(exc)[:160]})") from None

    def _backoff(self, instance: Instance, failures: int, reason: str) -> int:
        failures += 1
        if failures > SERVER_RETRIES:
            raise InstanceFailed(
                f"{instance.host} kept failing ({reason}) after {SERVER_RETRIES} retries; stopped reading it "
                "for this run with cursors intact, the next run resumes"
            )
        time.sleep(min(BACKOFF_CAP_SECONDS, 2.0**failures))
        return failures

    def _wait_for_reset(self, instance: Instance) -> None:
        reset = self._client(instance).ratelimit_reset  # Mastodon.py read X-RateLimit-Reset (ISO time)
        wait = max(1.0, reset - time.time() + 1) if isinstance(reset, (int, float)) else DEFAULT_RATE_LIMIT_WAIT
        budget = self.config.max_rate_limit_wait_seconds - self._run.rate_limit_waited
        if wait > budget:
            when = datetime.fromtimestamp(reset, UTC).strftime("%H:%M UTC") if isinstance(reset, float | int) else "?"
            raise InstanceFailed(
                f"{instance.host} rate limit reached; it resets at {when}, {wait:.0f}s away, beyond "
                f"max_rate_limit_wait_seconds ({self.config.max_rate_limit_wait_seconds}); stopped reading it "
                "for this run with cursors intact, the next run resumes"
            )
        log.warning("mastodon: %s rate limited, waiting %.0fs for the reset", instance.host, wait)
        self._run.rate_limit_waited += wait
        time.sleep(wait)

    @staticmethod
    def _unauthorized(instance: Instance, exc: MastodonAPIError) -> str:
        if instance.token:
            return (
                f"{instance.host} answered 401 ({_api_message(exc)}): the token in {instance.variable} was "
                "rejected; create a new one (Preferences > Development > New application, scope read) "
                "and set it again"
            )
        return (
            f"{instance.host} answered 401 ({_api_message(exc)}): it needs an access token; create one "
            f"there (Preferences > Development > New application, scope read) and set {token_variable(instance.host)}"
        )


# -- defaults ---------------------------------------------------------------------


def default_hashtags(org: Organization) -> list[str]:
    """The topics' hashtags (connectors.queries), plus each one-word brand or competitor term as a tag."""
    tags = topic_hashtags(org)
    for terms in _term_lists(org):
        tags += [t.lower() for t in split_terms(terms)[0] if _TAG.fullmatch(t.rstrip("*"))]
    return list(dict.fromkeys(t.rstrip("*") for t in tags if t.rstrip("*")))


def default_queries(org: Organization) -> list[str]:
    """search_v2 has no OR: one query per term of a term list, plus the topics' translated queries."""
    queries: list[str] = []
    for terms in _term_lists(org):
        queries += [f'"{t}"' if " " in t else t for t in (p.rstrip("*") for p in split_terms(terms)[0]) if t]
    queries += platform_queries(org, "mastodon")
    return list(dict.fromkeys(q for q in queries if q))


def _term_lists(org: Organization) -> list[list[str]]:
    lists = [] if org.query is not None else [org.brand_terms]
    return lists + [c.terms for c in org.competitors if c.query is None]


# -- checking and paging helpers -----------------------------------------------------


def _notification_statuses(items: list[Any]) -> tuple[list[Any], list[str]]:
    statuses, problems = [], []
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and item.get("type") == "mention" and isinstance(item.get("status"), Mapping):
            statuses.append(item["status"])
        elif not (isinstance(item, Mapping) and item.get("type") not in (None, "mention")):
            problems.append(f"notification {index} skipped ({json_kind(item)} without a status)")
    return statuses, problems


def _link_id(page: Any, rel: str, name: str) -> str | None:
    """The id Mastodon's `Link` header gives for the next (`max_id`) or previous (`min_id`) page."""
    info = getattr(page, f"_pagination_{rel}", None)
    return _text(info.get(name)) if isinstance(info, Mapping) else None


def _first_id(items: list[Any]) -> str | None:
    return next((i for i in (_text(x.get("id")) for x in items if isinstance(x, Mapping)) if i), None)


def _last_id(items: list[Any]) -> str | None:
    return _first_id(list(reversed(items)))


def _sort_key(value: str) -> tuple[int, str]:
    return (len(value), value) if value.isdigit() else (0, value)


def _max_id(items: list[Any]) -> str | None:
    ids = [i for i in (_text(x.get("id")) for x in items if isinstance(x, Mapping)) if i]
    return max(ids, key=_sort_key) if ids else None


def _min_id(items: list[Any]) -> str | None:
    ids = [i for i in (_text(x.get("id")) for x in items if isinstance(x, Mapping)) if i]
    return min(ids, key=_sort_key) if ids else None


def _older_than(items: list[Any], cutoff: datetime | None) -> bool:
    if cutoff is None:
        return False
    times = [_time(x.get("created_at")) for x in items if isinstance(x, Mapping)]
    return any(t != UNKNOWN_TIME and t < cutoff for t in times)


def _malformed_page(stream: str, reason: str) -> RawPage:
    return RawPage(
        stream=stream,
        error=f"{stream}: Mastodon answered with a malformed response ({reason}); "
        "the stream's cursor is unchanged, the next run asks again",
    )


def _not_json(exc: ValueError | None, response: requests.Response | None) -> str:
    if response is None:
        return "no body"
    start = " ".join(response.content[:60].decode("utf-8", "replace").split())
    what = f"the body is not JSON ({getattr(exc, 'msg', exc)})" if exc else "the body is not JSON"
    return f"{what}; it starts {start!r}" if start else "the body is empty"


def _status(exc: MastodonError) -> int | None:
    status = exc.args[1] if len(exc.args) > 1 else None
    return status if isinstance(status, int) else None


def _api_message(exc: MastodonError) -> str:
    """The server's `error` text (untrusted: control characters removed, cut short)."""
    message = exc.args[3] if len(exc.args) > 3 and isinstance(exc.args[3], str) else None
    status = _status(exc)
    return _CONTROL.sub(" ", message)[:200] if message else f"HTTP {status}" if status else "no message"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    item: BaseException | None = exc
    while item is not None and id(item) not in seen:
        seen.add(id(item))
        yield item
        item = item.__cause__ or item.__context__


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:160]


# -- pure mapping ---------------------------------------------------------------------


def map_payload(payload: Any, host: str, threads: Mapping[str, Any] | None = None) -> tuple[list[Mention], list[str]]:
    """A page ({"statuses": [...], "ancestors": [...]}) -> mentions; odd statuses skipped with a reason."""
    if not isinstance(payload, Mapping):
        return [], [f"page skipped ({json_kind(payload)}, not an object)"]
    threads = threads if isinstance(threads, Mapping) else {}
    mentions: dict[str, Mention] = {}
    problems: list[str] = []
    items = [*as_list(payload.get("statuses")), *as_list(payload.get("ancestors"))]
    for index, status in enumerate(items):
        if not isinstance(status, Mapping):
            problems.append(f"item {index} skipped ({json_kind(status)}, not a status)")
            continue
        try:
            for mention in map_status(status, host, threads):
                mentions.setdefault(mention.id, mention)
        except Exception as exc:  # one odd status must not lose the page
            ident = _text(status.get("uri")) or _text(status.get("id")) or "no id"
            problems.append(f"status {ident[:80]} skipped ({type(exc).__name__}: {str(exc)[:120]})")
    return list(mentions.values()), problems


def map_status(status: Mapping[str, Any], host: str, threads: Mapping[str, Any]) -> list[Mention]:
    """A status -> its mention, plus the reblogged or quoted status it carries (stored in its own right)."""
    uri = _uri(status)
    if uri is None:
        raise ValueError("no uri")
    if _text(status.get("visibility")) not in PUBLIC and status.get("visibility") is not None:
        return []  # private and direct statuses are correspondence, not public conversation
    reblog = as_mapping(status.get("reblog"))
    if reblog:
        original = map_status(reblog, host, threads)
        if not original:
            return []
        target = original[0]
        repost = Mention(
            source="mastodon",
            id=uri,
            created_at=_time(status.get("created_at")),
            author=map_account(as_mapping(status.get("account")), host),
            title=target.title,
            text=target.text,
            url=_text(status.get("url")) or target.url,
            lang=target.lang,
            thread_id=uri,  # a reblog starts no conversation of its own: it is its own thread, as on X
            repost_of=target.id,
            referenced_authors={target.id: target.author.id} if target.author.id else {},
            raw=dict(status),
        )
        return [repost, *original]
    quoted = as_mapping(as_mapping(status.get("quote")).get("quoted_status"))
    quoted_mentions = map_status(quoted, host, threads) if quoted and _uri(quoted) else []
    quote_of = quoted_mentions[0].id if quoted_mentions else None
    text = html_to_text(_text(status.get("content")) or "") or _media_text(status)
    title = _text(status.get("spoiler_text"))
    if not text and not title:
        raise ValueError("neither content nor a content warning")
    parent, root = _thread(status, uri, threads)
    author = map_account(as_mapping(status.get("account")), host)
    refs = {quote_of: quoted_mentions[0].author.id} if quote_of and quoted_mentions[0].author.id else {}
    lang = _text(status.get("language"))
    mention = Mention(
        source="mastodon",
        id=uri,
        created_at=_time(status.get("created_at")),
        author=author,
        title=title,
        text=text or None,
        url=_text(status.get("url")) or uri,
        lang=lang.lower() if lang and lang != "und" else None,
        thread_id=root,
        parent_id=parent,
        in_reply_to_author=_reply_author(status),
        metrics=Metrics(
            likes=_count(status.get("favourites_count")),
            reposts=_count(status.get("reblogs_count")),
            replies=_count(status.get("replies_count")),
            quotes=_count(status.get("quotes_count")),
        ),
        mentions=_mentions(status, host),
        quote_of=quote_of,
        referenced_authors=refs,
        raw=dict(status),
    )
    return [mention, *quoted_mentions]


def map_account(account: Mapping[str, Any], host: str) -> AuthorRef:
    """An account: handle `user@host` (lower case, the instance's host added to a local acct), id its url/uri."""
    handle = _handle(_text(account.get("acct")) or _text(account.get("username")), host)
    ident = _text(account.get("url")) or _text(account.get("uri"))
    if not handle and not ident:
        raise ValueError("a status without an account")
    return AuthorRef(
        id=ident,
        handle=handle,
        name=_text(account.get("display_name")) or None,
        followers=_count(account.get("followers_count")),
        following=_count(account.get("following_count")),
        url=_text(account.get("url")),
    )


def html_to_text(html: str) -> str:
    """Mastodon's status HTML as text: paragraphs and <br> kept as line breaks, links' hidden parts dropped."""
    if "<" not in html:
        return html.strip()
    soup = BeautifulSoup(html, "html.parser")
    for hidden in soup.select("span.invisible"):
        hidden.decompose()
    for cut in soup.select("span.ellipsis"):
        cut.append("…")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for para in soup.find_all("p"):
        para.append("\n\n")
    text = soup.get_text()
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _thread(status: Mapping[str, Any], uri: str, threads: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if not _text(status.get("in_reply_to_id")):
        return None, uri  # not a reply: the root of its own thread
    known = threads.get(uri)
    if isinstance(known, (list, tuple)) and len(known) == 2:
        return _text(known[0]), _text(known[1])
    return None, None


def _reply_author(status: Mapping[str, Any]) -> str | None:
    """The replied-to account's stable id, when it is among the status's mentions (it usually is)."""
    local = _text(status.get("in_reply_to_account_id"))
    if not local:
        return None
    account = as_mapping(status.get("account"))
    if _text(account.get("id")) == local:
        return _text(account.get("url")) or _text(account.get("uri"))  # a self-reply: a thread
    for item in as_list(status.get("mentions")):
        if isinstance(item, Mapping) and _text(item.get("id")) == local:
            return _text(item.get("url"))
    return None


def _mentions(status: Mapping[str, Any], host: str) -> tuple[MentionRef, ...]:
    refs: dict[str, MentionRef] = {}
    for item in as_list(status.get("mentions")):
        if not isinstance(item, Mapping):
            continue
        handle = _handle(_text(item.get("acct")) or _text(item.get("username")), host)
        if handle:
            refs.setdefault(handle, MentionRef(handle=handle, id=_text(item.get("url"))))
    return tuple(refs.values())


def _media_text(status: Mapping[str, Any]) -> str:
    """A media-only status reads as its media descriptions (alt texts), when it has any."""
    parts = [
        d
        for m in as_list(status.get("media_attachments"))
        if isinstance(m, Mapping) and (d := _text(m.get("description")))
    ]
    return "\n".join(parts)


def _handle(acct: str | None, host: str) -> str | None:
    if not acct:
        return None
    acct = acct.strip().lstrip("@").lower()
    if not acct:
        return None
    return acct if "@" in acct or not host else f"{acct}@{host.lower()}"


def _uri(status: Mapping[str, Any]) -> str | None:
    uri = _text(status.get("uri"))
    return uri if uri and uri.startswith(("https://", "http://", "tag:")) else None


def _time(value: Any) -> datetime:
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            pass
    return UNKNOWN_TIME


def _text(value: Any) -> str | None:
    """A non-empty string, or an integer id as its digits; anything else counts as absent."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text and text.isdigit() else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None
