"""Spikes: days whose volume (or negative count) per topic stands far above its trailing baseline.

For every topic in `mention_topics` (brand, competitors, terms) two daily
series are built in SQL, zero-filled from the topic's first day to `today`:
`volume` (mentions by others, each duplicate cluster once) and `negative` (those
negative about the topic, `topic_sentiment`; supported languages only). Each day is judged against the past only:

1. weekday factor = median of the same weekday over the previous 8 weeks /
   median of all days over those weeks (1 until two same weekdays are known or
   while the series is below 10 a day), so a busy Monday is not a spike and a
   Sunday at a weekday's level can be one;
2. count / factor, put through the Anscombe root 2*sqrt(x + 3/8), which makes
   Poisson-like counts roughly normal with unit variance at any level;
3. score = (root today - median of the previous `spike_window_days` roots)
   / max(1.4826 * their MAD, 1): a robust z-score (median and MAD ignore earlier
   spikes; the floor of 1 is pure Poisson noise, so a calm window does not turn
   ordinary days into alerts).

A day is an alert when score >= `spike_threshold`, at least MIN_HISTORY_DAYS
days precede it and at least `[analytics] min_alert_mentions` (default 10) mentions
were observed (0 -> 2 is not news). `baseline` in `alerts` is the expected count: the
trailing median of the weekday-adjusted counts times the day's factor;
`expected_low`..`expected_high` the expected range: the counts within EXPECTED_SDS
robust standard deviations of that level on the root scale, back on the count scale.

Every run recomputes every day up to `today` (a million mentions: about two
seconds) and converges: new alerts are inserted, changed ones updated (keeping
`created_at`, when first raised), and alerts that late data or retagging no
longer supports are removed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb

from analytics.definitions import engagement, utc_day
from analytics.metrics.views import SUPPORTED
from listener.core.settings import Settings
from listener.store.connection import Claim, Store

MIN_HISTORY_DAYS = 14  # fewer trailing days than this: median/MAD mean little
SPIKE_KINDS = ("volume", "negative")
EXPECTED_SDS = 2.0  # the expected range: within this many robust standard deviations of the level
MAX_EVIDENCE = 50  # mention ids kept per alert, most engaged first
MAD_TO_SD = 1.4826  # MAD of normal noise x this = its standard deviation
SEASON_WEEKS = 8  # weekday factors from the same weekday in the previous 8 weeks
MIN_SEASON_WEEKS = 2  # fewer same-weekday days than this: no weekday adjustment
MIN_SEASON_LEVEL = 10  # below this median per day, weekday factors are noise
MAX_FACTOR = 4.0  # weekday factors are clamped to [1/4, 4]

# (kind, topic, day, mention) for every series point, over the mentions by others counted
# once; 'negative' is a subset of 'volume', negative about that topic (`topic_sentiment`,
# the whole post's score until analyze has computed the pair's).
_EVENTS = f"""
    SELECT DISTINCT 'volume' AS kind, t.topic, {utc_day("m.created_at")} AS day, m.mention_id,
           {engagement("m")} AS engagement, m.created_at
    FROM mention_topics t JOIN mentions_by_others m ON m.mention_id = t.mention_id
    WHERE m.counted AND {utc_day("m.created_at")} <= $today
    UNION ALL
    SELECT DISTINCT 'negative', t.topic, {utc_day("m.created_at")}, m.mention_id,
           {engagement("m")}, m.created_at
    FROM mention_topics t JOIN mentions_by_others m ON m.mention_id = t.mention_id
    JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
    WHERE m.counted AND {utc_day("m.created_at")} <= $today
      AND coalesce(ts.label, s.label) = 'negative' AND {SUPPORTED}
"""


def detect_spikes(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Recompute spike alerts up to `today` (UTC date, default now) and upsert them into `alerts`."""
    today = today or datetime.now(UTC).date()
    window = settings.analytics.spike_window_days
    threshold = settings.analytics.spike_threshold

    def recompute(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        series, days = _score_days(conn, today, window)
        found = _flag_alerts(conn, threshold, settings.analytics.min_alert_mentions, today)
        return {
            "series": series,
            "days_scored": days,
            "alerts": found,
            **replace_alerts(conn, "spike_alerts", SPIKE_KINDS, today),
        }

    try:
        report = store.write_transaction(recompute, "spikes", claim=Claim.ANALYSIS)
    finally:
        _drop_temp(store.conn)
    return {**report, "window_days": window, "threshold": threshold, "today": today.isoformat()}


def _score_days(conn: duckdb.DuckDBPyConnection, today: date, window: int) -> tuple[int, int]:
    """Temp table `spike_days`: every (kind, topic, day) with observed, baseline and score."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE spike_days AS
        WITH events AS ({_EVENTS}),
        counts AS (SELECT kind, topic, day, count(*) AS n FROM events GROUP BY ALL),
        firsts AS (SELECT topic, min(day) AS first_day FROM counts WHERE kind = 'volume' GROUP BY topic),
        grid AS (
            SELECT k.kind, f.topic,
                   CAST(unnest(generate_series(f.first_day, $today, INTERVAL 1 DAY)) AS DATE) AS day
            FROM firsts f CROSS JOIN (VALUES ('volume'), ('negative')) k(kind)
        ),
        filled AS (
            SELECT g.kind, g.topic, g.day, CAST(coalesce(c.n, 0) AS DOUBLE) AS observed
            FROM grid g LEFT JOIN counts c ON c.kind = g.kind AND c.topic = g.topic AND c.day = g.day
        ),
        seasonal AS (  -- weekday effect from the past only: same weekday vs all days, last SEASON_WEEKS weeks
            SELECT *, median(observed) OVER same_weekday AS weekday_median,
                   count(*) OVER same_weekday AS weekday_history, median(observed) OVER season AS season_median
            FROM filled
            WINDOW same_weekday AS (PARTITION BY kind, topic, isodow(day) ORDER BY day
                                    ROWS BETWEEN {SEASON_WEEKS} PRECEDING AND 1 PRECEDING),
                   season AS (PARTITION BY kind, topic ORDER BY day
                              ROWS BETWEEN {SEASON_WEEKS * 7} PRECEDING AND 1 PRECEDING)
        ),
        adjusted AS (  -- Anscombe root: Poisson counts become ~normal with unit variance at any level
            SELECT *, observed / factor AS adjusted, 2 * sqrt(observed / factor + 0.375) AS root FROM (
                SELECT *, CASE WHEN weekday_history >= {MIN_SEASON_WEEKS} AND season_median >= {MIN_SEASON_LEVEL}
                               THEN least(greatest(weekday_median / season_median, {1 / MAX_FACTOR}), {MAX_FACTOR})
                               ELSE 1.0 END AS factor
                FROM seasonal)
        ),
        windowed AS (  -- zero-filled, so ROWS = days; the frame stops the day before
            SELECT *, median(adjusted) OVER w AS level, median(root) OVER w AS root_level,
                   mad(root) OVER w AS root_mad, count(*) OVER w AS history
            FROM adjusted
            WINDOW w AS (PARTITION BY kind, topic ORDER BY day ROWS BETWEEN {int(window)} PRECEDING AND 1 PRECEDING)
        )
        SELECT kind, topic, day, observed, level * factor AS baseline, history, factor,
               (root - root_level) / greatest({MAD_TO_SD} * root_mad, 1.0) AS score,
               -- back from the root scale: root r is a count of (r / 2)^2 - 3/8, times the weekday factor
               factor * greatest(0.0, pow(greatest(0.0, root_level - {EXPECTED_SDS} * greatest({MAD_TO_SD} * root_mad,
                   1.0)) / 2, 2) - 0.375) AS expected_low,
               factor * greatest(0.0, pow((root_level + {EXPECTED_SDS} * greatest({MAD_TO_SD} * root_mad, 1.0)) / 2, 2)
                   - 0.375) AS expected_high
        FROM windowed
        """,
        {"today": today},
    )
    row = conn.execute("SELECT count(DISTINCT (kind, topic)), count(*) FROM spike_days").fetchall()[0]
    return int(row[0]), int(row[1])


def _flag_alerts(conn: duckdb.DuckDBPyConnection, threshold: float, min_mentions: int, today: date) -> int:
    """Temp table `spike_alerts`: the alert rows as they should be, evidence included."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE spike_alerts AS
        WITH flagged AS (
            SELECT * FROM spike_days
            WHERE history >= {MIN_HISTORY_DAYS} AND observed >= {int(min_mentions)} AND score >= $threshold
        ),
        evidence AS (
            SELECT e.kind, e.topic, e.day, e.mention_id, e.engagement, e.created_at
            FROM ({_EVENTS}) e SEMI JOIN flagged f ON f.kind = e.kind AND f.topic = e.topic AND f.day = e.day
            QUALIFY row_number() OVER (PARTITION BY e.kind, e.topic, e.day
                                       ORDER BY e.engagement DESC, e.created_at, e.mention_id) <= {MAX_EVIDENCE}
        ),
        lists AS (
            SELECT kind, topic, day,
                   CAST(to_json(list(mention_id ORDER BY engagement DESC, created_at, mention_id)) AS JSON) AS ids
            FROM evidence GROUP BY ALL
        )
        SELECT f.kind || ':' || f.topic || ':' || strftime(f.day, '%Y-%m-%d') AS alert_id,
               f.kind, f.topic, f.day, f.observed, f.baseline, f.score, l.ids AS mention_ids,
               f.expected_low, f.expected_high
        FROM flagged f JOIN lists l ON l.kind = f.kind AND l.topic = f.topic AND l.day = f.day
        """,
        {"threshold": threshold, "today": today},
    )
    return int(conn.execute("SELECT count(*) FROM spike_alerts").fetchall()[0][0])


def replace_alerts(
    conn: duckdb.DuckDBPyConnection, wanted: str, kinds: tuple[str, ...], through: date | None = None
) -> dict[str, int]:
    """Make the `alerts` rows of these kinds (up to `through`, when given) equal the rows of the temp
    table `wanted` (the columns of `alerts` but created_at); first-raised times are kept. The one
    way analysis writes alerts (spikes here, coordinated groups in analytics.conversation)."""
    cleared = conn.execute(
        f"DELETE FROM alerts WHERE kind IN (SELECT unnest(?::VARCHAR[])) AND (? OR day <= ?) "
        f"AND alert_id NOT IN (SELECT alert_id FROM {wanted})",
        [list(kinds), through is None, through],
    ).fetchall()[0][0]
    updated = conn.execute(
        f"""
        UPDATE alerts SET observed = n.observed, baseline = n.baseline, score = n.score, mention_ids = n.mention_ids,
                          expected_low = n.expected_low, expected_high = n.expected_high
        FROM {wanted} n
        WHERE alerts.alert_id = n.alert_id
          AND (alerts.observed IS DISTINCT FROM n.observed OR alerts.baseline IS DISTINCT FROM n.baseline
               OR alerts.score IS DISTINCT FROM n.score OR alerts.expected_high IS DISTINCT FROM n.expected_high
               OR alerts.expected_low IS DISTINCT FROM n.expected_low
               OR CAST(alerts.mention_ids AS VARCHAR) IS DISTINCT FROM CAST(n.mention_ids AS VARCHAR))
        """
    ).fetchall()[0][0]
    raised = conn.execute(
        f"""
        INSERT INTO alerts (alert_id, kind, topic, day, observed, baseline, score, mention_ids, created_at,
                            expected_low, expected_high)
        SELECT n.alert_id, n.kind, n.topic, n.day, n.observed, n.baseline, n.score, n.mention_ids, now(),
               n.expected_low, n.expected_high
        FROM {wanted} n ANTI JOIN alerts a ON a.alert_id = n.alert_id
        """
    ).fetchall()[0][0]
    return {"raised": int(raised), "updated": int(updated), "cleared": int(cleared)}


def _drop_temp(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("DROP TABLE IF EXISTS spike_alerts")
    conn.execute("DROP TABLE IF EXISTS spike_days")
