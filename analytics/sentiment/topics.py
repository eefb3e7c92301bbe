"""Sentiment per topic within a post -> `topic_sentiment` (docs/sentiment.md#per-topic).

"Zephyr was smoother; Brewtopia was sour and disappointing" is good news for Zephyr
and bad news for Brewtopia, while the whole post scores -0.49 against both. So for
each (mention, topic) pair the post is cut into clauses (sentence ends, `;`, new
lines, and the contrast words of CLAUSE_BREAK: but, while, whereas, however,
although, though, whilst), the topic's own query (its compiled condition, the same
SQL that tagged the post) is run on every clause, and VADER scores only the clauses
where it matches, joined in order (`method = 'clauses'`). Where the topic matches in
every clause, in none (a NEAR that spans two clauses, a field-only query), the post is
one clause, or the post has only this one topic (then "I tried Acme. It was awful." is
about Acme in both sentences), the whole-post score is taken (`method = 'post'`).

Incremental like `sentiment`: a pair is (re)computed when it has no row, another
scorer wrote it, or the mention's text changed since; a retag empties the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from analytics.sentiment.overrides import apply_overrides
from analytics.sentiment.score import NEGATIVE, POSITIVE, scorer_label
from analytics.sentiment.vader import score_texts
from listener.core.matcher import literal, tag_input_sql
from listener.store.connection import Claim, Store, registered, scalar

# RE2, case-insensitive: what ends a clause.
CLAUSE_BREAK = (
    r"(?i)[.!?;]+(?:\s+|$)|\n+|\s+[-\x{2013}\x{2014}]\s+"
    r"|[\s,]+(?:but|while|whilst|whereas|however|although|though)[\s,]+"
)


class TopicCondition(Protocol):
    """A topic as the tagger compiled it (listener.ingest.topics.TopicRule)."""

    @property
    def topic(self) -> str: ...
    @property
    def condition(self) -> str: ...
    @property
    def needs(self) -> frozenset[str]: ...


def score_topics(
    store: Store, topics: Sequence[TopicCondition], lexicon: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Fill `topic_sentiment` for the pairs that need it; returns counts by method."""
    conn = store.conn
    scorer = scorer_label(lexicon)
    rules = [t for t in topics if t.condition]
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE ts_pending AS
        SELECT t.mention_id, t.topic, s.compound, coalesce(s.model_label, s.label) AS label, m.text_hash
        FROM (SELECT DISTINCT mention_id, topic FROM mention_topics) t
        JOIN mentions m ON m.mention_id = t.mention_id
        JOIN sentiment s ON s.mention_id = t.mention_id
        LEFT JOIN topic_sentiment x ON x.mention_id = t.mention_id AND x.topic = t.topic
        WHERE x.mention_id IS NULL OR x.scorer IS DISTINCT FROM ? OR x.text_hash IS DISTINCT FROM m.text_hash
        """,
        [scorer],
    )
    try:
        pending = scalar(conn, "SELECT count(*) FROM ts_pending")
        known = {rule.topic for rule in rules}
        if pending:
            _stage_clauses(conn, [r for r in rules if r.topic in known])
        texts = [r[0] for r in conn.execute("SELECT txt FROM ts_texts ORDER BY tid").fetchall()] if pending else []
        scores = score_texts(texts, lexicon=lexicon) if texts else []
        scored = pa.table(
            {
                "tid": pa.array(range(1, len(scores) + 1), pa.int64()),
                "compound": pa.array([s[0] for s in scores], pa.float64()),
            }
        )
        with registered(conn, "ts_scored", scored):
            written = (
                store.write_transaction(lambda c: _write(c, scorer), "topic sentiment", claim=Claim.ANALYSIS)
                if pending
                else 0
            )
        by_method = dict(
            conn.execute("SELECT method, count(*) FROM topic_sentiment GROUP BY method ORDER BY method").fetchall()
        )
    finally:
        for table in ("ts_pending", "ts_clauses", "ts_input", "ts_hits", "ts_pairs", "ts_texts"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return {"pairs": int(written), "clause_texts": len(texts), "by_method": by_method}


def _stage_clauses(conn: duckdb.DuckDBPyConnection, rules: Sequence[TopicCondition]) -> None:
    """ts_pairs: per pending pair the clauses that match and how many the post has; ts_texts:
    the distinct texts to score (the matching clauses, joined in order)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE ts_clauses AS
        WITH split AS (
            SELECT m.mention_id, m.author_id, m.source, m.lang, m.community, m.url, m.title,
                   string_split_regex(coalesce(m.text, ''), {literal(CLAUSE_BREAK)}) AS parts
            FROM mentions m SEMI JOIN (  -- one topic: everything the post says is about it (the post's score)
                SELECT mention_id FROM ts_pending GROUP BY mention_id HAVING count(DISTINCT topic) > 1
            ) p USING (mention_id)
        ),
        clauses AS (
            SELECT mention_id, 0 AS clause_no, author_id, source, lang, community, url, title, '' AS text
            FROM split WHERE trim(coalesce(title, '')) <> ''
            UNION ALL
            SELECT mention_id, generate_subscripts(parts, 1) AS clause_no, author_id, source, lang, community,
                   url, NULL AS title, unnest(parts) AS text
            FROM split
        )
        SELECT * FROM clauses WHERE trim(coalesce(title, text)) <> ''
        """
    )
    needs = set().union(*(rule.needs for rule in rules)) if rules else set()
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE ts_input AS "
        + tag_input_sql(needs, relation="ts_clauses", keys="mention_id, clause_no")
    )
    selects = [
        f"SELECT mention_id, clause_no, {literal(rule.topic)} AS topic FROM ts_input WHERE {rule.condition}"
        for rule in rules
    ]
    hits = " UNION ALL ".join(selects) if selects else "SELECT NULL::VARCHAR, NULL::INTEGER, NULL::VARCHAR LIMIT 0"
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE ts_hits AS SELECT DISTINCT * FROM ({hits}) h(mention_id, clause_no, topic)"
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE ts_pairs AS
        WITH sizes AS (SELECT mention_id, count(*) AS clauses FROM ts_clauses GROUP BY mention_id),
        matched AS (
            SELECT h.mention_id, h.topic, count(*) AS hits,
                   string_agg(trim(coalesce(c.title, c.text)), ' ' ORDER BY h.clause_no) AS txt
            FROM ts_hits h JOIN ts_clauses c USING (mention_id, clause_no)
            GROUP BY h.mention_id, h.topic
        )
        SELECT p.*, coalesce(z.clauses, 0) AS clauses, coalesce(x.hits, 0) AS hits,
               CASE WHEN coalesce(z.clauses, 0) > 1 AND x.hits > 0 AND x.hits < z.clauses THEN x.txt END AS txt
        FROM ts_pending p
        LEFT JOIN sizes z ON z.mention_id = p.mention_id
        LEFT JOIN matched x ON x.mention_id = p.mention_id AND x.topic = p.topic
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE ts_texts AS
        SELECT row_number() OVER (ORDER BY txt) AS tid, txt FROM (SELECT DISTINCT txt FROM ts_pairs WHERE txt IS NOT NULL)
        """
    )


def _write(conn: duckdb.DuckDBPyConnection, scorer: str) -> int:
    # the pairs recomputed now, and those whose topic the mention no longer has
    conn.execute(
        """
        DELETE FROM topic_sentiment
        WHERE EXISTS (SELECT 1 FROM ts_pending p
                      WHERE p.mention_id = topic_sentiment.mention_id AND p.topic = topic_sentiment.topic)
           OR NOT EXISTS (SELECT 1 FROM mention_topics t
                          WHERE t.mention_id = topic_sentiment.mention_id AND t.topic = topic_sentiment.topic)
        """
    )
    inserted = int(
        scalar(
            conn,
            """
            INSERT INTO topic_sentiment (mention_id, topic, compound, model_label, method, scored_at, scorer,
                                         text_hash, label)
            SELECT *, model_label FROM (
                SELECT p.mention_id, p.topic, coalesce(c.compound, p.compound),
                       CASE WHEN c.compound IS NULL THEN p.label
                            WHEN c.compound >= ? THEN 'positive' WHEN c.compound <= ? THEN 'negative'
                            ELSE 'neutral' END AS model_label,
                       CASE WHEN c.compound IS NULL THEN 'post' ELSE 'clauses' END,
                       now(), ?, p.text_hash
                FROM ts_pairs p LEFT JOIN ts_texts t ON t.txt = p.txt LEFT JOIN ts_scored c ON c.tid = t.tid)
            """,
            [POSITIVE, NEGATIVE, scorer],
        )
    )
    apply_overrides(conn)  # the analysts' labels win over the new scores
    return inserted
