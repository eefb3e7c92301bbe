"""Write mentions back out in the canonical mention format (JSONL or CSV).

What `listener export` writes, `listener import` reads: ids are un-namespaced
(the native ids) and the original payload rides along in `raw`.
"""
from __future__ import annotations

from pathlib import Path

import duckdb

CANONICAL_SELECT = """
SELECT
    m.source, m.native_id AS id, m.url,
    strftime(m.created_at, '%Y-%m-%dT%H:%M:%S+00:00') AS created_at,
    m.title, m.text, m.lang, m.community,
    substr(m.thread_id, length(m.source) + 2) AS thread_id,
    substr(m.parent_id, length(m.source) + 2) AS parent_id,
    {'id': CASE WHEN a.author_id LIKE m.source || ':@%' THEN NULL
                ELSE substr(a.author_id, length(m.source) + 2) END,
     'handle': a.handle, 'name': a.display_name, 'followers': a.followers_count,
     'following': a.following_count, 'verified': a.verified, 'url': a.url} AS author,
    {'likes': m.like_count, 'reposts': m.repost_count, 'replies': m.reply_count,
     'quotes': m.quote_count, 'score': m.score} AS metrics,
    (SELECT list(coalesce(i.target_handle, substr(i.to_author_id, length(m.source) + 2)))
       FROM interactions i WHERE i.mention_id = m.mention_id AND i.kind = 'mention') AS mentions,
    substr(m.repost_of, length(m.source) + 2) AS repost_of,
    substr(m.quote_of, length(m.source) + 2) AS quote_of,
    m.raw
FROM mentions m LEFT JOIN authors a ON a.author_id = m.author_id
"""

FLAT_SELECT = """
SELECT source, id, url, created_at, title, text, lang, community, thread_id, parent_id,
       author.id AS "author.id", author.handle AS "author.handle", author.name AS "author.name",
       author.followers AS "author.followers", author.following AS "author.following",
       author.verified AS "author.verified", author.url AS "author.url",
       metrics.likes AS "metrics.likes", metrics.reposts AS "metrics.reposts",
       metrics.replies AS "metrics.replies", metrics.quotes AS "metrics.quotes",
       metrics.score AS "metrics.score", array_to_string(mentions, ' ') AS mentions,
       repost_of, quote_of
FROM canonical
"""


def export_mentions(conn: duckdb.DuckDBPyConnection, out: Path, fmt: str) -> int:
    """Write every mention to `out`; returns the number of rows written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    conn.execute(f"CREATE OR REPLACE TEMP VIEW canonical AS {CANONICAL_SELECT} ORDER BY m.mention_id")
    query = "SELECT * FROM canonical" if fmt == "jsonl" else FLAT_SELECT
    options = "FORMAT json" if fmt == "jsonl" else "FORMAT csv, HEADER true"
    # The path is passed as a bound parameter is not supported by COPY; quote it as a literal.
    target = "'" + str(out).replace("'", "''") + "'"
    conn.execute(f"COPY ({query}) TO {target} ({options})")
    return int(conn.execute("SELECT count(*) FROM mentions").fetchone()[0])
