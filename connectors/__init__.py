"""Connectors: network I/O plus pure mappers to canonical mentions.

The registry (connectors/registry.py) is explicit: a connector that fails to
import fails loudly here, instead of being skipped by folder scanning.
"""

from __future__ import annotations

# First: importing listener.core runs listener/__init__.py, which loads connectors.registry whole
# before connectors.base below starts (else the registry would find base half-imported).
import listener.core  # noqa: F401
from connectors.base import Connector, RawPage
from connectors.registry import FOLLOWERS, REGISTRY, SOURCES, SourceSpec

__all__ = ["FOLLOWERS", "REGISTRY", "SOURCES", "Connector", "RawPage", "SourceSpec"]
