"""Fast, bit-identical re-implementation of VADER sentiment scoring.

``vaderSentiment.SentimentIntensityAnalyzer.polarity_scores`` spends most of
its time re-lowercasing the whole token list for every sentiment word, copying
lists, and building the emoji-free text one character at a time.  This module
produces exactly the same ``neg``/``neu``/``pos``/``compound`` floats (same
operations, same order, same int/float types) while doing each of those things
once per text, and can spread large batches over a process pool.

The lexicon, emoji lexicon and the rule constants (negation words, boosters,
special idioms, scalars) are all taken from the installed vaderSentiment
package so that the output follows the installed version, not a copy.

vaderSentiment quirks that are reproduced on purpose (do not "fix" them, the
point is identical output):

* Emoji: each single-code-point emoji is replaced by its description with a
  space only *before* it (unless preceded by ' '), so ``"a😁b"`` becomes
  ``"a beaming face with smiling eyesb"``; descriptions can add words, capitals
  and ``!`` that then count.  Multi-code-point keys (skin tones, ZWJ
  sequences, ``☺️`` with VS16) can never match.
* Lexicon lookups use the lower-cased token, so upper-case lexicon keys such
  as ``:D`` or ``O_o`` are unreachable (``:D`` scores as ``:d``).
* Tokens keep their punctuation when stripping would leave <= 2 chars.
* ``kind of`` / ``sort of`` / ``just enough`` only dampen, and the special
  idioms (``the bomb``, ``the shit``, ``bad ass``, ``yeah right``, ...) only
  apply, when the sentiment word is at least the 4th token and the token three
  places before it is not a lexicon word: ``"the bomb"`` alone is negative,
  ``"x y the bomb"`` positive.  ``kind`` followed by ``of`` scores 0 itself.
* In the 3-words-back negation check ``never so``/``never this`` is evaluated
  as ``(never and so/this) or (previous word is so/this)``, so ``so``/``this``
  right before a word also multiplies it by 1.25 (on top of the ``so``
  booster).  ``without doubt`` just blocks the negation of ``without``.
* ``no`` before a lexicon word gets valence 0.0, but any lexicon word
  preceded by ``no`` (1-2 back, or 3 back with ``or``/``nor`` right before
  it) is then set to ``lexicon * N_SCALAR``, so in ``no no good`` the second
  ``no`` scores 0.888, not 0.0.
* ``least`` one word before negates unless ``at least`` / ``very least``.
* ``but`` (first one only) scales by 0.5 before / 1.5 after using
  ``list.index`` on *values*: a value equal to an already-scaled earlier one
  rescales that earlier position instead of its own.
* Special-idiom valences are ints (e.g. 3), which flow into ``sum``.
* ``!`` (max 4) and ``?`` (2-3, or 0.96 for more) are counted over the whole
  text and only added when the summed valence is non-zero.
* Non-lexicon words still count as neutral, so ``neu`` grows with length.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import math
import multiprocessing
import os
import re
import string
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from itertools import compress

# Rule constants come from the installed package so we follow its version.
from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
)

__all__ = [
    "SCORER_NAME",
    "SCORER_VERSION",
    "PARALLEL_MIN_TEXTS",
    "FastVader",
    "normalise_overrides",
    "overrides_hash",
    "score_texts",
    "label_for",
]

SCORER_NAME = "vader"
# Version of the installed reference implementation whose output we reproduce.
SCORER_VERSION: str = importlib.metadata.version("vaderSentiment")

# Below this many texts a process pool costs more (fork + pickling) than it
# saves, so score_texts stays in-process.
PARALLEL_MIN_TEXTS = 20_000

_PUNCT = string.punctuation
_NEGATE = frozenset(NEGATE)

ScoreTuple = tuple[float, float, float, float]
# Domain overrides of lexicon valences, normalised: sorted (lower-cased word, valence) pairs.
Overrides = tuple[tuple[str, float], ...]


def normalise_overrides(lexicon: Mapping[str, float] | None) -> Overrides:
    """Lower-case single words, sorted; VADER looks tokens up lower-cased.

    Multi-word entries are refused: VADER's lexicon is matched one token at a
    time, so "not bad" could never be found.
    """
    pairs: dict[str, float] = {}
    for word, valence in (lexicon or {}).items():
        key = word.strip().lower()
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"lexicon override {word!r}: only single words are supported")
        value = float(valence)
        if not math.isfinite(value) or not -4.0 <= value <= 4.0:
            raise ValueError(f"lexicon override {word!r}: valence must be between -4 and 4, got {valence!r}")
        pairs[key] = value
    return tuple(sorted(pairs.items()))


def overrides_hash(overrides: Overrides) -> str:
    """8 hex chars identifying a set of overrides (recorded in the scorer name)."""
    return hashlib.sha256(json.dumps(list(overrides)).encode("utf-8")).hexdigest()[:8]


def _read_package_text(name: str) -> str:
    # Same bytes and decoding as vaderSentiment's codecs.open(..., 'utf-8').
    return importlib.resources.files("vaderSentiment").joinpath(name).read_bytes().decode("utf-8")


def _load_lexicon() -> dict[str, float]:
    # Parsing mirrors SentimentIntensityAnalyzer.make_lex_dict exactly.
    lex: dict[str, float] = {}
    for line in _read_package_text("vader_lexicon.txt").rstrip("\n").split("\n"):
        if not line:
            continue
        (word, measure) = line.strip().split("\t")[0:2]
        lex[word] = float(measure)
    return lex


def _load_emojis() -> dict[str, str]:
    # Parsing mirrors SentimentIntensityAnalyzer.make_emoji_dict exactly.
    emojis: dict[str, str] = {}
    for line in _read_package_text("emoji_utf8_lexicon.txt").rstrip("\n").split("\n"):
        (emoji, description) = line.strip().split("\t")[0:2]
        emojis[emoji] = description
    return emojis


def _make_scorer(lexicon: dict[str, float], emojis: dict[str, str]) -> Callable[[str], ScoreTuple]:
    """Build the per-text scoring closure (closure cells are faster than self.x)."""
    # VADER tests `chr in emojis` one code point at a time, so only
    # single-code-point keys can ever match; multi-code-point keys are dead.
    single = {k: v for k, v in emojis.items() if len(k) == 1}
    emoji_re = re.compile("[" + "".join(re.escape(k) for k in single) + "]") if single else None
    has_ascii_emoji = any(k.isascii() for k in single)

    def _emoji_sub(m: re.Match[str]) -> str:
        # VADER adds a space before a description unless the previous original
        # char was ' ' (or it is the first char); never a space after it.
        p = m.start()
        desc = single[m.group()]
        if p and m.string[p - 1] != " ":
            return " " + desc
        return desc

    # Lexicon values wrapped in 1-tuples so that "found" is always truthy and
    # itertools.compress can pick the lexicon hits at C speed.
    lex_t = {k: (v,) for k, v in lexicon.items()}
    lex_get = lex_t.get
    booster_get = BOOSTER_DICT.get
    special_get = SPECIAL_CASES.get
    least_in_lex = "least" in lexicon
    # First words of the multi-word special-case / booster keys (tokens never
    # contain spaces, so only keys with a space can match an n-gram).
    first_words = frozenset(k.split(" ")[0] for k in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in k)
    negate = _NEGATE
    # Words that make some rule fire when 1-3 places before a lexicon word.
    rule_words = frozenset(BOOSTER_DICT) | negate | first_words | {"no", "never", "without", "so", "this", "least"}
    # The fast path relies on lexicon valences being non-zero (x + 0.0 == x).
    fast_ok = all(v != 0 for v in lexicon.values())
    punct = _PUNCT
    fabs = math.fabs
    sqrt = math.sqrt
    lower = str.lower
    isupper = str.isupper

    def score(text: str) -> ScoreTuple:
        if type(text) is not str:
            if not isinstance(text, str):
                raise TypeError(f"text must be str, not {type(text).__name__}")
            text = str.__str__(text)  # plain str copy, like VADER's rebuilt string

        # --- emoji -> description (VADER's char loop, done by regex) ---
        if emoji_re is not None and (has_ascii_emoji or not text.isascii()):
            text = emoji_re.sub(_emoji_sub, text)
        text = text.strip()

        # --- SentiText tokenisation: split, strip punctuation unless <= 2 chars left ---
        words = [t if len(bare := t.strip(punct)) <= 2 else bare for t in text.split()]
        n = len(words)
        if not n:
            return (0.0, 0.0, 0.0, 0.0)
        low = list(map(lower, words))  # lowercase once per text (VADER: per rule)
        n_upper = sum(map(isupper, words))
        is_cap_diff = 0 < n_upper < n  # allcap_differential
        vals = list(map(lex_get, low))

        sentiments: list[float] = [0] * n  # VADER appends int 0 for non-lexicon words
        last = n - 1
        for i in compress(range(n), vals):
            item_lowercase = low[i]
            # booster words and "kind" of "kind of" are skipped (valence 0)
            if item_lowercase in BOOSTER_DICT:
                continue
            if i < last and item_lowercase == "kind" and low[i + 1] == "of":
                continue

            # ---- sentiment_valence ----
            base = vals[i][0]  # type: ignore[index]  # i indexes a lexicon hit, never None
            # Fast path for most hits: the three preceding words exist and none
            # of them (nor this word) can trigger any rule, so every VADER pass
            # would add 0.0 to a non-zero valence, i.e. change nothing.
            if (
                fast_ok
                and i > 2
                and item_lowercase not in first_words
                and item_lowercase != "no"
                and (w1 := low[i - 1]) not in rule_words
                and "n't" not in w1
                and (w2 := low[i - 2]) not in rule_words
                and "n't" not in w2
                and (w3 := low[i - 3]) not in rule_words
                and "n't" not in w3
            ):
                valence = base
                if is_cap_diff and isupper(words[i]):
                    if valence > 0:
                        valence += C_INCR
                    else:
                        valence -= C_INCR
                sentiments[i] = valence
                continue

            valence = base
            if item_lowercase == "no" and i != last and vals[i + 1] is not None:
                valence = 0.0
            if (
                (i > 0 and low[i - 1] == "no")
                or (i > 1 and low[i - 2] == "no")
                or (i > 2 and low[i - 3] == "no" and low[i - 1] in ("or", "nor"))
            ):
                valence = base * N_SCALAR

            if is_cap_diff and isupper(words[i]):
                if valence > 0:
                    valence += C_INCR
                else:
                    valence -= C_INCR

            # The three "preceding word" passes of sentiment_valence, unrolled.
            # Each runs only if that word exists and is not a lexicon word.
            if i > 0:
                # start_i == 0: word right before
                j = i - 1
                if vals[j] is None:
                    w = low[j]
                    s = 0.0  # scalar_inc_dec
                    b = booster_get(w)
                    if b is not None:
                        s = b
                        if valence < 0:
                            s *= -1
                        if isupper(words[j]) and is_cap_diff:
                            if valence > 0:
                                s += C_INCR
                            else:
                                s -= C_INCR
                    valence = valence + s
                    if w in negate or "n't" in w:  # negated([w])
                        valence = valence * N_SCALAR
                if i > 1:
                    # start_i == 1: two words before
                    j = i - 2
                    if vals[j] is None:
                        w = low[j]
                        s = 0.0
                        b = booster_get(w)
                        if b is not None:
                            s = b
                            if valence < 0:
                                s *= -1
                            if isupper(words[j]) and is_cap_diff:
                                if valence > 0:
                                    s += C_INCR
                                else:
                                    s -= C_INCR
                        if s != 0:
                            s = s * 0.95
                        valence = valence + s
                        w1 = low[i - 1]
                        if w == "never" and (w1 == "so" or w1 == "this"):
                            valence = valence * 1.25
                        elif w == "without" and w1 == "doubt":
                            pass
                        elif w in negate or "n't" in w:
                            valence = valence * N_SCALAR
                    if i > 2:
                        # start_i == 2: three words before
                        j = i - 3
                        if vals[j] is None:
                            w3 = low[j]
                            s = 0.0
                            b = booster_get(w3)
                            if b is not None:
                                s = b
                                if valence < 0:
                                    s *= -1
                                if isupper(words[j]) and is_cap_diff:
                                    if valence > 0:
                                        s += C_INCR
                                    else:
                                        s -= C_INCR
                            if s != 0:
                                s = s * 0.9
                            valence = valence + s
                            w2 = low[i - 2]
                            w1 = low[i - 1]
                            # VADER's precedence: (never and so/this) or (w1 is so/this)
                            if w3 == "never" and (w2 == "so" or w2 == "this") or (w1 == "so" or w1 == "this"):
                                valence = valence * 1.25
                            elif w3 == "without" and (w2 == "doubt" or w1 == "doubt"):
                                pass
                            elif w3 in negate or "n't" in w3:
                                valence = valence * N_SCALAR

                            # _special_idioms_check (only reached here, as in VADER).
                            # An n-gram can only match a key if its first word is
                            # the first word of some multi-word key, so build the
                            # strings only then; checks keep VADER's order.
                            w0 = item_lowercase
                            matched = False
                            if w1 in first_words:
                                sc = special_get(w1 + " " + w0)  # onezero
                                if sc is not None:
                                    valence = sc
                                    matched = True
                            if not matched and w2 in first_words:
                                twoone = w2 + " " + w1
                                sc = special_get(twoone + " " + w0)  # twoonezero
                                if sc is None:
                                    sc = special_get(twoone)
                                if sc is not None:
                                    valence = sc
                                    matched = True
                            if not matched and w3 in first_words:
                                sc = special_get(w3 + " " + w2 + " " + w1)  # threetwoone
                                if sc is None:
                                    sc = special_get(w3 + " " + w2)  # threetwo
                                if sc is not None:
                                    valence = sc
                            if last > i and w0 in first_words:
                                zeroone = w0 + " " + low[i + 1]
                                sc = special_get(zeroone)
                                if sc is not None:
                                    valence = sc
                                if last > i + 1:
                                    sc = special_get(zeroone + " " + low[i + 2])  # zeroonetwo
                                    if sc is not None:
                                        valence = sc
                            # booster/dampener bi-grams ('kind of', 'sort of'):
                            # threetwoone, threetwo, then twoone, as in VADER
                            if w3 in first_words:
                                b = booster_get(w3 + " " + w2 + " " + w1)
                                if b is not None:
                                    valence = valence + b
                                b = booster_get(w3 + " " + w2)
                                if b is not None:
                                    valence = valence + b
                            if w2 in first_words:
                                b = booster_get(w2 + " " + w1)
                                if b is not None:
                                    valence = valence + b

            # _least_check
            if i > 1 and low[i - 1] == "least" and not least_in_lex:
                if low[i - 2] != "at" and low[i - 2] != "very":
                    valence = valence * N_SCALAR
            elif i > 0 and low[i - 1] == "least" and not least_in_lex:
                valence = valence * N_SCALAR

            sentiments[i] = valence

        # --- _but_check, including its list.index-by-value quirk ---
        if "but" in low:
            bi = low.index("but")
            for k in range(n):
                sentiment = sentiments[k]
                si = sentiments.index(sentiment)
                if si < bi:
                    sentiments[si] = sentiment * 0.5
                elif si > bi:
                    sentiments[si] = sentiment * 1.5

        # --- score_valence ---
        sum_s = float(sum(sentiments))
        ep_count = text.count("!")
        if ep_count > 4:
            ep_count = 4
        ep_amplifier = ep_count * 0.292
        qm_count = text.count("?")
        qm_amplifier = 0.0
        if qm_count > 1:
            if qm_count <= 3:
                qm_amplifier = qm_count * 0.18
            else:
                qm_amplifier = 0.96
        punct_emph_amplifier = ep_amplifier + qm_amplifier
        if sum_s > 0:
            sum_s += punct_emph_amplifier
        elif sum_s < 0:
            sum_s -= punct_emph_amplifier

        compound = sum_s / sqrt((sum_s * sum_s) + 15)
        if compound < -1.0:
            compound = -1.0
        elif compound > 1.0:
            compound = 1.0

        # _sift_sentiment_scores; zeros only count as neutral, so skip them.
        pos_sum = 0.0
        neg_sum = 0.0
        nonzero = list(filter(None, sentiments))
        neu_count = n - len(nonzero)
        for sentiment_score in nonzero:
            if sentiment_score > 0:
                pos_sum += float(sentiment_score) + 1
            else:
                neg_sum += float(sentiment_score) - 1

        if pos_sum > fabs(neg_sum):
            pos_sum += punct_emph_amplifier
        elif pos_sum < fabs(neg_sum):
            neg_sum -= punct_emph_amplifier

        total = pos_sum + fabs(neg_sum) + neu_count
        return (
            round(compound, 4),
            round(fabs(pos_sum / total), 3),
            round(fabs(neu_count / total), 3),
            round(fabs(neg_sum / total), 3),
        )

    return score


class FastVader:
    """Drop-in, bit-identical replacement for VADER's polarity_scores.

    ``overrides`` (word -> valence) replace or add single-word lexicon entries,
    exactly as if they had been written into vader_lexicon.txt; without them
    the output is VADER's.
    """

    __slots__ = ("lexicon", "emojis", "_score")

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        self.lexicon: dict[str, float] = _load_lexicon()
        self.lexicon.update(normalise_overrides(overrides))
        self.emojis: dict[str, str] = _load_emojis()
        self._score: Callable[[str], ScoreTuple] = _make_scorer(self.lexicon, self.emojis)

    def score_tuple(self, text: str) -> ScoreTuple:
        """(compound, pos, neu, neg) without building a dict."""
        return self._score(text)

    def polarity_scores(self, text: str) -> dict[str, float]:
        compound, pos, neu, neg = self._score(text)
        # Same key order as vaderSentiment.
        return {"neg": neg, "neu": neu, "pos": pos, "compound": compound}


# One analyzer per set of overrides and process, created lazily; fork children
# inherit the parent's.
_ANALYZERS: dict[Overrides, FastVader] = {}
_ANALYZER_LOCK = threading.Lock()


def _get_analyzer(overrides: Overrides = ()) -> FastVader:
    analyzer = _ANALYZERS.get(overrides)
    if analyzer is None:
        with _ANALYZER_LOCK:
            analyzer = _ANALYZERS.get(overrides)
            if analyzer is None:
                analyzer = _ANALYZERS[overrides] = FastVader(dict(overrides))
    return analyzer


def _score_chunk(texts: Sequence[str], overrides: Overrides = ()) -> list[ScoreTuple]:
    # Top-level so it pickles for the process pool; the overrides travel with
    # each chunk (a spawned worker builds its own analyzer from them).
    score = _get_analyzer(overrides)._score
    return [score(t) for t in texts]


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork: workers inherit the loaded lexicon (no re-read, fast start).
    # Not on macOS, where fork is listed but unsafe with system frameworks.
    if sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def score_texts(
    texts: Sequence[str],
    workers: int | None = None,
    chunk_size: int = 2000,
    lexicon: Mapping[str, float] | None = None,
) -> list[ScoreTuple]:
    """Score texts, returning (compound, pos, neu, neg) per text, in order.

    Batches larger than PARALLEL_MIN_TEXTS use a process pool of ``workers``
    processes (default os.cpu_count()); smaller ones, or workers <= 1, run
    in-process, where a pool would only add start-up and pickling cost.
    ``lexicon`` holds domain overrides (see FastVader); empty means plain VADER.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    overrides = normalise_overrides(lexicon)
    n = len(texts)
    if workers is None:
        workers = os.cpu_count() or 1
    if workers <= 1 or n <= PARALLEL_MIN_TEXTS:
        return _score_chunk(texts, overrides)

    chunks = [list(texts[i : i + chunk_size]) for i in range(0, n, chunk_size)]
    workers = min(workers, len(chunks))
    if workers <= 1:  # one giant chunk: nothing to parallelise
        return _score_chunk(chunks[0], overrides)
    # Load the lexicon before forking so every worker inherits it.
    _get_analyzer(overrides)
    out: list[ScoreTuple] = []
    # ProcessPoolExecutor (unlike multiprocessing.Pool) raises BrokenProcessPool
    # if a worker dies instead of hanging; shutdown() joins every worker.
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
    try:
        for part in executor.map(partial(_score_chunk, overrides=overrides), chunks):
            out.extend(part)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return out


def label_for(compound: float) -> str:
    """VADER's conventional thresholds on the compound score."""
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"
