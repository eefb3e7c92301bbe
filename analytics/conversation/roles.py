"""Who a mention is really from -> `mention_roles` (docs/analytics-metrics.md#by-others).

"Mentions by others" is what people say about a brand. Four kinds of post are not:
- `own`: the organization's own accounts (`mentions.is_own`, set by the loader);
- `competitor`: a competitor's own accounts (`[[organization.competitors]] own_accounts`);
- `own_amplification` / `competitor_amplification`: a repost of such a post, or a quote
  of one that adds nothing of its own (no letter or digit once links, @handles,
  #hashtags and "RT" are taken out): 17 retweets of @acme are the organization's
  reach, not 17 people talking about Acme.

Each such mention gets one row (`owner` names the organization or the competitor);
a mention without a row is by others. Competitors' amplification is handled like our
own so that share of voice compares like with like. The table is recomputed from the
config and the store on every analyze (one pass of hash joins) and rewritten only
when it changed, so a config edit applies to the whole history at once.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from listener.core.settings import Settings
from listener.store.connection import Claim, Store, registered, scalar

# RE2: what a quote may carry and still add nothing.
NOTHING_ADDED = r"https?://\S+|[@#][\pL\pN_.]+|\bRT\b"
HAS_CONTENT = r"[\pL\pN]"


def owned_accounts(settings: Settings) -> pa.Table:
    """(source, handle, owner, kind) for every configured account: ours first, then each competitor's."""
    org = settings.organization
    rows = [(s, h, org.name, "own") for s, hs in org.own_accounts.by_source().items() for h in hs]
    for competitor in org.competitors:
        rows += [
            (s, h, competitor.name, "competitor") for s, hs in competitor.own_accounts.by_source().items() for h in hs
        ]
    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    return pa.table(
        {name: pa.array(list(col), pa.string()) for name, col in zip(("source", "handle", "owner", "kind"), columns)}
    )


def stage_owned_authors(conn: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Temp table `owned_authors` (author_id, owner, kind): each author an own or competitor account.

    An account is matched as the loader matches own accounts (handle or native id, case-insensitive);
    an author marked own by the loader stays ours even if a competitor lists it too.
    """
    with registered(conn, "owned_accounts_arrow", owned_accounts(settings)):
        conn.execute(
            """
            CREATE OR REPLACE TEMP TABLE owned_authors AS
            SELECT author_id,
                   CASE WHEN bool_or(kind = 'own') THEN 'own' ELSE 'competitor' END AS kind,
                   CASE WHEN bool_or(kind = 'own') THEN min(owner) FILTER (kind = 'own') ELSE min(owner) END AS owner
            FROM (
                SELECT a.author_id, o.owner, o.kind
                FROM authors a JOIN owned_accounts_arrow o ON o.source = a.source
                 AND (o.handle = lower(a.handle) OR o.handle = lower(substr(a.author_id, length(a.source) + 2)))
                UNION ALL
                SELECT author_id, ?, 'own' FROM authors WHERE is_own
            )
            GROUP BY author_id
            """,
            [settings.organization.name],
        )


def _roles_sql(org_name: str) -> tuple[str, list[Any]]:
    """The wanted `mention_roles` rows (without computed_at)."""
    sql = f"""
        WITH posted AS (  -- the post's own author is an owned account
            SELECT m.mention_id,
                   CASE WHEN m.is_own OR o.kind = 'own' THEN 'own' ELSE 'competitor' END AS role,
                   CASE WHEN m.is_own THEN ? ELSE o.owner END AS owner
            FROM mentions m LEFT JOIN owned_authors o ON o.author_id = m.author_id
            WHERE m.is_own OR o.author_id IS NOT NULL
        ),
        shared AS (  -- reposts, and quotes with nothing added, with the author they point at
            SELECT m.mention_id, coalesce(t.author_id, i.to_author_id) AS target_author
            FROM mentions m
            LEFT JOIN mentions t ON t.mention_id = coalesce(m.repost_of, m.quote_of)
            LEFT JOIN (
                SELECT mention_id, any_value(to_author_id) AS to_author_id FROM interactions
                WHERE kind IN ('repost', 'quote') AND to_author_id IS NOT NULL GROUP BY mention_id
            ) i ON i.mention_id = m.mention_id
            WHERE m.repost_of IS NOT NULL
               OR (m.quote_of IS NOT NULL AND NOT regexp_matches(
                     regexp_replace(coalesce(m.text, ''), '{NOTHING_ADDED}', '', 'g'), '{HAS_CONTENT}'))
        ),
        amplified AS (
            SELECT s.mention_id, o.kind || '_amplification' AS role, o.owner
            FROM shared s JOIN owned_authors o ON o.author_id = s.target_author
        )
        SELECT mention_id, role, owner FROM posted
        UNION ALL
        SELECT a.mention_id, a.role, a.owner FROM amplified a ANTI JOIN posted p USING (mention_id)
    """
    return sql, [org_name]


def update_roles(store: Store, settings: Settings) -> dict[str, Any]:
    """Recompute `mention_roles`; returns the count per role and whether the table changed."""

    def unit(conn: duckdb.DuckDBPyConnection) -> bool:
        stage_owned_authors(conn, settings)
        sql, params = _roles_sql(settings.organization.name)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE wanted_roles AS {sql}", params)
        differs = scalar(
            conn,
            """SELECT EXISTS (SELECT mention_id, role, owner FROM wanted_roles
                              EXCEPT SELECT mention_id, role, owner FROM mention_roles)
                   OR EXISTS (SELECT mention_id, role, owner FROM mention_roles
                              EXCEPT SELECT mention_id, role, owner FROM wanted_roles)""",
        )
        if differs:
            conn.execute("DELETE FROM mention_roles")
            conn.execute("INSERT INTO mention_roles SELECT mention_id, role, owner, now() FROM wanted_roles")
        return bool(differs)

    changed = store.write_transaction(unit, "roles", claim=Claim.ANALYSIS)
    for table in ("wanted_roles", "owned_authors"):
        store.conn.execute(f"DROP TABLE IF EXISTS {table}")
    counts = dict(store.conn.execute("SELECT role, count(*) FROM mention_roles GROUP BY role ORDER BY role").fetchall())
    return {"changed": changed, **counts}
