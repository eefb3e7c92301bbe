"""Named, ordered schema migrations, recorded in `schema_migrations`.

Never edit a migration that has shipped: add a new one. Each runs in its own
transaction together with the row that records it, so a crash mid-migration
leaves the previous version intact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "core_tables",
        """
        CREATE TABLE mentions (
            mention_id   VARCHAR PRIMARY KEY,
            source       VARCHAR NOT NULL,
            native_id    VARCHAR NOT NULL,
            url          VARCHAR,
            author_id    VARCHAR,
            title        VARCHAR,
            text         VARCHAR,
            lang         VARCHAR,
            created_at   TIMESTAMPTZ NOT NULL,
            collected_at TIMESTAMPTZ NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL,
            parent_id    VARCHAR,
            thread_id    VARCHAR,
            community    VARCHAR,
            like_count   BIGINT,
            repost_count BIGINT,
            reply_count  BIGINT,
            quote_count  BIGINT,
            score        BIGINT,
            is_own       BOOLEAN NOT NULL DEFAULT false,
            run_id       VARCHAR,
            repost_of    VARCHAR,
            quote_of     VARCHAR,
            raw          JSON
        );
        CREATE TABLE authors (
            author_id       VARCHAR PRIMARY KEY,
            source          VARCHAR NOT NULL,
            handle          VARCHAR,
            display_name    VARCHAR,
            followers_count BIGINT,
            following_count BIGINT,
            verified        BOOLEAN,
            url             VARCHAR,
            is_own          BOOLEAN NOT NULL DEFAULT false,
            first_seen      TIMESTAMPTZ,
            last_seen       TIMESTAMPTZ
        );
        CREATE TABLE interactions (
            mention_id        VARCHAR NOT NULL,
            source            VARCHAR NOT NULL,
            from_author_id    VARCHAR,
            to_author_id      VARCHAR,
            kind              VARCHAR NOT NULL,
            created_at        TIMESTAMPTZ,
            target_mention_id VARCHAR,
            target_handle     VARCHAR
        );
        CREATE TABLE mention_topics (
            mention_id VARCHAR NOT NULL,
            topic      VARCHAR NOT NULL,
            kind       VARCHAR NOT NULL
        );
        CREATE TABLE sentiment (
            mention_id VARCHAR PRIMARY KEY,
            compound   DOUBLE NOT NULL,
            pos        DOUBLE NOT NULL,
            neu        DOUBLE NOT NULL,
            neg        DOUBLE NOT NULL,
            label      VARCHAR NOT NULL,
            scorer     VARCHAR NOT NULL,
            scored_at  TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE runs (
            run_id      VARCHAR PRIMARY KEY,
            source      VARCHAR NOT NULL,
            command     VARCHAR,
            started_at  TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status      VARCHAR NOT NULL,
            fetched     BIGINT NOT NULL DEFAULT 0,
            inserted    BIGINT NOT NULL DEFAULT 0,
            updated     BIGINT NOT NULL DEFAULT 0,
            error       VARCHAR,
            warnings    JSON
        );
        CREATE TABLE cursors (
            source     VARCHAR NOT NULL,
            key        VARCHAR NOT NULL,
            value      VARCHAR,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (source, key)
        );
        """,
    ),
    Migration(
        2,
        "analytics_tables",
        """
        ALTER TABLE sentiment ADD COLUMN supported BOOLEAN DEFAULT true;
        ALTER TABLE mentions ADD COLUMN lang_detected BOOLEAN DEFAULT false;
        CREATE TABLE influencers (
            period_kind   VARCHAR NOT NULL,
            period_start  DATE NOT NULL,
            period_end    DATE NOT NULL,
            scope         VARCHAR NOT NULL,
            author_id     VARCHAR NOT NULL,
            rank          INTEGER NOT NULL,
            score         DOUBLE NOT NULL,
            engagement    DOUBLE,
            pagerank      DOUBLE,
            reach         BIGINT,
            mentions      BIGINT,
            avg_sentiment DOUBLE,
            is_new        BOOLEAN,
            components    JSON,
            computed_at   TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE communities (
            period_start  DATE NOT NULL,
            community_id  VARCHAR NOT NULL,
            kind          VARCHAR NOT NULL,
            source        VARCHAR,
            label         VARCHAR,
            size          BIGINT,
            mentions      BIGINT,
            avg_sentiment DOUBLE,
            top_terms     JSON,
            computed_at   TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE community_members (
            period_start DATE NOT NULL,
            community_id VARCHAR NOT NULL,
            author_id    VARCHAR NOT NULL
        );
        CREATE TABLE conversation_shapes (
            period_start DATE NOT NULL,
            period_end   DATE NOT NULL,
            scope        VARCHAR NOT NULL,
            shape        VARCHAR NOT NULL,
            measures     JSON,
            computed_at  TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE alerts (
            alert_id    VARCHAR PRIMARY KEY,
            kind        VARCHAR NOT NULL,
            topic       VARCHAR NOT NULL,
            day         DATE NOT NULL,
            observed    DOUBLE NOT NULL,
            baseline    DOUBLE,
            score       DOUBLE,
            mention_ids JSON,
            created_at  TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE kpi_baselines (
            kpi          VARCHAR PRIMARY KEY,
            period_start DATE NOT NULL,
            period_end   DATE NOT NULL,
            value        DOUBLE,
            recorded_at  TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE kpi_values (
            kpi          VARCHAR NOT NULL,
            period_start DATE NOT NULL,
            period_end   DATE NOT NULL,
            value        DOUBLE,
            baseline     DOUBLE,
            change       DOUBLE,
            computed_at  TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "analyst_views",
        # Pasted from analytics/metrics/views.py when this migration shipped; a later
        # change to a view is a new migration, never an edit of this one.
        r"""
        CREATE OR REPLACE VIEW daily_sentiment AS
        WITH tm AS (
            SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id,
                   (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
                   (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
                   s.label, s.compound,
                   s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
                   s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
            FROM mention_topics t
            JOIN mentions m ON m.mention_id = t.mention_id
            LEFT JOIN sentiment s ON s.mention_id = m.mention_id
            WHERE NOT m.is_own
        ),
        agg AS (
            SELECT day, topic, kind, source,
                   count(*) AS mentions,
                   count(*) FILTER (scored) AS scored,
                   count(*) FILTER (unsupported) AS unsupported,
                   avg(compound) FILTER (scored) AS avg_compound,
                   count(*) FILTER (scored AND label = 'positive') AS positive,
                   count(*) FILTER (scored AND label = 'neutral') AS neutral,
                   count(*) FILTER (scored AND label = 'negative') AS negative
            FROM tm GROUP BY day, topic, kind, source
        )
        SELECT day, topic, kind, source,
               CAST(mentions AS BIGINT) AS mentions, CAST(scored AS BIGINT) AS scored,
               CAST(unsupported AS BIGINT) AS unsupported, CAST(avg_compound AS DOUBLE) AS avg_compound,
               CAST(positive AS BIGINT) AS positive, CAST(neutral AS BIGINT) AS neutral,
               CAST(negative AS BIGINT) AS negative,
               CAST((positive - negative) / nullif(scored, 0) AS DOUBLE) AS net_sentiment
        FROM agg;

        CREATE OR REPLACE VIEW share_of_voice AS
        WITH tm AS (SELECT * FROM (
            SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id,
                   (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
                   (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
                   s.label, s.compound,
                   s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
                   s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
            FROM mention_topics t
            JOIN mentions m ON m.mention_id = t.mention_id
            LEFT JOIN sentiment s ON s.mention_id = m.mention_id
            WHERE NOT m.is_own
        ) WHERE kind IN ('brand', 'competitor')),
        topics AS (SELECT DISTINCT topic, kind FROM tm),
        days AS (
            SELECT CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE) AS day FROM tm
        ),
        periods AS (
            SELECT 'day' AS grain, day AS period_start, day AS period_end FROM days
            UNION
            SELECT 'week', CAST(date_trunc('week', day) AS DATE), CAST(date_trunc('week', day) AS DATE) + 6 FROM days
        ),
        tagged AS (
            SELECT 'day' AS grain, day AS period_start, * FROM tm
            UNION ALL
            SELECT 'week', CAST(date_trunc('week', day) AS DATE), * FROM tm
        ),
        agg AS (
            SELECT grain, period_start, topic,
                   count(*) AS mentions,
                   count(DISTINCT author_id) FILTER (NOT regexp_full_match(coalesce(author_id, ''), '[^:]*:(unknown|\[deleted\])')) AS authors,
                   sum(engagement) AS engagement,
                   (count(*) FILTER (scored AND label = 'positive') - count(*) FILTER (scored AND label = 'negative'))
                     / nullif(count(*) FILTER (scored), 0) AS net_sentiment
            FROM tagged GROUP BY grain, period_start, topic
        ),
        filled AS (
            SELECT p.grain, p.period_start, p.period_end, t.topic, t.kind,
                   CAST(coalesce(a.mentions, 0) AS BIGINT) AS mentions,
                   CAST(coalesce(a.authors, 0) AS BIGINT) AS authors,
                   CAST(coalesce(a.engagement, 0) AS BIGINT) AS engagement,
                   CAST(a.net_sentiment AS DOUBLE) AS net_sentiment
            FROM periods p CROSS JOIN topics t
            LEFT JOIN agg a ON a.grain = p.grain AND a.period_start = p.period_start AND a.topic = t.topic
        )
        SELECT grain, period_start, period_end, topic, kind, mentions, authors, engagement, net_sentiment,
               CAST(mentions / nullif(sum(mentions) OVER period, 0) AS DOUBLE) AS share_of_voice,
               CAST(authors / nullif(sum(authors) OVER period, 0) AS DOUBLE) AS share_of_authors,
               CAST(engagement / nullif(sum(engagement) OVER period, 0) AS DOUBLE) AS share_of_engagement
        FROM filled
        WINDOW period AS (PARTITION BY grain, period_start);

        CREATE OR REPLACE VIEW top_influencers_current AS
        WITH latest AS (
            SELECT period_start, period_end FROM influencers
            WHERE period_kind = 'rolling' AND scope = 'all'
            ORDER BY period_end DESC, computed_at DESC LIMIT 1
        )
        SELECT i.period_start, i.period_end, i.rank, i.author_id,
               a.handle, a.display_name, a.source, a.followers_count,
               i.score, i.engagement, i.pagerank, i.reach, i.mentions, i.avg_sentiment, i.is_new, i.computed_at
        FROM influencers i
        JOIN latest l ON l.period_start = i.period_start AND l.period_end = i.period_end
        LEFT JOIN authors a ON a.author_id = i.author_id
        WHERE i.period_kind = 'rolling' AND i.scope = 'all'
        ORDER BY i.rank;

        CREATE OR REPLACE VIEW community_overview AS
        WITH latest AS (SELECT max(period_start) AS last_week FROM communities)
        SELECT c.period_start, CAST(c.period_start + 6 AS DATE) AS period_end,
               c.community_id, c.kind, c.source, c.label, c.size, c.mentions,
               p.mentions AS prev_mentions,
               CAST(c.mentions - coalesce(p.mentions, 0) AS BIGINT) AS mentions_change,
               p.community_id IS NULL AS is_new,
               c.avg_sentiment, c.top_terms, c.computed_at
        FROM communities c
        CROSS JOIN latest
        LEFT JOIN communities p ON p.community_id = c.community_id AND p.period_start = c.period_start - 7
        WHERE c.period_start > latest.last_week - 56
        ORDER BY c.period_start DESC, c.mentions DESC, c.community_id;
        """,
    ),
    Migration(
        4,
        "maturity_assessments",
        """
        CREATE TABLE maturity_assessments (
            assessed_at     TIMESTAMPTZ NOT NULL,
            window_start    DATE NOT NULL,
            window_end      DATE NOT NULL,
            level           VARCHAR NOT NULL,
            level_index     INTEGER NOT NULL,
            scores          JSON,
            evidence        JSON,
            org_model       VARCHAR,
            path            VARCHAR,
            recommendations JSON
        );
        """,
    ),
    Migration(
        5,
        "digests",
        """
        CREATE TABLE digests (
            week       VARCHAR NOT NULL,
            recipient  VARCHAR NOT NULL,
            message_id VARCHAR,
            sent_at    TIMESTAMPTZ,
            status     VARCHAR NOT NULL,
            error      VARCHAR,
            attempts   INTEGER NOT NULL DEFAULT 0,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (week, recipient)
        );
        """,
    ),
    Migration(
        6,
        "spool_segments",
        """
        CREATE TABLE spool_segments (
            segment   VARCHAR PRIMARY KEY,
            source    VARCHAR NOT NULL,
            run_id    VARCHAR NOT NULL,
            kind      VARCHAR NOT NULL,
            mentions  BIGINT NOT NULL DEFAULT 0,
            loaded_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        7,
        "store_writes",
        """
        CREATE TABLE store_writes (
            writes     BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        INSERT INTO store_writes VALUES (0, now());
        """,
    ),
    Migration(
        8,
        "text_hash_and_analysis_writes",
        # The hash is listener.core.models.text_hash_sql, pasted. Stored scores were of the
        # mention's current text (loads used to delete a score whose text changed).
        """
        ALTER TABLE mentions ADD COLUMN text_hash VARCHAR;
        UPDATE mentions SET text_hash = md5(concat_ws(chr(10), title, text));
        ALTER TABLE sentiment ADD COLUMN text_hash VARCHAR;
        UPDATE sentiment SET text_hash = m.text_hash FROM mentions m WHERE m.mention_id = sentiment.mention_id;
        CREATE TABLE analysis_writes (
            writes     BIGINT NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        );
        INSERT INTO analysis_writes VALUES (0, now());
        """,
    ),
    Migration(
        9,
        "topic_sentiment",
        # The views are analytics/metrics/views.py's when this migration shipped, pasted: they
        # read the per-topic sentiment, the whole post's where a pair has none yet.
        r"""
        CREATE TABLE topic_sentiment (
            mention_id VARCHAR NOT NULL,
            topic      VARCHAR NOT NULL,
            compound   DOUBLE NOT NULL,
            label      VARCHAR NOT NULL,
            method     VARCHAR NOT NULL,
            scored_at  TIMESTAMPTZ NOT NULL,
            scorer     VARCHAR NOT NULL,
            text_hash  VARCHAR
        );
        CREATE OR REPLACE VIEW daily_sentiment AS
WITH tm AS (
    SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id,
           (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
           (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
           coalesce(ts.label, s.label) AS label, coalesce(ts.compound, s.compound) AS compound,
           s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
           s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
    FROM mention_topics t
    JOIN mentions m ON m.mention_id = t.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
    WHERE NOT m.is_own
),
agg AS (
    SELECT day, topic, kind, source,
           count(*) AS mentions,
           count(*) FILTER (scored) AS scored,
           count(*) FILTER (unsupported) AS unsupported,
           avg(compound) FILTER (scored) AS avg_compound,
           count(*) FILTER (scored AND label = 'positive') AS positive,
           count(*) FILTER (scored AND label = 'neutral') AS neutral,
           count(*) FILTER (scored AND label = 'negative') AS negative
    FROM tm GROUP BY day, topic, kind, source
)
SELECT day, topic, kind, source,
       CAST(mentions AS BIGINT) AS mentions, CAST(scored AS BIGINT) AS scored,
       CAST(unsupported AS BIGINT) AS unsupported, CAST(avg_compound AS DOUBLE) AS avg_compound,
       CAST(positive AS BIGINT) AS positive, CAST(neutral AS BIGINT) AS neutral,
       CAST(negative AS BIGINT) AS negative,
       CAST((positive - negative) / nullif(scored, 0) AS DOUBLE) AS net_sentiment
FROM agg;
        CREATE OR REPLACE VIEW share_of_voice AS
WITH tm AS (SELECT * FROM (
    SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id,
           (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
           (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
           coalesce(ts.label, s.label) AS label, coalesce(ts.compound, s.compound) AS compound,
           s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
           s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
    FROM mention_topics t
    JOIN mentions m ON m.mention_id = t.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
    WHERE NOT m.is_own
) WHERE kind IN ('brand', 'competitor')),
topics AS (SELECT DISTINCT topic, kind FROM tm),
days AS (
    SELECT CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE) AS day FROM tm
),
periods AS (
    SELECT 'day' AS grain, day AS period_start, day AS period_end FROM days
    UNION
    SELECT 'week', CAST(date_trunc('week', day) AS DATE), CAST(date_trunc('week', day) AS DATE) + 6 FROM days
),
tagged AS (
    SELECT 'day' AS grain, day AS period_start, * FROM tm
    UNION ALL
    SELECT 'week', CAST(date_trunc('week', day) AS DATE), * FROM tm
),
agg AS (
    SELECT grain, period_start, topic,
           count(*) AS mentions,
           count(DISTINCT author_id) FILTER (NOT regexp_full_match(coalesce(author_id, ''), '[^:]*:(unknown|\[deleted\])')) AS authors,
           sum(engagement) AS engagement,
           (count(*) FILTER (scored AND label = 'positive') - count(*) FILTER (scored AND label = 'negative'))
             / nullif(count(*) FILTER (scored), 0) AS net_sentiment
    FROM tagged GROUP BY grain, period_start, topic
),
filled AS (
    SELECT p.grain, p.period_start, p.period_end, t.topic, t.kind,
           CAST(coalesce(a.mentions, 0) AS BIGINT) AS mentions,
           CAST(coalesce(a.authors, 0) AS BIGINT) AS authors,
           CAST(coalesce(a.engagement, 0) AS BIGINT) AS engagement,
           CAST(a.net_sentiment AS DOUBLE) AS net_sentiment
    FROM periods p CROSS JOIN topics t
    LEFT JOIN agg a ON a.grain = p.grain AND a.period_start = p.period_start AND a.topic = t.topic
)
SELECT grain, period_start, period_end, topic, kind, mentions, authors, engagement, net_sentiment,
       CAST(mentions / nullif(sum(mentions) OVER period, 0) AS DOUBLE) AS share_of_voice,
       CAST(authors / nullif(sum(authors) OVER period, 0) AS DOUBLE) AS share_of_authors,
       CAST(engagement / nullif(sum(engagement) OVER period, 0) AS DOUBLE) AS share_of_engagement
FROM filled
WINDOW period AS (PARTITION BY grain, period_start);
        """,
    ),
    Migration(
        10,
        "conversation_counted_once",
        # Who a mention is from (mention_roles) and its copies (duplicate_clusters); the view is
        # analytics/metrics/views.py's when this migration shipped, pasted. The views that read it
        # are re-created by migration 11, which shipped with this one.
        r"""
        CREATE TABLE mention_roles (
            mention_id  VARCHAR NOT NULL,
            role        VARCHAR NOT NULL,
            owner       VARCHAR NOT NULL,
            computed_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE duplicate_clusters (
            cluster_id  VARCHAR NOT NULL,
            mention_id  VARCHAR NOT NULL,
            is_original BOOLEAN NOT NULL,
            similarity  DOUBLE NOT NULL,
            kind        VARCHAR NOT NULL,
            counted     BOOLEAN NOT NULL,
            method      VARCHAR NOT NULL,
            computed_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE step_state (
            step        VARCHAR NOT NULL,
            inputs      VARCHAR NOT NULL,
            computed_at TIMESTAMPTZ NOT NULL
        );
        CREATE OR REPLACE VIEW mentions_by_others AS
SELECT m.mention_id, m.source, m.native_id, m.url, m.author_id, m.title, m.text, m.lang, m.created_at,
       m.updated_at, m.parent_id, m.thread_id, m.community, m.like_count, m.repost_count, m.reply_count,
       m.quote_count, m.score, m.repost_of, m.quote_of,
       d.cluster_id AS duplicate_cluster, coalesce(d.is_original, true) AS is_original,
       coalesce(d.counted, true) AS counted
FROM mentions m
LEFT JOIN duplicate_clusters d ON d.mention_id = m.mention_id
WHERE NOT m.is_own AND m.mention_id NOT IN (SELECT mention_id FROM mention_roles);
        """,
    ),
    Migration(
        11,
        "coordinated_groups_and_sample_sizes",
        # The views are analytics/metrics/views.py's when this migration shipped, pasted: every
        # rate and average with its n and 95 % interval.
        r"""
        CREATE TABLE coordinated_groups (
            group_id    VARCHAR NOT NULL,
            author_id   VARCHAR NOT NULL,
            mention_id  VARCHAR NOT NULL,
            first_at    TIMESTAMPTZ NOT NULL,
            last_at     TIMESTAMPTZ NOT NULL,
            kind        VARCHAR NOT NULL,
            computed_at TIMESTAMPTZ NOT NULL
        );
        ALTER TABLE kpi_values ADD COLUMN n BIGINT;
        ALTER TABLE kpi_values ADD COLUMN ci_low DOUBLE;
        ALTER TABLE kpi_values ADD COLUMN ci_high DOUBLE;
        ALTER TABLE kpi_baselines ADD COLUMN n BIGINT;
        ALTER TABLE kpi_baselines ADD COLUMN ci_low DOUBLE;
        ALTER TABLE kpi_baselines ADD COLUMN ci_high DOUBLE;
        ALTER TABLE alerts ADD COLUMN expected_low DOUBLE;
        ALTER TABLE alerts ADD COLUMN expected_high DOUBLE;
        ALTER TABLE influencers ADD COLUMN sentiment_n BIGINT;
        ALTER TABLE influencers ADD COLUMN sentiment_ci_low DOUBLE;
        ALTER TABLE influencers ADD COLUMN sentiment_ci_high DOUBLE;
        ALTER TABLE communities ADD COLUMN sentiment_n BIGINT;
        ALTER TABLE communities ADD COLUMN sentiment_ci_low DOUBLE;
        ALTER TABLE communities ADD COLUMN sentiment_ci_high DOUBLE;
        CREATE OR REPLACE VIEW daily_sentiment AS
WITH tm AS (
    SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id, m.counted,
           (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
           (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
           coalesce(ts.label, s.label) AS label, coalesce(ts.compound, s.compound) AS compound,
           s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
           s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
    FROM mention_topics t
    JOIN mentions_by_others m ON m.mention_id = t.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
),
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
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((((positive) - (negative)) / nullif((scored), 0)) - (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sqrt(greatest(0.0, ((positive) + (negative) - (scored) * (((positive) - (negative)) / nullif((scored), 0)) * (((positive) - (negative)) / nullif((scored), 0))) / nullif((scored) - 1, 0))), 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS ci_low,
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((((positive) - (negative)) / nullif((scored), 0)) + (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sqrt(greatest(0.0, ((positive) + (negative) - (scored) * (((positive) - (negative)) / nullif((scored), 0)) * (((positive) - (negative)) / nullif((scored), 0))) / nullif((scored) - 1, 0))), 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS ci_high,
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((avg_compound) - (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sd_compound, 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS avg_compound_ci_low,
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((avg_compound) + (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sd_compound, 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS avg_compound_ci_high
FROM agg;
        CREATE OR REPLACE VIEW share_of_voice AS
WITH tm AS (SELECT * FROM (
    SELECT DISTINCT t.topic, t.kind, m.mention_id, m.source, m.author_id, m.counted,
           (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER)) AS day,
           (coalesce(m.like_count, 0) + coalesce(m.repost_count, 0) + coalesce(m.reply_count, 0) + coalesce(m.quote_count, 0) + greatest(coalesce(m.score, 0), 0)) AS engagement,
           coalesce(ts.label, s.label) AS label, coalesce(ts.compound, s.compound) AS compound,
           s.mention_id IS NOT NULL AND coalesce(s.supported, true) AS scored,
           s.mention_id IS NOT NULL AND NOT coalesce(s.supported, true) AS unsupported
    FROM mention_topics t
    JOIN mentions_by_others m ON m.mention_id = t.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic
) WHERE kind IN ('brand', 'competitor')),
topics AS (SELECT DISTINCT topic, kind FROM tm),
days AS (
    SELECT CAST(unnest(generate_series(min(day), max(day), INTERVAL 1 DAY)) AS DATE) AS day FROM tm
),
periods AS (
    SELECT 'day' AS grain, day AS period_start, day AS period_end FROM days
    UNION
    SELECT 'week', CAST(date_trunc('week', day) AS DATE), CAST(date_trunc('week', day) AS DATE) + 6 FROM days
),
tagged AS (
    SELECT 'day' AS grain, day AS period_start, * FROM tm
    UNION ALL
    SELECT 'week', CAST(date_trunc('week', day) AS DATE), * FROM tm
),
agg AS (
    SELECT grain, period_start, topic,
           count(*) FILTER (counted) AS mentions,
           count(*) AS raw_mentions,
           count(DISTINCT author_id) FILTER (NOT regexp_full_match(coalesce(author_id, ''), '[^:]*:(unknown|\[deleted\])')) AS authors,
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
       CAST(CASE WHEN (period_mentions) > 0 THEN greatest(0.0, least(1.0, (((((mentions) / nullif((period_mentions), 0)) + 3.8414588206941254 / (2.0 * (period_mentions))) - (1.959963984540054 * sqrt(((mentions) / nullif((period_mentions), 0)) * (1 - ((mentions) / nullif((period_mentions), 0))) / (period_mentions) + 3.8414588206941254 / (4.0 * (period_mentions) * (period_mentions))))) / (1 + 3.8414588206941254 / (period_mentions))))) END AS DOUBLE) AS ci_low,
       CAST(CASE WHEN (period_mentions) > 0 THEN greatest(0.0, least(1.0, (((((mentions) / nullif((period_mentions), 0)) + 3.8414588206941254 / (2.0 * (period_mentions))) + (1.959963984540054 * sqrt(((mentions) / nullif((period_mentions), 0)) * (1 - ((mentions) / nullif((period_mentions), 0))) / (period_mentions) + 3.8414588206941254 / (4.0 * (period_mentions) * (period_mentions))))) / (1 + 3.8414588206941254 / (period_mentions))))) END AS DOUBLE) AS ci_high,
       CAST(scored AS BIGINT) AS net_sentiment_n,
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((((positive) - (negative)) / nullif((scored), 0)) - (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sqrt(greatest(0.0, ((positive) + (negative) - (scored) * (((positive) - (negative)) / nullif((scored), 0)) * (((positive) - (negative)) / nullif((scored), 0))) / nullif((scored) - 1, 0))), 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS net_sentiment_ci_low,
       CAST(CASE WHEN (scored) >= 2 THEN greatest(-1.0, least(1.0, ((((positive) - (negative)) / nullif((scored), 0)) + (CASE WHEN ((scored) - 1) < 1 THEN NULL WHEN ((scored) - 1) <= 30 THEN (CASE CAST((scored) - 1 AS INTEGER) WHEN 1 THEN 12.706 WHEN 2 THEN 4.303 WHEN 3 THEN 3.182 WHEN 4 THEN 2.776 WHEN 5 THEN 2.571 WHEN 6 THEN 2.447 WHEN 7 THEN 2.365 WHEN 8 THEN 2.306 WHEN 9 THEN 2.262 WHEN 10 THEN 2.228 WHEN 11 THEN 2.201 WHEN 12 THEN 2.179 WHEN 13 THEN 2.16 WHEN 14 THEN 2.145 WHEN 15 THEN 2.131 WHEN 16 THEN 2.12 WHEN 17 THEN 2.11 WHEN 18 THEN 2.101 WHEN 19 THEN 2.093 WHEN 20 THEN 2.086 WHEN 21 THEN 2.08 WHEN 22 THEN 2.074 WHEN 23 THEN 2.069 WHEN 24 THEN 2.064 WHEN 25 THEN 2.06 WHEN 26 THEN 2.056 WHEN 27 THEN 2.052 WHEN 28 THEN 2.048 WHEN 29 THEN 2.045 WHEN 30 THEN 2.042 END) ELSE 1.959963984540054 + (9.489084921194248) / (4.0 * ((scored) - 1)) + (270.95986711100267) / (96.0 * ((scored) - 1) * ((scored) - 1)) END) * coalesce(sqrt(greatest(0.0, ((positive) + (negative) - (scored) * (((positive) - (negative)) / nullif((scored), 0)) * (((positive) - (negative)) / nullif((scored), 0))) / nullif((scored) - 1, 0))), 0) / sqrt(nullif(scored, 0))))) END AS DOUBLE) AS net_sentiment_ci_high
FROM totals
WINDOW period AS (PARTITION BY grain, period_start);
        CREATE OR REPLACE VIEW top_influencers_current AS
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
ORDER BY i.rank;
        CREATE OR REPLACE VIEW community_overview AS
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
ORDER BY c.period_start DESC, c.mentions DESC, c.community_id;
        CREATE OR REPLACE VIEW competitor_activity AS
WITH acts AS (
    SELECT r.owner, r.role AS kind, m.mention_id, m.parent_id, m.created_at,
           CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week
    FROM mention_roles r JOIN mentions m ON m.mention_id = r.mention_id
    WHERE r.role IN ('own', 'competitor')
),
owners AS (SELECT DISTINCT owner, kind FROM acts),
asking AS (
    SELECT DISTINCT o.owner, o.kind, b.mention_id, b.created_at, CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(b.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week
    FROM mentions_by_others b
    JOIN mention_topics t ON t.mention_id = b.mention_id AND t.kind IN ('brand', 'competitor')
    JOIN owners o ON o.owner = t.topic
    LEFT JOIN sentiment s ON s.mention_id = b.mention_id
    WHERE b.counted AND (regexp_matches(concat_ws(' ', b.title, b.text), '[?？]') OR (s.label = 'negative' AND coalesce(s.supported, true)))
),
answered AS (
    SELECT q.owner, q.kind, q.week, q.mention_id, q.created_at, min(a.created_at) AS first_reply
    FROM asking q
    LEFT JOIN acts a ON a.owner = q.owner AND a.parent_id = q.mention_id AND a.created_at >= q.created_at
         AND a.created_at <= q.created_at + INTERVAL 72 HOUR
    GROUP BY ALL
),
posted AS (
    SELECT week, owner, kind, count(*) FILTER (parent_id IS NULL) AS posts,
           count(*) FILTER (parent_id IS NOT NULL) AS replies
    FROM acts GROUP BY ALL
),
amplified AS (  -- reposts of its posts, and quotes adding nothing: its reach, not the conversation
    SELECT CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week, r.owner,
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
       CAST(CASE WHEN (a.asked) > 0 THEN greatest(0.0, least(1.0, (((((a.answered) / nullif((a.asked), 0)) + 3.8414588206941254 / (2.0 * (a.asked))) - (1.959963984540054 * sqrt(((a.answered) / nullif((a.asked), 0)) * (1 - ((a.answered) / nullif((a.asked), 0))) / (a.asked) + 3.8414588206941254 / (4.0 * (a.asked) * (a.asked))))) / (1 + 3.8414588206941254 / (a.asked))))) END AS DOUBLE) AS ci_low,
       CAST(CASE WHEN (a.asked) > 0 THEN greatest(0.0, least(1.0, (((((a.answered) / nullif((a.asked), 0)) + 3.8414588206941254 / (2.0 * (a.asked))) + (1.959963984540054 * sqrt(((a.answered) / nullif((a.asked), 0)) * (1 - ((a.answered) / nullif((a.asked), 0))) / (a.asked) + 3.8414588206941254 / (4.0 * (a.asked) * (a.asked))))) / (1 + 3.8414588206941254 / (a.asked))))) END AS DOUBLE) AS ci_high
FROM posted p FULL JOIN answers a USING (week, owner, kind) FULL JOIN amplified x USING (week, owner, kind);
        """,
    ),
    Migration(
        12,
        "alert_events_and_deliveries",
        # What the [[alerts.rules]] raised (analytics/alerting.py) and the ledger that delivers each
        # to each channel exactly once (listener/publish/alerts.py).
        r"""
        CREATE TABLE alert_events (
            event_id      VARCHAR PRIMARY KEY,
            rule          VARCHAR NOT NULL,
            kind          VARCHAR NOT NULL,
            severity      VARCHAR NOT NULL,
            topic         VARCHAR,
            cooldown_key  VARCHAR NOT NULL,
            window_start  TIMESTAMPTZ,
            window_end    TIMESTAMPTZ,
            observed      DOUBLE,
            expected_low  DOUBLE,
            expected_high DOUBLE,
            summary       VARCHAR NOT NULL,
            mention_ids   JSON,
            source_alert  VARCHAR,
            created_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE alert_deliveries (
            event_id   VARCHAR NOT NULL,
            channel    VARCHAR NOT NULL,
            status     VARCHAR NOT NULL,
            attempts   INTEGER NOT NULL,
            error      VARCHAR,
            sent_at    TIMESTAMPTZ,
            updated_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (event_id, channel)
        );
        """,
    ),
    Migration(
        13,
        "inbox_state_and_sentiment_overrides",
        # What analysts decide: the response inbox's state per mention (`listener inbox`) and their
        # sentiment labels (`listener sentiment set`), which `label` then prefers over the scorer's
        # (`model_label`). competitor_activity is analytics/metrics/views.py's when this migration
        # shipped, pasted: a dismissed mention no longer asks.
        r"""
        CREATE TABLE inbox_state (
            mention_id VARCHAR PRIMARY KEY,
            state      VARCHAR NOT NULL,
            reason     VARCHAR,
            assignee   VARCHAR,
            note       VARCHAR,
            updated_at TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE sentiment_overrides (
            mention_id VARCHAR NOT NULL,
            topic      VARCHAR,
            label      VARCHAR NOT NULL,
            note       VARCHAR,
            set_at     TIMESTAMPTZ NOT NULL
        );
        ALTER TABLE sentiment ADD COLUMN model_label VARCHAR;
        UPDATE sentiment SET model_label = label;
        ALTER TABLE topic_sentiment ADD COLUMN model_label VARCHAR;
        UPDATE topic_sentiment SET model_label = label;
        CREATE OR REPLACE VIEW competitor_activity AS
WITH acts AS (
    SELECT r.owner, r.role AS kind, m.mention_id, m.parent_id, m.created_at,
           CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week
    FROM mention_roles r JOIN mentions m ON m.mention_id = r.mention_id
    WHERE r.role IN ('own', 'competitor')
),
owners AS (SELECT DISTINCT owner, kind FROM acts),
asking AS (
    SELECT DISTINCT o.owner, o.kind, b.mention_id, b.created_at, CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(b.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week
    FROM mentions_by_others b
    JOIN mention_topics t ON t.mention_id = b.mention_id AND t.kind IN ('brand', 'competitor')
    JOIN owners o ON o.owner = t.topic
    LEFT JOIN sentiment s ON s.mention_id = b.mention_id
    WHERE b.counted AND ((regexp_matches(concat_ws(' ', b.title, b.text), '[?？]') OR (s.label = 'negative' AND coalesce(s.supported, true))) AND b.mention_id NOT IN (SELECT mention_id FROM inbox_state WHERE state = 'dismissed'))
),
answered AS (
    SELECT q.owner, q.kind, q.week, q.mention_id, q.created_at, min(a.created_at) AS first_reply
    FROM asking q
    LEFT JOIN acts a ON a.owner = q.owner AND a.parent_id = q.mention_id AND a.created_at >= q.created_at
         AND a.created_at <= q.created_at + INTERVAL 72 HOUR
    GROUP BY ALL
),
posted AS (
    SELECT week, owner, kind, count(*) FILTER (parent_id IS NULL) AS posts,
           count(*) FILTER (parent_id IS NOT NULL) AS replies
    FROM acts GROUP BY ALL
),
amplified AS (  -- reposts of its posts, and quotes adding nothing: its reach, not the conversation
    SELECT CAST(date_trunc('week', (DATE '1970-01-01' + CAST(floor(epoch_us(m.created_at) / 86400000000.0) AS INTEGER))) AS DATE) AS week, r.owner,
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
       CAST(CASE WHEN (a.asked) > 0 THEN greatest(0.0, least(1.0, (((((a.answered) / nullif((a.asked), 0)) + 3.8414588206941254 / (2.0 * (a.asked))) - (1.959963984540054 * sqrt(((a.answered) / nullif((a.asked), 0)) * (1 - ((a.answered) / nullif((a.asked), 0))) / (a.asked) + 3.8414588206941254 / (4.0 * (a.asked) * (a.asked))))) / (1 + 3.8414588206941254 / (a.asked))))) END AS DOUBLE) AS ci_low,
       CAST(CASE WHEN (a.asked) > 0 THEN greatest(0.0, least(1.0, (((((a.answered) / nullif((a.asked), 0)) + 3.8414588206941254 / (2.0 * (a.asked))) + (1.959963984540054 * sqrt(((a.answered) / nullif((a.asked), 0)) * (1 - ((a.answered) / nullif((a.asked), 0))) / (a.asked) + 3.8414588206941254 / (4.0 * (a.asked) * (a.asked))))) / (1 + 3.8414588206941254 / (a.asked))))) END AS DOUBLE) AS ci_high
FROM posted p FULL JOIN answers a USING (week, owner, kind) FULL JOIN amplified x USING (week, owner, kind);
        """,
    ),
    Migration(
        14,
        "runs_usage",
        # What a run spent of a metered budget (YouTube's daily quota units), for `runs` and `listener status`.
        "ALTER TABLE runs ADD COLUMN usage JSON;",
    ),
)


def apply_migrations(conn: duckdb.DuckDBPyConnection, dialect: Callable[[str], str] | None = None) -> list[str]:
    """Bring the schema up to date; returns the names of migrations applied now.

    `dialect` rewrites each migration's SQL for another backend (DuckLake: no key constraints).
    """
    dialect = dialect or (lambda sql: sql)
    conn.execute(
        dialect(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(dialect(migration.sql))
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, now())",
                [migration.version, migration.name],
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.name)
    return applied


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row else 0
