"""Analysts' sentiment labels (`sentiment_overrides`), preferred over the scorer's everywhere.

`listener sentiment set ID LABEL [--topic T]` stores a label; `apply_overrides` then writes
the effective label into `sentiment.label` and `topic_sentiment.label`, while `model_label`
keeps what the scorer said. Every view, KPI, spike series, alert and the digest read `label`,
so they all prefer the analyst's without a second definition. The scorers call
`apply_overrides` after they write, so a text scored again keeps its correction.

Precedence for a (mention, topic) pair: the override for that topic, else the mention's
override (topic NULL), else the scorer's label. `compound` stays the scorer's number: averages
of it (influencers' and communities' `avg_sentiment`) are the scorer's (docs/sentiment.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from listener.store.connection import scalar

LABELS = ("positive", "neutral", "negative")


class OverrideError(ValueError):
    """A label or mention the store cannot take (unknown id, unknown topic, bad label)."""


@dataclass(frozen=True)
class Applied:
    posts: int  # `sentiment` rows whose label changed
    topics: int  # `topic_sentiment` rows whose label changed


def apply_overrides(conn: duckdb.DuckDBPyConnection) -> Applied:
    """Make every `label` the effective one (inside the caller's write transaction); only rows whose
    label changes are written, so it is cheap to call after every scoring chunk."""
    posts = scalar(
        conn,
        """
        UPDATE sentiment SET label = w.wanted
        FROM (SELECT s.mention_id, coalesce(o.label, s.model_label, s.label) AS wanted
              FROM sentiment s LEFT JOIN sentiment_overrides o ON o.mention_id = s.mention_id AND o.topic IS NULL) w
        WHERE w.mention_id = sentiment.mention_id AND sentiment.label IS DISTINCT FROM w.wanted
        """,
    )
    topics = scalar(
        conn,
        """
        UPDATE topic_sentiment SET label = w.wanted
        FROM (SELECT t.mention_id, t.topic, coalesce(ot.label, op.label, t.model_label, t.label) AS wanted
              FROM topic_sentiment t
              LEFT JOIN sentiment_overrides ot ON ot.mention_id = t.mention_id AND ot.topic = t.topic
              LEFT JOIN sentiment_overrides op ON op.mention_id = t.mention_id AND op.topic IS NULL) w
        WHERE w.mention_id = topic_sentiment.mention_id AND w.topic = topic_sentiment.topic
          AND topic_sentiment.label IS DISTINCT FROM w.wanted
        """,
    )
    return Applied(int(posts or 0), int(topics or 0))


def set_label(
    conn: duckdb.DuckDBPyConnection,
    mention_ids: Sequence[str],
    label: str,
    topic: str | None = None,
    note: str | None = None,
) -> Applied:
    """Store the analyst's `label` for each mention (for one `topic` of it, or the whole post);
    inside the caller's write transaction. Unknown ids or topics change nothing."""
    if label not in LABELS:
        raise OverrideError(f"label {label!r} is not one of {', '.join(LABELS)}")
    ids = _known(conn, mention_ids, topic)
    _delete(conn, ids, topic)
    conn.executemany(
        "INSERT INTO sentiment_overrides (mention_id, topic, label, note, set_at) VALUES (?, ?, ?, ?, now())",
        [[mention_id, topic, label, note] for mention_id in ids],
    )
    return apply_overrides(conn)


def clear_label(conn: duckdb.DuckDBPyConnection, mention_ids: Sequence[str], topic: str | None = None) -> Applied:
    """Forget the analyst's label (the scorer's applies again); inside the caller's write transaction."""
    _delete(conn, _known(conn, mention_ids, topic), topic)
    return apply_overrides(conn)


def _known(conn: duckdb.DuckDBPyConnection, mention_ids: Sequence[str], topic: str | None) -> list[str]:
    ids = list(dict.fromkeys(mention_ids))
    if topic is None:
        sql = "SELECT mention_id FROM mentions WHERE list_contains(?, mention_id)"
        found = {row[0] for row in conn.execute(sql, [ids]).fetchall()}
        missing = [i for i in ids if i not in found]
        if missing:
            raise OverrideError(f"no mention with id {', '.join(map(repr, missing[:5]))} in the store")
    else:
        sql = "SELECT mention_id FROM mention_topics WHERE topic = ? AND list_contains(?, mention_id)"
        found = {row[0] for row in conn.execute(sql, [topic, ids]).fetchall()}
        missing = [i for i in ids if i not in found]
        if missing:
            raise OverrideError(f"mention {', '.join(map(repr, missing[:5]))} is not tagged with topic {topic!r}")
    return ids


def _delete(conn: duckdb.DuckDBPyConnection, ids: list[str], topic: str | None) -> None:
    conn.execute(
        "DELETE FROM sentiment_overrides WHERE list_contains(?, mention_id) AND topic IS NOT DISTINCT FROM ?",
        [ids, topic],
    )


def overrides(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every stored override with the scorer's label beside it, newest first."""
    cur = conn.execute(
        """
        SELECT o.mention_id, o.topic, o.label, coalesce(t.model_label, s.model_label) AS model_label,
               o.note, o.set_at, m.url
        FROM sentiment_overrides o
        LEFT JOIN sentiment s ON s.mention_id = o.mention_id
        LEFT JOIN topic_sentiment t ON t.mention_id = o.mention_id AND t.topic = o.topic
        LEFT JOIN mentions m ON m.mention_id = o.mention_id
        ORDER BY o.set_at DESC, o.mention_id, o.topic NULLS FIRST
        """
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def agreement(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How often the scorer agreed with the analysts' labels (overrides whose post or pair is scored):
    accuracy, macro-F1, per-class figures and the confusion matrix, as `listener sentiment evaluate`."""
    from analytics.sentiment.evaluate import CLASSES, class_metrics  # evaluate imports the scorer, which imports us

    pairs = [(o["label"], o["model_label"]) for o in overrides(conn) if o["model_label"] in CLASSES]
    result: dict[str, Any] = {"rows": len(pairs), "rejected": 0, "labels": "categorical", "scale": None}
    result["pearson_r"] = None
    if not pairs:
        return {**result, "accuracy": None, "macro_f1": None, "per_class": {}, "confusion": []}
    truth = np.array([CLASSES.index(t) for t, _ in pairs], dtype=np.int64)
    predicted = np.array([CLASSES.index(p) for _, p in pairs], dtype=np.int64)
    return {**result, **class_metrics(truth, predicted)}
