"""Score every mention not yet scored, once per distinct text, in bounded chunks.

Reposts repeat texts, so texts are deduplicated before scoring; scoring uses
`analytics.sentiment.vader` (identical to vaderSentiment 3.3.2, faster, both cores for
big batches). Each chunk is committed on its own, so an interrupted analyze
keeps what it scored and a rerun picks up the rest.

Domain lexicon overrides (`[analytics] lexicon`) are part of the scorer's
name (`vader 3.3.2+lexicon:<hash>`); a mention scored under another name
(other overrides, none, another VADER version) is scored again. So is a
mention whose text changed since: each score keeps the `text_hash` of the
text it read, and the loader gives `mentions.text_hash` the new text's.

VADER's lexicon is English, so a score is `supported` only when the mention's
language is English or unknown; other scores are kept but flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import duckdb
import pyarrow as pa

from analytics.sentiment.overrides import apply_overrides
from analytics.sentiment.vader import (
    SCORER_NAME,
    SCORER_VERSION,
    normalise_overrides,
    overrides_hash,
    score_texts,
)
from listener.core.models import mention_text_sql
from listener.store.connection import Claim, Store, registered, scalar

CHUNK_TEXTS = 200_000
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's own convention for labels
SCORED_TEXT_SQL = mention_text_sql("m")
# Codes that say "no language" (X: und, zxx, qme, qam, qht, qst): VADER still reads emoji and emoticons.
NO_LANGUAGE = ("und", "zxx", "qme", "qam", "qht", "qst", "art")
SUPPORTED_SQL = (
    "(m.lang IS NULL OR lower(m.lang) = 'en' OR lower(m.lang) LIKE 'en-%' OR lower(m.lang) LIKE 'en\\_%' ESCAPE '\\' "
    f"OR lower(m.lang) IN ({', '.join(repr(c) for c in NO_LANGUAGE)}))"
)


def scorer_label(lexicon: Mapping[str, float] | None = None) -> str:
    """`vader 3.3.2`, or `vader 3.3.2+lexicon:<8 hex>` with domain overrides."""
    base = f"{SCORER_NAME} {SCORER_VERSION}"
    overrides = normalise_overrides(lexicon)
    return f"{base}+lexicon:{overrides_hash(overrides)}" if overrides else base


def score_pending(
    store: Store,
    workers: int | None = None,
    chunk_texts: int = CHUNK_TEXTS,
    on_chunk: Callable[[int], None] | None = None,
    lexicon: Mapping[str, float] | None = None,
) -> tuple[int, int]:
    """Score unscored mentions, those scored by another scorer and those whose text changed since;
    returns (mentions, distinct texts)."""
    scorer = scorer_label(lexicon)
    conn = store.conn
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE pending_mentions AS
        SELECT m.mention_id FROM mentions m LEFT JOIN sentiment s ON s.mention_id = m.mention_id
        WHERE s.mention_id IS NULL OR s.scorer IS DISTINCT FROM ? OR s.text_hash IS DISTINCT FROM m.text_hash
        """,
        [scorer],
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending_texts AS
        SELECT row_number() OVER () AS tid, txt FROM (
            SELECT DISTINCT {SCORED_TEXT_SQL} AS txt FROM mentions m SEMI JOIN pending_mentions USING (mention_id))
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending_ids AS
        SELECT m.mention_id, t.tid, {SUPPORTED_SQL} AS supported, m.text_hash
        FROM mentions m SEMI JOIN pending_mentions USING (mention_id)
        JOIN pending_texts t ON t.txt = {SCORED_TEXT_SQL}
        """
    )
    total_texts = scalar(conn, "SELECT count(*) FROM pending_texts")
    scored = 0
    try:
        for start in range(0, total_texts, chunk_texts):
            texts = [
                row[0]
                for row in conn.execute(
                    "SELECT txt FROM pending_texts WHERE tid > ? AND tid <= ? ORDER BY tid",
                    [start, start + chunk_texts],
                ).fetchall()
            ]
            scores = score_texts(texts, workers=workers, lexicon=lexicon)
            scored += _store_chunk(store, start, scores, scorer)
            if on_chunk:
                on_chunk(len(texts))
    finally:
        for table in ("pending_ids", "pending_texts", "pending_mentions"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return scored, total_texts


def _store_chunk(store: Store, start: int, scores: list[tuple[float, float, float, float]], scorer: str) -> int:
    """One chunk's scores in one write transaction; a rerun of it replaces the same rows."""
    compound, pos, neu, neg = (list(col) for col in zip(*scores)) if scores else ([], [], [], [])
    end = start + len(scores)
    chunk = pa.table(
        {
            "tid": pa.array(range(start + 1, end + 1), pa.int64()),
            "compound": pa.array(compound, pa.float64()),
            "pos": pa.array(pos, pa.float64()),
            "neu": pa.array(neu, pa.float64()),
            "neg": pa.array(neg, pa.float64()),
        }
    )
    with registered(store.conn, "scored_chunk", chunk):
        return store.write_transaction(
            lambda conn: _replace_scores(conn, start, end, scorer), "sentiment", claim=Claim.ANALYSIS
        )


def _replace_scores(conn: duckdb.DuckDBPyConnection, start: int, end: int, scorer: str) -> int:
    # Rows scored by another scorer, or of another text, are replaced in the same transaction.
    conn.execute(
        "DELETE FROM sentiment WHERE mention_id IN (SELECT mention_id FROM pending_ids WHERE tid > ? AND tid <= ?)",
        [start, end],
    )
    inserted = conn.execute(
        """
        INSERT INTO sentiment (mention_id, compound, pos, neu, neg, model_label, scorer, scored_at, supported,
                               text_hash, label)
        SELECT *, model_label FROM (
            SELECT p.mention_id, c.compound, c.pos, c.neu, c.neg,
                   CASE WHEN c.compound >= ? THEN 'positive'
                        WHEN c.compound <= ? THEN 'negative' ELSE 'neutral' END AS model_label,
                   ?, now(), p.supported, p.text_hash
            FROM pending_ids p JOIN scored_chunk c USING (tid))
        """,
        [POSITIVE, NEGATIVE, scorer],
    ).fetchall()[0][0]
    apply_overrides(conn)  # an analyst's label outlives a new score of the text
    return int(inserted)


def mark_supported(store: Store) -> int:
    """Set `sentiment.supported` from the mention's language (English or unknown); returns rows changed.

    Run after language detection: a language found later flips the flag of
    an already scored mention. Only rows whose flag changes are written.
    """
    return store.write_transaction(_mark_supported, "sentiment supported", claim=Claim.ANALYSIS)


def _mark_supported(conn: duckdb.DuckDBPyConnection) -> int:
    changed = scalar(
        conn,
        f"""
        UPDATE sentiment SET supported = {SUPPORTED_SQL}
        FROM mentions m
        WHERE m.mention_id = sentiment.mention_id
          AND sentiment.supported IS DISTINCT FROM {SUPPORTED_SQL}
        """,
    )
    return int(changed)
