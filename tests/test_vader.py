"""FastVader must match vaderSentiment's polarity_scores bit for bit."""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import random
import threading

import pytest
from conftest import SHARED, shared_missing
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from analytics.sentiment import vader
from analytics.sentiment.vader import (
    PARALLEL_MIN_TEXTS,
    SCORER_NAME,
    SCORER_VERSION,
    FastVader,
    label_for,
    score_texts,
)

SENTIMENT_DIR = SHARED / "sentiment"


@pytest.fixture(scope="module")
def stock() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def fast() -> FastVader:
    return FastVader()


def _assert_same(stock: SentimentIntensityAnalyzer, fast: FastVader, text: str) -> None:
    want = stock.polarity_scores(text)
    got = fast.polarity_scores(text)
    # Same keys in the same order, same float values (repr also tells -0.0 from 0.0).
    assert list(got) == list(want), text
    assert [repr(v) for v in got.values()] == [repr(v) for v in want.values()], (text, want, got)
    assert all(type(v) is float for v in got.values()), text


def _load_corpus() -> list[str]:
    if not SENTIMENT_DIR.is_dir():
        pytest.skip(shared_missing("sentiment/ (VADER's human-rated ground truth)"))
    texts: list[str] = []
    for path in sorted(SENTIMENT_DIR.glob("*.txt")):
        with path.open(encoding="utf-8", newline="") as fh:
            for line in fh:
                parts = line.rstrip("\r\n").split("\t", 2)
                if len(parts) == 3:  # id, rating, text (skips LICENSE.txt)
                    texts.append(parts[2])
    if not texts:
        pytest.skip(f"no id<TAB>rating<TAB>text files in {SENTIMENT_DIR}")
    return texts


TRICKY_TEXTS = [
    # empty / whitespace / punctuation only
    "",
    " ",
    "   \t\n  ",
    "\u00a0\u2003",
    "!!!",
    "???",
    "...",
    "!?!?",
    ":)",
    ":-( :(",
    # plain and README examples
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    # negation (1, 2 and 3 words back, n't, "no")
    "not good",
    "this is not good",
    "not very good",
    "not a very good thing",
    "I don't think it is good",
    "isn't great",
    "it wasn't that bad",
    "I cannot say it is nice",
    "nope, not happy",
    "no",
    "no good",
    "no no good",
    "not no good",
    "no problem at all",
    "there is no way this is good",
    "no love or hate",
    "no fun nor joy",
    "NO GOOD at all",
    "uh-uh nice",
    "without doubt good",
    "Without a doubt, excellent idea.",
    "Without a doubt, an excellent idea.",
    "without any doubt it was good",
    "seldom good, rarely great, despite nice",
    # "never so" / "never this" and the precedence quirk
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "never so good",
    "it was never so good",
    "it was so good",
    "it is this good",
    "a b this good",
    # "but"
    "good but bad",
    "bad but good",
    "good good good but bad bad",
    "It was great, BUT the ending was awful",
    "but",
    "but good",
    "good but",
    "good, but, bad but great",
    "nice nice but nice nice nice",
    # "kind of", "sort of", "least", "just enough"
    "kind of good",
    "x kind of good",
    "a b kind of good",
    "a b c kind of good",
    "It was kind of good",
    "kind of",
    "kind",
    "sort of bad",
    "x y sort of x good",
    "kinda good, sorta bad",
    "just enough good",
    "x just enough good",
    "least good",
    "the least good",
    "at least good",
    "very least good",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    # boosters and dampeners, caps emphasis
    "extremely good",
    "EXTREMELY good",
    "EXTREMELY bad stuff",
    "very very very good",
    "barely good",
    "slightly BAD thing",
    "GOOD",
    "GOOD day",
    "GOOD DAY",
    "Good Day",
    "THE BOOK WAS GOOD",
    "the book was GOOD",
    "It's REALLY good and REALLY bad",
    # idioms and special cases
    "the bomb",
    "x y the bomb",
    "x y z the bomb",
    "With VADER, sentiment analysis is the shit!",
    "Most automated sentiment analysis tools are shit.",
    "the shit x good",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Not such a badass after all.",
    "a b kiss of death",
    "a b c kiss of death now",
    "to die for x good",
    "this cake is to die for",
    "my beating heart",
    "wait at the bus stop please",
    "yeah right, great",
    "he can cut the mustard",
    "she is under the weather",
    "in the red, in the black, break a leg",
    "blowing smoke and hand to mouth",
    # punctuation emphasis
    "good!",
    "good!!",
    "good!!!!",
    "good!!!!!!!!",
    "bad!!!",
    "good??",
    "good???",
    "good????",
    "bad?????",
    "good?",
    "good?!?!?!",
    "hello!!!",  # no sentiment words: amplifier ignored
    # emoji and emoticons
    "😁",
    "😁😁",
    "a😁b",
    "x 😁",
    "😁 x",
    " 😁",
    "I love it 😍😍😍!!!",
    "💔 heartbroken",
    "🆗 fine",
    "👍🏻 nice",  # skin-tone key is multi-code-point: VADER never matches it
    "☺️ smile",
    "<3 <3",
    "xD :D :d",
    # unicode, RTL, odd case mapping
    "İstanbul is wonderful",
    "ΣΊΣΥΦΟΣ was GOOD",
    "straße good",
    "ǅ good",
    "ﬁne good",
    "\u212a good",  # Kelvin sign lowercases to ASCII k
    "مرحبا good سيء",
    "שלום \u200f good \u200f",
    "good\u200bbad",
    "日本語 は good です",
    # URLs, mentions, hashtags
    "check https://example.com/good?x=1!! it's great",
    "http://bad.example.org/awful",
    "@user #good #fail love it",
    "email me at happy@example.com",
    # contractions and punctuation attached
    "(good)",
    "'good'",
    '"great"',
    "--bad--",
    "good,bad",
    "good.bad",
    "it's... well... GREAT!!!",
]


def test_constants() -> None:
    assert SCORER_NAME == "vader"
    assert SCORER_VERSION == importlib.metadata.version("vaderSentiment")


def test_lexicons_loaded_from_package(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    assert fast.lexicon == stock.lexicon
    assert fast.emojis == stock.emojis


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_tricky_texts_identical(stock: SentimentIntensityAnalyzer, fast: FastVader, text: str) -> None:
    _assert_same(stock, fast, text)
    _assert_same(stock, fast, text.upper())
    _assert_same(stock, fast, text.lower())


def test_very_long_text(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    rng = random.Random(7)
    words = ["good", "bad", "not", "very", "but", "kind", "of", "the", "bomb", "NO", "least", "!", "?", "😁", "x"]
    text = " ".join(rng.choice(words) for _ in range(1500))
    _assert_same(stock, fast, text)


def test_randomized_rule_combinations(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    # Dense mix of rule words so that rare rule interactions get exercised.
    rng = random.Random(20240501)
    vocab = sorted(
        {w for k in (*SPECIAL_CASES, *BOOSTER_DICT) for w in k.split()}
        | set(NEGATE[:12])
        | set(
            "no not never so this without doubt but least at very or nor good great hate bad "
            "KIND GOOD BAD VERY NOT isn't x y :) :( 😁 ! ? , . good! but, LOVE Terrible".split()
        )
    )
    lexicon = sorted(fast.lexicon)
    for _ in range(4000):
        n = rng.randint(1, 10)
        toks = [rng.choice(vocab) if rng.random() < 0.8 else rng.choice(lexicon) for _ in range(n)]
        _assert_same(stock, fast, " ".join(toks))


def test_corpus_identical(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    texts = _load_corpus()
    mismatches = [t for t in texts if stock.polarity_scores(t) != fast.polarity_scores(t)]
    assert not mismatches, mismatches[:5]
    for t in texts[::97]:  # also check float reprs / key order on a sample
        _assert_same(stock, fast, t)


def test_score_texts_tuple_order(fast: FastVader) -> None:
    texts = ["good", "bad!!", "", "meh", "not bad at all"]
    got = score_texts(texts)
    want = []
    for t in texts:
        d = fast.polarity_scores(t)
        want.append((d["compound"], d["pos"], d["neu"], d["neg"]))
    assert got == want


def test_score_texts_small_batch_stays_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def _no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("small batches must not start a process pool")

    monkeypatch.setattr(vader, "ProcessPoolExecutor", _no_pool)
    assert len(score_texts(["good"] * 100, workers=2)) == 100
    assert len(score_texts(["good"] * (PARALLEL_MIN_TEXTS + 1), workers=1)) == PARALLEL_MIN_TEXTS + 1


def _big_batch() -> list[str]:
    # Corpus texts when available (synthetic otherwise), made distinct and large
    # enough to go through the process pool.
    try:
        base = _load_corpus()
    except pytest.skip.Exception:
        base = ["good", "not bad", "very BAD!!", "kind of nice", "x y the bomb", "meh 😁"]
    n = PARALLEL_MIN_TEXTS + 3001
    return [f"{base[i % len(base)]} #{i}" for i in range(n)]


def test_score_texts_pool_matches_sequential(stock: SentimentIntensityAnalyzer) -> None:
    texts = _big_batch()
    sequential = score_texts(texts, workers=1)
    parallel = score_texts(texts, workers=2, chunk_size=1000)
    assert parallel == sequential
    assert not multiprocessing.active_children()  # pool workers were joined
    for i in range(0, len(texts), 487):
        d = stock.polarity_scores(texts[i])
        assert parallel[i] == (d["compound"], d["pos"], d["neu"], d["neg"])


def test_score_texts_pool_from_worker_thread() -> None:
    texts = _big_batch()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = score_texts(texts, workers=2, chunk_size=4000)
        except BaseException as exc:  # surfaced below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "score_texts hung in a worker thread"
    assert "error" not in result, result.get("error")
    assert result["value"] == score_texts(texts, workers=1)
    assert not multiprocessing.active_children()


def test_score_texts_rejects_bad_chunk_size() -> None:
    with pytest.raises(ValueError):
        score_texts(["good"], chunk_size=0)


def test_non_str_rejected(fast: FastVader) -> None:
    with pytest.raises(TypeError):
        fast.polarity_scores(None)  # type: ignore[arg-type]


def test_str_subclass(stock: SentimentIntensityAnalyzer, fast: FastVader) -> None:
    class S(str):
        pass

    assert fast.polarity_scores(S("very GOOD!")) == stock.polarity_scores(S("very GOOD!"))


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.05, "positive"),
        (0.9, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (-1.0, "negative"),
    ],
)
def test_label_for(compound: float, label: str) -> None:
    assert label_for(compound) == label
