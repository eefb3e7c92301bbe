"""The record every stage shares: one mention in the canonical mention format.

Connectors map native payloads to `Mention`; `listener import` reads the same
shape from JSONL/CSV; the store derives authors, interactions and topics from
it with one SQL path, so collected and imported data are treated alike.
See docs/import-format.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REQUIRED_FIELDS = ("source", "id", "created_at", "text or title", "author.id or author.handle")
# The canonical format's fields in their documented order (docs/import-format.md): the one list
# the loader parses, the importer takes as CSV columns and the exporter writes. `author` and
# `metrics` are objects with the members below; the names match `Mention`, `AuthorRef`, `Metrics`.
CANONICAL_FIELDS = (
    "source",
    "id",
    "url",
    "created_at",
    "title",
    "text",
    "lang",
    "community",
    "thread_id",
    "parent_id",
    "in_reply_to_author",
    "author",
    "metrics",
    "mentions",
    "repost_of",
    "quote_of",
    "referenced_authors",
    "raw",
)
AUTHOR_FIELDS = ("id", "handle", "name", "followers", "following", "verified", "url")
METRIC_FIELDS = ("likes", "reposts", "replies", "quotes", "score")


@dataclass(frozen=True, slots=True)
class AuthorRef:
    id: str | None = None
    handle: str | None = None
    name: str | None = None
    followers: int | None = None
    following: int | None = None
    verified: bool | None = None
    url: str | None = None


# When a network does not say who wrote a post (X without expansions) or the
# account is gone (Reddit "[deleted]"): one documented placeholder per source,
# `<source>:unknown` / `<source>:[deleted]`, that per-author analysis skips.
UNKNOWN_AUTHOR = AuthorRef(id="unknown", handle=None, name=None)
DELETED_AUTHOR = AuthorRef(id="[deleted]", handle="[deleted]", name=None)


@dataclass(frozen=True, slots=True)
class Metrics:
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    score: int | None = None


@dataclass(frozen=True, slots=True)
class MentionRef:
    """Someone mentioned in a post: a handle, and the native id when the network gives it."""

    handle: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    source: str
    id: str
    created_at: datetime
    author: AuthorRef
    text: str | None = None
    title: str | None = None
    url: str | None = None
    lang: str | None = None
    community: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    in_reply_to_author: str | None = None  # native author id, when the network tells us
    metrics: Metrics = field(default_factory=Metrics)
    mentions: tuple[MentionRef, ...] = ()
    repost_of: str | None = None
    quote_of: str | None = None
    referenced_authors: dict[str, str] = field(default_factory=dict)  # native post id -> native author id
    raw: Any = None

    def to_canonical(self) -> dict[str, Any]:
        """The JSON object `listener export` writes and `listener import` reads."""
        doc = asdict(self)
        doc["created_at"] = iso_utc(self.created_at)
        doc["mentions"] = [{"handle": m.handle, "id": m.id} if m.id else m.handle for m in self.mentions]
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_canonical(), ensure_ascii=False, default=str)


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


# The time stamps the store accepts, for imported and collected posts alike: a post
# from before 2000 or from days ahead is a bad clock or a bad field, and one such
# row (year 9999, -infinity) breaks every weekly analysis after it. The loader's SQL
# uses these same bounds.
EARLIEST_CREATED_AT = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)

# Longer text or title is cut to this many characters when loaded (with a warning):
# one 50 MB post made the next `analyze` take minutes.
MAX_TEXT_CHARS = 100_000


def created_at_in_range(value: datetime, now: datetime | None = None) -> bool:
    """True if `value` lies in [EARLIEST_CREATED_AT, now + MAX_FUTURE]; naive times are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        return EARLIEST_CREATED_AT <= value <= now + MAX_FUTURE
    except (OverflowError, ValueError):  # an offset that pushes year 1 or 9999 past what datetime holds
        return False


def mention_text_sql(alias: str = "m") -> str:
    """SQL for what is read of a stored mention: its title and text, joined by a newline."""
    return f"concat_ws(chr(10), {alias}.title, {alias}.text)"


def text_hash_sql(alias: str = "m") -> str:
    """SQL for `mentions.text_hash`: it changes exactly when `mention_text_sql` does, so a
    sentiment score that records the hash it read tells when its text has changed since."""
    return f"md5({mention_text_sql(alias)})"
