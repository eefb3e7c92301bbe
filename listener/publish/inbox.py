"""The response inbox: brand mentions by others that ask or complain and wait for the team.

A mention is in the inbox when it is a brand mention by others, counted once (copies are not
listed twice), asks or complains (`analytics.definitions.asks`: the maturity classifier's and
the response-rate KPI's definition), has no own reply (ever, on the platform) and is neither
done nor dismissed in `inbox_state`. Most influential first (the author's current influencer
score, then followers), newest first among equals.

`inbox_state` holds what the team decided, one row per mention: `assigned` (to someone),
`done` (answered or handled off-platform), `dismissed` (with a reason); no row means open.
Dismissed mentions do not ask (they leave the response rate and the maturity measures); a
done mention without an own reply counts as handled off-platform, reported apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from analytics.definitions import DISMISS_REASONS, INBOX_STATES, asking_post

# Own replies to a mention, whenever they came: an own account's reply edge, or an own post whose
# parent is the mention (the KPI's, without its 72-hour window: late is still answered).
OWN_REPLIES = """
    SELECT i.target_mention_id AS target FROM interactions i
    JOIN authors a ON a.author_id = i.from_author_id AND a.is_own
    WHERE i.kind IN ('reply', 'comment') AND i.target_mention_id IS NOT NULL
    UNION
    SELECT parent_id FROM mentions WHERE is_own AND parent_id IS NOT NULL
"""

# The asking brand mentions by others with their author, influence, answer and state.
ASKING = f"""
    WITH brand AS (SELECT DISTINCT mention_id FROM mention_topics WHERE kind = 'brand'),
    influence AS (SELECT author_id, score FROM top_influencers_current),
    answered AS ({OWN_REPLIES})
    SELECT m.mention_id, m.source, m.url, m.created_at, m.author_id, a.handle, a.display_name,
           a.followers_count AS followers, inf.score AS influence, m.title, m.text,
           regexp_matches(concat_ws(' ', m.title, m.text), '[?？]') AS question,
           coalesce(s.label = 'negative' AND coalesce(s.supported, true), false) AS complaint,
           m.mention_id IN (SELECT target FROM answered) AS answered,
           coalesce(st.state, 'open') AS state, st.reason, st.assignee, st.note, st.updated_at
    FROM mentions_by_others m
    JOIN brand b ON b.mention_id = m.mention_id
    LEFT JOIN sentiment s ON s.mention_id = m.mention_id
    LEFT JOIN authors a ON a.author_id = m.author_id
    LEFT JOIN influence inf ON inf.author_id = m.author_id
    LEFT JOIN inbox_state st ON st.mention_id = m.mention_id
    WHERE m.counted AND {asking_post("m", "s")}
"""

ORDER = "coalesce(influence, -1) DESC, coalesce(followers, -1) DESC, created_at DESC, mention_id"


class InboxError(ValueError):
    """An id the store does not know, or a state change it cannot make."""


@dataclass(frozen=True)
class Filters:
    limit: int = 50
    source: str | None = None
    assignee: str | None = None
    since: datetime | None = None


def _scope(filters: Filters, by_assignee: bool = True) -> tuple[str, list[Any]]:
    """SQL conditions (and their parameters) over `ASKING` for the filters, the limit aside."""
    where, params = ["true"], []
    for condition, value in (
        ("source = ?", filters.source),
        ("lower(assignee) = lower(?)", filters.assignee if by_assignee else None),
        ("created_at >= ?", filters.since),
    ):
        if value:
            where.append(condition)
            params.append(value)
    return " AND ".join(where), params


def waiting(conn: duckdb.DuckDBPyConnection, filters: Filters) -> list[dict[str, Any]]:
    """The inbox: asking mentions with no own reply, not done or dismissed, most influential first."""
    where, params = _scope(filters)
    sql = (
        f"SELECT * FROM ({ASKING}) WHERE NOT answered AND state IN ('open', 'assigned') AND {where} "
        f"ORDER BY {ORDER} LIMIT {int(filters.limit)}"
    )
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def summary(conn: duckdb.DuckDBPyConnection, filters: Filters) -> dict[str, Any]:
    """Counts over every asking mention (the same filters but the limit and the assignee): waiting,
    assigned, answered, handled off-platform (done without an own reply) and dismissed by reason."""
    where, params = _scope(filters, by_assignee=False)
    row = conn.execute(
        f"""
        SELECT count(*) FILTER (NOT answered AND state IN ('open', 'assigned')) AS waiting,
               count(*) FILTER (NOT answered AND state = 'assigned') AS assigned,
               count(*) FILTER (answered AND state <> 'dismissed') AS answered,
               count(*) FILTER (NOT answered AND state = 'done') AS handled_off_platform,
               count(*) FILTER (state = 'dismissed') AS dismissed,
               list(reason) FILTER (state = 'dismissed') AS reasons
        FROM ({ASKING}) WHERE {where}
        """,
        params,
    ).fetchone()
    keys = ("waiting", "assigned", "answered", "handled_off_platform", "dismissed")
    *numbers, reasons = row or (0, 0, 0, 0, 0, None)
    counts: dict[str, Any] = dict(zip(keys, (int(v or 0) for v in numbers), strict=True))
    counts["dismissed_by_reason"] = dict(sorted(Counter(str(r) for r in reasons or ()).items()))
    return counts


def set_state(
    conn: duckdb.DuckDBPyConnection,
    mention_ids: Sequence[str],
    state: str,
    reason: str | None = None,
    assignee: str | None = None,
    note: str | None = None,
) -> list[dict[str, Any]]:
    """Record the team's decision for each mention, inside the caller's write transaction; returns
    the mentions before and after. Any id the store does not know changes nothing."""
    if state not in INBOX_STATES:
        raise InboxError(f"state {state!r} is not one of {', '.join(INBOX_STATES)}")
    if state == "dismissed" and reason not in DISMISS_REASONS:
        raise InboxError(f"dismiss needs --reason {'|'.join(DISMISS_REASONS)}")
    if state == "assigned" and not (assignee or "").strip():
        raise InboxError("assign needs --to NAME")
    ids = list(dict.fromkeys(mention_ids))
    if not ids:
        raise InboxError("give at least one mention id (see `listener inbox`)")
    sql = "SELECT mention_id FROM mentions WHERE list_contains(?, mention_id)"
    found = {r[0] for r in conn.execute(sql, [ids]).fetchall()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InboxError(f"no mention with id {', '.join(map(repr, missing[:5]))} in the store")
    sql = "SELECT mention_id, state, assignee FROM inbox_state WHERE list_contains(?, mention_id)"
    before = {r[0]: (r[1], r[2]) for r in conn.execute(sql, [ids]).fetchall()}
    conn.execute("DELETE FROM inbox_state WHERE list_contains(?, mention_id)", [ids])
    if state != "open":  # open is the absence of a decision
        rows = []
        for i in ids:
            who = (assignee or "").strip() or before.get(i, (None, None))[1]  # done keeps who handled it
            rows.append([i, state, reason if state == "dismissed" else None, who, note])
        conn.executemany(
            "INSERT INTO inbox_state (mention_id, state, reason, assignee, note, updated_at) "
            "VALUES (?, ?, ?, ?, ?, now())",
            rows,
        )
    return [{"mention_id": i, "was": before.get(i, ("open", None))[0], "now": state} for i in ids]
