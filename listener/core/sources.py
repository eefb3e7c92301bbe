"""The source catalogue: what the rest of the project knows about each source, without its connector.

`connectors/registry.py` is the single source of truth: it registers one entry per source when it
is imported, and `listener/__init__.py` imports it before anything can load settings. From these
entries settings validate `[sources.<name>]` and `[organization.own_accounts]`, the loader takes
the word for a reply, and analytics and the digest take the network rule and the label, so core,
ingest, analytics and publish never import a connector, and a new connector needs only its entry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from listener.core.settings import SourceBase

# The loader's rule for the `source` field of a record: also a TOML bare key and a safe file name.
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def plain_handle(handle: str) -> str:
    """'@Acme ' -> 'acme': how the loader keys an author's handle (no '@', lowercase)."""
    return handle.strip().lstrip("@").strip().lower()


@dataclass(frozen=True, kw_only=True)
class SourceTraits:
    """One source as settings, the loader, analytics and publishing see it."""

    name: str  # the `source` column, the `[sources.<name>]` table, `--source <name>`
    label: str  # for people, e.g. in the digest: "X", "Reddit", "Blogs/news"
    settings_model: type[SourceBase]  # validates `[sources.<name>]`
    # an `[organization.own_accounts]` entry -> the handle the loader compares with authors' handles
    own_handle: Callable[[str], str] = plain_handle
    # `interactions.kind` of an answer to a post there; the store knows only these two words
    reply_kind: Literal["reply", "comment"] = "reply"
    # people answer each other there; a feed is published by its owner alone (no communities)
    has_network: bool = True


_CATALOGUE: dict[str, SourceTraits] = {}


def register_source(traits: SourceTraits) -> None:
    """Add a source (idempotent for the same entry); a second, different entry for a name is a bug."""
    if not SOURCE_NAME.fullmatch(traits.name):
        raise ValueError(
            f"source name {traits.name!r} must be a short lowercase name (a letter, then up to 31 letters, digits or _)"
        )
    if traits.name.startswith("model_") or hasattr(BaseModel, traits.name):
        raise ValueError(f"source name {traits.name!r} is taken by the settings models (pydantic)")
    if not traits.label.strip():
        raise ValueError(f"source {traits.name!r} needs a label")
    known = _CATALOGUE.get(traits.name)
    if known is not None and known != traits:
        raise ValueError(f"source {traits.name!r} is registered twice, with different entries")
    _CATALOGUE[traits.name] = traits


def unregister_source(name: str) -> None:
    """Remove a source (a plugin unloaded, a test's own source); unknown names are ignored."""
    _CATALOGUE.pop(name, None)


def registered_sources() -> tuple[SourceTraits, ...]:
    """Every source, in registration order (the order `enabled()` and listings use)."""
    return tuple(_CATALOGUE.values())


def source_names() -> tuple[str, ...]:
    return tuple(_CATALOGUE)


def traits_of(name: str) -> SourceTraits | None:
    """The entry of a source, None for a name only imports use (any short name is a valid source)."""
    return _CATALOGUE.get(name)


def source_label(name: str) -> str:
    """The label for people; an unregistered source (from an import) shows its name."""
    traits = _CATALOGUE.get(name)
    return traits.label if traits else name


def source_labels() -> dict[str, str]:
    return {name: traits.label for name, traits in _CATALOGUE.items()}


def sources_without_network() -> list[str]:
    """Sources where nobody answers anyone (feeds): no communities or conversations there."""
    return [name for name, traits in _CATALOGUE.items() if not traits.has_network]
