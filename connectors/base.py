"""The connector protocol.

A connector does I/O only: it reads its cursors, fetches pages from the
network and yields them with the cursor values that become true once the
page is stored. A pure mapper turns one page into canonical `Mention`s. The
pipeline writes each page's records and its cursor in one transaction.
Connectors never import the store or analytics.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from listener.models import Mention


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


def load_json_cursor(value: str | None) -> dict[str, Any]:
    """A cursor value as a dict; anything unreadable counts as no cursor (start over, upserts dedupe)."""
    if not value:
        return {}
    try:
        loaded = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
