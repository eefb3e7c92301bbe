"""Every source's `[sources.<name>]` settings model, and how its own accounts are written.

Light on purpose (pydantic and core only): the registry imports these when the package loads,
so settings validate against them, while each connector's network libraries (tweepy, praw,
feedparser) load only when a run builds that connector.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from listener.core.settings import SourceBase
from listener.core.sources import plain_handle


class Feed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: str
    name: str | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("feed url must start with http:// or https://")
        return url


class RssSource(SourceBase):
    """`[sources.rss]`."""

    feeds: list[Feed] = []
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 20.0
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    max_feed_bytes: Annotated[int, Field(ge=1024)] = 20 * 1024 * 1024
    user_agent: str = "listener-rss/0.1 (+https://github.com/listener)"

    @field_validator("feeds", mode="before")
    @classmethod
    def _plain_urls(cls, feeds: Any) -> Any:
        if isinstance(feeds, list):
            return [{"url": f} if isinstance(f, str) else f for f in feeds]
        return feeds


class XSource(SourceBase):
    """`[sources.x]`."""

    queries: list[str] = []  # X search syntax as is; default: the topics' queries translated for X
    max_query_length: Annotated[int, Field(ge=64, le=4096)] = 512  # 1024 on Pro and Enterprise access
    max_posts_per_run: Annotated[int, Field(ge=1)] = 1000
    max_rate_limit_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 900


class RedditSource(SourceBase):
    """`[sources.reddit]`."""

    subreddits: list[str] = []
    search: bool = True
    user_agent: str = "listener (by u/unknown)"
    max_items_per_stream: Annotated[int, Field(ge=1, le=1000)] = 1000


def _http_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"{url!r} must start with https:// (or http:// on your own network)")
    return url


class BlueskySource(SourceBase):
    """`[sources.bluesky]` (credentials BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)."""

    queries: list[str] = []  # searchPosts syntax as is; default: the topics' queries translated for Bluesky
    service_url: str = "https://bsky.social"  # the PDS/entryway the session is created on
    max_posts_per_run: Annotated[int, Field(ge=1)] = 2000
    max_rate_limit_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 900
    backfill_days: Annotated[int | None, Field(ge=1)] = None  # a first run's bound; off: whatever search returns
    jetstream: bool = False  # the scheduler also follows Jetstream for own-account and matching posts
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"

    @field_validator("service_url")
    @classmethod
    def _service(cls, url: str) -> str:
        return _http_url(url)


class MastodonSource(SourceBase):
    """`[sources.mastodon]` (optional MASTODON_ACCESS_TOKEN_<HOST> or MASTODON_ACCESS_TOKEN)."""

    instances: list[str] = ["https://mastodon.social"]
    # without '#'; none given: the hashtags and words of the topics' queries; [] follows no hashtag
    hashtags: list[str] | None = None
    search: bool = True  # search_v2 for statuses where the instance allows it (needs a token)
    max_statuses_per_stream: Annotated[int, Field(ge=1)] = 800
    max_rate_limit_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 900
    backfill_days: Annotated[int | None, Field(ge=1)] = None
    max_contexts_per_run: Annotated[int, Field(ge=0, le=10000)] = 100  # status_context calls for reply threads

    @field_validator("instances")
    @classmethod
    def _instance_urls(cls, instances: list[str]) -> list[str]:
        return [_http_url(i if "://" in i else f"https://{i}") for i in instances]

    @field_validator("hashtags")
    @classmethod
    def _plain_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else [t.strip().lstrip("#") for t in tags if t.strip().lstrip("#")]


class HackerNewsSource(SourceBase):
    """`[sources.hackernews]`: the Algolia HN Search API, no credentials."""

    queries: list[str] = []  # Algolia query strings as is; default: the topics' queries translated
    api_url: str = "https://hn.algolia.com/api/v1"
    hits_per_page: Annotated[int, Field(ge=1, le=1000)] = 1000
    max_hits_per_run: Annotated[int, Field(ge=1)] = 20000
    backfill_days: Annotated[int | None, Field(ge=1)] = None
    # own accounts spelt exactly (Algolia's author_<name> tag is case-sensitive; own_accounts are lowercased)
    own_usernames: list[str] = []
    max_rate_limit_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0

    @field_validator("api_url")
    @classmethod
    def _api(cls, url: str) -> str:
        return _http_url(url)


class YouTubeSource(SourceBase):
    """`[sources.youtube]` (key YOUTUBE_API_KEY)."""

    channel_ids: list[str] = []  # comment threads on every video of these channels (the own channel too)
    video_ids: list[str] = []
    search_terms: bool = True  # pass the topics' words as searchTerms where they narrow a thread listing
    daily_quota_units: Annotated[int, Field(ge=1)] = 10000
    max_quota_units_per_run: Annotated[int | None, Field(ge=1)] = None  # default: what is left of the day
    max_threads_per_stream: Annotated[int, Field(ge=1)] = 2000
    backfill_days: Annotated[int | None, Field(ge=1)] = None  # a first run's bound; off: every thread there is
    api_url: str = "https://youtube.googleapis.com"  # the Data API's root; another for a proxy or a test server

    @field_validator("api_url")
    @classmethod
    def _api_root(cls, url: str) -> str:
        return _http_url(url)

    @field_validator("channel_ids")
    @classmethod
    def _channel_ids(cls, ids: list[str]) -> list[str]:
        """Channel ids as YouTube writes them (UC + 22 characters); a channel URL gives its id."""
        import re  # here, not at the top: this file's imports are shared with the other sources

        found = []
        for given in ids:
            text = given.strip().rstrip("/")
            channel = text.rsplit("/channel/", 1)[-1] if "/channel/" in text else text
            if not re.fullmatch(r"UC[A-Za-z0-9_-]{22}", channel):
                raise ValueError(
                    f"{given[:80]!r} is not a channel id (UC followed by 22 letters, digits, '-' or '_'; "
                    "YouTube shows it under Settings > Advanced settings, or in the channel's /channel/ URL)"
                )
            found.append(channel)
        return found

    @field_validator("video_ids")
    @classmethod
    def _video_ids(cls, ids: list[str]) -> list[str]:
        """Video ids (11 characters); a watch, youtu.be or shorts URL gives its id."""
        import re

        found = []
        for given in ids:
            text = given.strip()
            match = re.search(r"(?:[?&]v=|youtu\.be/|/shorts/|/live/|/embed/)([A-Za-z0-9_-]{11})", text)
            video = match.group(1) if match else text
            if not re.fullmatch(r"[A-Za-z0-9_-]{11}", video):
                raise ValueError(f"{given[:80]!r} is not a video id (11 letters, digits, '-' or '_') or a video URL")
            found.append(video)
        return found


def reddit_user(handle: str) -> str:
    """An own account as people write it ('u/Acme_Official', '/u/acme_official') -> its plain name."""
    return plain_handle(handle).removeprefix("/").removeprefix("u/")
