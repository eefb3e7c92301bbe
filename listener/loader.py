"""Canonical mention records -> store tables, in bulk, idempotently.

One path for everything: connectors' pages and `listener import` files both
arrive as canonical JSON documents (see docs/import-format.md). A batch is
staged as an Arrow table, parsed and validated by DuckDB in one pass, deduped
on mention id (last line wins), then merged with `UPDATE ... FROM` plus an
anti-join `INSERT` (DuckDB's ON CONFLICT DO UPDATE is ~26x slower). Interactions
and topics of the batch's mentions are replaced, so reloading converges.
The caller owns the transaction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from analytics.topics import TopicRule, tag_mentions
from listener.settings import OwnAccounts
from listener.store import registered

# How DuckDB reads one canonical document; fields it cannot cast become NULL.
_STRUCTURE = """{
  "source": "VARCHAR", "id": "VARCHAR", "url": "VARCHAR", "created_at": "VARCHAR",
  "title": "VARCHAR", "text": "VARCHAR", "lang": "VARCHAR", "community": "VARCHAR",
  "thread_id": "VARCHAR", "parent_id": "VARCHAR", "in_reply_to_author": "VARCHAR",
  "author": {"id": "VARCHAR", "handle": "VARCHAR", "name": "VARCHAR", "followers": "BIGINT",
             "following": "BIGINT", "verified": "BOOLEAN", "url": "VARCHAR"},
  "metrics": {"likes": "BIGINT", "reposts": "BIGINT", "replies": "BIGINT",
              "quotes": "BIGINT", "score": "BIGINT"},
  "mentions": "JSON[]", "repost_of": "VARCHAR", "quote_of": "VARCHAR",
  "referenced_authors": "MAP(VARCHAR, VARCHAR)", "raw": "JSON"
}"""

_KNOWN = ("source", "id", "url", "created_at", "title", "text", "lang", "community", "thread_id",
          "parent_id", "in_reply_to_author", "author", "metrics", "mentions", "repost_of", "quote_of",
          "referenced_authors", "raw")
_KNOWN_KEYS = "[" + ", ".join(f"'{k}'" for k in _KNOWN) + "]"
_REMOVE_KNOWN = json.dumps({k: None for k in _KNOWN})

_PROBLEM = """
CASE
  WHEN r.source IS NULL OR trim(r.source) = '' THEN 'missing required field "source"'
  WHEN NOT regexp_full_match(r.source, '[a-z][a-z0-9_]{0,31}')
    THEN 'field "source" must be a short lowercase name such as "x", "reddit" or "rss"'
  WHEN r.id IS NULL OR trim(r.id) = '' THEN 'missing required field "id"'
  WHEN r.created_at IS NULL THEN 'missing required field "created_at"'
  WHEN TRY_CAST(r.created_at AS TIMESTAMPTZ) IS NULL
    THEN 'field "created_at" is not an ISO-8601 timestamp: ' || left(r.created_at, 40)
  WHEN coalesce(r.text, r.title) IS NULL THEN 'missing required field "text" (or "title")'
  WHEN coalesce(nullif(trim(r.author.id), ''), nullif(trim(ltrim(r.author.handle, '@')), '')) IS NULL
    THEN 'missing required field "author.id" (or "author.handle")'
END
"""

BATCH_SCHEMA = pa.schema([("line_no", pa.int64()), ("doc", pa.string())])


def documents_batch(documents: list[str]) -> pa.Table:
    """Canonical JSON documents as a batch for `load_batch`, numbered from 1."""
    return pa.table({"line_no": list(range(1, len(documents) + 1)), "doc": documents}, schema=BATCH_SCHEMA)


@dataclass
class LoadResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.updated += other.updated
        self.errors.extend(other.errors)


def prepare_own_accounts(conn: duckdb.DuckDBPyConnection, own: OwnAccounts) -> None:
    """Own accounts as a temp table, so `is_own` is a join, not string-built SQL."""
    rows = [(source, handle) for source in ("x", "reddit", "rss") for handle in own.for_source(source)]
    table = pa.table({"source": [r[0] for r in rows], "handle": [r[1] for r in rows]},
                     schema=pa.schema([("source", pa.string()), ("handle", pa.string())]))
    conn.register("own_accounts_arrow", table)
    conn.execute("CREATE OR REPLACE TEMP TABLE own_accounts AS SELECT * FROM own_accounts_arrow")
    conn.unregister("own_accounts_arrow")


def load_batch(
    conn: duckdb.DuckDBPyConnection,
    batch: pa.Table,
    run_id: str | None,
    rules: list[TopicRule],
) -> LoadResult:
    """Merge one batch of (line_no, doc) into the store. Call inside a transaction."""
    result = LoadResult(received=batch.num_rows)
    if batch.num_rows == 0:
        return result
    # Every load updates this one row: on DuckLake two workers loading at once then conflict at
    # COMMIT and one re-runs after the other (the anti-join sees its rows), instead of both
    # appending the same mention, since DuckLake has no primary key to stop them.
    conn.execute("UPDATE store_writes SET writes = writes + 1, updated_at = now()")
    with registered(conn, "incoming_arrow", batch):
        _stage(conn, run_id)
    result.errors = [(int(n), str(p)) for n, p in conn.execute(
        "SELECT line_no, problem FROM staged WHERE problem IS NOT NULL ORDER BY line_no"
    ).fetchall()]
    _build_batch(conn)
    result.updated, result.inserted = _merge_mentions(conn)
    _merge_authors(conn)
    _replace_interactions(conn)
    tag_mentions(conn, rules, scope="batch")
    conn.execute("DROP VIEW batch")
    conn.execute("DROP TABLE superseded")
    conn.execute("DROP TABLE staged")
    conn.execute("DROP TABLE batch_authors")
    return result


def _stage(conn: duckdb.DuckDBPyConnection, run_id: str | None) -> None:
    """Parse each line once, validate it and project the store's columns, in one pass.

    Guarding every row against bad JSON or unknown keys costs 2-3x, so the
    batch is checked first and the guards are used only when needed. `raw`
    keeps the connector's payload, or else only the fields the canonical format
    does not know (a merge patch with nulls removes the known ones).
    """
    all_valid = conn.execute("SELECT coalesce(bool_and(json_valid(doc)), true) FROM incoming_arrow").fetchone()[0]
    guard = "" if all_valid else "WHERE json_valid(doc) AND json_type(doc) = 'OBJECT'"
    parse = f"from_json(doc, '{_STRUCTURE}')"
    if not all_valid:
        parse = f"CASE WHEN json_valid(doc) THEN {parse} END"
    has_unknown = conn.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT unnest(json_keys(doc)) AS k FROM incoming_arrow {guard}) "
        f"WHERE k NOT IN ({_KNOWN_KEYS[1:-1]})"
    ).fetchone()[0]
    raw = "r.raw"
    if has_unknown:
        raw = (f"CASE WHEN r.raw IS NOT NULL THEN r.raw WHEN r IS NOT NULL AND NOT list_has_all({_KNOWN_KEYS}, "
               f"json_keys(doc)) THEN json_merge_patch(doc, '{_REMOVE_KNOWN}') END")
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE staged AS
        WITH parsed AS (SELECT line_no, doc, {parse} AS r FROM incoming_arrow),
        checked AS (
            SELECT line_no, r, {raw} AS raw, trim(r.source) AS source, trim(r.id) AS native_id,
                   lower(nullif(trim(ltrim(r.author.handle, '@')), '')) AS handle_key,
                   nullif(trim(r.author.id), '') AS author_native,
                   CASE WHEN r IS NULL THEN 'not valid JSON'
                        WHEN r.source IS NULL AND json_type(doc) <> 'OBJECT' THEN 'not a JSON object'
                        ELSE {_PROBLEM} END AS problem
            FROM parsed
        )
        SELECT
            problem, source || ':' || native_id AS mention_id, source, native_id, line_no,
            nullif(r.url, '') AS url,
            source || ':' || coalesce(author_native, '@' || handle_key) AS author_id,
            author_native, handle_key,
            nullif(trim(ltrim(r.author.handle, '@')), '') AS author_handle,
            r.author.name AS author_name, r.author.followers AS followers,
            r.author.following AS following, r.author.verified AS verified,
            r.author.url AS author_url,
            r.title AS title, r.text AS text, nullif(r.lang, '') AS lang,
            TRY_CAST(r.created_at AS TIMESTAMPTZ) AS created_at,
            CASE WHEN nullif(r.parent_id, '') IS NOT NULL THEN source || ':' || r.parent_id END AS parent_id,
            CASE WHEN nullif(r.thread_id, '') IS NOT NULL THEN source || ':' || r.thread_id END AS thread_id,
            nullif(r.community, '') AS community,
            r.metrics.likes AS like_count, r.metrics.reposts AS repost_count,
            r.metrics.replies AS reply_count, r.metrics.quotes AS quote_count,
            r.metrics.score AS score,
            CASE WHEN nullif(r.repost_of, '') IS NOT NULL THEN source || ':' || r.repost_of END AS repost_of,
            CASE WHEN nullif(r.quote_of, '') IS NOT NULL THEN source || ':' || r.quote_of END AS quote_of,
            nullif(r.in_reply_to_author, '') AS in_reply_to_author,
            r.referenced_authors AS referenced_authors, r.mentions AS mentioned, raw,
            coalesce(source || ':' || handle_key IN (SELECT source || ':' || handle FROM own_accounts), false)
              OR coalesce(source || ':' || lower(author_native) IN (SELECT source || ':' || handle FROM own_accounts), false)
              AS is_own,
            ?::VARCHAR AS run_id
        FROM checked
        """,
        [run_id],
    )


def _build_batch(conn: duckdb.DuckDBPyConnection) -> None:
    """The batch's good rows as the view `batch`, without copying them.

    Duplicate ids inside one batch: the last line wins (DuckDB would keep one
    at random), so the earlier lines of a repeated id are left out.
    """
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE superseded AS
        SELECT line_no FROM staged
        WHERE problem IS NULL AND mention_id IN (
            SELECT mention_id FROM staged WHERE problem IS NULL GROUP BY mention_id HAVING count(*) > 1)
        QUALIFY row_number() OVER (PARTITION BY mention_id ORDER BY line_no DESC) > 1
        """
    )
    conn.execute(
        "CREATE OR REPLACE TEMP VIEW batch AS SELECT * EXCLUDE (problem) FROM staged "
        "WHERE problem IS NULL AND line_no NOT IN (SELECT line_no FROM superseded)"
    )


def _merge_mentions(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    # A changed text must be scored again.
    conn.execute(
        """
        DELETE FROM sentiment WHERE mention_id IN (
            SELECT b.mention_id FROM batch b JOIN mentions m USING (mention_id)
            WHERE m.text IS DISTINCT FROM b.text OR m.title IS DISTINCT FROM b.title)
        """
    )
    updated = conn.execute(
        """
        UPDATE mentions SET
            url = b.url, author_id = b.author_id, title = b.title, text = b.text,
            -- A language the source gives wins; a detected one is dropped when the text
            -- changes, so the detector looks at the new text.
            lang = CASE WHEN b.lang IS NOT NULL THEN b.lang
                        WHEN mentions.lang_detected AND mentions.text IS DISTINCT FROM b.text THEN NULL
                        ELSE mentions.lang END,
            lang_detected = CASE WHEN b.lang IS NOT NULL OR mentions.text IS DISTINCT FROM b.text THEN false
                                 ELSE mentions.lang_detected END,
            updated_at = now(),
            parent_id = b.parent_id, thread_id = b.thread_id, community = b.community,
            like_count = b.like_count, repost_count = b.repost_count,
            reply_count = b.reply_count, quote_count = b.quote_count, score = b.score,
            is_own = b.is_own, run_id = b.run_id, repost_of = b.repost_of,
            quote_of = b.quote_of, raw = b.raw
        FROM batch b WHERE mentions.mention_id = b.mention_id
        """
    ).fetchone()[0]
    inserted = conn.execute(
        """
        INSERT INTO mentions (mention_id, source, native_id, url, author_id, title, text, lang, created_at,
                              collected_at, updated_at, parent_id, thread_id, community, like_count,
                              repost_count, reply_count, quote_count, score, is_own, run_id, repost_of,
                              quote_of, raw)
        SELECT b.mention_id, b.source, b.native_id, b.url, b.author_id, b.title, b.text,
               b.lang, b.created_at, now(), now(), b.parent_id, b.thread_id, b.community,
               b.like_count, b.repost_count, b.reply_count, b.quote_count, b.score,
               b.is_own, b.run_id, b.repost_of, b.quote_of, b.raw
        FROM batch b ANTI JOIN mentions m ON m.mention_id = b.mention_id
        """
    ).fetchone()[0]
    return int(updated), int(inserted)


def _merge_authors(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_authors AS
        SELECT author_id, any_value(source) AS source,
               arg_max(author_handle, line_no) FILTER (author_handle IS NOT NULL) AS handle,
               arg_max(author_name, line_no) FILTER (author_name IS NOT NULL) AS display_name,
               arg_max(followers, line_no) FILTER (followers IS NOT NULL) AS followers_count,
               arg_max(following, line_no) FILTER (following IS NOT NULL) AS following_count,
               arg_max(verified, line_no) FILTER (verified IS NOT NULL) AS verified,
               arg_max(author_url, line_no) FILTER (author_url IS NOT NULL) AS url,
               bool_or(is_own) AS is_own, min(created_at) AS first_seen, max(created_at) AS last_seen
        FROM batch GROUP BY author_id
        """
    )
    conn.execute(
        """
        UPDATE authors SET
            handle = coalesce(a.handle, authors.handle),
            display_name = coalesce(a.display_name, authors.display_name),
            followers_count = coalesce(a.followers_count, authors.followers_count),
            following_count = coalesce(a.following_count, authors.following_count),
            verified = coalesce(a.verified, authors.verified),
            url = coalesce(a.url, authors.url),
            is_own = a.is_own OR authors.is_own,
            first_seen = least(authors.first_seen, a.first_seen),
            last_seen = greatest(authors.last_seen, a.last_seen)
        FROM batch_authors a WHERE authors.author_id = a.author_id
        """
    )
    conn.execute(
        """
        INSERT INTO authors (author_id, source, handle, display_name, followers_count, following_count,
                             verified, url, is_own, first_seen, last_seen)
        SELECT a.author_id, a.source, a.handle, a.display_name, a.followers_count,
               a.following_count, a.verified, a.url, a.is_own, a.first_seen, a.last_seen
        FROM batch_authors a ANTI JOIN authors x ON x.author_id = a.author_id
        """
    )


def _replace_interactions(conn: duckdb.DuckDBPyConnection) -> None:
    """Derive reply/comment, mention, repost and quote edges the same way for every source."""
    conn.execute("DELETE FROM interactions WHERE mention_id IN (SELECT mention_id FROM batch)")
    conn.execute(
        """
        INSERT INTO interactions (mention_id, source, from_author_id, to_author_id, kind, created_at,
                                  target_mention_id, target_handle)
        WITH refs AS (
            SELECT mention_id, source, author_id, created_at, kind, target, in_reply_to_author,
                   referenced_authors
            FROM (
                SELECT *, CASE WHEN source = 'reddit' THEN 'comment' ELSE 'reply' END AS kind,
                       parent_id AS target FROM batch WHERE parent_id IS NOT NULL
                UNION ALL
                SELECT *, 'repost', repost_of FROM batch WHERE repost_of IS NOT NULL
                UNION ALL
                SELECT *, 'quote', quote_of FROM batch WHERE quote_of IS NOT NULL
            )
        )
        SELECT r.mention_id, r.source, r.author_id,
               coalesce(
                   r.source || ':' || CASE WHEN r.kind IN ('reply', 'comment') THEN r.in_reply_to_author END,
                   r.source || ':' || r.referenced_authors[substr(r.target, length(r.source) + 2)],
                   t.author_id),
               r.kind, r.created_at, r.target, NULL
        FROM refs r LEFT JOIN mentions t ON t.mention_id = r.target
        """
    )
    conn.execute(
        """
        INSERT INTO interactions (mention_id, source, from_author_id, to_author_id, kind, created_at,
                                  target_mention_id, target_handle)
        WITH named AS (
            SELECT DISTINCT b.mention_id, b.source, b.author_id, b.created_at,
                   lower(ltrim(CASE WHEN json_type(e) = 'VARCHAR' THEN e ->> '$'
                                    ELSE e ->> 'handle' END, '@')) AS handle,
                   CASE WHEN json_type(e) = 'OBJECT' THEN e ->> 'id' END AS native
            FROM batch b, unnest(b.mentioned) AS u(e)
            WHERE b.mentioned IS NOT NULL
        ),
        known AS (
            SELECT source, lower(handle) AS handle, min(author_id) AS author_id
            FROM authors WHERE handle IS NOT NULL AND source IN (SELECT DISTINCT source FROM named)
            GROUP BY ALL
        )
        SELECT n.mention_id, n.source, n.author_id,
               coalesce(n.source || ':' || n.native, k.author_id, n.source || ':@' || n.handle),
               'mention', n.created_at, NULL, n.handle
        FROM named n LEFT JOIN known k ON k.source = n.source AND k.handle = n.handle
        WHERE coalesce(n.handle, n.native) IS NOT NULL AND n.handle <> ''
        """
    )


def resolve_pending_interactions(conn: duckdb.DuckDBPyConnection) -> int:
    """Fill to_author_id for replies/reposts whose target post arrived after them.

    The mentions whose edges change are marked updated, so the weekly graph
    analytics recompute their weeks.
    """
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE resolvable AS
        SELECT DISTINCT i.mention_id FROM interactions i JOIN mentions m ON m.mention_id = i.target_mention_id
        WHERE i.to_author_id IS NULL
        """
    )
    resolved = conn.execute(
        """
        UPDATE interactions SET to_author_id = m.author_id
        FROM mentions m
        WHERE interactions.to_author_id IS NULL AND m.mention_id = interactions.target_mention_id
        """
    ).fetchall()[0][0]
    conn.execute("UPDATE mentions SET updated_at = now() WHERE mention_id IN (SELECT mention_id FROM resolvable)")
    conn.execute("DROP TABLE resolvable")
    return int(resolved)
