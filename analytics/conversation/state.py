"""When a step that recomputes everything can skip: `step_state` keeps a fingerprint of its inputs.

The fingerprint is of the content (mentions' ids, texts, authors, times and links to other
posts, and the roles), not of when rows were written, so two stores holding the same data
agree, and a reload that changes nothing does not recompute.
"""

from __future__ import annotations

import hashlib

import duckdb

from listener.store.connection import scalar

_CONTENT = """
    SELECT (SELECT count(*) FROM mentions),
           (SELECT sum(hash(mention_id, text_hash, author_id, created_at, is_own, repost_of, quote_of))
            FROM mentions),
           (SELECT count(*) FROM mention_roles),
           (SELECT sum(hash(mention_id, role, owner)) FROM mention_roles)
"""


_TOPICS = "SELECT count(*), sum(hash(mention_id, topic, kind)) FROM mention_topics"


def inputs_fingerprint(conn: duckdb.DuckDBPyConnection, method: str, topics: bool = False) -> str:
    """A short digest of `method` (the step's rules and settings) and of the store's content
    (with `topics`, of the mentions' topics too)."""
    row = conn.execute(_CONTENT).fetchone()
    tagged = conn.execute(_TOPICS).fetchone() if topics else None
    return hashlib.sha256(f"{method}|{row}|{tagged}".encode()).hexdigest()[:32]


def unchanged(conn: duckdb.DuckDBPyConnection, step: str, fingerprint: str) -> bool:
    return scalar(conn, "SELECT inputs FROM step_state WHERE step = ?", [step]) == fingerprint


def record(conn: duckdb.DuckDBPyConnection, step: str, fingerprint: str) -> None:
    """Inside the step's write transaction: what it computed from."""
    conn.execute("DELETE FROM step_state WHERE step = ?", [step])
    conn.execute("INSERT INTO step_state VALUES (?, ?, now())", [step, fingerprint])
