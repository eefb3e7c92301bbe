"""Analyst views over the store: sentiment per day, share of voice, current influencers, communities.

`VIEWS` maps a view name to its SELECT; a migration creates each one with
`CREATE OR REPLACE VIEW <name> AS <select>` (and `create_views` does the same
for tests and tools). The views are part of the analyst contract (their
columns are documented in docs/analytics-metrics.md), so they cast every
column to a plain type: DuckDB would otherwise return HUGEINT sums or DECIMAL.

Shared choices, also used by `analytics.metrics.spikes` and `analytics.metrics.kpis`:
- days and ISO weeks are taken in UTC whatever the session time zone, so a
  client in another zone sees the same rows as the nightly job (the day, week,
  engagement and placeholder-author SQL come from `analytics.definitions`);
- mentions written by our own accounts are left out of what people *say*
  (a campaign of our own posts must not look like earned voice);
- sentiment counts only where `sentiment.supported` (VADER is English-only).
"""

from __future__ import annotations

import duckdb

from analytics.definitions import (
    RESPONSE_WINDOW_HOURS,
    asks,
    by_others,
    engagement,
    is_placeholder,
    iso_week,
    net_interval_sql,
    t_interval_sql,
    utc_day,
    wilson_sql,
)

SUPPORTED = "coalesce(s.supported, true)"  # rows scored before the column existed were English-only

# The conversation: mentions by others (not our posts, not a competitor's, not the amplification
# of either: analytics.conversation.roles), each with its duplicate cluster and whether it
# counts (the original of a cluster always; a copy only with `count_duplicates = true`).
# Every "mentions by others" measure reads it.
MENTIONS_BY_OTHERS = f"""
SELECT m.mention_id, m.source, m.native_id, m.url, m.author_id, m.title, m.text, m.lang, m.created_at,
       m.updated_at, m.parent_id, m.thread_id, m.community, m.like_count, m.repost_count, m.reply_count,
       m.quote_count, m.score, m.repost_of, m.quote_of,
       d.cluster_id AS duplicate_cluster, coalesce(d.is_original, true) AS is_original,
       coalesce(d.counted, true) AS counted
FROM mentions m
LEFT JOIN duplicate_clusters d ON d.mention_id = m.mention_id
WHERE {by_others("m")}
"""

# One row per (mention by others, topic) with what every view needs; DISTINCT guards
# against a topic name configured twice (as a competitor and a term). Sentiment is what
# the post says about that topic (`topic_sentiment`), the whole post's until analyze has
# computed it.
TOPIC_MENTIONS = f"""
    SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id, m.counted,
           {utc_day("m.created_at")} AS day,
           {engagement("m")} AS engagement,
           coalesce(ts.label, s.label) AS label, coalesce(ts.compound, s.compound) AS compound,
           s.mention_id IS NOT NULL AND {SUPPORTED} AS scored,
           s.mention_id IS NOT NULL AND NOT {SUPPORTED} AS unsupported
    FROM mention_topics t
    JOIN mentions_by_others m ON m.mention_id = t.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
"""

DAILY_SENTIMENT = f"""
WITH tm AS ({TOPIC_MENTIONS}),
agg AS (
    SELECT day, topic, kind, source,
           count(*) FILTER (counted) AS mentions,
           count(*) AS raw_mentions,
           count(*) FILTER (counted AND scored) AS scored,
           count(*) FILTER (counted AND unsupported) AS unsupported,
           avg(compound) FILTER (counted AND scored) AS avg_compound,
           stddev_samp(compound) FILTER (counted AND scored) AS sd_compound,
           count(*) FILTER (counted AND scored AND label = 'positive') AS positive,
           count(*) FILTER (counted AND scored AND label = 'neutral') AS neutral,
           count(*) FILTER (counted AND scored AND label = 'negative') AS negative
    FROM tm GROUP BY day, topic, kind, source
)
SELECT day, topic, kind, source,
       CAST(mentions AS BIGINT) AS mentions, CAST(raw_mentions AS BIGINT) AS raw_mentions,
       CAST(scored AS BIGINT) AS scored,
       CAST(unsupported AS BIGINT) AS unsupported, CAST(avg_compound AS DOUBLE) AS avg_compound,
       CAST(positive AS BIGINT) AS positive, CAST(neutral AS BIGINT) AS neutral,
       CAST(negative AS BIGINT) AS negative,
       CAST((positive - negative) / nullif(scored, 0) AS DOUBLE) AS net_sentiment,
       CAST(scored AS BIGINT) AS n,
       {net_interval_sql("positive", "negative", "scored", "low")} AS ci_low,
       {net_interval_sql("positive", "negative", "scored", "high")} AS ci_high,
       {t_interval_sql("avg_compound", "sd_compound", "scored", "low")} AS avg_compound_ci_low,
       {t_interval_sql("avg_compound", "sd_compound", "scored", "high")} AS avg_compound_ci_high
FROM agg
"""

# Every period x every brand/competitor topic, zeros included, so charts have no gaps
# and shares are explicit. Shares divide by the sum over topics, so they add up to 1.
SHARE_OF_VOICE = f"""
WITH tm AS (SELECT * FROM ({TOPIC_MENTIONS}) WHERE kind IN ('brand', 'competitor')),
topics AS (SELECT DISTINCT topic, kind FROM tm),
days AS (
    SELECT CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE) AS day FROM tm
),
periods AS (
    SELECT 'day' AS grain, day AS period_start, day AS period_end FROM days
    UNION
    SELECT 'week', {iso_week("day")}, {iso_week("day")} + 6 FROM days
),
tagged AS (
    SELECT 'day' AS grain, day AS period_start, * FROM tm
    UNION ALL
    SELECT 'week', {iso_week("day")}, * FROM tm
),
agg AS (
    SELECT grain, period_start, topic,
           count(*) FILTER (counted) AS mentions,
           count(*) AS raw_mentions,
           count(DISTINCT author_id) FILTER (NOT {is_placeholder("author_id")}) AS authors,
           sum(engagement) AS engagement,
           count(*) FILTER (counted AND scored AND label = 'positive') AS positive,
           count(*) FILTER (counted AND scored AND label = 'negative') AS negative,
           count(*) FILTER (counted AND scored) AS scored
    FROM tagged GROUP BY grain, period_start, topic
),
filled AS (
    SELECT p.grain, p.period_start, p.period_end, t.topic, t.kind,
           CAST(coalesce(a.mentions, 0) AS BIGINT) AS mentions,
           CAST(coalesce(a.raw_mentions, 0) AS BIGINT) AS raw_mentions,
           CAST(coalesce(a.authors, 0) AS BIGINT) AS authors,
           CAST(coalesce(a.engagement, 0) AS BIGINT) AS engagement,
           coalesce(a.positive, 0) AS positive, coalesce(a.negative, 0) AS negative,
           coalesce(a.scored, 0) AS scored
    FROM periods p CROSS JOIN topics t
    LEFT JOIN agg a ON a.grain = p.grain AND a.period_start = p.period_start AND a.topic = t.topic
),
totals AS (SELECT *, sum(mentions) OVER (PARTITION BY grain, period_start) AS period_mentions FROM filled)
SELECT grain, period_start, period_end, topic, kind, mentions, raw_mentions, authors, engagement,
       CAST((positive - negative) / nullif(scored, 0) AS DOUBLE) AS net_sentiment,
       CAST(mentions / nullif(period_mentions, 0) AS DOUBLE) AS share_of_voice,
       CAST(authors / nullif(sum(authors) OVER period, 0) AS DOUBLE) AS share_of_authors,
       CAST(engagement / nullif(sum(engagement) OVER period, 0) AS DOUBLE) AS share_of_engagement,
       CAST(period_mentions AS BIGINT) AS n,
       {wilson_sql("mentions", "period_mentions", "low")} AS ci_low,
       {wilson_sql("mentions", "period_mentions", "high")} AS ci_high,
       CAST(scored AS BIGINT) AS net_sentiment_n,
       {net_interval_sql("positive", "negative", "scored", "low")} AS net_sentiment_ci_low,
       {net_interval_sql("positive", "negative", "scored", "high")} AS net_sentiment_ci_high
FROM totals
WINDOW period AS (PARTITION BY grain, period_start)
"""

TOP_INFLUENCERS_CURRENT = """
WITH latest AS (
    SELECT period_start, period_end FROM influencers
    WHERE period_kind = 'rolling' AND scope = 'all'
    ORDER BY period_end DESC, computed_at DESC LIMIT 1
)
SELECT i.period_start, i.period_end, i.rank, i.author_id,
       a.handle, a.display_name, a.source, a.followers_count,
       i.score, i.engagement, i.pagerank, i.reach, i.mentions, i.avg_sentiment, i.is_new, i.computed_at,
       i.sentiment_n, i.sentiment_ci_low, i.sentiment_ci_high
FROM influencers i
JOIN latest l ON l.period_start = i.period_start AND l.period_end = i.period_end
LEFT JOIN authors a ON a.author_id = i.author_id
WHERE i.period_kind = 'rolling' AND i.scope = 'all'
ORDER BY i.rank
"""

# The previous week is looked up in the whole table, so the oldest of the eight
# weeks still gets its change; a community absent last week is `is_new`.
COMMUNITY_OVERVIEW = """
WITH latest AS (SELECT max(period_start) AS last_week FROM communities)
SELECT c.period_start, CAST(c.period_start + 6 AS DATE) AS period_end,
       c.community_id, c.kind, c.source, c.label, c.size, c.mentions,
       p.mentions AS prev_mentions,
       CAST(c.mentions - coalesce(p.mentions, 0) AS BIGINT) AS mentions_change,
       p.community_id IS NULL AS is_new,
       c.avg_sentiment, c.top_terms, c.computed_at, c.sentiment_n, c.sentiment_ci_low, c.sentiment_ci_high
FROM communities c
CROSS JOIN latest
LEFT JOIN communities p ON p.community_id = c.community_id AND p.period_start = c.period_start - 7
WHERE c.period_start > latest.last_week - 56
ORDER BY c.period_start DESC, c.mentions DESC, c.community_id
"""

# What each competitor's accounts (and ours, for comparison) do per ISO week: posts, replies,
# the amplification they get (reposts, empty quotes), and how they answer the mentions by others of their topic that ask (a question or a
# complaint, counted once): the share answered within RESPONSE_WINDOW_HOURS and the median
# minutes to the first answer.
COMPETITOR_ACTIVITY = f"""
WITH acts AS (
    SELECT r.owner, r.role AS kind, m.mention_id, m.parent_id, m.created_at,
           {iso_week(utc_day("m.created_at"))} AS week
    FROM mention_roles r JOIN mentions m ON m.mention_id = r.mention_id
    WHERE r.role IN ('own', 'competitor')
),
owners AS (SELECT DISTINCT owner, kind FROM acts),
asking AS (
    SELECT DISTINCT o.owner, o.kind, b.mention_id, b.created_at, {iso_week(utc_day("b.created_at"))} AS week
    FROM mentions_by_others b
    JOIN mention_topics t ON t.mention_id = b.mention_id AND t.kind IN ('brand', 'competitor')
    JOIN owners o ON o.owner = t.topic
    LEFT JOIN sentiment s ON s.mention_id = b.mention_id
    WHERE b.counted AND {asks("b", "s")}
),
answered AS (
    SELECT q.owner, q.kind, q.week, q.mention_id, q.created_at, min(a.created_at) AS first_reply
    FROM asking q
    LEFT JOIN acts a ON a.owner = q.owner AND a.parent_id = q.mention_id AND a.created_at >= q.created_at
         AND a.created_at <= q.created_at + INTERVAL {RESPONSE_WINDOW_HOURS} HOUR
    GROUP BY ALL
),
posted AS (
    SELECT week, owner, kind, count(*) FILTER (parent_id IS NULL) AS posts,
           count(*) FILTER (parent_id IS NOT NULL) AS replies
    FROM acts GROUP BY ALL
),
amplified AS (  -- reposts of its posts, and quotes adding nothing: its reach, not the conversation
    SELECT {iso_week(utc_day("m.created_at"))} AS week, r.owner,
           CASE r.role WHEN 'own_amplification' THEN 'own' ELSE 'competitor' END AS kind, count(*) AS amplifications
    FROM mention_roles r JOIN mentions m ON m.mention_id = r.mention_id
    WHERE r.role IN ('own_amplification', 'competitor_amplification')
    GROUP BY ALL
),
answers AS (
    SELECT week, owner, kind, count(*) AS asked, count(first_reply) AS answered,
           median(epoch(first_reply - created_at) / 60.0) AS median_response_minutes
    FROM answered GROUP BY ALL
)
SELECT CAST(week AS DATE) AS week_start, owner, kind,
       CAST(coalesce(p.posts, 0) AS BIGINT) AS posts, CAST(coalesce(p.replies, 0) AS BIGINT) AS replies,
       CAST(coalesce(x.amplifications, 0) AS BIGINT) AS amplifications,
       CAST(coalesce(a.asked, 0) AS BIGINT) AS asked, CAST(coalesce(a.answered, 0) AS BIGINT) AS answered,
       CAST(a.answered / nullif(a.asked, 0) AS DOUBLE) AS response_rate,
       CAST(a.median_response_minutes AS DOUBLE) AS median_response_minutes,
       CAST(coalesce(a.asked, 0) AS BIGINT) AS n,
       {wilson_sql("a.answered", "a.asked", "low")} AS ci_low,
       {wilson_sql("a.answered", "a.asked", "high")} AS ci_high
FROM posted p FULL JOIN answers a USING (week, owner, kind) FULL JOIN amplified x USING (week, owner, kind)
"""

VIEWS: dict[str, str] = {
    "mentions_by_others": MENTIONS_BY_OTHERS,
    "daily_sentiment": DAILY_SENTIMENT,
    "share_of_voice": SHARE_OF_VOICE,
    "top_influencers_current": TOP_INFLUENCERS_CURRENT,
    "community_overview": COMMUNITY_OVERVIEW,
    "competitor_activity": COMPETITOR_ACTIVITY,
}


def create_views(conn: duckdb.DuckDBPyConnection) -> None:
    """Create or replace every view in `VIEWS` (what the migration does)."""
    for name, select in VIEWS.items():
        conn.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")
