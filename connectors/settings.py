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


def reddit_user(handle: str) -> str:
    """An own account as people write it ('u/Acme_Official', '/u/acme_official') -> its plain name."""
    return plain_handle(handle).removeprefix("/").removeprefix("u/")
