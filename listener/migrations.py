"""Named, ordered schema migrations, recorded in `schema_migrations`.

Never edit a migration that has shipped: add a new one. Each runs in its own
transaction together with the row that records it, so a crash mid-migration
leaves the previous version intact.
"""
from __future__ import annotations

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
)


def apply_migrations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Bring the schema up to date; returns the names of migrations applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(migration.sql)
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
