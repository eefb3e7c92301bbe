"""Benchmark: build the weekly digest (gather + render, no send) from 1M mentions.

    python bench/bench_digest.py                      # 1,000,000 mentions, 200,000 authors, 8 weeks
    python bench/bench_digest.py --n 200000 --authors 40000
    python bench/bench_digest.py --store /tmp/bench-digest.duckdb   # reuse a store built before

Generates mentions with bench/bench_analyze.py's generator (heavy-tailed
authors and interactions), loads them with the real import path, runs
`listener.pipeline.analyze` as of the day after the data ends, then times
`listener.publish.digest.gather.gather` and `listener.publish.digest.render.render` for the
last complete week (three runs; the first includes importing matplotlib).
Prints seconds and peak memory (RSS). Target: under 10 s. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_analyze import DAYS, START, batches  # noqa: E402

from listener import pipeline  # noqa: E402
from listener.core.settings import settings_from_dict  # noqa: E402
from listener.store.connection import Store  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=200_000)
    parser.add_argument("--store", type=Path, help="build here once and reuse it on later runs")
    parser.add_argument("--out", type=Path, help="also write the .html and .eml here")
    args = parser.parse_args()
    work = None if args.store else Path(tempfile.mkdtemp(prefix="listener-bench-digest-"))
    path = args.store or work / "bench.duckdb"
    settings = settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "brand_terms": ["acme", '"acme coffee"'],
                "tracked_terms": ['"cold brew"'],
                "competitors": [{"name": "Globex", "terms": ["globex"]}, {"name": "Initech", "terms": ["initech"]}],
                "own_accounts": {"x": ["user1"]},
            },
            "store": {"path": str(path)},
        }
    )
    today = (START + timedelta(days=DAYS)).date()  # the Monday after the data ends
    if not path.exists():
        with Store(path) as store:
            t0 = time.perf_counter()
            pipeline.load_batches(store, settings, batches(args.n, args.authors), run_id="bench")
            print(f"generate + load {args.n:,} mentions: {time.perf_counter() - t0:.1f}s")
            t0 = time.perf_counter()
            pipeline.analyze(store, settings, today=today)
            print(f"pipeline.analyze: {time.perf_counter() - t0:.1f}s")
    from listener.publish.digest.gather import Week, gather  # noqa: E402
    from listener.publish.digest.render import render  # noqa: E402

    week = Week.last_complete(today)
    with Store(path, read_only=True) as store:
        mentions = store.conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
        print(f"store: {mentions:,} mentions; digest for {week}")
        for attempt in range(1, 4):
            t0 = time.perf_counter()
            digest = gather(store.conn, settings, week)
            t1 = time.perf_counter()
            rendered = render(digest)
            t2 = time.perf_counter()
            print(
                f"run {attempt}: gather {t1 - t0:.2f}s + render {t2 - t1:.2f}s = {t2 - t0:.2f}s "
                f"(html {len(rendered.html):,} chars, {len(rendered.images)} charts)"
            )
    if args.out:
        from listener.publish.digest.send import build_message

        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"digest-{week}.html").write_text(rendered.html, encoding="utf-8")
        msg = build_message(rendered, settings.digest.sender, "bench@example.com", "<bench@listener>")
        (args.out / f"digest-{week}.eml").write_bytes(bytes(msg))
    print(f"peak memory (RSS): {peak_rss_mb():,.0f} MB")
    if work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
