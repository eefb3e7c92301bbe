"""Connectors: network I/O plus pure mappers to canonical mentions.

The registry is explicit: a connector that fails to import fails loudly here,
instead of being skipped by folder scanning.
"""
from __future__ import annotations

from collections.abc import Callable

from connectors.base import Connector, RawPage
from connectors.reddit import RedditConnector
from connectors.rss import RssConnector
from connectors.x import XConnector
from listener.core.settings import Settings

REGISTRY: dict[str, Callable[[Settings], Connector]] = {
    "rss": RssConnector.from_settings,
    "x": XConnector.from_settings,
    "reddit": RedditConnector.from_settings,
}

__all__ = ["REGISTRY", "Connector", "RawPage"]
