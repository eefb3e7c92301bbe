"""Benchmark analytics.sentiment.vader against stock vaderSentiment.

Run by hand:  python bench/bench_sentiment.py [--n 200000] [--workers 2]

Builds N distinct texts from the shared sentiment corpus (../shared/data/sentiment,
each text = K corpus snippets joined, so it reads like a short post; synthetic
text if the corpus is absent), then reports texts/s for

* stock vaderSentiment polarity_scores on a sample (one core),
* FastVader sequential (one core),
* score_texts with a process pool (--workers, default 2),

checks exact equality with stock on every text timed for stock plus a larger
random sample, checks pool == sequential on all N, and prints peak RSS.
Exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow running without an install
    sys.path.insert(0, str(REPO_ROOT))

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: E402

from analytics.sentiment.vader import (  # noqa: E402
    PARALLEL_MIN_TEXTS,
    SCORER_VERSION,
    FastVader,
    score_texts,
)

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "sentiment"
REQUIRED_RATE = 20_000  # texts/s on this 2-core machine, with both cores


def load_corpus(folder: Path) -> list[str]:
    texts: list[str] = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.txt")):
            with path.open(encoding="utf-8", newline="") as fh:
                for line in fh:
                    parts = line.rstrip("\r\n").split("\t", 2)
                    if len(parts) == 3:
                        texts.append(parts[2])
    return texts


def synthetic_snippets(rng: random.Random, count: int = 5000) -> list[str]:
    words = (
        "the movie was good bad great awful not very kind of but never so this least "
        "no really extremely LOVE hate plot acting boring fun :) :( 😁 ! ? , . "
        "i you it is was a an and or with without doubt the bomb cut mustard"
    ).split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 25))) for _ in range(count)]


def build_texts(n: int, combine: int, corpus: list[str], seed: int) -> list[str]:
    """N distinct texts, each `combine` randomly chosen snippets joined."""
    rng = random.Random(seed)
    base = corpus or synthetic_snippets(rng)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        text = " ".join(rng.choice(base) for _ in range(combine))
        if text in seen:
            text = f"{text} #{len(out)}"  # force distinctness
            if text in seen:
                continue
        seen.add(text)
        out.append(text)
    return out


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def to_tuple(d: dict[str, float]) -> tuple[float, float, float, float]:
    return (d["compound"], d["pos"], d["neu"], d["neg"])


def cpu_seconds() -> float:
    """User+system CPU of this process and its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def peak_rss_mb(who: int) -> float:
    kb = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="distinct texts to score (default 200000)")
    ap.add_argument("--combine", type=int, default=2, help="corpus snippets per text (default 2)")
    ap.add_argument("--stock-n", type=int, default=5_000, help="texts timed with stock VADER")
    ap.add_argument("--verify-n", type=int, default=20_000, help="extra random texts checked vs stock")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=2000)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    corpus = load_corpus(args.corpus)
    texts = build_texts(args.n, args.combine, corpus, args.seed)
    avg_words = sum(len(t.split()) for t in texts) / max(len(texts), 1)
    print(f"vaderSentiment {SCORER_VERSION}, cpus={os.cpu_count()}")
    print(
        f"texts: {len(texts):,} distinct, {avg_words:.1f} words avg, from "
        + (f"{len(corpus):,} corpus snippets x{args.combine}" if corpus else "synthetic text (corpus absent)")
    )

    stock = SentimentIntensityAnalyzer()
    stock_texts = texts[: args.stock_n]
    t0 = time.perf_counter()
    stock_results = [to_tuple(stock.polarity_scores(t)) for t in stock_texts]
    stock_s = time.perf_counter() - t0
    stock_rate = rate(len(stock_texts), stock_s)
    print(f"stock polarity_scores (1 core):  {stock_rate:>10,.0f} texts/s  ({len(stock_texts):,} texts)")

    fast = FastVader()
    score = fast.score_tuple
    t0 = time.perf_counter()
    seq_results = [score(t) for t in texts]
    seq_s = time.perf_counter() - t0
    seq_rate = rate(len(texts), seq_s)
    print(f"FastVader sequential (1 core):   {seq_rate:>10,.0f} texts/s  ({seq_rate / stock_rate:.1f}x stock)")

    if len(texts) <= PARALLEL_MIN_TEXTS:
        print(f"note: n <= {PARALLEL_MIN_TEXTS:,}, score_texts stays sequential")
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    par_results = score_texts(texts, workers=args.workers, chunk_size=args.chunk_size)
    par_s = time.perf_counter() - t0
    par_rate = rate(len(texts), par_s)
    print(
        f"score_texts workers={args.workers}:          {par_rate:>10,.0f} texts/s  "
        f"({par_rate / stock_rate:.1f}x stock, incl. pool start-up and pickling)"
    )
    # CPU seconds (parent + workers) per wall second: ~workers when the machine
    # really runs the workers in parallel, ~1 when its cores are contended.
    print(f"  cores actually used by the pool run: {(cpu_seconds() - cpu0) / par_s:.2f}")

    # Exactness: every text timed for stock, plus a random sample of the rest.
    ok = True
    bad = [i for i, r in enumerate(stock_results) if r != seq_results[i]]
    rng = random.Random(args.seed + 1)
    rest = range(len(stock_texts), len(texts))
    sample = rng.sample(rest, min(args.verify_n, len(rest)))
    bad += [i for i in sample if to_tuple(stock.polarity_scores(texts[i])) != seq_results[i]]
    checked = len(stock_results) + len(sample)
    if bad:
        ok = False
        print(f"MISMATCH vs stock on {len(bad)} of {checked:,} texts, e.g. {texts[bad[0]]!r}")
    else:
        print(f"exact match vs stock: {checked:,} texts")
    if par_results != seq_results:
        ok = False
        print("MISMATCH: score_texts pool result differs from sequential")
    else:
        print(f"pool == sequential: {len(texts):,} texts")

    print(
        f"peak RSS: parent {peak_rss_mb(resource.RUSAGE_SELF):.0f} MiB, "
        f"largest worker {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MiB"
    )
    verdict = "PASS" if par_rate >= REQUIRED_RATE else "FAIL"
    print(f"requirement >= {REQUIRED_RATE:,} texts/s with score_texts: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
