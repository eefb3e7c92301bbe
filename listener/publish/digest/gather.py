"""Store -> a plain data model of one week's digest (no HTML, no SMTP).

Every number comes from a documented table or view (docs/schema.md), read for
one ISO week and the weeks before it. Text written by strangers (names,
posts, URLs, community labels) is passed through as data, cut to a bounded
length here so a 10,000-character post costs nothing downstream; escaping is
the renderer's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from analytics.definitions import engagement, iso_week, utc_day
from listener.core.settings import Settings

TOP_INFLUENCERS = 5
TOP_COMMUNITIES = 5
TOP_ALERTS = 8
TOP_COORDINATED = 5  # coordinated-amplification groups named in the digest
TREND_WEEKS = 8
VOLUME_DAYS = 28
MAX_TEXT = 2000  # characters read per stranger-written field; the renderer shortens further

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Week:
    """An ISO week, e.g. 2026-W47 (Monday 2026-11-16 to Sunday 2026-11-22, UTC)."""

    monday: date

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK.match(text.strip())
        if not match:
            raise ValueError(f"{text!r} is not an ISO week like 2026-W47")
        try:
            return cls(date.fromisocalendar(int(match[1]), int(match[2]), 1))
        except ValueError:
            raise ValueError(f"{text!r}: year {match[1]} has no week {int(match[2])}") from None

    @classmethod
    def last_complete(cls, today: date) -> Week:
        return cls(today - timedelta(days=today.weekday() + 7))

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def label(self) -> str:
        year, week, _ = self.monday.isocalendar()
        return f"{year}-W{week:02d}"

    def shifted(self, weeks: int) -> Week:
        return Week(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return self.label


@dataclass
class Post:
    text: str
    url: str | None
    created_at: datetime | None = None


@dataclass
class Influencer:
    rank: int
    author_id: str
    name: str
    handle: str | None
    network: str
    profile_url: str | None
    reach: int | None
    mentions: int
    engagement: float
    sentiment: float | None
    is_new: bool
    sample: Post | None = None


@dataclass
class Community:
    label: str
    kind: str
    source: str | None
    size: int
    mentions: int
    change: int
    is_new: bool
    sentiment: float | None
    top_terms: list[str]


@dataclass
class Voice:
    topic: str
    kind: str
    mentions: int
    prev_mentions: int
    share: float | None
    prev_share: float | None
    net_sentiment: float | None
    share_n: int = 0  # the sample behind `share`: all brand + competitor mentions of the week
    scored: int = 0  # the sample behind `net_sentiment`

    @property
    def change(self) -> float | None:
        if self.share is None or self.prev_share is None:
            return None
        return self.share - self.prev_share


@dataclass
class Alert:
    day: date
    kind: str
    topic: str
    observed: float
    baseline: float | None
    score: float
    top_post: Post | None = None
    expected_low: float | None = None
    expected_high: float | None = None


@dataclass
class Coordination:
    """A coordinated-amplification group of the week: accounts posting one text or link within seconds."""

    first_at: datetime
    kind: str  # 'text', 'link' or 'repost'
    accounts: int
    posts: int
    seconds: float  # from the first post to the last
    handles: list[str]
    topics: list[str]
    sample: Post | None = None


@dataclass
class Activity:
    """What a brand's own accounts did in the week (ours first, then each competitor's)."""

    owner: str
    kind: str  # 'own' or 'competitor'
    posts: int
    replies: int
    amplifications: int
    asked: int
    response_rate: float | None
    median_response_minutes: float | None


@dataclass
class Kpi:
    name: str
    value: float | None
    baseline: float | None
    prev_value: float | None
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.baseline is None else self.value - self.baseline


@dataclass
class Maturity:
    level: str
    level_index: int
    window_start: date
    window_end: date
    prev_level: str | None
    prev_index: int | None
    org_model: str | None
    path: str | None
    next_steps: list[str]


@dataclass
class Series:
    """One topic's numbers per period (week Mondays or days), oldest first."""

    topic: str
    kind: str
    points: list[tuple[date, float | None]]


@dataclass
class Digest:
    organization: str
    week: Week
    generated_at: datetime
    brand_mentions: int
    prev_brand_mentions: int
    influencers: list[Influencer] = field(default_factory=list)
    communities: list[Community] = field(default_factory=list)
    voice: list[Voice] = field(default_factory=list)
    sentiment_weeks: list[Series] = field(default_factory=list)  # net sentiment per week, brand first
    volume_days: list[Series] = field(default_factory=list)  # mentions per day, brand first
    spike_days: list[Alert] = field(default_factory=list)  # volume alerts in the chart's window
    alerts: list[Alert] = field(default_factory=list)  # the week's top TOP_ALERTS
    alert_topics: list[tuple[str, int]] = field(default_factory=list)  # every alert of the week, per topic
    kpis: list[Kpi] = field(default_factory=list)
    maturity: Maturity | None = None
    activity: list[Activity] = field(default_factory=list)  # the `competitor_activity` view, this week
    coordinated: list[Coordination] = field(default_factory=list)  # the week's largest groups
    coordinated_count: int = 0  # every group of the week
    min_sample: int = 30  # `[analytics] min_sample`: a rate or average from fewer is marked, not stated
    brand_scored: tuple[int, int] = (0, 0)  # the samples behind brand_net_sentiment (this week, the week before)

    @property
    def alert_count(self) -> int:
        """All alerts of the week (the list shows the top TOP_ALERTS of them)."""
        return sum(n for _, n in self.alert_topics)

    @property
    def brand(self) -> Voice | None:
        return next((v for v in self.voice if v.kind == "brand"), None)

    @property
    def brand_net_sentiment(self) -> tuple[float | None, float | None]:
        """Net sentiment toward the brand this week and the week before."""
        series = next((s for s in self.sentiment_weeks if s.kind == "brand"), None)
        if not series or not series.points:
            return None, None
        values = dict(series.points)
        return values.get(self.week.monday), values.get(self.week.shifted(-1).monday)


def gather(conn: duckdb.DuckDBPyConnection, settings: Settings, week: Week, now: datetime | None = None) -> Digest:
    """Everything the digest shows for `week`, read from the store."""
    q = _Query(conn, week)
    voice, sentiment_weeks, volume_days = q.voice_and_trends()
    brand = next((v for v in voice if v.kind == "brand"), None)
    return Digest(
        organization=settings.organization.name,
        week=week,
        generated_at=now or datetime.now(UTC),
        brand_mentions=brand.mentions if brand else 0,
        prev_brand_mentions=brand.prev_mentions if brand else 0,
        influencers=q.influencers(),
        communities=q.communities(),
        voice=voice,
        sentiment_weeks=sentiment_weeks,
        volume_days=volume_days,
        spike_days=q.alerts(
            week.monday - timedelta(days=VOLUME_DAYS - 7),
            kinds=("volume",),
            limit=1000,
            topics=[s.topic for s in volume_days],
            with_posts=False,
        ),
        alerts=q.alerts(week.monday, limit=TOP_ALERTS),
        alert_topics=q.alert_topics(),
        kpis=q.kpis(list(settings.analytics.kpis)),
        maturity=q.maturity(),
        min_sample=settings.analytics.min_sample,
        brand_scored=q.brand_scored,
        activity=q.activity(),
        coordinated=q.coordinated(),
        coordinated_count=q.coordinated_count(),
    )


class _Query:
    def __init__(self, conn: duckdb.DuckDBPyConnection, week: Week) -> None:
        self.conn, self.week = conn, week
        self.start = datetime.combine(week.monday, datetime.min.time(), UTC)
        self.end = self.start + timedelta(days=7)
        self.brand_scored: tuple[int, int] = (0, 0)  # set by voice_and_trends

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params or []).fetchall()

    # -- who mattered --------------------------------------------------------
    def influencers(self) -> list[Influencer]:
        rows = self.rows(
            """SELECT i.rank, i.author_id, a.display_name, a.handle, coalesce(a.source, split_part(i.author_id, ':', 1)),
                      a.url, i.reach, i.mentions, i.engagement, i.avg_sentiment, i.is_new
               FROM influencers i LEFT JOIN authors a ON a.author_id = i.author_id
               WHERE i.period_kind = 'week' AND i.scope = 'all' AND i.period_start = ?
               ORDER BY i.rank LIMIT ?""",
            [self.week.monday, TOP_INFLUENCERS],
        )
        people = [
            Influencer(
                rank=r[0],
                author_id=r[1],
                name=_cut(r[2] or r[3] or r[1]),
                handle=_cut(r[3]),
                network=r[4],
                profile_url=_cut(r[5]),
                reach=r[6],
                mentions=int(r[7] or 0),
                engagement=float(r[8] or 0),
                sentiment=r[9],
                is_new=bool(r[10]),
            )
            for r in rows
        ]
        samples = self._sample_posts([p.author_id for p in people])
        for person in people:
            person.sample = samples.get(person.author_id)
        return people

    def _sample_posts(self, author_ids: list[str]) -> dict[str, Post]:
        """Each author's most engaged brand post of the week (the one the digest links)."""
        if not author_ids:
            return {}
        rows = self.rows(
            f"""SELECT m.author_id, left(coalesce(nullif(m.title, ''), m.text, ''), {MAX_TEXT}),
                       left(m.url, {MAX_TEXT}), m.created_at
                FROM mentions m
                WHERE m.author_id IN (SELECT unnest(?::VARCHAR[])) AND m.created_at >= ? AND m.created_at < ?
                  AND m.mention_id IN (SELECT mention_id FROM mention_topics WHERE kind = 'brand')
                QUALIFY row_number() OVER (PARTITION BY m.author_id ORDER BY {_ENGAGEMENT} DESC,
                                           m.created_at DESC, m.mention_id) = 1""",
            [author_ids, self.start, self.end],
        )
        return {r[0]: Post(text=r[1], url=r[2], created_at=r[3]) for r in rows}

    # -- where ---------------------------------------------------------------
    def communities(self) -> list[Community]:
        """Growing, new or large communities of the week: the ones to watch."""
        rows = self.rows(
            """SELECT c.label, c.kind, c.source, c.size, c.mentions,
                      CAST(c.mentions - coalesce(p.mentions, 0) AS BIGINT) AS change,
                      p.community_id IS NULL AS is_new, c.avg_sentiment, c.top_terms
               FROM communities c
               LEFT JOIN communities p ON p.community_id = c.community_id AND p.period_start = c.period_start - 7
               WHERE c.period_start = ?
               ORDER BY change DESC, c.mentions DESC, c.community_id LIMIT ?""",
            [self.week.monday, TOP_COMMUNITIES],
        )
        return [
            Community(
                label=_cut(r[0]) or "(unnamed)",
                kind=r[1],
                source=r[2],
                size=int(r[3] or 0),
                mentions=int(r[4] or 0),
                change=int(r[5] or 0),
                is_new=bool(r[6]),
                sentiment=r[7],
                top_terms=[_cut(str(t), 80) for t in _json_list(r[8])[:5]],
            )
            for r in rows
        ]

    # -- how we compare, how it felt, how much -------------------------------
    def voice_and_trends(self) -> tuple[list[Voice], list[Series], list[Series]]:
        """Share of voice (this and last week), weekly net sentiment, daily volume.

        Same definitions as the `share_of_voice` view (docs/analytics-metrics.md),
        computed only over the weeks shown so a large store costs little.
        """
        first_week = self.week.shifted(1 - TREND_WEEKS)
        first_day = self.week.monday - timedelta(days=VOLUME_DAYS - 7)
        since = datetime.combine(min(first_week.monday, first_day), datetime.min.time(), UTC)
        rows = self.rows(
            f"""WITH tm AS (
                    SELECT DISTINCT t.topic, t.kind, m.mention_id, {_UTC_DAY} AS day,
                           coalesce(ts.label, s.label) AS label,
                           s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored
                    FROM mention_topics t
                    JOIN mentions_by_others m ON m.mention_id = t.mention_id
                    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
                    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
                    WHERE m.counted AND t.kind IN ('brand', 'competitor')
                      AND m.created_at >= ? AND m.created_at < ?)
                SELECT 'week' AS grain, {iso_week("day")} AS period, topic, kind,
                       count(*) AS mentions,
                       (count(*) FILTER (scored AND label = 'positive') - count(*) FILTER (scored AND label = 'negative'))
                         / nullif(count(*) FILTER (scored), 0) AS net,
                       count(*) FILTER (scored) AS scored
                FROM tm GROUP BY ALL
                UNION ALL
                SELECT 'day', day, topic, kind, count(*), NULL, NULL FROM tm WHERE day >= ? GROUP BY ALL""",
            [since, self.end, first_day],
        )
        topics = self._topics()
        weekly = {(r[1], r[2]): (int(r[4]), r[5]) for r in rows if r[0] == "week"}
        scored = {(r[1], r[2]): int(r[6]) for r in rows if r[0] == "week"}
        daily = {(r[1], r[2]): int(r[4]) for r in rows if r[0] == "day"}
        this, prev = self.week.monday, self.week.shifted(-1).monday
        totals = {w: sum(weekly.get((w, t), (0, None))[0] for t, _ in topics) for w in (this, prev)}

        def share(w: date, topic: str) -> float | None:
            return weekly.get((w, topic), (0, None))[0] / totals[w] if totals[w] else None

        voice = [
            Voice(
                topic=t,
                kind=k,
                mentions=weekly.get((this, t), (0, None))[0],
                prev_mentions=weekly.get((prev, t), (0, None))[0],
                share=share(this, t),
                prev_share=share(prev, t),
                net_sentiment=weekly.get((this, t), (0, None))[1],
                share_n=totals[this],
                scored=scored.get((this, t), 0),
            )
            for t, k in topics
        ]
        brand = next((t for t, k in topics if k == "brand"), None)
        self.brand_scored = (scored.get((this, brand), 0), scored.get((prev, brand), 0))
        weeks = [first_week.shifted(i).monday for i in range(TREND_WEEKS)]
        days = [first_day + timedelta(days=i) for i in range(VOLUME_DAYS)]
        sentiment = [Series(t, k, [(w, _float(weekly.get((w, t), (0, None))[1])) for w in weeks]) for t, k in topics]
        volume = [Series(t, k, [(d, float(daily.get((d, t), 0))) for d in days]) for t, k in topics]
        return voice, sentiment, volume

    def _topics(self) -> list[tuple[str, str]]:
        """Brand first, then competitors by name: every topic the store has tagged."""
        return [
            (r[0], r[1])
            for r in self.rows(
                "SELECT DISTINCT topic, kind FROM mention_topics WHERE kind IN ('brand', 'competitor') "
                "ORDER BY kind = 'competitor', topic"
            )
        ]

    # -- what happened ---------------------------------------------------------
    def alerts(
        self,
        since: date,
        kinds: tuple[str, ...] = ("volume", "negative"),
        limit: int = TOP_ALERTS,
        topics: list[str] | None = None,
        with_posts: bool = True,
    ) -> list[Alert]:
        rows = self.rows(
            f"""SELECT a.day, a.kind, a.topic, a.observed, a.baseline, a.score,
                       left(coalesce(nullif(m.title, ''), m.text, ''), {MAX_TEXT}), left(m.url, {MAX_TEXT}),
                       a.expected_low, a.expected_high
                FROM alerts a
                LEFT JOIN mentions m ON ? AND m.mention_id = (a.mention_ids ->> '$[0]')
                WHERE a.day >= ? AND a.day <= ? AND a.kind IN (SELECT unnest(?::VARCHAR[]))
                  AND (? OR a.topic IN (SELECT unnest(?::VARCHAR[])))
                ORDER BY a.score DESC, a.day, a.topic LIMIT ?""",
            [with_posts, since, self.week.sunday, list(kinds), topics is None, topics or [], limit],
        )
        return [
            Alert(
                day=r[0],
                kind=r[1],
                topic=r[2],
                observed=float(r[3]),
                baseline=r[4],
                score=float(r[5]),
                top_post=Post(r[6], r[7]) if r[6] is not None else None,
                expected_low=r[8],
                expected_high=r[9],
            )
            for r in rows
        ]

    def alert_topics(self) -> list[tuple[str, int]]:
        """How many alerts (volume and negative) each topic raised in the week, most first."""
        rows = self.rows(
            """SELECT topic, count(*) FROM alerts WHERE day >= ? AND day <= ? AND kind IN ('volume', 'negative')
               GROUP BY topic ORDER BY count(*) DESC, topic""",
            [self.week.monday, self.week.sunday],
        )
        return [(r[0], int(r[1])) for r in rows]

    def activity(self) -> list[Activity]:
        """The brands' own accounts this week, from the `competitor_activity` view: ours first."""
        rows = self.rows(
            """SELECT owner, kind, posts, replies, amplifications, asked, response_rate, median_response_minutes
               FROM competitor_activity WHERE week_start = ? ORDER BY kind = 'competitor', owner""",
            [self.week.monday],
        )
        return [
            Activity(
                owner=_cut(r[0], 60) or "",
                kind=r[1],
                posts=int(r[2]),
                replies=int(r[3]),
                amplifications=int(r[4]),
                asked=int(r[5]),
                response_rate=r[6],
                median_response_minutes=r[7],
            )
            for r in rows
        ]

    def coordinated(self, limit: int = TOP_COORDINATED) -> list[Coordination]:
        """The week's coordinated-amplification groups, most accounts first."""
        rows = self.rows(
            f"""WITH g AS (
                    SELECT group_id, any_value(kind) AS kind, min(first_at) AS first_at, max(last_at) AS last_at,
                           count(DISTINCT c.author_id) AS accounts, count(*) AS posts,
                           list(DISTINCT left(coalesce(a.handle, c.author_id), 60) ORDER BY
                                left(coalesce(a.handle, c.author_id), 60))[1:5] AS handles,
                           min(c.mention_id) FILTER (c.created_at = c.first_at) AS first_post
                    FROM (SELECT x.*, m.created_at FROM coordinated_groups x JOIN mentions m USING (mention_id)) c
                    LEFT JOIN authors a ON a.author_id = c.author_id
                    WHERE c.first_at >= ? AND c.first_at < ?
                    GROUP BY group_id
                )
                SELECT g.first_at, g.kind, g.accounts, g.posts, epoch(g.last_at - g.first_at), g.handles,
                       (SELECT list(DISTINCT t.topic ORDER BY t.topic) FROM mention_topics t
                        WHERE t.mention_id IN (SELECT mention_id FROM coordinated_groups y WHERE y.group_id = g.group_id)),
                       left(coalesce(nullif(m.title, ''), m.text, ''), {MAX_TEXT}), left(m.url, {MAX_TEXT})
                FROM g LEFT JOIN mentions m ON m.mention_id = g.first_post
                ORDER BY g.accounts DESC, g.first_at, g.group_id LIMIT ?""",
            [self.start, self.end, limit],
        )
        return [
            Coordination(
                first_at=r[0],
                kind=r[1],
                accounts=int(r[2]),
                posts=int(r[3]),
                seconds=float(r[4] or 0),
                handles=[_cut(h, 60) or "" for h in r[5] or []],
                topics=[_cut(t, 60) or "" for t in r[6] or []],
                sample=Post(r[7], r[8]) if r[7] is not None else None,
            )
            for r in rows
        ]

    def coordinated_count(self) -> int:
        rows = self.rows(
            "SELECT count(DISTINCT group_id) FROM coordinated_groups WHERE first_at >= ? AND first_at < ?",
            [self.start, self.end],
        )
        return int(rows[0][0]) if rows else 0

    def kpis(self, configured: list[str]) -> list[Kpi]:
        rows = self.rows(
            """SELECT kpi, period_start, value, baseline, n, ci_low, ci_high FROM kpi_values
               WHERE period_start IN (?, ?)""",
            [self.week.monday, self.week.shifted(-1).monday],
        )
        this = {r[0]: r for r in rows if r[1] == self.week.monday}
        prev = {r[0]: r[2] for r in rows if r[1] != self.week.monday}
        names = [k for k in configured if k in this] + sorted(set(this) - set(configured))
        return [
            Kpi(
                name=k,
                value=this[k][2],
                baseline=this[k][3],
                prev_value=prev.get(k),
                n=this[k][4],
                ci_low=this[k][5],
                ci_high=this[k][6],
            )
            for k in names
        ]

    def maturity(self) -> Maturity | None:
        """The assessment as of the week's end (made up to the Monday after), and the one before the week."""
        rows = self.rows(
            """SELECT level, level_index, window_start, window_end, org_model, path, recommendations
               FROM maturity_assessments WHERE window_end <= ?
               ORDER BY window_end DESC, assessed_at DESC LIMIT 1""",
            [self.week.sunday + timedelta(days=1)],
        )
        if not rows:
            return None
        prev = self.rows(
            """SELECT level, level_index FROM maturity_assessments WHERE window_end <= ?
               ORDER BY window_end DESC, assessed_at DESC LIMIT 1""",
            [self.week.monday],
        )
        level, index, start, end, org_model, path, recommendations = rows[0]
        return Maturity(
            level=_cut(level, 40),
            level_index=int(index),
            window_start=start,
            window_end=end,
            prev_level=prev[0][0] if prev else None,
            prev_index=int(prev[0][1]) if prev else None,
            org_model=_cut(org_model, 80),
            path=_cut(path, 80),
            next_steps=next_steps(recommendations),
        )


# The analyst views' definitions, so the digest's numbers are the views' numbers.
_ENGAGEMENT = engagement("m")
_UTC_DAY = utc_day("m.created_at")

_STEP_KEYS = ("text", "title", "action", "step", "recommendation", "message", "summary", "what")
_WHY_KEYS = ("why", "reason", "detail", "details", "because")


def next_steps(raw: Any, limit: int = 3) -> list[str]:
    """Readable next steps from `maturity_assessments.recommendations`, whatever its exact JSON shape.

    `analytics.maturity.classifier` writes a list of `{"practice", "text", "metric", "data"}`
    (docs/maturity.md); a list of strings, other text-like keys (with an optional
    reason), or an object holding such a list are read too.
    """
    data = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(data, dict):
        data = next(
            (
                v
                for k, v in data.items()
                if isinstance(v, list) and k in ("steps", "next_steps", "recommendations", "items")
            ),
            [data],
        )
    steps = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict):
            text = next((str(item[k]) for k in _STEP_KEYS if item.get(k)), None)
            why = next((str(item[k]) for k in _WHY_KEYS if isinstance(item.get(k), (str, int, float))), None)
            text = f"{text} ({why})" if text and why else text
            practice = item.get("practice")
            if text and isinstance(practice, str) and practice.strip():
                text = f"{practice.strip().capitalize()}: {text}"
        else:
            text = str(item) if item is not None else None
        if text and text.strip():
            steps.append(_cut(text, 400))
    return steps[:limit]


def _json_list(raw: Any) -> list[Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _cut(value: Any, limit: int = MAX_TEXT) -> Any:
    return value[:limit] if isinstance(value, str) else value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
