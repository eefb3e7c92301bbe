"""Where the conversation happens, per ISO week -> `communities`, `community_members`.

Native communities come from the data itself: the `community` of a mention
(subreddit, feed) as `native:<source>:<name>`, and hashtags used by at least
`MIN_MEMBERS` authors as `native:<source>:#tag`.

Detected communities come from modularity-Leiden on the week's undirected,
weighted interaction graph (`analytics.network.graph`); groups of at least
`MIN_MEMBERS` authors are kept. Their label is their most distinctive terms
and hashtags plus their most connected members. Ids are stable across weeks:
a group whose members overlap a group of the previous week with Jaccard >=
`KEEP_ID_JACCARD` keeps that group's id (greedy, best overlap first), else it
gets a new `c<n>`. On a recomputation, a group not matched to the previous
week keeps the id it had in the same week before, so reruns converge.

Distinctive terms (`top_terms`, every community) are content words and
hashtags weighted by TF-IDF against the whole store, in SQL:

- Terms: the lowercased title and text without URLs, @handles and `u/name`,
  curly apostrophes made straight, cut by `TOKEN_RE` into words (letters,
  digits, `_`, inner apostrophes) and `#hashtags`. A word with an apostrophe
  is dropped when it, or it without its apostrophes ("dont"), is a stopword
  of a store language; else its longest part is kept ("l'espresso" ->
  "espresso", "acme's" -> "acme"; "it's" -> "it", a stopword). Dropped too:
  terms of one character, pure numbers (`2026`, `#1`) and `SOCIAL_FILLER`.
- Stopwords: a community's words are checked against the `stopwordsiso`
  lists of every language of its mentions (`mentions.lang`, its ISO 639-1
  part: `en-US` -> `en`); a mention without a language (NULL, `und`) brings
  English and every language of the store. A language without a list
  brings none. Hashtags are never stopwords.
- Weight: with `N` the mentions in the store (all weeks) and `df` those
  using the term, a term in `tf` of a community's `m` posts of the week
  scores (tf / m) * ln(N / df). Kept: tf >= 2 and a lift (tf / m) / (df / N)
  >= `MIN_LIFT` (that much more common in the community than in the store),
  so words used everywhere (the brand, filler no list knows) score near 0
  and are mostly cut; one more common in the community than elsewhere can
  still follow its distinctive terms. The best `TOP_TERMS` are stored, most
  distinctive first.

Each distinct text is cut into terms once per `run` (temp table `text_tokens`,
keyed by the text's md5, at the first stale week: copies and reposts are cut
once), and the store-wide `df` (`store_terms`) is summed from it; both are
reused for each week, as is each mention's text key (`mention_texts`, valid
while the mention's `updated_at` is unchanged). A community's term counts are
summed per distinct text (how many of its posts have that text), so a week's
posts are never expanded into one row per term.
Limits (docs/analytics-network.md): a word new this week stands out in every
community using it; scripts without spaces are not split into words.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import stopwordsiso

from analytics.definitions import is_placeholder, t_interval_sql
from analytics.network.graph import (
    Period,
    drop_period,
    leiden,
    load_graph,
    run_stale_weeks,
    stage_period,
    to_sql,
    undirected,
)
from listener.core.settings import Settings
from listener.store.connection import Store, scalar, temp_table_exists

MIN_MEMBERS = 3
KEEP_ID_JACCARD = 0.3
TOP_TERMS = 5
TOP_MEMBERS_IN_LABEL = 3
MIN_LIFT = 1.5
TOKEN_RE = r"#[\pL\pN_]+|\pL[\pL\pN_']*[\pL\pN_]"
# Not words: links, @handles (and so e-mail domains), Reddit's u/name.
NOISE_RE = r"https?://\S+|www\.\S+|@[\pL\pN_.]+|\bu/[\pL\pN_-]+"
APOSTROPHES = "\u2018\u2019\u02bc\u2032\u00b4`"  # read as '
# Chat filler of any language that the stopword lists lack (they have "via", "ok", "im", "dont", ...).
SOCIAL_FILLER = sorted(
    set(
        """
rt amp http https www com gt lt nbsp lol lmao lmfao rofl omg omfg haha hahaha hehe xd xoxo tbh imo imho idk
btw fyi smh ngl irl pls plz thx ty yeah yea ya yep yup nah nope gonna wanna gotta kinda sorta y'all
""".split()
    )
)
UNKNOWN_LANGS = ("", "und")  # `mentions.lang` values that tell nothing: English + the store's languages
STORE_TABLES = (
    "store_terms",
    "store_total",
    "store_stopwords",
    "store_lang_map",
    "text_tokens",
    "mention_texts",
    "run_docs",
)


def run(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """Recompute the stale ISO weeks, oldest first (ids chain from week to week).

    On a DuckDB file this process is the only writer, so every week's posts are read once, up
    front (`run_docs`); on DuckLake another worker may load between two weeks, so each week reads
    the store as it is then."""
    _drop_store_terms(store.conn)
    try:
        prepare = (lambda weeks: _stage_run_docs(store.conn, weeks)) if store.lake is None else None
        return run_stale_weeks(store, "communities", compute_week, prepare)
    finally:
        _drop_store_terms(store.conn)


def _stage_run_docs(conn: duckdb.DuckDBPyConnection, weeks: list[Period]) -> None:
    """The store's terms, and the posts of the stale weeks' span (`run_docs`), in one snapshot."""
    lo, hi = weeks[0].bounds[0], weeks[-1].bounds[1]  # stale_weeks lists them oldest first
    conn.execute("BEGIN TRANSACTION")
    try:
        _stage_store_terms(conn)
        conn.execute(
            f"CREATE TEMP TABLE run_docs AS {_docs_sql('m.created_at >= ? AND m.created_at < ?')} ORDER BY created_at",
            [lo, hi],
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def compute_week(conn: duckdb.DuckDBPyConnection, week: Period) -> int:
    """Inside the caller's write transaction: replace one week's communities and members; returns
    communities written."""
    _stage_store_terms(conn)
    stage_period(conn, week)
    _stage_docs(conn, week)
    _stage_native(conn)
    _stage_detected(conn, week)
    written = _write(conn, week)
    for table in ("week_docs", "groups", "group_members", "group_docs", "detected"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    drop_period(conn)
    return written


def _lang_sql(col: str) -> str:
    """`mentions.lang` as its ISO 639-1 part, lowercased ('en-US' -> 'en'); '' when unknown."""
    lang = f"lower(split_part(replace(trim({col}), '_', '-'), '-', 1))"
    unknown = ", ".join(f"'{u}'" for u in UNKNOWN_LANGS)
    return f"CASE WHEN {lang} IN ({unknown}) THEN '' ELSE coalesce({lang}, '') END"


_TEXT_KEY = "md5_number(txt)"  # 128 bits: two texts never share their terms by accident


def _text_sql(alias: str) -> str:
    """A mention's lowercased title and text, apostrophes straight, without links and @handles."""
    text = f"lower(concat_ws(' ', {alias}.title, {alias}.text))"
    straight = f"regexp_replace({text}, '[{APOSTROPHES}]', '''', 'g')"
    return f"regexp_replace({straight}, '{NOISE_RE}', ' ', 'g')"


def _tokens_sql(docs: str, cols: str) -> str:
    """Distinct (`cols`, token) from the `txt` of `docs`, without the noise that does not depend on
    the language (module docstring); `_write` removes the stopwords of each community's languages.
    One parameter: SOCIAL_FILLER."""
    longest = "list_reduce(string_split(raw, ''''), lambda a, b: CASE WHEN length(b) > length(a) THEN b ELSE a END)"
    return f"""
        SELECT DISTINCT {cols}, token FROM (
            SELECT {cols}, CASE WHEN contains(raw, '''') THEN {longest} ELSE raw END AS token
            FROM (SELECT {cols}, unnest(regexp_extract_all(txt, '{TOKEN_RE.replace("'", "''")}')) AS raw FROM {docs})
            WHERE NOT contains(raw, '''')
               OR (raw NOT IN (SELECT word FROM store_stopwords)
                   AND replace(raw, '''', '') NOT IN (SELECT word FROM store_stopwords))
        )
        WHERE length(token) >= 2 AND NOT regexp_full_match(token, '#?[0-9_]+')
          AND token NOT IN (SELECT unnest(?::VARCHAR[]))
    """


def _stage_store_terms(conn: duckdb.DuckDBPyConnection) -> None:
    """Once per run (until `run` drops them): the stopwords of the store's languages and English,
    `store_stopwords(lang, word)` and `store_lang_map(doc_lang, lang)`, and the store-wide document
    frequencies `store_terms(token, df)` out of `store_total(n)` mentions."""
    if temp_table_exists(conn, "store_terms"):
        return
    found = {r[0] for r in conn.execute(f"SELECT DISTINCT {_lang_sql('lang')} FROM mentions").fetchall()}
    langs = sorted({lang for lang in found if lang and stopwordsiso.has_lang(lang)} | {"en"})
    straight = str.maketrans(dict.fromkeys(APOSTROPHES, "'"))
    words = sorted({(lang, w.lower().translate(straight)) for lang in langs for w in stopwordsiso.stopwords(lang)})
    to_sql(conn, "store_stopwords", {"lang": [w[0] for w in words], "word": [w[1] for w in words]})
    # A mention's language -> the lists that apply; unknown ('') -> English and every store language.
    to_sql(conn, "store_lang_map", {"doc_lang": langs + [""] * len(langs), "lang": langs + langs})
    conn.execute("CREATE OR REPLACE TEMP TABLE store_total AS SELECT count(*) AS n FROM mentions")
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE mention_text_docs AS SELECT mention_id, updated_at, txt, {_TEXT_KEY} AS h "
        f"FROM (SELECT m.mention_id, m.updated_at, {_text_sql('m')} AS txt FROM mentions m)"
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE text_counts AS "
        "SELECT h, any_value(txt) AS txt, count(*) AS n FROM mention_text_docs GROUP BY h"
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE mention_texts AS SELECT mention_id, updated_at, h FROM mention_text_docs"
    )
    conn.execute("DROP TABLE mention_text_docs")
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE text_tokens AS {_tokens_sql('text_counts', 'h')}",
        [SOCIAL_FILLER],
    )
    # a term's df: the mentions whose text holds it (each text's terms are distinct)
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE store_terms AS "
        "SELECT token, sum(n)::BIGINT AS df FROM text_tokens JOIN text_counts USING (h) GROUP BY token"
    )
    conn.execute("DROP TABLE text_counts")


def _drop_store_terms(conn: duckdb.DuckDBPyConnection) -> None:
    for table in STORE_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS temp.main.{table}")


def _docs_sql(where: str) -> str:
    """The posts (`where` on mentions m) with their text key `h`; `txt` only where the key kept in
    `mention_texts` is stale (the mention changed since, or is new: loaded by another worker)."""
    fresh = f"CASE WHEN t.h IS NULL THEN {_text_sql('m')} END"
    return f"""
        SELECT * EXCLUDE (kept), coalesce(kept, md5_number(txt)) AS h FROM (
            SELECT m.mention_id, m.created_at, m.author_id, m.source, m.community, {_lang_sql("m.lang")} AS lang,
                   t.h AS kept, {fresh} AS txt,
                   CASE WHEN s.supported IS NOT false THEN s.compound END AS compound
            FROM mentions m LEFT JOIN sentiment s USING (mention_id)
            LEFT JOIN mention_texts t ON t.mention_id = m.mention_id AND t.updated_at = m.updated_at
            WHERE m.author_id IS NOT NULL AND NOT {is_placeholder("m.author_id")} AND {where}
        )
    """


def _stage_docs(conn: duckdb.DuckDBPyConnection, week: Period) -> None:
    """`week_docs`: the week's posts with their text key `h` (from `run_docs` when `run` read them
    up front); the terms of a text not cut yet are added to `text_tokens`."""
    lo, hi = week.bounds
    source = "run_docs" if temp_table_exists(conn, "run_docs") else f"({_docs_sql('true')})"
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE week_docs AS SELECT * EXCLUDE (created_at) FROM {source} "
        "WHERE created_at >= ? AND created_at < ?",
        [lo, hi],
    )
    late = (
        "(SELECT h, any_value(txt) AS txt FROM week_docs d WHERE txt IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM text_tokens t WHERE t.h = d.h) GROUP BY h)"
    )
    if scalar(conn, "SELECT count(*) FROM week_docs WHERE txt IS NOT NULL"):
        conn.execute(f"INSERT INTO text_tokens {_tokens_sql(late, 'h')}", [SOCIAL_FILLER])


def _stage_native(conn: duckdb.DuckDBPyConnection) -> None:
    """`groups` (one row per community), `group_docs` and `group_members` for native communities."""
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE week_tags AS
        SELECT d.mention_id, d.source, d.author_id, t.token
        FROM week_docs d JOIN (SELECT h, token FROM text_tokens WHERE starts_with(token, '#')) t USING (h)
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE hashtags AS
        SELECT source, token FROM week_tags GROUP BY ALL HAVING count(DISTINCT author_id) >= ?
        """,
        [MIN_MEMBERS],
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE groups AS
        SELECT DISTINCT 'native:' || source || ':' || community AS community_id, 'native' AS kind,
               source, community AS label
        FROM week_docs WHERE community IS NOT NULL
        UNION
        SELECT 'native:' || source || ':' || token, 'native', source, token FROM hashtags
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE group_docs AS
        SELECT 'native:' || source || ':' || community AS community_id, mention_id
        FROM week_docs WHERE community IS NOT NULL
        UNION
        SELECT 'native:' || t.source || ':' || t.token, t.mention_id
        FROM week_tags t SEMI JOIN hashtags h ON h.source = t.source AND h.token = t.token
        """
    )
    conn.execute(
        """
        CREATE OR REPLACE TEMP TABLE group_members AS
        SELECT DISTINCT g.community_id, d.author_id FROM group_docs g JOIN week_docs d USING (mention_id)
        """
    )
    conn.execute("DROP TABLE hashtags")
    conn.execute("DROP TABLE week_tags")


def _stage_detected(conn: duckdb.DuckDBPyConnection, week: Period) -> None:
    """Leiden groups of >= MIN_MEMBERS as `detected(k, vid, strength)`, then their stable ids."""
    pg = load_graph(conn, "all")
    graph = undirected(pg.graph)
    membership = np.asarray(leiden(graph).membership) if graph.ecount() else np.zeros(0, dtype=np.int64)
    sizes = np.bincount(membership) if len(membership) else np.zeros(0, dtype=np.int64)
    keep = sizes[membership] >= MIN_MEMBERS if len(membership) else np.zeros(0, dtype=bool)
    strength = np.asarray(graph.strength(weights="weight"), dtype=float) if graph.vcount() else np.zeros(0)
    to_sql(
        conn,
        "detected",
        {"k": membership[keep].astype(np.int64), "vid": pg.vids[keep].astype(np.int64), "strength": strength[keep]},
    )
    ids = _stable_ids(conn, week)
    to_sql(
        conn,
        "detected_ids",
        {
            "k": np.array(list(ids), dtype=np.int64),
            "community_id": np.array(list(ids.values()), dtype=object).astype(str),
        },
    )
    conn.execute(
        """
        INSERT INTO group_members
        SELECT i.community_id, v.author_id FROM detected d
        JOIN detected_ids i USING (k) JOIN period_vertices v USING (vid)
        """
    )
    conn.execute(
        "INSERT INTO group_docs SELECT DISTINCT m.community_id, d.mention_id "
        "FROM group_members m JOIN week_docs d USING (author_id) "
        "WHERE m.community_id IN (SELECT community_id FROM detected_ids)"
    )
    conn.execute(
        """
        INSERT INTO groups
        SELECT i.community_id, 'detected',
               CASE WHEN count(DISTINCT v.source) = 1 THEN any_value(v.source) END,
               string_agg(coalesce('@' || a.handle, v.author_id), ', ' ORDER BY d.strength DESC, v.author_id)
                   FILTER (d.rnk <= ?)
        FROM (SELECT *, row_number() OVER (PARTITION BY k ORDER BY strength DESC, vid) AS rnk FROM detected) d
        JOIN detected_ids i USING (k) JOIN period_vertices v USING (vid)
        LEFT JOIN authors a ON a.author_id = v.author_id
        GROUP BY i.community_id
        """,
        [TOP_MEMBERS_IN_LABEL],
    )
    conn.execute("DROP TABLE detected_ids")


def _stable_ids(conn: duckdb.DuckDBPyConnection, week: Period) -> dict[int, str]:
    """Group k -> id: previous week's best Jaccard match, else this week's old id, else a new c<n>."""
    prev = week.start - timedelta(days=7)
    pairs = conn.execute(
        """
        WITH new AS (SELECT d.k, v.author_id FROM detected d JOIN period_vertices v USING (vid)),
        old AS (
            SELECT m.period_start, m.community_id, m.author_id FROM community_members m
            JOIN communities c USING (period_start, community_id)
            WHERE c.kind = 'detected' AND m.period_start IN (?, ?)
        ),
        overlap AS (SELECT k, period_start, community_id, count(*) AS both_
                    FROM new JOIN old USING (author_id) GROUP BY ALL),
        new_n AS (SELECT k, count(*) AS n FROM new GROUP BY k),
        old_n AS (SELECT period_start, community_id, count(*) AS n FROM old GROUP BY ALL)
        SELECT o.k, o.community_id, o.period_start = ? AS from_prev,
               o.both_ / (a.n + b.n - o.both_) AS jaccard
        FROM overlap o JOIN new_n a USING (k) JOIN old_n b USING (period_start, community_id)
        WHERE o.both_ / (a.n + b.n - o.both_) >= ?
        ORDER BY from_prev DESC, jaccard DESC, o.k, o.community_id
        """,
        [prev, week.start, prev, KEEP_ID_JACCARD],
    ).fetchall()
    ids: dict[int, str] = {}
    for k, community_id, _, _ in pairs:  # previous week first, best overlap first
        if k not in ids and community_id not in ids.values():
            ids[int(k)] = community_id
    groups = [r[0] for r in conn.execute("SELECT DISTINCT k FROM detected ORDER BY k").fetchall()]
    next_n = _max_detected_number(conn) + 1
    for k in groups:
        if k not in ids:
            ids[int(k)] = f"c{next_n}"
            next_n += 1
    return ids


def _max_detected_number(conn: duckdb.DuckDBPyConnection) -> int:
    row = conn.execute(
        "SELECT max(TRY_CAST(substr(community_id, 2) AS BIGINT)) FROM communities WHERE kind = 'detected'"
    ).fetchall()[0]
    return int(row[0] or 0)


def _write(conn: duckdb.DuckDBPyConnection, week: Period) -> int:
    conn.execute("DELETE FROM communities WHERE period_start = ?", [week.start])
    conn.execute("DELETE FROM community_members WHERE period_start = ?", [week.start])
    row = conn.execute(
        f"""
        INSERT INTO communities (period_start, community_id, kind, source, label, size, mentions,
                                 avg_sentiment, top_terms, computed_at, sentiment_n, sentiment_ci_low,
                                 sentiment_ci_high)
        WITH docs AS MATERIALIZED (  -- (community_id, mention_id) is unique
            SELECT g.community_id, d.h, d.lang, d.compound FROM group_docs g JOIN week_docs d USING (mention_id)
        ),
        stats AS MATERIALIZED (
            SELECT *, {t_interval_sql("avg_sentiment", "sd", "sentiment_n", "low")} AS ci_low,
                   {t_interval_sql("avg_sentiment", "sd", "sentiment_n", "high")} AS ci_high
            FROM (
                SELECT community_id, count(*) AS mentions,
                       round(avg(compound), 9) AS avg_sentiment, count(compound) AS sentiment_n,
                       stddev_samp(compound) AS sd
                FROM docs GROUP BY ALL
            )
        ),
        sizes AS (SELECT community_id, count(*) AS size FROM group_members GROUP BY ALL),
        texts AS (SELECT community_id, h, count(*) AS n FROM docs GROUP BY ALL),
        tf AS MATERIALIZED (
            SELECT c.community_id, t.token, sum(c.n) AS tf
            FROM texts c JOIN text_tokens t USING (h) GROUP BY ALL HAVING sum(c.n) >= 2
        ),
        langs AS (
            SELECT DISTINCT c.community_id, l.lang
            FROM (SELECT DISTINCT community_id, lang FROM docs) c JOIN store_lang_map l ON l.doc_lang = c.lang
        ),
        stopped AS (
            SELECT DISTINCT tf.community_id, tf.token FROM tf JOIN store_stopwords w ON w.word = tf.token
            JOIN langs l ON l.community_id = tf.community_id AND l.lang = w.lang
        ),
        scored AS (
            SELECT c.community_id, c.token, c.tf / s.mentions AS share, coalesce(st.df, c.tf) AS df,
                   greatest(total.n, coalesce(st.df, c.tf)) AS n
            FROM (SELECT * FROM tf ANTI JOIN stopped USING (community_id, token)) c
            JOIN stats s USING (community_id) LEFT JOIN store_terms st USING (token), store_total total
        ),
        terms AS (
            SELECT community_id, list(token ORDER BY score DESC, token) AS top_terms FROM (
                SELECT community_id, token, round(share * ln(n / df), 9) AS score FROM scored
                WHERE share * n / df >= {MIN_LIFT}
                QUALIFY row_number() OVER (PARTITION BY community_id ORDER BY score DESC, token) <= {TOP_TERMS}
            ) GROUP BY ALL
        )
        SELECT ?, g.community_id, g.kind, g.source,
               CASE WHEN g.kind = 'detected'
                    THEN concat_ws(' · ', array_to_string(coalesce(t.top_terms[1:3], []), ', '), g.label)
                    ELSE g.label END,
               coalesce(z.size, 0), coalesce(s.mentions, 0), s.avg_sentiment,
               to_json(coalesce(t.top_terms, [])), now(), coalesce(s.sentiment_n, 0),
               round(s.ci_low, 9), round(s.ci_high, 9)
        FROM groups g LEFT JOIN stats s USING (community_id) LEFT JOIN sizes z USING (community_id)
        LEFT JOIN terms t USING (community_id)
        """,
        [week.start],
    ).fetchall()[0]
    conn.execute(
        "INSERT INTO community_members (period_start, community_id, author_id) "
        "SELECT DISTINCT ?, community_id, author_id FROM group_members",
        [week.start],
    )
    return int(row[0])
