"""Fill `mentions.lang` where the source gave none, offline.

Only distinct texts of mentions without a language are looked at. Links,
@handles, #hashtags and e-mail addresses are removed first (they are not
language); what is left must have at least MIN_LETTERS letters (MIN_LETTERS_CJK
for Chinese, Japanese, Korean, Thai, written without spaces), else the
language stays NULL.

Two stages, both offline:

1. Plain ASCII text made of several words, a quarter of them English
   function words ("the", "and", "with", ...) and none of the common
   function words of other languages, is English. Most mentions of an
   English-speaking brand end here, at a few microseconds each.
2. Everything else goes to lingua, restricted to LANGUAGES, on every core:
   texts shorter than HIGH_ACCURACY_BELOW characters in high-accuracy mode
   (measured on short English texts: 1% wrong vs 9% in low-accuracy mode,
   at ~7,000 texts/s), longer ones in low-accuracy mode (under 1% wrong
   either way, 5x faster), cut to MAX_CHARS. When lingua cannot separate the
   two most likely languages (MIN_RELATIVE_DISTANCE), the language stays NULL.

Detected codes are ISO 639-1, lower case, with `lang_detected = true`.
Each chunk of texts is committed on its own; a rerun only looks at what is
still NULL, so it is idempotent.
"""
from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from listener.store import registered, transaction

if TYPE_CHECKING:
    from lingua import LanguageDetector

    from listener.settings import Settings

# Common languages of social media and the press. Fewer candidates is both
# faster and more accurate; a language outside the list is reported as its
# closest neighbour or left NULL.
LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "nl", "sv", "da", "nb", "pl", "tr", "id",
             "ru", "uk", "ar", "zh", "ja", "ko", "hi", "el", "he", "th")
MIN_LETTERS = 10
MIN_LETTERS_CJK = 4
MIN_RELATIVE_DISTANCE = 0.1
HIGH_ACCURACY_BELOW = 60
MAX_CHARS = 200  # lingua's accuracy is flat long before this; its cost is linear in length
CHUNK_TEXTS = 50_000

TEXT_SQL = "concat_ws(chr(10), m.title, m.text)"
# Not language: links, e-mail addresses, @handles, #hashtags, HTML entities.
NOISE_RE = r"(https?://\S+|www\.\S+|\S+@\S+\.\S+|[@#][\w.]+|&[a-z]+;)"
CJK_RE = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}]"

EN_MARKERS = frozenset("""
the and with this that these those you your yours have has had not but they them their there what
just are were will would could should from about been being it's i'm don't can't won't isn't didn't
doesn't that's you're i've very really because when which who how than then also only some my our
we he she his her it its of at be or if all an by can get got out up like love one more much too
well here into over after before any every never always ever want need know think
""".split())
# Common English words that are also words elsewhere ("is" in Dutch, "to" in
# Polish, "a" in Romance languages): they count towards the share of English
# words, but only next to at least two of the markers above.
EN_SHARED = frozenset("to in is for i a so no me do was as on".split())
# Function words of the other Latin-script languages: any one of them sends
# the text to lingua, which costs time but never accuracy.
FOREIGN_MARKERS = frozenset("""
und der das ist nicht ich ein eine mit auf sehr auch wir sie zu dem von für aber wie nur noch
le les et est une des pas je pour avec dans que qui très mais nous vous du au ce cette sont sur
el los las y una por para muy pero está esto del lo se su al como más también
il che di è sono della questo molto anche gli
uma não para muito é mas você isso
het een niet ik zijn dat ook maar wij dit je ze heel
och att det är inte jag ett som på
og er ikke jeg til af
yang dan ini itu tidak saya dengan untuk
bir ve bu çok için ama
nie jest się że
""".split())
_WORD_RE = re.compile(r"[a-z']+")


def looks_english(clean: str) -> bool:
    """Stage 1: confidently English without lingua (see the module docstring)."""
    if not clean.isascii():
        return False
    words = _WORD_RE.findall(clean.lower())
    if len(words) < 4:
        return False
    strong = shared = 0
    for word in words:
        if word in FOREIGN_MARKERS:
            return False
        if word in EN_MARKERS:
            strong += 1
        elif word in EN_SHARED:
            shared += 1
    return strong >= 2 and (strong + shared) * 4 >= len(words)


_DETECTORS: dict[bool, LanguageDetector] = {}
_DETECTOR_LOCK = threading.Lock()


def detector(high_accuracy: bool = True) -> LanguageDetector:
    """A lingua detector, built once per process and mode (models load lazily, ~300 MB in all)."""
    with _DETECTOR_LOCK:
        if high_accuracy not in _DETECTORS:
            from lingua import IsoCode639_1, LanguageDetectorBuilder

            codes = [getattr(IsoCode639_1, code.upper()) for code in LANGUAGES]
            builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
            builder = builder.with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
            if not high_accuracy:
                builder = builder.with_low_accuracy_mode()
            _DETECTORS[high_accuracy] = builder.build()
        return _DETECTORS[high_accuracy]


def detect_texts(cleaned: Sequence[str]) -> list[str | None]:
    """ISO 639-1 code (lower case) per cleaned text, or None when undetermined."""
    out: list[str | None] = [None] * len(cleaned)
    short: list[int] = []
    long: list[int] = []
    for i, text in enumerate(cleaned):
        if looks_english(text):
            out[i] = "en"
        else:
            (short if len(text) < HIGH_ACCURACY_BELOW else long).append(i)
    for indexes, high_accuracy in ((short, True), (long, False)):
        if not indexes:
            continue
        found = detector(high_accuracy).detect_languages_in_parallel_of([cleaned[i][:MAX_CHARS] for i in indexes])
        for i, language in zip(indexes, found):
            if language is not None:
                out[i] = language.iso_code_639_1.name.lower()
    return out


def detect_missing(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings | None = None,
    chunk_texts: int = CHUNK_TEXTS,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fill `lang` (and `lang_detected`) of mentions whose source gave no language.

    Call outside a transaction: each chunk commits on its own. Returns counts:
    distinct texts looked at, too short, detected, undetermined, mentions
    filled, per-language counts and seconds.
    """
    del settings  # the language list is fixed for now (LANGUAGES)
    started = time.monotonic()
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lang_texts AS
        SELECT txt, clean, length(regexp_replace(clean, '[^\\p{{L}}]', '', 'g')) AS letters,
               regexp_matches(clean, '{CJK_RE}') AS cjk
        FROM (SELECT txt, trim(regexp_replace(regexp_replace(txt, '{NOISE_RE}', ' ', 'g'), '\\s+', ' ', 'g')) AS clean
              FROM (SELECT DISTINCT {TEXT_SQL} AS txt FROM mentions m WHERE m.lang IS NULL))
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lang_pending AS
        SELECT row_number() OVER () AS tid, txt, clean FROM lang_texts
        WHERE letters >= CASE WHEN cjk THEN {MIN_LETTERS_CJK} ELSE {MIN_LETTERS} END
        """
    )
    looked_at = conn.execute("SELECT count(*) FROM lang_texts").fetchone()[0]
    total = conn.execute("SELECT count(*) FROM lang_pending").fetchone()[0]
    by_language: Counter[str] = Counter()
    filled = 0
    try:
        for start in range(0, total, chunk_texts):
            rows = conn.execute(
                "SELECT tid, clean FROM lang_pending WHERE tid > ? AND tid <= ? ORDER BY tid",
                [start, start + chunk_texts],
            ).fetchall()
            langs = detect_texts([clean for _, clean in rows])
            found = [(tid, lang) for (tid, _), lang in zip(rows, langs) if lang]
            by_language.update(lang for _, lang in found)
            filled += _store_chunk(conn, found)
            if on_chunk:
                on_chunk(len(rows))
    finally:
        conn.execute("DROP TABLE IF EXISTS lang_pending")
        conn.execute("DROP TABLE IF EXISTS lang_texts")
    detected = sum(by_language.values())
    return {"texts": looked_at, "too_short": looked_at - total, "detected": detected,
            "undetermined": total - detected, "mentions_filled": filled,
            "languages": dict(by_language.most_common()), "seconds": round(time.monotonic() - started, 3)}


def _store_chunk(conn: duckdb.DuckDBPyConnection, found: list[tuple[int, str]]) -> int:
    if not found:
        return 0
    chunk = pa.table({"tid": pa.array([t for t, _ in found], pa.int64()),
                      "lang": pa.array([lang for _, lang in found], pa.string())})
    with registered(conn, "detected_chunk", chunk), transaction(conn):
        changed = conn.execute(
            """
            UPDATE mentions SET lang = d.lang, lang_detected = true
            FROM (SELECT p.txt, c.lang FROM lang_pending p JOIN detected_chunk c USING (tid)) d
            WHERE mentions.lang IS NULL AND concat_ws(chr(10), mentions.title, mentions.text) = d.txt
            """
        ).fetchall()[0][0]
    return int(changed)
