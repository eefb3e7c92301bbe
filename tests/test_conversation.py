"""The conversation counted once: own and competitors' activity apart, copies clustered
(`mention_roles`, `duplicate_clusters`, the views), on real stores the real commands fill."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from conftest import run_in_process
from datasketch import MinHash

from analytics.conversation.duplicates import normalised_sql, permutations, shingles_sql, signatures, words_sql

CONFIG = """
[organization]
name = "Acme"
query = "acme"
[organization.own_accounts]
x = ["acme"]
[[organization.competitors]]
name = "Globex"
query = "globex"
own_accounts = {{ x = ["globex", "GlobexHelp"] }}
[store]
path = "store.duckdb"
[analytics]
detect_language = false
{extra}
"""
T0 = datetime(2026, 9, 7, 9, tzinfo=UTC)  # a Monday
VOCABULARY = (
    "acme coffee beans roast grinder espresso latte morning price delivery service barista cup crema "
    "milk foam decaf refund support app update launch review brew kettle filter pour over bag shop "
    "store city friend weekend holiday train office desk laptop music podcast radio news story "
    "release flavour aroma bitter sweet sour smooth strong mild fresh stale hot cold iced tall"
).split()


def post(i: str, text: str, at: datetime, author: str | None = None, **extra: Any) -> dict[str, Any]:
    author = author or f"u{i}"
    return {
        "source": extra.pop("source", "x"),
        "id": i,
        "created_at": at.isoformat(),
        "author": {"id": author, "handle": author},
        "text": text,
        "lang": "en",
        **extra,
    }


def load(tmp_path: Path, capsys: pytest.CaptureFixture[str], docs: list[dict[str, Any]], extra: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG.format(extra=extra), encoding="utf-8")
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    for args in (("import", str(tmp_path / "m.jsonl")), ("analyze", "--as-of", "2026-11-30")):
        code, _, err = run_in_process(capsys, "--config", str(config), *args)
        assert code == 0, err
    return config


def rows(config: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_signatures_are_datasketchs_minhash_values() -> None:
    rng = random.Random(3)
    texts = [" ".join(rng.choices(VOCABULARY, k=rng.randint(2, 40))) for _ in range(50)]
    conn = duckdb.connect()
    conn.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS text, NULL::VARCHAR AS title", [texts])
    conn.execute(f"CREATE TABLE w AS SELECT {words_sql(normalised_sql('t'))} AS words FROM t")
    lists = conn.execute(f"SELECT {shingles_sql('words')} FROM w").to_arrow_table().column(0)
    lists = lists.combine_chunks()
    got = signatures(lists.flatten().to_numpy().astype(np.uint64), lists.offsets.to_numpy(), permutations())
    for row, hashes in enumerate(lists.to_pylist()):
        reference = MinHash(num_perm=got.shape[1], seed=1, hashfunc=lambda x: x)
        reference.update_batch(hashes)
        assert reference.hashvalues.tolist() == got[row].tolist()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(["acme", *rng.sample(VOCABULARY, words - 1)])


def _near_copy(rng: random.Random, text: str) -> str:
    """A copy edited a little: a word swapped in a long text, or a sign-off added."""
    words = text.split()
    if rng.random() < 0.5 and len(words) >= 15:
        words[rng.randrange(1, len(words))] = rng.choice(VOCABULARY)
        return " ".join(words)
    return text + " via @newsdesk"


def planted_copies(seed: int = 11) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Originals with exact and near copies across sources, and distractors; truth maps a copy to its original."""
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for n in range(60):
        at = T0 + timedelta(hours=n * 3)
        text = _sentence(rng, rng.randint(12, 30))
        original = f"o{n}"
        docs.append(post(original, text + f" https://acme.example/{n}", at, source="x"))
        for c in range(rng.randint(0, 4)):
            kind = rng.choice(["case", "link", "tags", "near", "rss"])
            copy_id = f"o{n}c{c}"
            when = at + timedelta(hours=rng.randint(1, 100))
            if kind == "case":
                copy = post(copy_id, text.upper(), when)
            elif kind == "link":
                copy = post(copy_id, f"{text}  https://t.co/{n}{c}", when)
            elif kind == "tags":
                copy = post(copy_id, f"{text} #coffee #acme", when)
            elif kind == "near":
                copy = post(copy_id, _near_copy(rng, text), when)
            else:  # the same story in a feed
                copy = post(copy_id, text, when, source="rss", url=f"https://feed.example/{n}/{c}")
            docs.append(copy)
            truth[copy_id] = original
        if n % 10 == 0:  # the same text again a month later: a new post, not a copy
            docs.append(post(f"o{n}later", text, at + timedelta(days=30)))
    for n in range(60):  # distractors: about the same things, in other words
        docs.append(post(f"d{n}", _sentence(rng, rng.randint(12, 30)), T0 + timedelta(hours=n * 3 + 1)))
    return docs, truth


def test_exact_and_near_copies_form_clusters_with_the_earliest_as_original(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, truth = planted_copies()
    config = load(tmp_path, capsys, docs)
    clusters = rows(config, "SELECT cluster_id, mention_id, is_original, similarity, kind FROM duplicate_clusters")
    original_of = {}
    for cluster_id, mention_id, is_original, similarity, _ in clusters:
        assert 0.0 < similarity <= 1.0
        if not is_original:
            original_of[mention_id.removeprefix("x:").removeprefix("rss:")] = cluster_id.split(":")[-1]
    expected = set(truth.items())
    found = set(original_of.items())
    precision = len(found & expected) / len(found)
    recall = len(found & expected) / len(expected)
    print(f"\nduplicate clusters on {len(docs)} planted posts: precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.97 and recall >= 0.95
    originals = {m for _, m, is_original, _, _ in clusters if is_original}
    assert all(not m.endswith("later") for m in originals | set(original_of))  # a month apart: not a copy
    kinds = {m: k for _, m, _, _, k in clusters}
    assert {kinds[f"x:{c}"] for c, o in truth.items() if f"x:{c}" in kinds and "near" not in c} <= {"exact", "near"}
    # every cluster counts once in the views; the raw count keeps every copy
    counted, raw = rows(config, "SELECT sum(mentions), sum(raw_mentions) FROM share_of_voice WHERE grain = 'day'")[0]
    assert raw - counted == len(found)


def test_count_duplicates_true_counts_every_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at = T0
    docs = [
        post("1", "Acme opens a new roastery in Lyon with forty seats", at),
        post("2", "ACME opens a new roastery in Lyon with forty seats https://t.co/x", at + timedelta(hours=2)),
        post("3", "Acme opens a new roastery in Lyon with forty seats #coffee", at + timedelta(days=8)),
    ]
    config = load(tmp_path, capsys, docs, extra="count_duplicates = true")
    assert rows(config, "SELECT mention_id, is_original, counted FROM duplicate_clusters ORDER BY 1") == [
        ("x:1", True, True),
        ("x:2", False, True),
    ]  # x:3 is 8 days after the last copy: a new post
    assert rows(config, "SELECT sum(mentions), sum(raw_mentions) FROM daily_sentiment") == [(3, 3)]


def test_own_and_competitor_amplification_is_not_the_conversation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = T0
    docs = [
        post("own1", "Acme cold brew is back for the winter", at, author="acme"),
        *[
            post(
                f"rt{n}",
                "RT @acme: Acme cold brew is back for the winter",
                at + timedelta(minutes=n + 1),
                repost_of="own1",
                referenced_authors={"own1": "acme"},
            )
            for n in range(17)
        ],
        post("q1", "🔥🔥 https://t.co/abc @acme", at + timedelta(hours=1), quote_of="own1"),
        post("q2", "Tried it today, the Acme cold brew is too sweet for me", at + timedelta(hours=2), quote_of="own1"),
        post("g1", "Globex has a new grinder, better than Acme's", at + timedelta(hours=3), author="globex"),
        post("g2", "RT @globex: Globex has a new grinder", at + timedelta(hours=4), repost_of="g1"),
        post("p1", "Is the Globex grinder any good? Acme fans?", at + timedelta(hours=5)),
        post("g3", "It is! Come and try it in store", at + timedelta(hours=6), author="GlobexHelp", parent_id="p1"),
        post("p2", "Acme coffee tastes great", at + timedelta(hours=7)),
    ]
    config = load(tmp_path, capsys, docs)
    roles = dict(rows(config, "SELECT mention_id, role FROM mention_roles"))
    assert roles == {
        "x:own1": "own",
        **{f"x:rt{n}": "own_amplification" for n in range(17)},
        "x:q1": "own_amplification",
        "x:g1": "competitor",
        "x:g2": "competitor_amplification",
        "x:g3": "competitor",
    }
    by_others = {m for (m,) in rows(config, "SELECT mention_id FROM mentions_by_others")}
    assert by_others == {"x:q2", "x:p1", "x:p2"}
    sov = dict(rows(config, "SELECT topic, mentions FROM share_of_voice WHERE grain = 'week'"))
    assert sov == {"Acme": 3, "Globex": 1}
    ranked = {a for (a,) in rows(config, "SELECT author_id FROM influencers")}
    assert ranked and not ranked & {"x:globex", "x:GlobexHelp", "x:acme"}
    activity = rows(
        config,
        "SELECT owner, kind, posts, replies, amplifications, asked, answered, response_rate, median_response_minutes "
        "FROM competitor_activity ORDER BY owner",
    )
    assert activity == [
        ("Acme", "own", 1, 0, 18, 1, 0, 0.0, None),  # 17 retweets and an empty quote of its post
        ("Globex", "competitor", 1, 1, 1, 1, 1, 1.0, 60.0),
    ]


def test_every_text_is_signed_however_many_batches_it_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signatures are computed CHUNK groups at a time, with writes between batches: with batches
    of 7 texts the clusters are the ones found in one batch."""
    from analytics.conversation import duplicates

    docs, truth = planted_copies(seed=5)
    config = load(tmp_path / "one", capsys, docs)
    monkeypatch.setattr(duplicates, "CHUNK", 7)
    config_small = load(tmp_path / "many", capsys, docs)
    sql = "SELECT cluster_id, mention_id, is_original, kind FROM duplicate_clusters ORDER BY ALL"
    assert rows(config_small, sql) == rows(config, sql) and len(rows(config, sql)) >= len(truth)
