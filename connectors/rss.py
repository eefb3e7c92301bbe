"""RSS/Atom feeds through feedparser, fetched with conditional GET.

Fetching (requests, ETag/Last-Modified kept in cursors) is separate from the
pure mapper `map_feed`. Ill-formed feeds that feedparser can partly read are
kept with a warning; nothing in a feed can crash the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parseaddr
from time import struct_time
from typing import Any
from urllib.parse import urlparse

import feedparser
import requests
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

from connectors.base import (
    FetchDeadline,
    RawPage,
    fetch_limit,
    json_kind,
    load_json_cursor,
)
from connectors.http import describe_http_error, make_session
from connectors.settings import Feed, RssSource
from listener.core.models import AuthorRef, Mention
from listener.core.settings import Settings

log = logging.getLogger(__name__)
_GLOBAL_ID_PREFIXES = ("http://", "https://", "urn:", "tag:")
_PASSED_HEADERS = ("content-type", "content-location", "content-language", "etag", "last-modified")


class RssConnector:
    name = "rss"

    def __init__(self, config: RssSource, max_fetch_seconds: float | None = None) -> None:
        self.config = config
        # The adapter reads each body within its deadline (4 x timeout_seconds) and refuses one
        # larger than max_feed_bytes before it is all in memory.
        self.session = make_session(
            config.user_agent,
            config.retries,
            config.backoff_seconds,
            timeout=config.timeout_seconds,
            max_body_bytes=config.max_feed_bytes,
            limit_name="max_feed_bytes",
        )
        self.max_fetch_seconds = fetch_limit(config, max_fetch_seconds)

    @classmethod
    def from_settings(cls, settings: Settings) -> RssConnector:
        return cls(settings.sources.section(cls.name, RssSource))

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        deadline = FetchDeadline(self.name, self.max_fetch_seconds)
        feeds = self.config.feeds
        for index, feed in enumerate(feeds):
            if deadline.passed():
                yield deadline.page(f"{len(feeds) - index} of {len(feeds)} feeds")
                return
            yield self._fetch_feed(feed, _load_cursor(cursors.get(feed.url)))

    def map_page(self, page: RawPage) -> list[Mention]:
        if page.payload is None:
            return []
        mentions, problems = map_feed(page.payload, page.stream, page.context.get("name"), page.context["fetched_at"])
        page.warnings.extend(problems)
        return mentions

    def _fetch_feed(self, feed: Feed, cursor: dict[str, str]) -> RawPage:
        page = RawPage(stream=feed.url, cursor={feed.url: json.dumps(cursor) if cursor else None})
        page.context = {"name": feed.name, "fetched_at": datetime.now(UTC)}
        try:
            status, headers, body = self._get(feed.url, cursor)
        except (requests.RequestException, ValueError) as exc:
            page.error = describe_http_error(feed.url, exc)
            return page
        if status == 304:
            return page
        if status >= 400:
            page.error = f"{feed.url}: HTTP {status}" + (
                " (feed not found; check the URL)" if status in (404, 410) else ""
            )
            return page
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=True)
        if not parsed.entries and (parsed.bozo or not parsed.feed):
            reason = _bozo_reason(parsed) or "no entries and no feed metadata"
            page.error = f"{feed.url}: not a readable RSS/Atom feed ({reason})"
            return page
        if parsed.bozo:
            page.warnings.append(
                f"{feed.url}: ill-formed feed ({_bozo_reason(parsed)}); {len(parsed.entries)} entries kept"
            )
        page.payload = parsed
        page.cursor = {feed.url: _dump_cursor(headers) or "{}"}  # also marks the last good fetch
        return page

    def _get(self, url: str, cursor: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("modified"):
            headers["If-Modified-Since"] = cursor["modified"]
        timeout = self.config.timeout_seconds
        with self.session.get(url, headers=headers, timeout=(timeout, timeout)) as resp:
            body = resp.content if resp.status_code == 200 else b""
            kept = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _PASSED_HEADERS}
            kept.setdefault("content-location", resp.url)
            return resp.status_code, kept, body


def _load_cursor(value: str | None) -> dict[str, str]:
    return {k: v for k, v in load_json_cursor(value).items() if isinstance(v, str)}


def _dump_cursor(headers: Mapping[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    cursor = {"etag": lowered.get("etag"), "modified": lowered.get("last-modified")}
    cursor = {k: v for k, v in cursor.items() if v}
    return json.dumps(cursor, sort_keys=True) if cursor else None


def _bozo_reason(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {str(exc)[:160]}" if exc else ""


# -- pure mapping -----------------------------------------------------------


def map_feed(
    parsed: Any, feed_url: str, feed_name: str | None, fetched_at: datetime
) -> tuple[list[Mention], list[str]]:
    """A parsed feed -> mentions. Odd entries are skipped with a reason, never raised."""
    if not isinstance(parsed, Mapping):
        return [], [f"{feed_url}: feed skipped (parsed into {json_kind(parsed)}, not a feed)"]
    feed: Mapping[str, Any] = parsed["feed"] if isinstance(parsed.get("feed"), Mapping) else {}
    entries: list[Any] = parsed["entries"] if isinstance(parsed.get("entries"), list) else []
    community = feed_name or _text(feed.get("title")) or feed_url
    mentions: list[Mention] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            problems.append(f"{feed_url}: entry {index} skipped ({json_kind(entry)}, not an entry)")
            continue
        try:
            mention = map_entry(entry, feed, feed_url, community, fetched_at)
        except Exception as exc:  # one odd entry must not lose the rest of the feed
            problems.append(f"{feed_url}: entry {index} skipped ({type(exc).__name__}: {exc})")
            continue
        if mention is not None:
            mentions.append(mention)
    return mentions, problems


def map_entry(entry: Any, feed: Any, feed_url: str, community: str, fetched_at: datetime) -> Mention | None:
    title = _text(entry.get("title"), entry.get("title_detail"))
    text = _entry_body(entry)
    if not title and not text:
        return None
    return Mention(
        source="rss",
        id=entry_native_id(entry, feed_url, title),
        created_at=_entry_date(entry, feed) or fetched_at,
        author=_entry_author(entry, feed, feed_url),
        title=title or None,
        text=text or None,
        url=_http_url(entry.get("link")),
        lang=_lang(_entry_language(entry) or feed.get("language")),
        community=community,
        raw=_raw(entry),
    )


def entry_native_id(entry: Any, feed_url: str, title: str | None) -> str:
    """guid/id, else link, else a hash of title and date; ids that are not global get the feed's scope."""
    ident = str(entry.get("id") or entry.get("guid") or entry.get("link") or "").strip()
    if ident.lower().startswith(_GLOBAL_ID_PREFIXES):
        return ident
    if not ident:
        date = entry.get("published") or entry.get("updated") or entry.get("created") or ""
        ident = f"{title or ''}\n{date}"
    digest = hashlib.sha256(f"{feed_url}\n{ident}".encode("utf-8", "surrogatepass")).hexdigest()
    return "h:" + digest[:32]


def html_to_text(markup: str) -> str:
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())


def _text(value: Any, detail: Any = None) -> str:
    if not isinstance(value, str):
        return ""
    kind = (detail or {}).get("type", "") if isinstance(detail, Mapping) else ""
    return html_to_text(value) if ("html" in kind or "<" in value) else " ".join(value.split())


def _entry_body(entry: Any) -> str:
    for block in _blocks(entry):
        if isinstance(block, Mapping) and block.get("value"):
            return _text(block["value"], block)
    return _text(entry.get("summary"), entry.get("summary_detail"))


def _entry_language(entry: Any) -> str | None:
    """Atom's xml:lang lands on the text constructs, not on the entry."""
    details = [entry.get("title_detail"), entry.get("summary_detail"), *_blocks(entry)]
    for detail in [entry, *details]:
        if isinstance(detail, Mapping) and isinstance(detail.get("language"), str) and detail["language"]:
            return detail["language"]
    return None


def _entry_date(entry: Any, feed: Any) -> datetime | None:
    """The first date that is a real calendar time; None (the fetch time) if none is.

    feedparser gives year 0 for some absurd dates ("0001-01-01T00:00:00+05:00")
    and no tuple at all for garbage; a far-off year such as 9999 is kept as it
    is, the pipeline decides what is out of range.
    """
    for source in (entry, feed):
        for key in ("published_parsed", "updated_parsed", "created_parsed"):
            value = source.get(key)
            if isinstance(value, struct_time):
                try:
                    return datetime(*value[:6], tzinfo=UTC)
                except (ValueError, OverflowError, TypeError):
                    continue
    return None


def _entry_author(entry: Any, feed: Any, feed_url: str) -> AuthorRef:
    host = urlparse(feed_url).netloc.lower() or feed_url
    detail = next(
        (d for d in (entry.get("author_detail"), feed.get("author_detail")) if isinstance(d, Mapping) and d), {}
    )
    name = _person_name(_text(entry.get("author") or detail.get("name") or feed.get("author")))
    url = _http_url(detail.get("href"))
    if not name:
        name = _text(feed.get("title")) or host
        return AuthorRef(id=host, handle=name, name=name, url=_http_url(feed.get("link")))
    return AuthorRef(id=f"{host}/{name.lower()}"[:300], handle=name[:200], name=name[:200], url=url)


def _person_name(value: str) -> str:
    """RSS <author> is often "jane@example.com (Jane Doe)": keep the name, drop the address."""
    if "@" not in value:
        return value
    name, address = parseaddr(value)
    return name.strip() or address.split("@")[0] or value


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        return value.strip()
    return None


def _lang(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().split("-")[0].split("_")[0].lower()[:8] or None


def _raw(entry: Any) -> dict[str, Any]:
    """The entry as feedparser gave it, minus parsed time tuples (their text form is kept)."""
    return {str(k): v for k, v in entry.items() if not str(k).endswith("_parsed")}


def _blocks(entry: Any) -> list[Any]:
    """Atom content blocks; anything but a list counts as none."""
    content = entry.get("content")
    return content if isinstance(content, list) else []
