"""Benchmark: generate N canonical mentions, import them, score them.

    python bench/bench_pipeline.py            # 1,000,000 mentions
    python bench/bench_pipeline.py --n 200000 --keep

Prints mentions/s for the load (parse, dedupe, authors, interactions, topics:
the same code path as `listener import`), texts/s for sentiment, and the peak
memory of the process (RSS, children included). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.sentiment.score import score_pending  # noqa: E402
from listener import pipeline  # noqa: E402
from listener.core.settings import settings_from_dict  # noqa: E402
from listener.ingest.importer import read_batches  # noqa: E402
from listener.store.connection import Store  # noqa: E402

SENTIMENT = ROOT.parent / "shared" / "data" / "sentiment"
BRANDS = ["Acme", "acme coffee", "Globex", "Initech", "cold brew", "espresso"]
FALLBACK = [
    "I love this so much!",
    "Worst purchase ever, totally broken.",
    "It is fine I guess.",
    "Not bad at all :)",
    "The service was slow and the staff rude.",
    "Absolutely brilliant work!!!",
]


def corpus() -> list[str]:
    texts = []
    for path in sorted(SENTIMENT.glob("*.txt")) if SENTIMENT.is_dir() else []:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                texts.append(parts[2])
    return texts or FALLBACK


def generate(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    sentences = corpus()
    start = datetime(2026, 9, 1, tzinfo=UTC)
    n_authors = max(n // 10, 10)
    with path.open("w", encoding="utf-8") as out:
        recent: list[str] = []
        for i in range(n):
            source = "x" if i % 3 else "reddit"
            created = start + timedelta(seconds=i * 7)
            author = rng.randrange(n_authors)
            if recent and rng.random() < 0.2:
                text = rng.choice(recent)  # reposts repeat texts
            else:
                text = f"{rng.choice(sentences)} {rng.choice(BRANDS)} #{i % 97}"
                recent = (recent + [text])[-50:]
            doc = {
                "source": source,
                "id": str(10**15 + i),
                "created_at": created.isoformat(),
                "text": text,
                "lang": "en",
                "url": f"https://example.com/{source}/{i}",
                "community": f"r/c{i % 40}" if source == "reddit" else None,
                "author": {
                    "id": str(author),
                    "handle": f"user{author}",
                    "name": f"User {author}",
                    "followers": (author * 37) % 50000,
                },
                "metrics": {"likes": i % 13, "reposts": i % 5, "replies": i % 3, "quotes": 0, "score": i % 11},
                "mentions": [f"user{rng.randrange(n_authors)}"] if i % 4 == 0 else [],
            }
            if i > 10 and i % 5 == 0:
                doc["parent_id"] = str(10**15 + i - rng.randrange(1, 10))
            if i % 50_000 == 1:
                out.write(json.dumps(doc) + "\n")  # a few exact duplicates: resolved inside the batch
            out.write(json.dumps(doc) + "\n")


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None, help="sentiment processes (default: cores)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="listener-bench-"))
    source = work / "mentions.jsonl"
    t0 = time.perf_counter()
    generate(source, args.n)
    print(f"generated {args.n:,} mentions ({source.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s")

    settings = settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "brand_terms": ["acme", '"acme coffee"'],
                "exclude_terms": ['"acme anvil"'],
                "tracked_terms": ['"cold brew"', "espresso"],
                "competitors": [{"name": "Globex", "terms": ["globex"]}, {"name": "Initech", "terms": ["initech"]}],
                "own_accounts": {"x": ["user1"]},
            },
            "store": {"path": str(work / "bench.duckdb")},
        }
    )
    with Store(settings.store_path) as store:
        t0 = time.perf_counter()
        result = pipeline.load_batches(store, settings, read_batches(source, "jsonl"), run_id="bench")
        load_s = time.perf_counter() - t0
        counts = store.conn.execute(
            "SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM authors), "
            "(SELECT count(*) FROM interactions), (SELECT count(*) FROM mention_topics)"
        ).fetchone()
        print(
            f"load: {result.received:,} lines in {load_s:.1f}s = {result.received / load_s:,.0f} mentions/s "
            f"(mentions {counts[0]:,}, authors {counts[1]:,}, interactions {counts[2]:,}, topics {counts[3]:,}, "
            f"rejected {len(result.errors)})"
        )
        print(f"peak memory after load: {peak_rss_mb():,.0f} MB")

        t0 = time.perf_counter()
        scored, texts = score_pending(store, workers=args.workers)
        score_s = time.perf_counter() - t0
        print(
            f"sentiment: {scored:,} mentions, {texts:,} distinct texts in {score_s:.1f}s = "
            f"{texts / score_s:,.0f} texts/s ({scored / score_s:,.0f} mentions/s)"
        )

        t0 = time.perf_counter()
        again = pipeline.load_batches(store, settings, read_batches(source, "jsonl"), run_id="bench2")
        reload_s = time.perf_counter() - t0
        print(
            f"reload (all updates, idempotent): {again.received / reload_s:,.0f} mentions/s, "
            f"inserted {again.inserted}, updated {again.updated:,}"
        )
    print(f"peak memory (RSS, max of process and children): {peak_rss_mb():,.0f} MB")
    print(f"work folder: {work}" + ("" if args.keep else " (deleted)"))
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
