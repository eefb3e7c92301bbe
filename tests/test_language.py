"""Language detection fills `mentions.lang` offline; VADER scores are flagged by language."""
from __future__ import annotations

from pathlib import Path

import pytest

from analytics.language import detect_missing, looks_english
from analytics.sentiment import mark_supported, score_pending
from listener.store import Store

SENTENCES = {
    "en": "I really love the new espresso machine, it works great every morning",
    "fr": "Le café de ce matin était vraiment excellent, merci beaucoup",
    "de": "Das Produkt ist wirklich gut, aber die Lieferung kam viel zu spät",
    "es": "El servicio fue muy lento y la comida llegó fría otra vez",
    "en-short": "worst coffee ever, so burnt",
    "fr-short": "Ce café est délicieux",
}
TINY = ["ok", "lol 👍", "@bob", "https://t.co/abc123", "Acme", "#acme #coffee", "  "]


def add_mentions(conn, rows: list[tuple[str, str | None, str | None]]) -> None:
    """(mention_id, text, lang) rows with the columns the store requires."""
    for mention_id, text, lang in rows:
        conn.execute(
            "INSERT INTO mentions (mention_id, source, native_id, text, lang, created_at, collected_at, updated_at) "
            "VALUES (?, 'x', ?, ?, ?, now(), now(), now())", [mention_id, mention_id, text, lang])


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "listener.duckdb") as opened:
        yield opened


def test_detects_sentences_and_leaves_tiny_strings(store: Store):
    add_mentions(store.conn, [(f"x:{k}", text, None) for k, text in SENTENCES.items()]
                 + [(f"x:tiny{i}", text, None) for i, text in enumerate(TINY)]
                 + [("x:given", "This text is English but the source said French", "fr"),
                    ("x:repost", SENTENCES["de"], None)])
    report = detect_missing(store.conn, None)
    langs = dict(store.conn.execute("SELECT mention_id, lang FROM mentions").fetchall())
    assert {k: langs[f"x:{k}"] for k in SENTENCES} == {
        "en": "en", "fr": "fr", "de": "de", "es": "es", "en-short": "en", "fr-short": "fr"}
    assert langs["x:repost"] == "de"  # same text, detected once, filled everywhere
    assert all(langs[f"x:tiny{i}"] is None for i in range(len(TINY)))
    assert langs["x:given"] == "fr"  # a language from the source is never replaced
    flags = dict(store.conn.execute("SELECT mention_id, lang_detected FROM mentions").fetchall())
    assert flags["x:en"] is True and flags["x:given"] is False and flags["x:tiny0"] is False
    assert report["mentions_filled"] == len(SENTENCES) + 1
    assert report["detected"] == len(SENTENCES)
    again = detect_missing(store.conn, None)
    assert again["mentions_filled"] == 0 and again["detected"] == 0  # idempotent


def test_english_fast_path_is_conservative():
    assert looks_english("I think this is the best coffee I have had in years")
    for text in ("Das ist die beste Kaffee, und ich liebe es", "Le meilleur café que j'ai bu",
                 "the end", "Dit is echt de beste koffie van de stad", "Questo caffè è il migliore"):
        assert not looks_english(text), text


def test_supported_follows_language(store: Store):
    add_mentions(store.conn, [("x:en", SENTENCES["en"], None), ("x:fr", SENTENCES["fr"], None),
                              ("x:src_fr", "Quel désastre, service horrible", "fr"), ("x:und", "👍👍", "und"),
                              ("x:enus", "great stuff", "en-US"), ("x:none", "ok", None)])
    score_pending(store.conn, workers=1)
    # Scored before detection: only the source's language is known yet.
    before = dict(store.conn.execute("SELECT mention_id, supported FROM sentiment").fetchall())
    assert before == {"x:en": True, "x:fr": True, "x:src_fr": False, "x:und": True, "x:enus": True, "x:none": True}
    detect_missing(store.conn, None)
    assert mark_supported(store.conn) == 1  # only x:fr flips
    after = dict(store.conn.execute("SELECT mention_id, supported FROM sentiment").fetchall())
    assert after == {**before, "x:fr": False}
    assert mark_supported(store.conn) == 0
    # Scores of other languages are kept, just flagged.
    assert store.conn.execute("SELECT count(*) FROM sentiment").fetchone()[0] == 6
