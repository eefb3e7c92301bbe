"""Coordinated amplification -> `coordinated_groups` (docs/analytics-metrics.md#coordinated-amplification).

A campaign that has accounts paste one text, or push one link, shows up as a burst: many
distinct accounts within seconds of each other. This step records such bursts as
evidence for a person to judge; it does not decide that they are inauthentic.

What is read: the mentions by others (analytics.conversation.roles: not own, not a
competitor's, not their amplification), posts of placeholder authors (`x:unknown`,
`reddit:[deleted]`) left out. Reposts are not read for their text or links (a repost
carries the original's), but as reposts of the same post (kind `repost`).

Three kinds of group, found the same way:

- `text`: the same normalised text (analytics.conversation.duplicates.normalised_sql: title
  and text, lower case, links and trailing hashtags removed, white space collapsed) of at
  least `MIN_TEXT_WORDS` (4) words (runs of letters and digits), or as many Chinese or
  Japanese characters: three people answering "lol" or "+1" within a minute is not a campaign.
- `link`: the same http(s) link in the text. A link is compared with its scheme and host
  in lower case (the path keeps its case), its fragment, the punctuation it ends with
  (`.,;:!?)]}'` and quotes) and every `utm_*` query parameter removed, a bare host
  given the path `/`. On X, where the text carries a t.co short link that differs from
  post to post, the links the post's `raw.entities.urls[*].expanded_url` names (the X API's
  shape, whatever the source) are used
  instead (a t.co link without them is compared as it is). A link to the brand's own
  site is a link like any other. A post naming one link twice counts once.
- `repost`: reposts of the same post (`repost_of`), a retweet ring.

Grouping, for each text or link, posts in time order (ties by mention_id): a group is
anchored at its first post, and every post at most `[analytics] coordination_window_seconds`
(60) after that first post belongs to it; the first post after that starts the next
candidate group. A group is kept when at least `coordination_min_accounts` (3) distinct
authors posted in it; every post in the window is a row, so an account posting the copy
five times is five rows (but one account). `group_id` is `coord:<kind>:<mention_id of the
first post>`; a post that starts groups for two different links of its own gets the second
(in the order of the normalised links) as `...~2`, unless both groups hold the same posts, in
which case they are one group (a ring pasting a text with two links is one link group).
`first_at`/`last_at` are the group's first and last post, the same on each of its rows. A
post can be in a text group and in a link group.

How: the keys (md5 of the normalised text, or the normalised link) are computed in SQL;
runs of posts of a key no more than the window apart are found with window functions,
and only runs with enough distinct authors go through the anchored pass, a Python loop
over those rows only (a gap longer than the window always starts a new group, so runs
are independent). Recomputed in full when a mention, a role or the settings changed since
the last computation (`step_state` 'coordinated'), skipped otherwise.

Limits, for whoever reads the groups:
- Organic bursts look the same: a breaking-news link or a wire story syndicated by several
  feeds in the same minute is flagged too; the group is the evidence, not the verdict.
  A link that is simply common meets the rule by chance now and then: the brand's home page
  in 10,000 posts a month by different people, at random times (one every 4 minutes on
  average), gave about 190 groups of 3 in a synthetic month. So a group is kept only when
  its run (the posts of the key no more than the window apart) is a burst: the run holds at
  least half of the posts of that text or link within BURST_MARGIN_MINUTES (30) of any of its
  posts (one window function over the key's posts). A ring pushing a link that many others post in the same hour anyway is missed.
- A slower campaign (one post every few minutes) or one that rewrites each text is missed;
  near copies are duplicates' business (`duplicate_clusters`), not a coordination signal here.
- A retweet ring is seen as accounts reposting one post within the window (kind `repost`);
  so is the first minute of a post going viral, when it stands out from that post's
  reposts around it. Reposts of our own or a competitor's posts count here too (a ring
  boosting a brand is what this looks for), although they are that brand's amplification
  and not mentions by others everywhere else. The same accounts reposting together again
  and again is not tracked across groups.
- Links behind other shorteners (bit.ly, ...) are compared as written: different short links
  to one page are different links.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from analytics.conversation.duplicates import anchored_windows, normalised_sql
from analytics.conversation.state import inputs_fingerprint, record, unchanged
from analytics.definitions import by_others, is_placeholder, utc_day
from analytics.metrics.spikes import replace_alerts
from listener.core.settings import Settings
from listener.store.connection import Claim, Store, registered

STEP = "coordinated"
RULES_VERSION = 2  # bump when the rules below change: the groups are computed again
MIN_TEXT_WORDS = 4  # a text group needs a text of at least this many words

# RE2. A word is a run of letters and digits (as duplicates counts them), ended by anything else;
# scripts written without spaces: Chinese and Japanese characters, each counted on its own.
WORD_CHARS = r"\pL\pM\pN_"
CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
LONG_ENOUGH = rf"(?:[{WORD_CHARS}]+(?:[^{WORD_CHARS}]+|$)){{{MIN_TEXT_WORDS}}}|(?:[{CJK}].*){{{MIN_TEXT_WORDS}}}"
LINK = r"(?i)https?://[^\s<>\"“”«»]+"
SHORT_LINK = r"(?i)^https?://t\.co/"  # X's per-post wrapper
TRAILING_PUNCTUATION = r"[.,;:!?)\]}'’\"]+$"
LINK_PARTS = r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?]+)([^?]*)(?:\?(.*))?$"

TEMP_TABLES = ("coord_texts", "coord_keys", "coord_runs", "coord_wanted")


BURST_MARGIN_MINUTES = 30  # a group must be at least half of its key's posts this long around it


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def link_parts_sql(u: str) -> str:
    """SQL: the link `u` without fragment and trailing punctuation, as a struct (origin, path, query);
    origin is '' when it has no host."""
    no_fragment = f"regexp_replace({u}, '#.*$', '')"
    trimmed = f"regexp_replace({no_fragment}, {_literal(TRAILING_PUNCTUATION)}, '')"
    return f"regexp_extract({trimmed}, {_literal(LINK_PARTS)}, ['origin', 'path', 'query'])"


def link_key_sql(p: str) -> str:
    """SQL: the normalised link from its parts `p` (link_parts_sql): origin in lower case, a bare host's
    path `/`, the query without its `utm_*` parameters."""
    kept = f"list_filter(string_split({p}.query, '&'), q -> q <> '' AND NOT starts_with(lower(q), 'utm_'))"
    return (
        f"lower({p}.origin) || CASE WHEN {p}.path = '' THEN '/' ELSE {p}.path END "
        f"|| CASE WHEN len({kept}) > 0 THEN '?' || array_to_string({kept}, '&') ELSE '' END"
    )


def long_enough_sql(norm: str) -> str:
    """SQL: the normalised text has at least MIN_TEXT_WORDS words (or as many Chinese/Japanese characters).

    One regular expression match, no list of words: 10x faster than counting them."""
    return f"regexp_matches({norm}, {_literal(LONG_ENOUGH)})"


def method_label(settings: Settings) -> str:
    a = settings.analytics
    return (
        f"same text (>= {MIN_TEXT_WORDS} words) or link, >= {a.coordination_min_accounts} accounts "
        f"within {a.coordination_window_seconds}s of the first post, rules v{RULES_VERSION}"
    )


def _stage_keys(conn: duckdb.DuckDBPyConnection) -> None:
    """Temp `coord_keys` (kind, key, mention_id, author_id, created_at, t): each candidate post's text and links.

    The normalised text and the links in it are computed once per distinct text (`coord_texts`,
    a statement of its own: DuckDB would push a filter on them below the grouping), then joined
    back to the posts."""
    candidates = f"""{by_others("m")} AND m.repost_of IS NULL
              AND m.author_id IS NOT NULL AND NOT {is_placeholder("m.author_id")}"""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE coord_texts AS
        SELECT t.title, t.text, {normalised_sql("t")} AS norm,
               regexp_extract_all(coalesce(t.text, ''), {_literal(LINK)}) AS found
        FROM (SELECT m.title, m.text FROM mentions m WHERE {candidates} GROUP BY ALL) t
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE coord_keys AS
        WITH posts AS MATERIALIZED (
            SELECT m.mention_id, m.author_id, m.created_at, d.norm, d.found,
                   -- a raw record in the X API's shape names what its t.co links expand to
                   CASE WHEN m.raw IS NOT NULL AND contains(lower(m.text), '://t.co/')
                        THEN list_filter(json_extract_string(m.raw, '$.entities.urls[*].expanded_url'),
                                         u -> u IS NOT NULL AND regexp_matches(u, '(?i)^https?://'))
                        -- a connector whose network shortens links in the text keeps them whole in raw.links
                        WHEN m.raw IS NOT NULL AND json_type(m.raw, '$.links') = 'ARRAY'
                        THEN list_filter(json_extract_string(m.raw, '$.links[*]'),
                                         u -> u IS NOT NULL AND regexp_matches(u, '(?i)^https?://'))
                   END AS expanded
            FROM mentions m
            JOIN coord_texts d ON d.text IS NOT DISTINCT FROM m.text AND d.title IS NOT DISTINCT FROM m.title
            WHERE {candidates}
        ),
        texts AS (
            SELECT 'text' AS kind, md5(norm) AS key, mention_id, author_id, created_at
            FROM posts WHERE {long_enough_sql("norm")}
        ),
        raw_links AS (
            SELECT mention_id, author_id, created_at,
                   unnest(CASE WHEN len(expanded) > 0
                               THEN list_concat(list_filter(found, u -> NOT regexp_matches(u, {_literal(SHORT_LINK)})),
                                                expanded)
                               ELSE found END) AS u
            FROM posts WHERE len(found) > 0
        ),
        link_parts AS (
            SELECT mention_id, author_id, created_at, {link_parts_sql("u")} AS p FROM raw_links
        ),
        links AS (
            SELECT DISTINCT 'link' AS kind, {link_key_sql("p")} AS key, mention_id, author_id, created_at
            FROM link_parts WHERE p.origin <> ''
        ),
        reposts AS (  -- a retweet ring: accounts reposting one post together, ours and competitors' too
            SELECT 'repost' AS kind, m.repost_of AS key, m.mention_id, m.author_id, m.created_at
            FROM mentions m
            WHERE NOT m.is_own AND m.repost_of IS NOT NULL
              AND m.mention_id NOT IN (SELECT mention_id FROM mention_roles WHERE role IN ('own', 'competitor'))
              AND m.author_id IS NOT NULL AND NOT {is_placeholder("m.author_id")}
        )
        SELECT kind, key, mention_id, author_id, created_at, epoch_us(created_at) AS t
        FROM (SELECT * FROM texts UNION ALL SELECT * FROM links UNION ALL SELECT * FROM reposts)
        """
    )


def _stage_runs(conn: duckdb.DuckDBPyConnection, window_us: int, min_accounts: int) -> None:
    """Temp `coord_runs`: the posts of each key's runs (consecutive posts at most the window apart)
    that have at least `min_accounts` distinct authors; `run` numbers them, `i` orders the rows."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE coord_runs AS
        WITH hot AS (
            SELECT kind, key FROM coord_keys GROUP BY kind, key HAVING count(DISTINCT author_id) >= {min_accounts}
        ),
        gaps AS (  -- `around`: the key's posts within BURST_MARGIN_MINUTES of this one (it included)
            SELECT k.*, t - lag(t) OVER (PARTITION BY kind, key ORDER BY t, mention_id) AS gap,
                   count(*) OVER (PARTITION BY kind, key ORDER BY t
                                  RANGE BETWEEN {BURST_MARGIN_MINUTES * 60_000_000} PRECEDING
                                        AND {BURST_MARGIN_MINUTES * 60_000_000} FOLLOWING) AS around
            FROM coord_keys k SEMI JOIN hot USING (kind, key)
        ),
        runs AS (
            SELECT *, sum(CASE WHEN gap IS NULL OR gap > {window_us} THEN 1 ELSE 0 END)
                      OVER (PARTITION BY kind, key ORDER BY t, mention_id ROWS UNBOUNDED PRECEDING) AS part
            FROM gaps
        ),
        kept AS (  -- enough accounts, and a burst: at least half of the key's posts around the run
            SELECT kind, key, part FROM runs GROUP BY kind, key, part
            HAVING count(DISTINCT author_id) >= {min_accounts} AND 2 * count(*) >= max(around)
        )
        SELECT dense_rank() OVER (ORDER BY r.kind, r.key, r.part) AS run,
               row_number() OVER (ORDER BY r.kind, r.key, r.part, r.t, r.mention_id) AS i,
               r.kind, r.key, r.mention_id, r.author_id, r.created_at, r.t
        FROM runs r SEMI JOIN kept USING (kind, key, part)
        """
    )


def _stage_wanted(conn: duckdb.DuckDBPyConnection, window_us: int, min_accounts: int) -> None:
    """Temp `coord_wanted`: the rows of `coordinated_groups` (without computed_at)."""
    rows = conn.execute("SELECT run, t FROM coord_runs ORDER BY i").fetchnumpy()
    groups = anchored_windows(rows["run"], rows["t"], window_us)
    table = pa.table({"i": np.arange(1, len(groups) + 1, dtype=np.int64), "grp": groups})
    with registered(conn, "coord_groups_arrow", table):
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE coord_wanted AS
            WITH members AS (
                SELECT r.kind, r.key, r.mention_id, r.author_id, r.created_at, g.grp
                FROM coord_runs r JOIN coord_groups_arrow g ON g.i = r.i
            ),
            groups AS (
                SELECT grp, any_value(kind) AS kind, any_value(key) AS key,
                       arg_min(mention_id, (created_at, mention_id)) AS anchor,
                       min(created_at) AS first_at, max(created_at) AS last_at,
                       list(mention_id ORDER BY mention_id) AS posts
                FROM members GROUP BY grp HAVING count(DISTINCT author_id) >= {min_accounts}
            ),
            distinct_groups AS (  -- two links of one ring's posts: one group
                SELECT * FROM groups QUALIFY row_number() OVER (PARTITION BY kind, posts ORDER BY key) = 1
            ),
            named AS (
                SELECT grp, kind, first_at, last_at,
                       'coord:' || kind || ':' || anchor
                       || CASE WHEN n > 1 THEN '~' || n ELSE '' END AS group_id
                FROM (SELECT *, row_number() OVER (PARTITION BY kind, anchor ORDER BY key) AS n FROM distinct_groups)
            )
            SELECT n.group_id, m.author_id, m.mention_id, n.first_at, n.last_at, n.kind
            FROM named n JOIN members m USING (grp)
            """
        )


MAX_EVIDENCE = 50  # mention ids kept per alert, in time order


def _upsert_alerts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Make the `coordinated` rows of `alerts` match the groups: one alert per topic and UTC day of
    a group's first post touching that topic (`observed` = distinct accounts in those groups,
    `score` = the number of groups, `mention_ids` = their posts)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE coord_alerts AS
        WITH topics_of AS (  -- a group touches every topic one of its posts is tagged with
            SELECT DISTINCT g.group_id, t.topic
            FROM coordinated_groups g JOIN mention_topics t ON t.mention_id = g.mention_id
        ),
        touched AS (
            SELECT o.topic, g.group_id, g.author_id, g.mention_id, {utc_day("g.first_at")} AS day
            FROM coordinated_groups g JOIN topics_of o USING (group_id)
        )
        SELECT 'coordinated:' || topic || ':' || strftime(day, '%Y-%m-%d') AS alert_id, 'coordinated' AS kind,
               topic, day, CAST(count(DISTINCT author_id) AS DOUBLE) AS observed, CAST(NULL AS DOUBLE) AS baseline,
               CAST(count(DISTINCT group_id) AS DOUBLE) AS score,
               CAST(to_json(list(DISTINCT mention_id ORDER BY mention_id)[1:{MAX_EVIDENCE}]) AS JSON) AS mention_ids,
               CAST(NULL AS DOUBLE) AS expected_low, CAST(NULL AS DOUBLE) AS expected_high
        FROM touched GROUP BY topic, day
        """
    )
    report = replace_alerts(conn, "coord_alerts", ("coordinated",))
    conn.execute("DROP TABLE IF EXISTS coord_alerts")
    return report


def update_coordinated(store: Store, settings: Settings) -> dict[str, Any]:
    """Recompute `coordinated_groups` when its inputs changed; returns what it found and how long it took."""
    started = time.perf_counter()
    window_us = settings.analytics.coordination_window_seconds * 1_000_000
    min_accounts = settings.analytics.coordination_min_accounts
    fingerprint = inputs_fingerprint(store.conn, method_label(settings), topics=True)  # alerts name topics
    if unchanged(store.conn, STEP, fingerprint):
        return {"skipped": True, "seconds": round(time.perf_counter() - started, 3)}

    def unit(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        _stage_keys(conn)
        _stage_runs(conn, window_us, min_accounts)
        _stage_wanted(conn, window_us, min_accounts)
        conn.execute("DELETE FROM coordinated_groups")
        conn.execute(
            "INSERT INTO coordinated_groups SELECT group_id, author_id, mention_id, first_at, last_at, kind, now() "
            "FROM coord_wanted"
        )
        alerts = _upsert_alerts(conn)
        record(conn, STEP, fingerprint)
        found = conn.execute(
            "SELECT count(DISTINCT group_id), count(DISTINCT author_id), count(DISTINCT mention_id), "
            "count(DISTINCT group_id) FILTER (kind = 'text'), count(DISTINCT group_id) FILTER (kind = 'link'), "
            "count(DISTINCT group_id) FILTER (kind = 'repost') FROM coord_wanted"
        ).fetchone()
        for table in TEMP_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        assert found is not None
        return {
            "groups": int(found[0]),
            "accounts": int(found[1]),
            "mentions": int(found[2]),
            "text_groups": int(found[3]),
            "link_groups": int(found[4]),
            "repost_groups": int(found[5]),
            "alerts": alerts,
        }

    report = store.write_transaction(unit, STEP, claim=Claim.ANALYSIS)
    return {**report, "method": method_label(settings), "seconds": round(time.perf_counter() - started, 3)}
