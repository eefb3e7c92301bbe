"""The connector protocol.

A connector does I/O only: it reads its cursors, fetches pages from the
network and yields them with the cursor values that become true once the
page is stored. A pure mapper turns one page into canonical `Mention`s. The
pipeline writes each page's records and its cursor in one transaction.
Connectors never import the store or analytics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from listener.core.models import Mention

# What a mapper gives a post whose time it cannot read: out of the accepted range on purpose, so the
# pipeline stores the post with the fetch time and a warning instead of dropping it.
UNKNOWN_TIME = datetime(1970, 1, 1, tzinfo=UTC)

# Default wall time for one source's whole fetch; `max_fetch_seconds` in [sources.*] once settings has it.
MAX_FETCH_SECONDS = 3600.0


@dataclass
class RawPage:
    """One unit of fetching: a feed document, an API response page."""

    stream: str  # what this page belongs to: a feed URL, a query, an account
    payload: Any = None  # the native payload, None when there was nothing new (304)
    cursor: dict[str, str | None] = field(default_factory=dict)  # committed with the page
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # this stream failed; the pipeline records it and goes on
    context: dict[str, Any] = field(default_factory=dict)  # what the mapper needs besides payload


@runtime_checkable
class Connector(Protocol):
    name: str

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        """Yield pages oldest-commit-first. Raise SourceError when the whole source is unusable."""
        ...

    def map_page(self, page: RawPage) -> list[Mention]:
        """Pure: the page's payload -> canonical mentions (never raises on odd items)."""
        ...

    # Optional: `usage() -> dict | None`, what the last fetch spent of a metered budget (YouTube's
    # quota units, with a `summary` sentence), stored in `runs.usage` and shown by `listener status`.


def load_json_cursor(value: str | None) -> dict[str, Any]:
    """A cursor value as a dict; anything unreadable counts as no cursor (start over, upserts dedupe)."""
    if not value:
        return {}
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


class MalformedResponse(ValueError):
    """A 200 answer that is not what the API documents (an HTML page from a proxy, a truncated or
    reshaped body): the page fails, its stream's cursor stays where it was."""


def json_kind(value: Any) -> str:
    """How a JSON value reads in a message: 'a list', 'null', 'a string'."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)


# -- reading untrusted JSON: a field of the wrong type is unknown, never an exception ----------------


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def as_count(value: Any) -> int | None:
    """A count: a non-negative integer (or a whole float or digit string); anything else is unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def fetch_limit(config: object, override: float | None) -> float:
    """The source's wall-time limit: the constructor's override, the config key once it exists, the default."""
    if override is not None:
        return override
    configured = getattr(config, "max_fetch_seconds", None)
    return float(configured) if isinstance(configured, (int, float)) and configured > 0 else MAX_FETCH_SECONDS


class FetchDeadline:
    """A source's wall-time limit, checked before each request that starts new work.

    Checked between pages, after the pipeline has stored the last one, so every
    cursor is either committed with its page or untouched; the request under
    way when the limit passes can overrun it by at most its own deadline.
    """

    def __init__(self, source: str, seconds: float) -> None:
        self.source = source
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.ends

    def page(self, left: str) -> RawPage:
        """The error page that ends the fetch; `left` says what was not fetched."""
        return RawPage(
            stream=self.source,
            error=(
                f"{self.source}: stopped at the per-source time limit (max_fetch_seconds = {self.seconds:g}s) "
                f"with {left} not fetched; what was stored keeps its cursors, the rest resumes next run"
            ),
        )
