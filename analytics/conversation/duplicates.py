"""Copies counted once -> `duplicate_clusters` (docs/analytics-metrics.md#duplicates).

A syndicated article under two URLs, a press text pasted by ten accounts, a tweet copied
with another link: each is one thing said, and counting every copy inflates volume,
share of voice and spikes. Among the mentions by others (analytics.conversation.roles),
reposts left out (they stay interactions):

1. **Exact copies**: the same normalised text (title and text, lower case, links and
   trailing hashtags removed, white space collapsed), posted within
   `[analytics] duplicate_window_days` of the first post of the group.
2. **Near copies**: word bigrams with a Jaccard similarity of at least
   `near_duplicate_threshold` (default 0.7), posted within the window of each other.
   Candidates come from MinHash/LSH: 64 of datasketch's MinHash permutations, and
   datasketch's choice of bands and rows (16 x 4) for a threshold 0.15 below the configured
   one, so a pair at the threshold shares a bucket 99 % of the time. In a bucket each text
   is compared with the NEIGHBOURS (2) texts before it, so a bucket of boilerplate shared by
   thousands stays linear (copies still chain through their neighbours); a candidate whose
   MinHash estimate of the Jaccard is more than 0.15 below the threshold is dropped (a pair
   at the threshold is dropped 0.5 % of the time), and the rest are checked on their exact
   Jaccard, which is what `similarity` records. The signatures are datasketch's `MinHash`
   values (the same arithmetic, tested equal), computed in bulk with numpy: datasketch's
   own per-text loop reads about 50,000 texts/s here.

Copies and near copies joined transitively form a cluster; its earliest post is the
original (`is_original`), and `counted` says whether the row counts in the "mentions
by others" measures: the original always, the copies only with
`[analytics] count_duplicates = true`. Only clusters of two or more are stored.
Recomputed in full when a mention, a role or the settings changed since the last
computation (about 12 s for a million distinct texts, bench/bench_analyze.py --unique),
skipped otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from analytics.conversation.state import inputs_fingerprint, record, unchanged
from analytics.definitions import by_others
from listener.core.settings import Settings
from listener.store.connection import Claim, Store, registered, scalar

PERMUTATIONS = 64
MINHASH_SEED = 1
CANDIDATE_MARGIN = 0.15  # LSH tuned for threshold - margin: pairs at the threshold are rarely missed
ESTIMATE_MARGIN = 0.15  # a candidate whose MinHash estimate is this far below the threshold is dropped
LSH_WEIGHTS = (0.2, 0.8)  # datasketch's (false positive, false negative) weights: recall first
NEIGHBOURS = 2  # in an LSH bucket, each text is compared with this many before it
PAIR_CHUNK = 1_000_000  # candidate pairs estimated at a time (bounded memory)
CHUNK = 100_000  # texts per signature batch (bounded memory)

_MERSENNE = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)

# RE2 on lower-cased text.
URL = r"(https?://|www\.)\S+"
TRAILING_TAGS = r"(\s*#[\pL\pN_]+)+\s*$"
WORD = r"[\pL\pM\pN_]+"


def normalised_sql(m: str = "m") -> str:
    """SQL: the text two exact copies share."""
    text = f"lower(concat_ws(' ', {m}.title, {m}.text))"
    no_links = f"regexp_replace({text}, '{URL}', ' ', 'g')"
    no_tags = f"regexp_replace({no_links}, '{TRAILING_TAGS}', '')"
    return f"trim(regexp_replace({no_tags}, '\\s+', ' ', 'g'))"


def words_sql(norm: str) -> str:
    """SQL: the words of a normalised text, as a list."""
    return f"regexp_extract_all({norm}, '{WORD}')"


def shingles_sql(words: str) -> str:
    """SQL: the distinct 32-bit hashes of a word list's bigrams (its one word for a one-word text).

    The pairs come from list_zip, so no lambda captures the list (a captured list is copied
    for every element: quadratic memory on long texts).
    """
    one = f"list_transform({words}, w -> (hash(w) & 4294967295)::UBIGINT)"
    pairs = (
        f"list_transform(list_zip({words}[:-2], {words}[2:]), p -> (hash(p[1] || ' ' || p[2]) & 4294967295)::UBIGINT)"
    )
    return f"list_distinct(CASE WHEN len({words}) < 2 THEN {one} ELSE {pairs} END)"


@dataclass(frozen=True)
class Method:
    """How clusters were computed; a different one recomputes them."""

    threshold: float
    window_days: int
    bands: int
    rows: int

    @classmethod
    def of(cls, settings: Settings) -> Method:
        from datasketch import MinHashLSH  # with scipy: about 0.5 s, paid only when clusters are recomputed

        threshold = settings.analytics.near_duplicate_threshold
        lsh = MinHashLSH(threshold=_lsh_threshold(threshold), num_perm=PERMUTATIONS, weights=LSH_WEIGHTS)
        return cls(threshold, settings.analytics.duplicate_window_days, lsh.b, lsh.r)

    def label(self) -> str:
        return (
            f"bigram-jaccard>={self.threshold:g} minhash{PERMUTATIONS}-b{self.bands}r{self.rows} "
            f"window {self.window_days}d"
        )


def _lsh_threshold(threshold: float) -> float:
    return max(0.3, threshold - CANDIDATE_MARGIN)


def inputs_label(settings: Settings) -> str:
    """What decides the clusters besides the data, for the fingerprint: `Method.of`'s inputs (the
    LSH bands and rows follow from them and datasketch's version), so an unchanged store is
    recognised without importing datasketch."""
    a = settings.analytics
    return (
        f"bigram-jaccard>={a.near_duplicate_threshold:g} minhash{PERMUTATIONS} seed {MINHASH_SEED} "
        f"lsh>={_lsh_threshold(a.near_duplicate_threshold):g} weights {LSH_WEIGHTS} "
        f"datasketch {version('datasketch')} window {a.duplicate_window_days}d "
        f"count_duplicates={a.count_duplicates}"
    )


def permutations() -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=PERMUTATIONS, seed=MINHASH_SEED).permutations
    return np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)


def signatures(hashes: np.ndarray, offsets: np.ndarray, perms: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """MinHash signatures (texts x PERMUTATIONS) of texts given as one flat array of 32-bit shingle
    hashes and its Arrow offsets: datasketch's `MinHash.update_batch` arithmetic, for all texts at once."""
    a, b = perms
    starts = offsets[:-1]
    out = np.empty((len(starts), len(a)), dtype=np.uint64)
    x = np.empty_like(hashes)
    y = np.empty_like(hashes)
    with np.errstate(over="ignore"):  # datasketch's uint64 products wrap around too
        for p in range(len(a)):
            np.multiply(hashes, a[p], out=x)
            np.add(x, b[p], out=x)
            _mod_mersenne(x, y)
            np.bitwise_and(y, _MAX_HASH, out=y)
            out[:, p] = np.minimum.reduceat(y, starts)
    return out


def _mod_mersenne(x: np.ndarray, out: np.ndarray) -> None:
    """out = x % (2**61 - 1) for uint64 x, without numpy's slow 64-bit division: x = hi * 2**61 + lo
    and 2**61 = 1 (mod 2**61 - 1), so x = lo + hi, which is below 2 * (2**61 - 1): one subtraction."""
    np.right_shift(x, np.uint64(61), out=out)
    np.add(out, np.bitwise_and(x, _MERSENNE), out=out)
    np.subtract(out, _MERSENNE, out=out, where=out >= _MERSENNE)


def band_keys(signature: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (text, band): equal keys = equal rows of the signature in that band."""
    keys = np.zeros((signature.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            for row in range(rows):
                keys[:, band] = keys[:, band] * np.uint64(1_000_003) ^ signature[:, band * rows + row]
    return keys.view(np.int64)


def _stage_candidates(conn: duckdb.DuckDBPyConnection, window_days: int) -> int:
    """Temp `dup_texts` (the mentions by others that can be copies, with their text's key and exact
    group `part`) and `dup_groups` (one row per exact group, with its words' shingles); returns the
    group count. Each distinct text is normalised once (copies share the regex work); the filter on
    the normalised text is in the join, where DuckDB cannot push it below the grouping."""
    candidates = f"{by_others('m')} AND m.repost_of IS NULL"
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dup_norms AS
        SELECT title, text, norm, md5_number(norm) AS key FROM (
            SELECT t.title, t.text, {normalised_sql("t")} AS norm
            FROM (SELECT m.title, m.text FROM mentions m WHERE {candidates} GROUP BY ALL) t
        )
        """
    )
    conn.execute(  # a statement of its own: the sort then runs on narrow rows in parallel
        f"""
        CREATE OR REPLACE TEMP TABLE dup_keyed AS
        SELECT row_number() OVER (ORDER BY key, created_at, mention_id) AS rid, * FROM (
            SELECT m.mention_id, m.created_at, n.key
            FROM mentions m
            JOIN dup_norms n ON n.text IS NOT DISTINCT FROM m.text AND n.title IS NOT DISTINCT FROM m.title
            WHERE {candidates}
              AND n.norm NOT IN ('', '[deleted]', '[removed]')  -- a removed post's placeholder is no copy
        )
        """
    )
    parts = _window_parts(conn, window_days)
    table = pa.table({"rid": np.arange(1, len(parts) + 1, dtype=np.int64), "part": parts})
    with registered(conn, "dup_parts_arrow", table):
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE dup_texts AS SELECT k.mention_id, k.created_at, k.key, p.part "
            "FROM dup_keyed k JOIN dup_parts_arrow p USING (rid)"
        )
    conn.execute("DROP TABLE IF EXISTS dup_keyed")
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dup_groups AS
        WITH g AS (
            SELECT row_number() OVER (ORDER BY min(created_at), min(mention_id)) - 1 AS gid,
                   key, part, count(*) AS size, min(created_at) AS created_at
            FROM dup_texts GROUP BY key, part
        ),
        words AS (SELECT key, {words_sql("any_value(norm)")} AS words FROM dup_norms GROUP BY key)
        SELECT g.gid, g.key, g.part, g.size, g.created_at, len(w.words) AS n_words, {shingles_sql("w.words")} AS sh
        FROM g JOIN words w USING (key)
        """
    )
    conn.execute("DROP TABLE IF EXISTS dup_norms")
    return int(scalar(conn, "SELECT count(*) FROM dup_groups"))


def anchored_windows(keys: np.ndarray, times: np.ndarray, window_us: int) -> np.ndarray:
    """Window numbers for rows sorted by (key, time): a window starts at a key's first row, and at the
    first row more than `window_us` after the current window's first row. One searchsorted per
    window, within the key's rows, not a step per row."""
    key = np.asarray(keys, dtype=np.int64)
    at = np.asarray(times, dtype=np.int64)
    windows = np.empty(len(at), dtype=np.int64)
    if not len(at):
        return windows
    ends = np.flatnonzero(np.diff(key, append=key[-1] + 1)) + 1  # where each key's rows end
    key_end = np.repeat(ends, np.diff(ends, prepend=0))
    i, window = 0, 0
    while i < len(at):
        end = int(key_end[i])
        j = i + int(np.searchsorted(at[i:end], at[i] + window_us, side="right"))
        windows[i:j] = window
        i, window = j, window + 1
    return windows


def _window_parts(conn: duckdb.DuckDBPyConnection, window_days: int) -> np.ndarray:
    """The exact group of each `dup_keyed` row, in `rid` order: a copy joins the group whose first post
    is at most `window_days` before it, so a text posted again every week is a new post each time
    it is past the window (a chain of copies never grows one cluster for months).

    Rows are sorted by (key, time). A text posted once is its own group (most of them); for the
    others one searchsorted per group (not per row) finds where the group's window ends within
    the key's rows. Parts are unique within a key.
    """
    rows = conn.execute(
        "SELECT (key IS DISTINCT FROM lag(key) OVER (ORDER BY rid))::INTEGER AS new_key, "
        "epoch_us(created_at) AS t FROM dup_keyed ORDER BY rid"
    ).fetchnumpy()
    new_key = np.asarray(rows["new_key"], dtype=np.int64)
    times = np.asarray(rows["t"], dtype=np.int64)
    if not len(times):
        return np.zeros(0, dtype=np.int64)
    window_us = np.int64(window_days) * 86_400_000_000
    key_of = np.cumsum(new_key) - 1
    repeated = np.bincount(key_of)[key_of] > 1
    parts = np.zeros(len(times), dtype=np.int64)
    keys, at = key_of[repeated], times[repeated]
    if len(at):
        parts[repeated] = anchored_windows(keys, at, int(window_us))
    return parts


def _shingle_batches(conn: duckdb.DuckDBPyConnection) -> Iterator[tuple[np.ndarray, pa.Array]]:
    """(gid, shingle lists) per batch of CHUNK groups, for the groups whose text has two words or more.

    Each batch is its own query (gids are dense): the caller writes between batches, and a new
    statement on the connection would end a result still being streamed.
    """
    groups = int(scalar(conn, "SELECT count(*) FROM dup_groups"))
    for lo in range(0, groups, CHUNK):
        batch = conn.execute(
            "SELECT gid, sh FROM dup_groups WHERE n_words >= 2 AND gid >= ? AND gid < ? ORDER BY gid",
            [lo, lo + CHUNK],
        ).to_arrow_table()
        if batch.num_rows:
            yield batch.column(0).to_numpy(), batch.column(1).combine_chunks()


def _group_signatures(conn: duckdb.DuckDBPyConnection, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(signatures, signed): every group's MinHash signature as uint32 (groups x PERMUTATIONS),
    and which groups have one (a text of two words or more)."""
    perms = permutations()
    sig = np.zeros((groups, PERMUTATIONS), dtype=np.uint32)
    signed = np.zeros(groups, dtype=bool)
    for gids, lists in _shingle_batches(conn):
        flat = lists.flatten().to_numpy().astype(np.uint64)
        sig[gids] = signatures(flat, lists.offsets.to_numpy(), perms).astype(np.uint32)
        signed[gids] = True
    return sig, signed


def _candidate_pairs(
    sig: np.ndarray, signed: np.ndarray, times: np.ndarray, method: Method
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of groups that share an LSH bucket, posted within the window, each compared with the
    NEIGHBOURS texts before it in the bucket, kept when their MinHash estimate of the Jaccard is
    within ESTIMATE_MARGIN of the threshold. Work and memory are linear in the groups: a bucket
    that thousands of texts share costs what a small one does per text."""
    idx = np.flatnonzero(signed)
    keys = band_keys(sig[idx].astype(np.uint64), method.bands, method.rows)
    window_us = np.int64(method.window_days) * 86_400_000_000
    floor = method.threshold - ESTIMATE_MARGIN
    kept_a, kept_b = [], []
    by_time = np.argsort(times[idx], kind="stable")
    for band in range(method.bands):  # a stable sort by key keeps each bucket in time order
        order = by_time[np.argsort(keys[by_time, band], kind="stable")]
        key, group, at = keys[order, band], idx[order], times[idx][order]
        for back in range(1, NEIGHBOURS + 1):
            same = np.flatnonzero((key[back:] == key[:-back]) & (at[back:] - at[:-back] <= window_us))
            for lo in range(0, len(same), PAIR_CHUNK):
                pick = same[lo : lo + PAIR_CHUNK]
                a, b = group[pick], group[pick + back]
                estimate = (sig[a] == sig[b]).mean(axis=1)
                close = estimate >= floor
                kept_a.append(np.minimum(a[close], b[close]))
                kept_b.append(np.maximum(a[close], b[close]))
    if not kept_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    codes = np.unique(np.concatenate(kept_a) * np.int64(len(signed)) + np.concatenate(kept_b))
    return codes // len(signed), codes % len(signed)


def _stage_near_pairs(conn: duckdb.DuckDBPyConnection, method: Method, groups: int) -> tuple[int, int]:
    """Temp `dup_pairs` (a, b, similarity): the candidate pairs whose exact bigram Jaccard reaches the
    threshold; returns (texts signed, candidate pairs checked)."""
    sig, signed = _group_signatures(conn, groups)
    times = np.asarray(
        conn.execute("SELECT epoch_us(created_at) AS t FROM dup_groups ORDER BY gid").fetchnumpy()["t"], dtype=np.int64
    )
    a, b = _candidate_pairs(sig, signed, times, method)
    del sig
    with registered(conn, "dup_candidates_arrow", pa.table({"a": a, "b": b})):
        conn.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE dup_pairs AS
            WITH scored AS (
                SELECT c.a, c.b, len(list_intersect(ga.sh, gb.sh)) AS common, len(ga.sh) AS na, len(gb.sh) AS nb
                FROM dup_candidates_arrow c JOIN dup_groups ga ON ga.gid = c.a JOIN dup_groups gb ON gb.gid = c.b
            )
            SELECT a, b, common / (na + nb - common) AS similarity
            FROM scored WHERE common / (na + nb - common) >= {float(method.threshold)}
            """
        )
    return int(signed.sum()), len(a)


def _stage_clusters(conn: duckdb.DuckDBPyConnection, groups: int) -> None:
    """Temp `dup_cluster_of` (gid, cluster): exact groups joined by near pairs (connected components)."""
    from analytics.network.igraph_quiet import ig

    pairs = conn.execute("SELECT a, b FROM dup_pairs").fetchnumpy()
    graph = ig.Graph(n=groups, edges=np.column_stack([pairs["a"], pairs["b"]]).tolist() if len(pairs["a"]) else [])
    membership = np.asarray(graph.connected_components().membership, dtype=np.int64)
    table = pa.table({"gid": np.arange(groups, dtype=np.int64), "cluster": membership})
    with registered(conn, "dup_cluster_arrow", table):
        conn.execute("CREATE OR REPLACE TEMP TABLE dup_cluster_of AS SELECT * FROM dup_cluster_arrow")


def _wanted_rows_sql(count_duplicates: bool) -> str:
    """The clusters of two or more mentions, the earliest the original; similarity to the original's text."""
    return f"""
        WITH members AS (
            SELECT t.mention_id, t.created_at, c.cluster, g.gid, g.sh
            FROM dup_texts t JOIN dup_groups g ON g.key = t.key AND g.part = t.part
            JOIN dup_cluster_of c ON c.gid = g.gid
        ),
        big AS (SELECT cluster FROM members GROUP BY cluster HAVING count(*) >= 2),
        originals AS (
            SELECT cluster, arg_min(mention_id, (created_at, mention_id)) AS original,
                   arg_min(gid, (created_at, mention_id)) AS original_gid,
                   arg_min(sh, (created_at, mention_id)) AS original_sh
            FROM members WHERE cluster IN (SELECT cluster FROM big) GROUP BY cluster
        ),
        compared AS (
            SELECT m.*, o.original, o.original_gid,
                   CASE WHEN m.gid = o.original_gid THEN 1.0 ELSE
                       len(list_intersect(m.sh, o.original_sh)) / len(list_distinct(list_concat(m.sh, o.original_sh)))
                   END AS similarity
            FROM members m JOIN originals o USING (cluster)
        )
        SELECT 'dup:' || original AS cluster_id, mention_id, mention_id = original AS is_original,
               CAST(similarity AS DOUBLE) AS similarity,
               CASE WHEN gid = original_gid THEN 'exact' ELSE 'near' END AS kind,
               mention_id = original OR {bool(count_duplicates)} AS counted
        FROM compared
    """


def update_duplicates(store: Store, settings: Settings) -> dict[str, Any]:
    """Recompute `duplicate_clusters` when its inputs changed; returns what it found and how long it took."""
    started = time.perf_counter()
    count_duplicates = settings.analytics.count_duplicates
    fingerprint = inputs_fingerprint(store.conn, inputs_label(settings))
    if unchanged(store.conn, "duplicates", fingerprint):
        return {"skipped": True, "seconds": round(time.perf_counter() - started, 3)}
    method = Method.of(settings)

    def unit(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        groups = _stage_candidates(conn, method.window_days)
        texts, checked = _stage_near_pairs(conn, method, groups)
        pairs = int(scalar(conn, "SELECT count(*) FROM dup_pairs"))
        _stage_clusters(conn, groups)
        conn.execute(f"CREATE OR REPLACE TEMP TABLE dup_wanted AS {_wanted_rows_sql(count_duplicates)}")
        conn.execute("DELETE FROM duplicate_clusters")
        conn.execute(
            "INSERT INTO duplicate_clusters SELECT cluster_id, mention_id, is_original, similarity, kind, counted, "
            "?, now() FROM dup_wanted",
            [method.label()],
        )
        record(conn, "duplicates", fingerprint)
        found = conn.execute(
            "SELECT count(DISTINCT cluster_id), count(*) FILTER (NOT is_original), "
            "count(*) FILTER (kind = 'near') FROM dup_wanted"
        ).fetchone()
        for table in ("dup_texts", "dup_groups", "dup_pairs", "dup_cluster_of", "dup_wanted"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        assert found is not None
        return {
            "texts": texts,
            "candidate_pairs": checked,
            "near_pairs": pairs,
            "clusters": int(found[0]),
            "copies": int(found[1]),
            "near_copies": int(found[2]),
        }

    report = store.write_transaction(unit, "duplicates", claim=Claim.ANALYSIS)
    return {**report, "method": method.label(), "seconds": round(time.perf_counter() - started, 3)}
