"""Score every mention not yet scored, once per distinct text, in bounded chunks.

Reposts repeat texts, so texts are deduplicated before scoring; scoring uses
`analytics.vader` (identical to vaderSentiment 3.3.2, faster, both cores for
big batches). Each chunk is committed on its own, so an interrupted analyze
keeps what it scored and a rerun picks up the rest.
"""
from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa

from analytics.vader import SCORER_NAME, SCORER_VERSION, score_texts

CHUNK_TEXTS = 200_000
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's own convention for labels
SCORED_TEXT_SQL = "concat_ws(chr(10), m.title, m.text)"


def scorer_label() -> str:
    return f"{SCORER_NAME} {SCORER_VERSION}"


def score_pending(
    conn: duckdb.DuckDBPyConnection,
    workers: int | None = None,
    chunk_texts: int = CHUNK_TEXTS,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Returns (mentions scored, distinct texts scored)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending_texts AS
        SELECT row_number() OVER () AS tid, txt FROM (
            SELECT DISTINCT {SCORED_TEXT_SQL} AS txt
            FROM mentions m ANTI JOIN sentiment s ON s.mention_id = m.mention_id)
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pending_ids AS
        SELECT m.mention_id, t.tid
        FROM mentions m ANTI JOIN sentiment s ON s.mention_id = m.mention_id
        JOIN pending_texts t ON t.txt = {SCORED_TEXT_SQL}
        """
    )
    total_texts = conn.execute("SELECT count(*) FROM pending_texts").fetchone()[0]
    scored = 0
    for start in range(0, total_texts, chunk_texts):
        texts = [row[0] for row in conn.execute(
            "SELECT txt FROM pending_texts WHERE tid > ? AND tid <= ? ORDER BY tid",
            [start, start + chunk_texts],
        ).fetchall()]
        scored += _store_chunk(conn, start, score_texts(texts, workers=workers))
        if on_chunk:
            on_chunk(len(texts))
    conn.execute("DROP TABLE IF EXISTS pending_ids")
    conn.execute("DROP TABLE IF EXISTS pending_texts")
    return scored, total_texts


def _store_chunk(conn: duckdb.DuckDBPyConnection, start: int, scores: list[tuple[float, float, float, float]]) -> int:
    compound, pos, neu, neg = (list(col) for col in zip(*scores)) if scores else ([], [], [], [])
    chunk = pa.table({
        "tid": pa.array(range(start + 1, start + 1 + len(scores)), pa.int64()),
        "compound": pa.array(compound, pa.float64()), "pos": pa.array(pos, pa.float64()),
        "neu": pa.array(neu, pa.float64()), "neg": pa.array(neg, pa.float64()),
    })
    conn.register("scored_chunk", chunk)
    try:
        conn.execute("BEGIN TRANSACTION")
        inserted = conn.execute(
            """
            INSERT INTO sentiment (mention_id, compound, pos, neu, neg, label, scorer, scored_at)
            SELECT p.mention_id, c.compound, c.pos, c.neu, c.neg,
                   CASE WHEN c.compound >= ? THEN 'positive'
                        WHEN c.compound <= ? THEN 'negative' ELSE 'neutral' END,
                   ?, now()
            FROM pending_ids p JOIN scored_chunk c USING (tid)
            """,
            [POSITIVE, NEGATIVE, scorer_label()],
        ).fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.unregister("scored_chunk")
    return int(inserted)
