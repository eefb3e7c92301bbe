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


def by_others(m: str = "m") -> str:
    """SQL: the mention is said by others: not an own post, and no `mention_roles` row (not a
    competitor's post, not the amplification of either; analytics.conversation.roles)."""
    return f"(NOT {m}.is_own AND {m}.mention_id NOT IN (SELECT mention_id FROM mention_roles))"


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


# Inbox states an analyst sets (`listener inbox`, table `inbox_state`).
INBOX_STATES = ("open", "assigned", "done", "dismissed")
DISMISS_REASONS = ("false-positive", "spam", "not-relevant")


def asking_post(m: str = "m", s: str = "s") -> str:
    """SQL: the post asks or complains: a question mark, or negative where sentiment is supported."""
    return (
        f"(regexp_matches(concat_ws(' ', {m}.title, {m}.text), '[?？]')"
        f" OR ({s}.label = 'negative' AND coalesce({s}.supported, true)))"
    )


def asks(m: str = "m", s: str = "s") -> str:
    """SQL: the post waits for an answer: it asks or complains (`asking_post`), unless an analyst
    dismissed it in the inbox (a false positive, spam, not relevant: it asks nobody, so it is not
    unanswered either)."""
    return f"({asking_post(m, s)} AND {m}.mention_id NOT IN (SELECT mention_id FROM inbox_state WHERE state = 'dismissed'))"


def handled_off_platform(mention_id: str) -> str:
    """SQL: an analyst marked the mention done in the inbox (`inbox_state`); where no own reply
    exists it was handled off-platform (a call, an e-mail, a ticket), reported apart from answers."""
    return f"({mention_id} IN (SELECT mention_id FROM inbox_state WHERE state = 'done'))"


# -- 95 % intervals ------------------------------------------------------------------
# Every rate and average listener reports carries its n and a 95 % interval
# (docs/analytics-metrics.md#sample-sizes): Wilson for a proportion, Student's t for a mean.
Z95 = 1.959963984540054
# Student's t 0.975 quantiles for 1..30 degrees of freedom; beyond, the Cornish-Fisher
# expansion around Z95 (within 0.001 of the exact value from 30 on).
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975_sql(df: str) -> str:
    """SQL: Student's t 0.975 quantile for `df` degrees of freedom (NULL below 1)."""
    z = Z95
    table = " ".join(f"WHEN {i + 1} THEN {t}" for i, t in enumerate(T975))
    tail = f"{z} + ({z**3 + z}) / (4.0 * ({df})) + ({5 * z**5 + 16 * z**3 + 3 * z}) / (96.0 * ({df}) * ({df}))"
    return f"(CASE WHEN ({df}) < 1 THEN NULL WHEN ({df}) <= 30 THEN (CASE CAST({df} AS INTEGER) {table} END) ELSE {tail} END)"


def wilson_sql(successes: str, n: str, bound: str) -> str:
    """SQL: the Wilson score 95 % interval's `low` or `high` bound for successes out of n (NULL when n = 0)."""
    z2 = Z95 * Z95
    p = f"(({successes}) / nullif(({n}), 0))"
    centre = f"({p} + {z2} / (2.0 * ({n})))"
    half = f"({Z95} * sqrt({p} * (1 - {p}) / ({n}) + {z2} / (4.0 * ({n}) * ({n}))))"
    sign = "-" if bound == "low" else "+"
    value = f"(({centre} {sign} {half}) / (1 + {z2} / ({n})))"
    return f"CAST(CASE WHEN ({n}) > 0 THEN greatest(0.0, least(1.0, {value})) END AS DOUBLE)"


def t_interval_sql(mean: str, sd: str, n: str, bound: str, lo: float = -1.0, hi: float = 1.0) -> str:
    """SQL: the t 95 % interval's `low` or `high` bound of a mean (NULL below 2 values), clamped to [lo, hi]."""
    sign = "-" if bound == "low" else "+"
    value = f"(({mean}) {sign} {t975_sql(f'({n}) - 1')} * coalesce({sd}, 0) / sqrt(nullif({n}, 0)))"
    return f"CAST(CASE WHEN ({n}) >= 2 THEN greatest({lo}, least({hi}, {value})) END AS DOUBLE)"


def net_interval_sql(positive: str, negative: str, n: str, bound: str) -> str:
    """SQL: the t 95 % interval of net sentiment, the mean of +1 (positive), 0 and -1 (negative) over n."""
    mean = f"(({positive}) - ({negative})) / nullif(({n}), 0)"
    # sample standard deviation of a -1/0/+1 variable from its counts
    sd = f"sqrt(greatest(0.0, (({positive}) + ({negative}) - ({n}) * ({mean}) * ({mean})) / nullif(({n}) - 1, 0)))"
    return t_interval_sql(mean, sd, n, bound)
