"""Bluesky Jetstream following: own-account activity and matching posts within minutes of posting.

Jetstream (https://github.com/bluesky-social/jetstream) turns the AT Protocol firehose into JSON
over a websocket. `JetstreamFollower` subscribes to `app.bsky.feed.post` (and `app.bsky.feed.repost`
when there are own accounts), keeps what matters to the organization and drops the rest locally:

    posts by an own account                       (author DID is own)
    posts mentioning an own account               (a mention facet with an own DID)
    replies to, and quotes of, own posts          (reply parent/root or quoted URI under an own DID)
    posts whose words match a topic               (a prefilter by the topics' positive words;
                                                   the loader tags precisely)
    reposts by own accounts and of own posts      (`app.bsky.feed.repost` records)

It is a Connector of source `bluesky` (the same source as the search connector): a post's id is
its AT URI `at://<did>/app.bsky.feed.post/<rkey>`, exactly as search gives it, so the loader's
upsert merges the two paths. Jetstream carries raw records, not post views: no counts, no display
name, and a handle only through `identity` events (kept in a DID -> handle map) or for own accounts
(resolved from the configured handles); otherwise the handle stays unknown and search fills it.

Stream `jetstream`, cursor key `jetstream`, value JSON `{"time_us": N}`: the Jetstream time of the
last event read (kept or dropped) before the page was cut. Pages hold at most `batch_size` kept
events or `batch_seconds` of reading. A run resumes from the cursor minus `overlap_seconds`
(Jetstream replays from a cursor; the upsert absorbs what was stored already) and never yields
one event twice in a session. On a disconnect the pending batch is yielded first, then the
follower reconnects from that cursor with bounded backoff. `fetch` ends at `max_seconds`, on
`stop` (a threading.Event) or after `max_reconnects` failed attempts in a row (an error page).

Malformed events (not JSON, missing fields, unknown kinds) are counted and skipped; `map_page`
is pure and skips an odd event with a warning.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import connect

from connectors.base import UNKNOWN_TIME, RawPage, as_list, as_mapping, as_text, fetch_limit, load_json_cursor
from connectors.http import make_session, network_reason
from connectors.queries import searched_topics
from connectors.settings import BlueskySource
from listener.core.models import AuthorRef, Mention, MentionRef, Metrics
from listener.core.query import AtMention, Hashtag, Near, Term, positive_leaves, split_words
from listener.core.settings import Organization, Settings
from listener.core.terms import split_terms

log = logging.getLogger(__name__)

SOURCE = "bluesky"
STREAM = "jetstream"
CURSOR_KEY = "jetstream"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
MAX_HANDLES = 100_000  # identity events of the whole network arrive: keep the newest this many
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # a Jetstream event is a few KB; a record is capped far below this
RESOLVE_TIMEOUT_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 60.0
_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")


# -- the prefilter -------------------------------------------------------------------------


def _word_pattern(word: str) -> str:
    """A query word as a Python regex: `*` any run of word characters, `?` one."""
    return "".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in word)


def _words_pattern(words: Iterable[str]) -> str | None:
    parts = [_word_pattern(w) for w in words if w.strip("*?")]
    return r"(?<!\w)" + r"[^\w]+".join(parts) + r"(?!\w)" if parts else None


def topic_patterns(org: Organization) -> list[str]:
    """Regexes for what can make a post match a searched topic: every positive word, phrase, hashtag
    and @-mention of the query topics, and the includes of the term-list topics. Wider than the
    topics (case, NOT and NEAR are ignored) on purpose: the loader's matcher decides."""
    patterns: list[str | None] = []
    for _name, node in searched_topics(org):
        for leaf in positive_leaves(node):
            phrases = [*leaf.left, *leaf.right] if isinstance(leaf, Near) else [leaf] if isinstance(leaf, Term) else []
            patterns += [_words_pattern(t.words) for t in phrases]
            if isinstance(leaf, Hashtag):
                patterns.append(r"(?<!\w)#" + _word_pattern(leaf.tag) + r"(?!\w)")
            if isinstance(leaf, AtMention):
                patterns.append(r"(?<!\w)@" + re.escape(leaf.handle) + r"(?!\w)")
    term_lists = [c.terms for c in org.competitors if c.query is None] + [org.tracked_terms]
    if org.query is None:
        term_lists.append(org.brand_terms)
    for terms in term_lists:
        includes, _excludes = split_terms(list(terms))
        patterns += [_words_pattern(split_words(term)) for term in includes]
    return list(dict.fromkeys(p for p in patterns if p))


class Prefilter:
    """One compiled regex over a post's text and hashtags; matches nothing when no topic has words."""

    def __init__(self, patterns: list[str]) -> None:
        self.regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None

    def matches(self, text: str) -> bool:
        return bool(self.regex and self.regex.search(text))


# -- the mapper (pure) ---------------------------------------------------------------------


def uri_did(uri: Any) -> str | None:
    """The repository DID of an AT URI (`at://did:plc:x/app.bsky.feed.post/y` -> `did:plc:x`)."""
    if not isinstance(uri, str) or not uri.startswith("at://"):
        return None
    did = uri[5:].split("/", 1)[0]
    return did if _DID.fullmatch(did) else None


def _post_uri(value: Any) -> str | None:
    """A post's AT URI from a strong ref, or None for anything else (a list, a feed generator)."""
    uri = as_text(as_mapping(value).get("uri"))
    return uri if uri and uri_did(uri) and f"/{POST}/" in uri else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _created_at(record: Mapping[str, Any], time_us: Any) -> datetime:
    """The record's createdAt; else when Jetstream saw it; else the documented unknown time."""
    parsed = _time(record.get("createdAt"))
    if parsed is not None:
        return parsed
    if isinstance(time_us, int) and not isinstance(time_us, bool) and time_us > 0:
        return datetime.fromtimestamp(time_us / 1e6, UTC)
    return UNKNOWN_TIME


def _quoted(embed: Mapping[str, Any]) -> str | None:
    """The post an `app.bsky.embed.record` (or `recordWithMedia`) embeds."""
    kind = embed.get("$type")
    if kind == "app.bsky.embed.record":
        return _post_uri(embed.get("record"))
    if kind == "app.bsky.embed.recordWithMedia":
        return _post_uri(as_mapping(embed.get("record")).get("record"))
    return None


def _facet_text(text: str, index: Mapping[str, Any]) -> str | None:
    """The text a facet covers; its indices are UTF-8 byte offsets."""
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        return None
    return text.encode("utf-8")[start:end].decode("utf-8", errors="ignore") or None


def facet_features(record: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], str | None]]:
    """Each facet feature as (kind: mention | link | tag | other, feature, the text it covers)."""
    text = as_text(record.get("text")) or ""
    found = []
    for facet in as_list(record.get("facets")):
        covered = _facet_text(text, as_mapping(as_mapping(facet).get("index")))
        for feature in as_list(as_mapping(facet).get("features")):
            kind = as_text(as_mapping(feature).get("$type")) or ""
            short = kind.rpartition("#")[2] if kind.startswith("app.bsky.richtext.facet#") else "other"
            found.append((short, as_mapping(feature), covered))
    return found


def mentioned_dids(record: Mapping[str, Any]) -> list[str]:
    return [d for kind, f, _ in facet_features(record) if kind == "mention" and (d := as_text(f.get("did")))]


def post_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def web_url(uri: str) -> str | None:
    did, _, rest = uri.removeprefix("at://").partition("/")
    collection, _, rkey = rest.partition("/")
    return f"https://bsky.app/profile/{did}/post/{rkey}" if collection == POST and rkey else None


def _author(did: str, handles: Mapping[str, str]) -> AuthorRef:
    return AuthorRef(id=did, handle=handles.get(did), url=f"https://bsky.app/profile/{handles.get(did) or did}")


def map_post(event: Mapping[str, Any], handles: Mapping[str, str]) -> Mention:
    """A Jetstream commit of an `app.bsky.feed.post` record -> a Mention (ValueError if it is not one)."""
    did, commit = as_text(event.get("did")), as_mapping(event.get("commit"))
    rkey, record = as_text(commit.get("rkey")), as_mapping(commit.get("record"))
    if not did or not rkey or not record:
        raise ValueError("a post commit without did, rkey or record")
    uri = post_uri(did, POST, rkey)
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError(f"{uri}: text is not a string")
    reply = as_mapping(record.get("reply"))
    parent, root = _post_uri(reply.get("parent")), _post_uri(reply.get("root"))
    quoted = _quoted(as_mapping(record.get("embed")))
    langs = [lang for lang in as_list(record.get("langs")) if isinstance(lang, str) and lang]
    refs = {ref: ref_did for ref in (parent, root, quoted) if ref and (ref_did := uri_did(ref))}
    mentions = []
    for kind, feature, covered in facet_features(record):
        mentioned = as_text(feature.get("did"))
        if kind == "mention" and mentioned:
            handle = (covered or "").strip().lstrip("@") or handles.get(mentioned) or mentioned
            mentions.append(MentionRef(handle=handle, id=mentioned))
    return Mention(
        source=SOURCE,
        id=uri,
        created_at=_created_at(record, event.get("time_us")),
        author=_author(did, handles),
        text=text or "",
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        lang=langs[0] if langs else None,
        thread_id=root or (None if parent else uri),  # a top-level post is its own thread's root
        parent_id=parent,
        in_reply_to_author=uri_did(parent),
        metrics=Metrics(),  # a raw record has no counts; search fills them
        mentions=tuple(mentions),
        quote_of=quoted,
        referenced_authors=refs,
        raw=dict(event),
    )


def map_repost(event: Mapping[str, Any], handles: Mapping[str, str]) -> Mention:
    """A Jetstream commit of an `app.bsky.feed.repost` record -> a Mention with `repost_of`."""
    did, commit = as_text(event.get("did")), as_mapping(event.get("commit"))
    rkey, record = as_text(commit.get("rkey")), as_mapping(commit.get("record"))
    subject = _post_uri(record.get("subject"))
    if not did or not rkey or not subject:
        raise ValueError("a repost commit without did, rkey or subject post")
    subject_did = uri_did(subject)
    return Mention(
        source=SOURCE,
        id=post_uri(did, REPOST, rkey),
        created_at=_created_at(record, event.get("time_us")),
        author=_author(did, handles),
        text="",
        url=web_url(subject),
        repost_of=subject,
        referenced_authors={subject: subject_did} if subject_did else {},
        raw=dict(event),
    )


def map_event(event: Mapping[str, Any], handles: Mapping[str, str]) -> Mention:
    """One kept commit event -> its Mention; ValueError for anything else."""
    collection = as_mapping(event.get("commit")).get("collection")
    if collection == POST:
        return map_post(event, handles)
    if collection == REPOST:
        return map_repost(event, handles)
    raise ValueError(f"not a post or repost commit: {str(collection)[:60]}")


# -- the follower --------------------------------------------------------------------------


@dataclass
class Counts:
    """What a fetch read, for logs and the report."""

    events: int = 0
    kept: int = 0
    dropped: int = 0  # well-formed but of no interest
    malformed: int = 0
    duplicates: int = 0  # replayed inside this session (the overlap after a reconnect)
    deletes: int = 0  # delete commits: a stored post is not removed by them
    identities: int = 0
    reconnects: int = 0
    backoffs: list[float] = field(default_factory=list)  # each wait before a reconnect, seconds
    reasons: dict[str, int] = field(default_factory=dict)  # kept events by why


class JetstreamFollower:
    """A Connector of source `bluesky` that follows Jetstream (see the module docstring)."""

    name = SOURCE

    def __init__(
        self,
        config: BlueskySource,
        organization: Organization,
        own_accounts: list[str],
        url: str | None = None,
        *,
        max_seconds: float | None = None,
        stop: threading.Event | None = None,
        batch_size: int = 200,
        batch_seconds: float = 10.0,
        overlap_seconds: float = 5.0,
        max_reconnects: int = 5,
        backoff_seconds: float = 1.0,
        open_timeout: float = 20.0,
        idle_timeout: float = 120.0,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.url = url or config.jetstream_url
        self.own_accounts = own_accounts
        self.prefilter = Prefilter(topic_patterns(organization))
        self.max_seconds = fetch_limit(config, max_seconds)
        self.stop = stop or threading.Event()
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.overlap_us = int(overlap_seconds * 1_000_000)
        self.max_reconnects = max_reconnects
        self.backoff_seconds = backoff_seconds
        self.open_timeout = open_timeout
        self.idle_timeout = idle_timeout  # Jetstream sends many events a second: silence this long is a dead link
        self.session = session
        self.own_dids: set[str] = set()
        self.handles: OrderedDict[str, str] = OrderedDict()  # DID -> handle, from identity events
        self.counts = Counts()
        self._recent: OrderedDict[tuple[Any, ...], int] = OrderedDict()  # event key -> time_us, the overlap window

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, **options: Any) -> JetstreamFollower:
        config = settings.sources.section(SOURCE, BlueskySource)
        own = settings.organization.own_accounts.for_source(SOURCE)
        return cls(config, settings.organization, own, url, **options)

    # -- own accounts ------------------------------------------------------------------------
    def _resolve_own(self) -> Iterator[RawPage]:
        """Own handles -> DIDs (a DID given as is stays); a handle that cannot be resolved is an error page."""
        for account in self.own_accounts:
            if _DID.fullmatch(account):
                self.own_dids.add(account)
                continue
            try:
                did = self._resolve_handle(account)
            except (requests.RequestException, ValueError) as exc:
                reason = network_reason(exc) if isinstance(exc, requests.RequestException) else None
                yield RawPage(
                    stream=f"handle:{account}",
                    error=f"bluesky: own account {account!r} could not be resolved to a DID ({reason or exc}); "
                    "its posts are not followed this run (check own_accounts.bluesky, or give its DID)",
                )
                continue
            self.own_dids.add(did)
            self._remember(did, account)

    def _resolve_handle(self, handle: str) -> str:
        if self.session is None:
            self.session = make_session("listener-jetstream/0.1", 2, 0.5, timeout=RESOLVE_TIMEOUT_SECONDS)
        url = f"{self.config.service_url}/xrpc/com.atproto.identity.resolveHandle"
        response = self.session.get(url, params={"handle": handle}, timeout=RESOLVE_TIMEOUT_SECONDS)
        if response.status_code == 400:
            raise ValueError(f"{self.config.service_url} knows no handle {handle!r}")
        if response.status_code != 200:
            raise ValueError(f"resolveHandle answered HTTP {response.status_code}")
        try:
            did = response.json().get("did")
        except (ValueError, AttributeError):
            did = None
        if not isinstance(did, str) or not _DID.fullmatch(did):
            raise ValueError("resolveHandle answered without a DID")
        return did

    def _remember(self, did: str, handle: str) -> None:
        self.handles[did] = handle
        self.handles.move_to_end(did)
        while len(self.handles) > MAX_HANDLES:
            oldest = next(iter(self.handles))
            if oldest in self.own_dids:  # own accounts' handles stay
                self.handles.move_to_end(oldest)
                continue
            self.handles.popitem(last=False)

    # -- fetching ----------------------------------------------------------------------------
    def subscribe_url(self, cursor_us: int | None) -> str:
        wanted = [POST, REPOST] if self.own_dids else [POST]
        params: list[tuple[str, str]] = [("wantedCollections", c) for c in wanted]
        if cursor_us is not None:
            params.append(("cursor", str(max(0, cursor_us - self.overlap_us))))
        joiner = "&" if urlsplit(self.url).query else "?"
        return f"{self.url}{joiner}{urlencode(params)}"

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        committed = _cursor_us(cursors.get(CURSOR_KEY))
        yield from self._resolve_own()
        ends = time.monotonic() + self.max_seconds
        failures = 0
        while not self._done(ends):
            try:
                with connect(
                    self.subscribe_url(committed),
                    open_timeout=self.open_timeout,
                    close_timeout=2,
                    max_size=MAX_MESSAGE_BYTES,
                    compression=None,
                ) as socket:
                    for page in self._read(socket, committed, ends):
                        failures = 0  # the link works again
                        committed = _cursor_us(page.cursor.get(CURSOR_KEY)) or committed
                        yield page
                return  # stopped or out of time, with the last batch yielded
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status < 500 and status != 429:  # a wrong URL or a refused request: retrying will not help
                    yield self._error(f"Jetstream refused the subscription with HTTP {status} (check jetstream_url)")
                    return
                reason = f"HTTP {status}"
            except InvalidURI as exc:
                yield self._error(f"jetstream_url is not a websocket URL ({exc})")
                return
            except _Interrupted as cut:
                if cut.page is not None:
                    committed = _cursor_us(cut.page.cursor.get(CURSOR_KEY)) or committed
                    yield cut.page
                reason = cut.reason
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'closed'}"
            failures += 1
            self.counts.reconnects += 1
            if failures > self.max_reconnects:
                yield self._error(
                    f"Jetstream unreachable after {self.max_reconnects} reconnects ({reason}); "
                    "what was stored keeps its cursor, the next run resumes there"
                )
                return
            wait = min(BACKOFF_CAP_SECONDS, self.backoff_seconds * 2 ** (failures - 1))
            log.warning("bluesky: Jetstream connection lost (%s); reconnecting in %.0fs", reason, wait)
            self.counts.backoffs.append(wait)
            self._sleep(wait)
        log.info("bluesky: Jetstream follow ended: %s", vars(self.counts))

    def _read(self, socket: Any, committed: int | None, ends: float) -> Iterator[RawPage]:
        """Read events into batches until stopped or out of time; a lost link raises _Interrupted
        carrying the batch read so far, so nothing read is lost or skipped."""
        batch: list[dict[str, Any]] = []
        malformed_before = self.counts.malformed
        last_us = committed
        flush_at = time.monotonic() + self.batch_seconds
        idle_since = time.monotonic()
        while True:
            if self._done(ends):
                if batch or last_us != committed:
                    yield self._page(batch, last_us, malformed_before)
                return
            wait = max(0.05, min(flush_at, ends) - time.monotonic())
            try:
                message = socket.recv(timeout=min(wait, 1.0))
            except TimeoutError:
                message = None
                if time.monotonic() - idle_since > self.idle_timeout:
                    raise _Interrupted(
                        f"no event for {self.idle_timeout:g}s", self._cut(batch, last_us, committed, malformed_before)
                    ) from None
            except ConnectionClosed as exc:
                raise _Interrupted(
                    f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})",
                    self._cut(batch, last_us, committed, malformed_before),
                ) from None
            if message is not None:
                idle_since = time.monotonic()
                event, event_us = self._accept(message)
                if event_us is not None:
                    last_us = event_us if last_us is None else max(last_us, event_us)
                if event is not None:
                    batch.append(event)
            if len(batch) >= self.batch_size or time.monotonic() >= flush_at:
                if batch or last_us != committed:
                    yield self._page(batch, last_us, malformed_before)
                    committed, batch, malformed_before = last_us, [], self.counts.malformed
                flush_at = time.monotonic() + self.batch_seconds

    def _cut(
        self, batch: list[dict[str, Any]], last_us: int | None, committed: int | None, malformed_before: int
    ) -> RawPage | None:
        return self._page(batch, last_us, malformed_before) if batch or last_us != committed else None

    def _page(self, events: list[dict[str, Any]], last_us: int | None, malformed_before: int) -> RawPage:
        dids = {e["did"] for e in events}
        skipped = self.counts.malformed - malformed_before
        return RawPage(
            stream=STREAM,
            payload=events,
            cursor={CURSOR_KEY: json.dumps({"time_us": last_us})} if last_us is not None else {},
            warnings=[f"{STREAM}: skipped {skipped} malformed events"] if skipped else [],
            context={"handles": {d: self.handles[d] for d in dids if d in self.handles}},
        )

    def _error(self, message: str) -> RawPage:
        return RawPage(stream=STREAM, error=f"bluesky: {message}")

    def _done(self, ends: float) -> bool:
        return self.stop.is_set() or time.monotonic() >= ends

    def _sleep(self, seconds: float) -> None:
        """Sleep in short steps so a stop request is seen within half a second."""
        steps = max(1, int(seconds / 0.5))
        for _ in range(steps):
            if self.stop.is_set():
                return
            time.sleep(seconds / steps)

    # -- one event ---------------------------------------------------------------------------
    def _accept(self, message: str | bytes) -> tuple[dict[str, Any] | None, int | None]:
        """(the event if it is kept, its time_us if it has a usable one)."""
        self.counts.events += 1
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            self.counts.malformed += 1
            return None, None
        time_us = event.get("time_us") if isinstance(event, dict) else None
        if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us <= 0:
            self.counts.malformed += 1
            return None, None
        did, kind = event.get("did"), event.get("kind")
        if not isinstance(did, str) or not _DID.fullmatch(did) or kind not in ("commit", "identity", "account"):
            self.counts.malformed += 1
            return None, time_us
        if self._seen(event, time_us):
            self.counts.duplicates += 1
            return None, time_us
        if kind == "identity":
            self.counts.identities += 1
            handle = as_text(as_mapping(event.get("identity")).get("handle"))
            if handle:
                self._remember(did, handle.lower())
            return None, time_us
        if kind == "account":
            return None, time_us
        why = self._relevance(event)
        if why is None:
            return None, time_us
        self.counts.kept += 1
        self.counts.reasons[why] = self.counts.reasons.get(why, 0) + 1
        return event, time_us

    def _seen(self, event: Mapping[str, Any], time_us: int) -> bool:
        """True for an event already read in this session (replayed after a reconnect's rewind)."""
        commit = as_mapping(event.get("commit"))
        key = (time_us, event.get("did"), event.get("kind"), commit.get("collection"), commit.get("rkey"))
        if key in self._recent:
            return True
        self._recent[key] = time_us
        horizon = time_us - 2 * self.overlap_us - 60_000_000  # older than any rewind can reach again
        while self._recent and next(iter(self._recent.values())) < horizon:
            self._recent.popitem(last=False)
        return False

    def _relevance(self, event: Mapping[str, Any]) -> str | None:
        """Why a commit matters (own, mention, reply, quote, repost, topic) or None (counted)."""
        commit = as_mapping(event.get("commit"))
        operation, collection = commit.get("operation"), commit.get("collection")
        if operation == "delete":
            self.counts.deletes += 1
            return None
        record = commit.get("record")
        if operation not in ("create", "update") or not isinstance(record, Mapping) or not as_text(commit.get("rkey")):
            self.counts.malformed += 1
            return None
        did = str(event["did"])
        if collection == REPOST:
            subject = _post_uri(record.get("subject"))
            if subject is None:
                self.counts.malformed += 1
                return None
            if did in self.own_dids or uri_did(subject) in self.own_dids:
                return "repost"
            self.counts.dropped += 1
            return None
        if collection != POST or not isinstance(record.get("text", ""), str):
            self.counts.malformed += 1
            return None
        why = self._post_relevance(did, record)
        if why is None:
            self.counts.dropped += 1
        return why

    def _post_relevance(self, did: str, record: Mapping[str, Any]) -> str | None:
        own = self.own_dids
        if did in own:
            return "own"
        if own and any(d in own for d in mentioned_dids(record)):
            return "mention"
        reply = as_mapping(record.get("reply"))
        if own and any(uri_did(_post_uri(reply.get(k))) in own for k in ("parent", "root")):
            return "reply"
        if own and uri_did(_quoted(as_mapping(record.get("embed")))) in own:
            return "quote"
        tags = " ".join(f"#{f.get('tag')}" for kind, f, _ in facet_features(record) if kind == "tag")
        if self.prefilter.matches(f"{record.get('text') or ''}\n{tags}"):
            return "topic"
        return None

    # -- mapping -----------------------------------------------------------------------------
    def map_page(self, page: RawPage) -> list[Mention]:
        handles = as_mapping(page.context.get("handles"))
        mentions = []
        for event in as_list(page.payload):
            try:
                mentions.append(map_event(as_mapping(event), handles))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                page.warnings.append(f"{page.stream}: event skipped: {str(exc)[:200]}")
        return mentions


class _Interrupted(Exception):
    """The link went down while reading; carries the batch read so far."""

    def __init__(self, reason: str, page: RawPage | None) -> None:
        super().__init__(reason)
        self.reason, self.page = reason, page


def _cursor_us(value: str | None) -> int | None:
    """The `time_us` of a stored cursor; anything unreadable counts as none (start live)."""
    time_us = load_json_cursor(value).get("time_us")
    return time_us if isinstance(time_us, int) and not isinstance(time_us, bool) and time_us > 0 else None
