"""Definitions every analysis shares, each written once: placeholder authors, engagement, UTC days and ISO weeks.

The views, spikes, KPIs, the network analytics, maturity, the exporter and the
digest all build their SQL from these functions, so a day, a week or "who is a
person" cannot mean two things in two reports (docs/analytics-metrics.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from listener.core.models import DELETED_AUTHOR, UNKNOWN_AUTHOR

# `x:unknown`, `reddit:[deleted]`: the author ids connectors give a post whose author is not
# known or is gone. One pattern, used by both forms below.
PLACEHOLDER_PATTERN = "[^:]*:(" + "|".join(re.escape(str(a.id)) for a in (UNKNOWN_AUTHOR, DELETED_AUTHOR)) + ")"
_PLACEHOLDER = re.compile(PLACEHOLDER_PATTERN)

RESPONSE_WINDOW_HOURS = 72  # a reply later than this does not count as a response

# The counts a post earns, as `mentions` columns; a positive score (Reddit's) counts too.
ENGAGEMENT_COUNTS = ("like_count", "repost_count", "reply_count", "quote_count")


def is_placeholder(author_sql: str) -> str:
    """SQL: true when the author id is a placeholder, not a person (false for NULL)."""
    return f"regexp_full_match(coalesce({author_sql}, ''), '{PLACEHOLDER_PATTERN}')"


def is_placeholder_author(author_id: str | None) -> bool:
    """Python: the same test as `is_placeholder`, for ids already read."""
    return bool(_PLACEHOLDER.fullmatch(author_id or ""))


def engagement(alias: str = "m", weights: Mapping[str, int] | None = None) -> str:
    """SQL: engagement earned by a post: likes, reposts, replies and quotes, plus a positive score.

    `weights` multiplies a count (`{"repost_count": 2}`); influence scoring weighs answers and
    reposts above likes, everything else counts each one once.
    """
    weights = weights or {}
    parts = [_times(weights.get(column, 1), f"coalesce({alias}.{column}, 0)") for column in ENGAGEMENT_COUNTS]
    return "(" + " + ".join([*parts, f"greatest(coalesce({alias}.score, 0), 0)"]) + ")"


def _times(weight: int, sql: str) -> str:
    return sql if weight == 1 else f"{weight} * {sql}"


def utc_day(column: str) -> str:
    """SQL for the UTC calendar day of a TIMESTAMPTZ column, independent of the session zone.

    Day arithmetic on epoch microseconds: the same answer as timezone('UTC', ...),
    8x faster, which matters at a million mentions.
    """
    return f"(DATE '1970-01-01' + CAST(floor(epoch_us({column}) / 86400000000.0) AS INTEGER))"


def iso_week(day_sql: str) -> str:
    """SQL for the Monday of the ISO week containing a DATE."""
    return f"CAST(date_trunc('week', {day_sql}) AS DATE)"


def asks(m: str = "m", s: str = "s") -> str:
    """SQL: the post waits for an answer: a question, or a complaint (negative where sentiment is supported)."""
    return (
        f"(regexp_matches(concat_ws(' ', {m}.title, {m}.text), '[?？]')"
        f" OR ({s}.label = 'negative' AND coalesce({s}.supported, true)))"
    )
