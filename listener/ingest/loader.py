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
from datetime import timedelta

import duckdb
import pyarrow as pa

from listener.core.models import (
    AUTHOR_FIELDS,
    CANONICAL_FIELDS,
    EARLIEST_CREATED_AT,
    MAX_FUTURE,
    MAX_TEXT_CHARS,
    METRIC_FIELDS,
    text_hash_sql,
)
from listener.core.settings import OwnAccounts
from listener.core.sources import registered_sources
from listener.ingest.topics import TopicRule, tag_mentions
from listener.store.connection import registered, scalar, temp_table_exists

# How DuckDB reads one canonical document. Ids, counts, booleans and the nested lists
# and objects come as JSON text, so their JSON type is checked from the same single
# parse (a plain cast would turn 1e3 into "1000.0", "many" into NULL and drop
# "notalist"); text fields are read as text.
_TEXT_FIELDS = frozenset(
    {"source", "url", "created_at", "title", "text", "lang", "community", "author.handle", "author.name", "author.url"}
)


def _read_as(name: str) -> str:
    return "VARCHAR" if name in _TEXT_FIELDS else "JSON"


_STRUCTURE = json.dumps(
    {f: {a: _read_as(f"author.{a}") for a in AUTHOR_FIELDS} if f == "author" else _read_as(f) for f in CANONICAL_FIELDS}
)
_METRICS = json.dumps({f: "JSON" for f in METRIC_FIELDS})

_KNOWN = CANONICAL_FIELDS
_KNOWN_KEYS = "[" + ", ".join(f"'{k}'" for k in _KNOWN) + "]"
_REMOVE_KNOWN = json.dumps({k: None for k in _KNOWN})

# field name -> (its JSON text, the SQL column its checked value gets)
_IDS = {
    "id": ("r.id", "id_v"),
    "parent_id": ("r.parent_id", "parent_v"),
    "thread_id": ("r.thread_id", "thread_v"),
    "repost_of": ("r.repost_of", "repost_v"),
    "quote_of": ("r.quote_of", "quote_v"),
    "in_reply_to_author": ("r.in_reply_to_author", "reply_author_v"),
    "author.id": ("r.author.id", "author_v"),
}
_COUNTS = {
    "author.followers": ("r.author.followers", "followers_v"),
    "author.following": ("r.author.following", "following_v"),
    "metrics.likes": ("m.likes", "likes_v"),
    "metrics.reposts": ("m.reposts", "reposts_v"),
    "metrics.replies": ("m.replies", "replies_v"),
    "metrics.quotes": ("m.quotes", "quotes_v"),
    "metrics.score": ("m.score", "score_v"),
}  # a score may be negative (Reddit)
_WHOLE = "'-?[0-9]+'"


def _id_value(j: str) -> str:
    """A JSON string (unescaped only when it has escapes) or a JSON integer's exact digits, else NULL."""
    return (
        f"CASE WHEN starts_with({j}, '\"') THEN CASE WHEN contains({j}, chr(92)) THEN {j} ->> '$' "
        f"ELSE substr({j}, 2, length({j}) - 2) END "
        f"WHEN regexp_full_match({j}, {_WHOLE}) THEN {j}::VARCHAR END"
    )


def _what(j: str) -> str:
    """What a wrongly typed JSON value is, for the message (evaluated on rejected rows only)."""
    return (
        f"CASE WHEN starts_with({j}, '\"') THEN '\"' || left({j} ->> '$', 40) || '\"' "
        f"WHEN starts_with({j}, '{{') THEN 'an object' WHEN starts_with({j}, '[') THEN 'a list' "
        f"WHEN {j}::VARCHAR IN ('true', 'false') THEN 'a boolean' "
        f"WHEN regexp_full_match({j}, {_WHOLE}) THEN 'a number' "
        f"ELSE 'a number with a fraction or exponent' END"
    )


_MENTION_ITEMS_OK = "len(list_filter(mentions_v, lambda e: NOT (starts_with(e, '\"') OR starts_with(e, '{')))) = 0"

# True when every checked field has its type; one cheap test for the good rows, the
# field-by-field CASE below only runs for the others.
_TYPES_OK = " AND ".join(
    [
        *(f"({j} IS NULL OR {v} IS NOT NULL)" for j, v in _IDS.values()),
        *(f"({j} IS NULL OR coalesce({v}::VARCHAR = {j}::VARCHAR, false))" for j, v in _COUNTS.values()),
        *(f"coalesce({v} >= 0, true)" for f, (_, v) in _COUNTS.items() if f != "metrics.score"),
        "(r.author.verified IS NULL OR verified_v IS NOT NULL)",
        "(r.metrics IS NULL OR m IS NOT NULL)",
        f"(r.mentions IS NULL OR coalesce({_MENTION_ITEMS_OK}, false))",
        "(r.referenced_authors IS NULL OR refs_v IS NOT NULL)",
    ]
)


def _type_problems() -> str:
    """Which field has the wrong type, and what it is instead."""
    whens = [
        f"WHEN {j} IS NOT NULL AND {v} IS NULL THEN 'field \"{f}\" must be a string or a whole number, not ' "
        f"|| {_what(j)}"
        for f, (j, v) in _IDS.items()
    ]
    whens += [
        "WHEN r.metrics IS NOT NULL AND m IS NULL THEN 'field \"metrics\" must be an object, not ' || "
        + _what("r.metrics")
    ]
    for f, (j, v) in _COUNTS.items():
        kind = "a whole number" if f == "metrics.score" else "a whole number (0 or more)"
        whens += [
            f"WHEN {j} IS NOT NULL AND NOT regexp_full_match({j}, {_WHOLE}) "
            f"THEN 'field \"{f}\" must be {kind}, not ' || {_what(j)}",
            f"WHEN {j} IS NOT NULL AND {v} IS NULL THEN 'field \"{f}\" is too large'",
        ]
        if f != "metrics.score":
            whens.append(f"WHEN {v} < 0 THEN 'field \"{f}\" must be {kind}, not ' || {v}")
    whens += [
        "WHEN r.author.verified IS NOT NULL AND verified_v IS NULL "
        "THEN 'field \"author.verified\" must be true or false, not ' || " + _what("r.author.verified"),
        "WHEN r.mentions IS NOT NULL AND mentions_v IS NULL THEN 'field \"mentions\" must be a list, not ' || "
        + _what("r.mentions"),
        f"WHEN NOT {_MENTION_ITEMS_OK} "
        'THEN \'field "mentions" must list handles (strings) or objects with a "handle"\'',
        "WHEN r.referenced_authors IS NOT NULL AND refs_v IS NULL "
        "THEN 'field \"referenced_authors\" must be an object, not ' || " + _what("r.referenced_authors"),
    ]
    return "CASE " + "\n    ".join(whens) + " END"


# ISO-8601 / RFC 3339 instants: a date, optionally a time and a UTC offset of at most
# 14 hours. DuckDB's cast alone also takes "infinity", "epoch", "2026-1-2", "T24:00",
# time zone names and offsets such as +25:00.
_DATE = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]+)?)?"
_ISO_INSTANT = f"{_DATE}({_TIME}(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)?)?"
_ANY_OFFSET = f"{_DATE}{_TIME}[+-][0-9]{{2}}(:?[0-9]{{2}})?"
_EARLIEST_SQL = f"TIMESTAMPTZ '{EARLIEST_CREATED_AT.isoformat()}'"
_LATEST_SQL = f"now() + INTERVAL '{int(MAX_FUTURE.total_seconds())} seconds'"
_EARLIEST_TEXT = EARLIEST_CREATED_AT.strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    n, unit = (seconds // 86400, "day") if seconds % 86400 == 0 else (seconds // 3600, "hour")
    return f"{n} {unit}" + ("" if n == 1 else "s")


_PROBLEM = f"""
CASE
  WHEN r.source IS NULL OR trim(r.source) = '' THEN 'missing required field "source"'
  WHEN NOT regexp_full_match(r.source, '[a-z][a-z0-9_]{{0,31}}')
    THEN 'field "source" must be a short lowercase name: a letter, then up to 31 letters, digits or _'
  WHEN NOT ({_TYPES_OK}) THEN {_type_problems()}
  WHEN id_v IS NULL OR trim(id_v) = '' THEN 'missing required field "id"'
  WHEN r.created_at IS NULL THEN 'missing required field "created_at"'
  WHEN ts IS NULL THEN 'field "created_at" is not an ISO-8601 timestamp: ' || left(r.created_at, 40)
  WHEN ts < {_EARLIEST_SQL} THEN 'field "created_at" is before {_EARLIEST_TEXT}: ' || left(r.created_at, 40)
  WHEN ts > {_LATEST_SQL}
    THEN 'field "created_at" is more than {_span(MAX_FUTURE)} in the future: ' || left(r.created_at, 40)
  WHEN NOT regexp_full_match(r.created_at, '{_ISO_INSTANT}') THEN
    CASE WHEN regexp_full_match(r.created_at, '{_ANY_OFFSET}')
         THEN 'field "created_at" has a UTC offset beyond 14 hours: ' || left(r.created_at, 40)
         ELSE 'field "created_at" is not an ISO-8601 timestamp: ' || left(r.created_at, 40) END
  WHEN coalesce(r.text, r.title) IS NULL THEN 'missing required field "text" (or "title")'
  WHEN coalesce(nullif(trim(author_v), ''), nullif(trim(ltrim(r.author.handle, '@')), '')) IS NULL THEN
    CASE WHEN json_type(doc, '$.author') NOT IN ('OBJECT', 'NULL')
         THEN 'field "author" must be an object, not ' || {_what("json_extract(doc, '$.author')")}
         ELSE 'missing required field "author.id" (or "author.handle")' END
END
"""

# The good rows' test: true only when `_PROBLEM` is NULL. Planning `_PROBLEM` (its messages for
# every wrong type) costs ~30 ms a statement whatever the batch's size, so a batch is staged with
# this test, and only the rows it fails are staged again with `_PROBLEM` to say why.
_OK = f"""
  r.source IS NOT NULL AND trim(r.source) <> '' AND regexp_full_match(r.source, '[a-z][a-z0-9_]{{0,31}}')
  AND {_TYPES_OK}
  AND id_v IS NOT NULL AND trim(id_v) <> ''
  AND ts >= {_EARLIEST_SQL} AND ts <= {_LATEST_SQL} AND regexp_full_match(r.created_at, '{_ISO_INSTANT}')
  AND coalesce(r.text, r.title) IS NOT NULL
  AND coalesce(nullif(trim(author_v), ''), nullif(trim(ltrim(r.author.handle, '@')), '')) IS NOT NULL
"""
_RECHECK = "(to be checked field by field)"  # a staged row `_OK` failed; never a reader's reason

# `listener import` merges what it staged at this size: two of DuckDB's row groups (122,880 rows),
# so the merge's inserts are written to the file directly (optimistic writes) instead of to the
# WAL and again at the checkpoint; MERGE_BYTES bounds it for long documents (the staged rows
# spill to disk past the memory limit).
MERGE_ROWS = 2 * 122_880
MERGE_BYTES = 128 * 1024 * 1024

BATCH_SCHEMA = pa.schema([("line_no", pa.int64()), ("doc", pa.string())])
# A reader may also say why it could not hand a line over (doc is then NULL).
READER_SCHEMA = BATCH_SCHEMA.append(pa.field("problem", pa.string()))


def documents_batch(documents: list[str]) -> pa.Table:
    """Canonical JSON documents as a batch for `load_batch`, numbered from 1."""
    return pa.table({"line_no": list(range(1, len(documents) + 1)), "doc": documents}, schema=BATCH_SCHEMA)


@dataclass
class LoadResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # rejected rows: (line, why)
    warnings: list[tuple[int, str]] = field(default_factory=list)  # kept rows that were changed: (line, what)

    def add(self, other: LoadResult) -> None:
        self.received += other.received
        self.inserted += other.inserted
        self.updated += other.updated
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)


def prepare_own_accounts(conn: duckdb.DuckDBPyConnection, own: OwnAccounts) -> None:
    """Own accounts as a temp table, so `is_own` is a join, not string-built SQL."""
    rows = [(source, handle) for source, handles in own.by_source().items() for handle in handles]
    table = pa.table(
        {"source": [r[0] for r in rows], "handle": [r[1] for r in rows]},
        schema=pa.schema([("source", pa.string()), ("handle", pa.string())]),
    )
    conn.register("own_accounts_arrow", table)
    conn.execute("CREATE OR REPLACE TEMP TABLE own_accounts AS SELECT * FROM own_accounts_arrow")
    conn.unregister("own_accounts_arrow")


def load_batch(
    conn: duckdb.DuckDBPyConnection,
    batch: pa.Table,
    run_id: str | None,
    rules: list[TopicRule],
) -> LoadResult:
    """Merge one batch of (line_no, doc) into the store: `stage_batch`, then `merge_staged`.

    Call inside a write transaction that claims `Claim.LOADS`: on DuckLake two workers loading
    at once then conflict at COMMIT and one re-runs after the other (the anti-join sees its
    rows), instead of both appending the same mention, since DuckLake has no primary key.
    """
    discard_staged(conn)  # what a failed load left on this connection is not this batch's
    result = stage_batch(conn, batch, run_id)
    merged = merge_staged(conn, rules)
    result.inserted, result.updated = merged.inserted, merged.updated
    return result


def stage_batch(conn: duckdb.DuckDBPyConnection, batch: pa.Table, run_id: str | None) -> LoadResult:
    """Parse and check one batch into the connection's temp table `staged`, after what is staged already.

    Only the temp table is written, so it may run outside a transaction: an import stages several
    read batches and merges them at once (`merge_staged`), because each merge reads the store's
    tables and a merge of a row group or more is written straight to the file, not to the WAL
    and then again by the checkpoint. Returns the rejected and changed rows of this batch.
    """
    result = LoadResult(received=batch.num_rows)
    if batch.num_rows == 0:
        return result
    first = not temp_table_exists(conn, "staged")
    part = 0 if first else int(scalar(conn, "SELECT max(part) + 1 FROM staged"))
    has_problems = "problem" in batch.schema.names
    with registered(conn, "incoming_arrow", batch):
        _stage(conn, run_id, has_problems, part, create=first)
        errors = _errors(conn, part)
        if any(why == _RECHECK for _, why in errors):
            _restage_failed(conn, run_id, has_problems, part)
            errors = _errors(conn, part)
    result.errors = errors
    result.warnings = _warnings(conn, part)
    return result


def _errors(conn: duckdb.DuckDBPyConnection, part: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        "SELECT line_no, problem FROM staged WHERE part = ? AND problem IS NOT NULL ORDER BY line_no", [part]
    ).fetchall()
    return [(int(n), str(p)) for n, p in rows]


def _restage_failed(conn: duckdb.DuckDBPyConnection, run_id: str | None, has_problems: bool, part: int) -> None:
    """The rows of `part` that failed `_OK`, staged again with `_PROBLEM`: why each is rejected (or kept)."""
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE recheck_lines AS SELECT line_no FROM staged WHERE part = ? AND problem = ?",
        [part, _RECHECK],
    )
    conn.execute("DELETE FROM staged WHERE part = ? AND problem = ?", [part, _RECHECK])
    _stage(conn, run_id, has_problems, part, only="line_no IN (SELECT line_no FROM recheck_lines)")
    conn.execute("DROP TABLE recheck_lines")


def merge_staged(conn: duckdb.DuckDBPyConnection, rules: list[TopicRule]) -> LoadResult:
    """Merge everything `stage_batch` staged into the store (inserted and updated counts), then forget it.

    Call inside a write transaction that claims `Claim.LOADS` (see `load_batch`). Rolled back, the
    staged rows stay, so a retry merges them again.
    """
    result = LoadResult()
    if not temp_table_exists(conn, "staged"):
        return result
    _build_batch(conn)
    result.updated, result.inserted = _merge_mentions(conn)
    _merge_authors(conn)
    _replace_interactions(conn, any_known=result.updated > 0)
    tag_mentions(conn, rules, scope="batch")
    conn.execute("DROP VIEW batch")
    conn.execute("DROP TABLE superseded")
    conn.execute("DROP TABLE staged")
    conn.execute("DROP TABLE batch_authors")
    return result


def discard_staged(conn: duckdb.DuckDBPyConnection) -> None:
    """Forget rows staged and not merged (a load that failed half-way)."""
    conn.execute("DROP TABLE IF EXISTS staged")


def _stage(
    conn: duckdb.DuckDBPyConnection,
    run_id: str | None,
    has_problems: bool,
    part: int,
    create: bool = False,
    only: str | None = None,
) -> None:
    """Parse each line once, validate it and project the store's columns, in one pass.

    All lines are checked with `_OK`, and the ones it fails are marked `_RECHECK`; `only` (a
    condition on `line_no`) stages just those lines again, with `_PROBLEM`'s reasons.

    Guarding every row against bad JSON or unknown keys costs 2-3x, so the
    batch is checked first and the guards are used only when needed. `raw`
    keeps the connector's payload, or else only the fields the canonical format
    does not know (a merge patch with nulls removes the known ones).
    """
    all_valid = scalar(conn, "SELECT coalesce(bool_and(json_valid(doc)), true) FROM incoming_arrow")
    guard = "" if all_valid else "WHERE json_valid(doc) AND json_type(doc) = 'OBJECT'"
    parse = f"from_json(doc, '{_STRUCTURE}')"
    if not all_valid:
        parse = f"CASE WHEN json_valid(doc) THEN {parse} END"
    # The reader may have rejected a line already (bad UTF-8, too long): its reason wins.
    given = "problem" if has_problems else "NULL::VARCHAR"
    has_unknown = scalar(
        conn,
        f"SELECT count(*) FROM (SELECT DISTINCT unnest(json_keys(doc)) AS k FROM incoming_arrow {guard}) "
        f"WHERE k NOT IN ({_KNOWN_KEYS[1:-1]})",
    )
    raw = "r.raw"
    if has_unknown:
        raw = (
            f"CASE WHEN r.raw IS NOT NULL THEN r.raw WHEN r IS NOT NULL AND NOT list_has_all({_KNOWN_KEYS}, "
            f"json_keys(doc)) THEN json_merge_patch(doc, '{_REMOVE_KNOWN}') END"
        )
    cap = MAX_TEXT_CHARS
    ids = ", ".join(f"{_id_value(j)} AS {v}" for j, v in _IDS.values())
    counts = ", ".join(f"TRY_CAST({j} AS BIGINT) AS {v}" for j, v in _COUNTS.values())
    checks = _PROBLEM if only else f"CASE WHEN {_OK} THEN NULL ELSE '{_RECHECK}' END"
    where = f"WHERE {only}" if only else ""
    # The first part creates `staged`; later ones are appended (same columns, same order).
    into = "CREATE TEMP TABLE staged AS" if create else "INSERT INTO staged"
    conn.execute(
        f"""
        {into}
        WITH parsed AS (SELECT line_no, doc, {given} AS given, {parse} AS r FROM incoming_arrow {where}),
        typed AS (
            SELECT *, {ids}, TRY_CAST(r.created_at AS TIMESTAMPTZ) AS ts,
                   CASE WHEN starts_with(r.metrics, '{{') THEN from_json(r.metrics, '{_METRICS}') END AS m,
                   CASE WHEN starts_with(r.mentions, '[') THEN CAST(r.mentions AS JSON[]) END AS mentions_v,
                   CASE WHEN starts_with(r.referenced_authors, '{{')
                        THEN CAST(r.referenced_authors AS MAP(VARCHAR, VARCHAR)) END AS refs_v,
                   CASE r.author.verified::VARCHAR WHEN 'true' THEN true WHEN 'false' THEN false END AS verified_v
            FROM parsed
        ),
        counted AS (SELECT *, {counts} FROM typed),
        checked AS (
            SELECT *, {raw} AS raw_v, trim(r.source) AS source, trim(id_v) AS native_id,
                   lower(nullif(trim(ltrim(r.author.handle, '@')), '')) AS handle_key,
                   nullif(trim(author_v), '') AS author_native,
                   -- strlen (bytes) first: counting characters only when it could matter
                   CASE WHEN strlen(r.text) > {cap} AND length(r.text) > {cap} THEN length(r.text) END AS text_chars,
                   CASE WHEN strlen(r.title) > {cap} AND length(r.title) > {cap} THEN length(r.title) END AS title_chars,
                   CASE WHEN given IS NOT NULL THEN given
                        WHEN r IS NULL THEN CASE WHEN doc IS NULL OR NOT json_valid(doc) THEN 'not valid JSON'
                                                 WHEN json_type(doc) = 'NULL' THEN 'a JSON null, not an object'
                                                 ELSE 'not valid JSON' END
                        WHEN r.source IS NULL AND json_type(doc) <> 'OBJECT' THEN 'not a JSON object'
                        ELSE {checks} END AS problem
            FROM counted
        )
        SELECT
            problem, source || ':' || native_id AS mention_id, source, native_id, line_no,
            nullif(r.url, '') AS url,
            source || ':' || coalesce(author_native, '@' || handle_key) AS author_id,
            author_native, handle_key,
            nullif(trim(ltrim(r.author.handle, '@')), '') AS author_handle,
            r.author.name AS author_name, followers_v AS followers, following_v AS following,
            verified_v AS verified, r.author.url AS author_url,
            CASE WHEN title_chars IS NULL THEN r.title ELSE left(r.title, {cap}) END AS title,
            CASE WHEN text_chars IS NULL THEN r.text ELSE left(r.text, {cap}) END AS text,
            text_chars, title_chars, nullif(r.lang, '') AS lang, ts AS created_at,
            CASE WHEN nullif(parent_v, '') IS NOT NULL THEN source || ':' || parent_v END AS parent_id,
            CASE WHEN nullif(thread_v, '') IS NOT NULL THEN source || ':' || thread_v END AS thread_id,
            nullif(r.community, '') AS community,
            likes_v AS like_count, reposts_v AS repost_count, replies_v AS reply_count,
            quotes_v AS quote_count, score_v AS score,
            CASE WHEN nullif(repost_v, '') IS NOT NULL THEN source || ':' || repost_v END AS repost_of,
            CASE WHEN nullif(quote_v, '') IS NOT NULL THEN source || ':' || quote_v END AS quote_of,
            nullif(reply_author_v, '') AS in_reply_to_author,
            refs_v AS referenced_authors, mentions_v AS mentioned, raw_v AS raw,
            coalesce(source || ':' || handle_key IN (SELECT source || ':' || handle FROM own_accounts), false)
              OR coalesce(source || ':' || lower(author_native) IN (SELECT source || ':' || handle FROM own_accounts), false)
              AS is_own,
            ?::VARCHAR AS run_id, ?::INTEGER AS part
        FROM checked
        """,
        [run_id, part],
    )


def _warnings(conn: duckdb.DuckDBPyConnection, part: int) -> list[tuple[int, str]]:
    """Kept rows whose text or title was cut to MAX_TEXT_CHARS, with their line numbers."""
    cut = f"' to {MAX_TEXT_CHARS:,} characters'"
    rows = conn.execute(
        f"""
        SELECT line_no, 'field "text" cut from ' || format('{{:,}}', text_chars) || {cut} AS message
        FROM staged WHERE part = $part AND problem IS NULL AND text_chars IS NOT NULL
        UNION ALL
        SELECT line_no, 'field "title" cut from ' || format('{{:,}}', title_chars) || {cut}
        FROM staged WHERE part = $part AND problem IS NULL AND title_chars IS NOT NULL
        ORDER BY line_no, message DESC
        """,
        {"part": part},
    ).fetchall()
    return [(int(n), str(m)) for n, m in rows]


def _build_batch(conn: duckdb.DuckDBPyConnection) -> None:
    """The batch's good rows as the view `batch`, without copying them.

    Duplicate ids among the staged rows: the last line (of the last part) wins (DuckDB would
    keep one at random), so the earlier lines of a repeated id are left out.
    """
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE superseded AS
        SELECT part, line_no FROM staged
        WHERE problem IS NULL AND mention_id IN (
            SELECT mention_id FROM staged WHERE problem IS NULL GROUP BY mention_id HAVING count(*) > 1)
        QUALIFY row_number() OVER (PARTITION BY mention_id ORDER BY part DESC, line_no DESC) > 1
        """
    )
    conn.execute(
        "CREATE OR REPLACE TEMP VIEW batch AS SELECT s.* EXCLUDE (problem, text_chars, title_chars, part) "
        "FROM staged s ANTI JOIN superseded x ON x.part = s.part AND x.line_no = s.line_no WHERE s.problem IS NULL"
    )


# A re-collected or re-imported mention is rewritten only when something in it changed: an
# unchanged reload writes nothing (no update versions held until the checkpoint, no weeks to
# recompute), so `updated_at` says when its content last changed.
# Engagement counts: NULL in a record means "not given", never "zero" or "gone".
COUNT_COLUMNS = ("like_count", "repost_count", "reply_count", "quote_count", "score")

_CHANGED = " OR ".join(
    [
        *(
            f"mentions.{c} IS DISTINCT FROM b.{c}"
            for c in (
                "url",
                "author_id",
                "title",
                "text",
                "parent_id",
                "thread_id",
                "community",
                "is_own",
                "repost_of",
                "quote_of",
            )
        ),
        *(f"(b.{c} IS NOT NULL AND mentions.{c} IS DISTINCT FROM b.{c})" for c in COUNT_COLUMNS),
        "mentions.raw::VARCHAR IS DISTINCT FROM b.raw::VARCHAR",
        "(b.lang IS NOT NULL AND (mentions.lang_detected OR b.lang IS DISTINCT FROM mentions.lang))",
    ]
)


def _merge_mentions(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(known, inserted): `known` counts the batch's mentions already stored, changed or not.

    Each join with `mentions` reads the whole table, so the statements that cannot change anything
    are left out: no UPDATE for a batch of new mentions, no INSERT for one of known mentions, and
    no anti-join when none is known (a first import reads `mentions` once per batch, not three times).
    """
    known = scalar(conn, "SELECT count(*) FROM batch b SEMI JOIN mentions m ON m.mention_id = b.mention_id")
    size = scalar(conn, "SELECT count(*) FROM batch")
    if known:
        _update_mentions(conn)
    if known == size:
        return int(known), 0
    new_only = "ANTI JOIN mentions m ON m.mention_id = b.mention_id" if known else ""
    inserted = scalar(
        conn,
        f"""
        INSERT INTO mentions (mention_id, source, native_id, url, author_id, title, text, lang, created_at,
                              collected_at, updated_at, parent_id, thread_id, community, like_count,
                              repost_count, reply_count, quote_count, score, is_own, run_id, repost_of,
                              quote_of, raw, text_hash)
        SELECT b.mention_id, b.source, b.native_id, b.url, b.author_id, b.title, b.text,
               b.lang, b.created_at, now(), now(), b.parent_id, b.thread_id, b.community,
               b.like_count, b.repost_count, b.reply_count, b.quote_count, b.score,
               b.is_own, b.run_id, b.repost_of, b.quote_of, b.raw, {text_hash_sql("b")}
        FROM batch b {new_only}
        """,
    )
    return int(known), int(inserted)


def _update_mentions(conn: duckdb.DuckDBPyConnection) -> None:
    # `text_hash` follows the text: a sentiment score of another text is scored again by `analyze`.
    conn.execute(
        f"""
        UPDATE mentions SET
            url = b.url, author_id = b.author_id, title = b.title, text = b.text,
            text_hash = {text_hash_sql("b")},
            -- A language the source gives wins; a detected one is dropped when the text
            -- changes, so the detector looks at the new text.
            lang = CASE WHEN b.lang IS NOT NULL THEN b.lang
                        WHEN mentions.lang_detected AND mentions.text IS DISTINCT FROM b.text THEN NULL
                        ELSE mentions.lang END,
            lang_detected = CASE WHEN b.lang IS NOT NULL OR mentions.text IS DISTINCT FROM b.text THEN false
                                 ELSE mentions.lang_detected END,
            updated_at = now(),
            parent_id = b.parent_id, thread_id = b.thread_id, community = b.community,
            -- a record without counts (a Jetstream event, a feed) keeps the last known ones
            like_count = coalesce(b.like_count, mentions.like_count),
            repost_count = coalesce(b.repost_count, mentions.repost_count),
            reply_count = coalesce(b.reply_count, mentions.reply_count),
            quote_count = coalesce(b.quote_count, mentions.quote_count), score = coalesce(b.score, mentions.score),
            is_own = b.is_own, run_id = b.run_id, repost_of = b.repost_of,
            quote_of = b.quote_of, raw = b.raw
        FROM batch b WHERE mentions.mention_id = b.mention_id AND ({_CHANGED})
        """,
    )


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


def _replace_interactions(conn: duckdb.DuckDBPyConnection, any_known: bool = True) -> None:
    """Derive reply/comment, mention, repost and quote edges the same way for every source.

    `any_known`: some of the batch's mentions were stored before, so their old edges go first (a
    batch of new mentions has none: the DELETE would only read the whole table)."""
    if any_known:
        conn.execute("DELETE FROM interactions WHERE mention_id IN (SELECT mention_id FROM batch)")
    with registered(conn, "reply_kinds_arrow", _reply_kinds()):
        conn.execute(
            """
            INSERT INTO interactions (mention_id, source, from_author_id, to_author_id, kind, created_at,
                                      target_mention_id, target_handle)
            WITH refs AS (
                SELECT mention_id, source, author_id, created_at, kind, target, in_reply_to_author,
                       referenced_authors
                FROM (
                    SELECT b.*, coalesce(k.reply_kind, 'reply') AS kind, b.parent_id AS target
                    FROM batch b LEFT JOIN reply_kinds_arrow k ON k.source = b.source
                    WHERE b.parent_id IS NOT NULL
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


def _reply_kinds() -> pa.Table:
    """source -> its word for an answer ('comment' on Reddit), from the source catalogue; a source
    only imports use is not listed and gets 'reply'."""
    sources = registered_sources()
    return pa.table(
        {"source": [s.name for s in sources], "reply_kind": [s.reply_kind for s in sources]},
        schema=pa.schema([("source", pa.string()), ("reply_kind", pa.string())]),
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
