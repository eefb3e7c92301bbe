"""The source registry: one entry per connector, the single source of truth for source names.

Everything outside connectors/ that depends on a source reads it from here, through the core
catalogue each entry is registered into (listener.core.sources): settings validate
`[sources.<name>]` with the entry's model and own accounts with its handle rule, the loader
takes its word for a reply, analytics its network rule, the digest its label, the pipeline its
factory. Adding a connector means writing it and adding its entry to SOURCES; nothing else
names it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from threading import Event

from connectors.base import Connector
from connectors.settings import (
    BlueskySource,
    HackerNewsSource,
    MastodonSource,
    RedditSource,
    RssSource,
    XSource,
    YouTubeSource,
    reddit_user,
)
from listener.core.settings import Settings
from listener.core.sources import SourceTraits, register_source, unregister_source


@dataclass(frozen=True, kw_only=True)
class SourceSpec(SourceTraits):
    """A source's traits (what settings, the loader and analytics see) plus how to build its connector."""

    factory: Callable[[Settings], Connector]
    # a long-running follower (the scheduler's live stream) when the source's settings ask for one
    follower: Callable[[Settings, Event], Connector | None] | None = None


def built_by(module: str, cls: str) -> Callable[[Settings], Connector]:
    """`cls.from_settings`, imported on first use: a command that never collects (status, sql,
    --help) never loads tweepy, praw or feedparser."""

    def build(settings: Settings) -> Connector:
        return getattr(importlib.import_module(module), cls).from_settings(settings)

    return build


def jetstream_follower(settings: Settings, stop: Event) -> Connector | None:
    """Bluesky's Jetstream follower when `[sources.bluesky] jetstream = true`, built on first use."""
    if not getattr(settings.sources.section("bluesky", BlueskySource), "jetstream", False):
        return None
    follower: Connector = importlib.import_module("connectors.jetstream").JetstreamFollower.from_settings(
        settings, stop=stop
    )
    return follower


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        name="rss",
        label="Blogs/news",
        factory=built_by("connectors.rss", "RssConnector"),
        settings_model=RssSource,
        has_network=False,
    ),
    SourceSpec(name="x", label="X", factory=built_by("connectors.x", "XConnector"), settings_model=XSource),
    SourceSpec(
        name="reddit",
        label="Reddit",
        factory=built_by("connectors.reddit", "RedditConnector"),
        settings_model=RedditSource,
        own_handle=reddit_user,
        reply_kind="comment",
    ),
    SourceSpec(
        name="bluesky",
        label="Bluesky",
        factory=built_by("connectors.bluesky", "BlueskyConnector"),
        settings_model=BlueskySource,
        follower=jetstream_follower,
    ),
    SourceSpec(
        name="mastodon",
        label="Mastodon",
        factory=built_by("connectors.mastodon", "MastodonConnector"),
        settings_model=MastodonSource,
    ),
    SourceSpec(
        name="hackernews",
        label="Hacker News",
        factory=built_by("connectors.hackernews", "HackerNewsConnector"),
        settings_model=HackerNewsSource,
        reply_kind="comment",
    ),
    SourceSpec(
        name="youtube",
        label="YouTube",
        factory=built_by("connectors.youtube", "YouTubeConnector"),
        settings_model=YouTubeSource,
        reply_kind="comment",
    ),
)

# name -> factory, for the pipeline (`REGISTRY[name](settings)`); tests swap a factory with setitem.
REGISTRY: dict[str, Callable[[Settings], Connector]] = {}
# name -> follower factory, for the scheduler's live jobs (`pipeline.follow`)
FOLLOWERS: dict[str, Callable[[Settings, Event], Connector | None]] = {}


def register(spec: SourceSpec) -> None:
    """Make a source known everywhere: its settings, own accounts, loader rules and connector."""
    register_source(spec)
    REGISTRY[spec.name] = spec.factory
    if spec.follower is not None:
        FOLLOWERS[spec.name] = spec.follower


def unregister(name: str) -> None:
    unregister_source(name)
    REGISTRY.pop(name, None)
    FOLLOWERS.pop(name, None)


for _spec in SOURCES:
    register(_spec)
