"""Benchmark: the collect path through the spool, page by page, on a DuckDB file.

    python bench/bench_spool.py                       # 200 pages of 100 mentions into a store of 200,000
    python bench/bench_spool.py --pages 500 --size 500 --base 1000000

What it measures, per page (the unit a connector fetches):
- spool: writing the page's canonical JSON to the spool (fsync, rename);
- lock held: how long the store file is held to load it (open, load in one
  transaction, close): the window in which an analyst's read-only connect fails;
- end to end: mentions/s from page in hand to committed.
It first imports `--base` mentions so the load runs against a store of realistic size.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pipeline import generate  # noqa: E402

from listener import pipeline  # noqa: E402
from listener.core.settings import settings_from_dict  # noqa: E402
from listener.ingest.importer import read_batches  # noqa: E402
from listener.ingest.spool import Spool  # noqa: E402
from listener.store.connection import Store  # noqa: E402
from listener.store.gate import StoreGate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--size", type=int, default=100, help="mentions per page")
    parser.add_argument("--base", type=int, default=200_000, help="mentions already in the store")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        settings = settings_from_dict(
            {
                "organization": {
                    "name": "Acme",
                    "brand_terms": ["acme"],
                    "competitors": [{"name": "Globex", "terms": ["globex"]}],
                },
                "store": {"path": str(work / "listener.duckdb")},
            }
        )
        total = args.base + args.pages * args.size
        source = work / "mentions.jsonl"
        generate(source, total)
        lines = source.read_text(encoding="utf-8").splitlines()
        base, fresh = lines[: args.base], lines[args.base :]
        if base:
            (work / "base.jsonl").write_text("\n".join(base) + "\n", encoding="utf-8")
            with Store(settings.store_path) as store:
                pipeline.load_batches(store, settings, read_batches(work / "base.jsonl", "jsonl"), "bench-base")

        spool = Spool(settings.spool_dir)
        gate = StoreGate(settings.store, 60)
        rules = pipeline.rules_from_organization(settings.organization)
        spool_s, held_s = [], []
        began = time.perf_counter()
        for page in range(args.pages):
            docs = fresh[page * args.size : (page + 1) * args.size]
            t0 = time.perf_counter()
            spool.append_page(
                source="x",
                run_id="bench",
                command="bench",
                stream="q",
                documents=docs,
                cursor={"q": str(page)},
                started_at="2026-11-30T00:00:00+00:00",
            )
            t1 = time.perf_counter()
            pipeline.drain(gate, spool, settings, rules, wait=False)  # as the collector does between pages
            t2 = time.perf_counter()
            spool_s.append(t1 - t0)
            held_s.append(t2 - t1)
        t3 = time.perf_counter()
        pipeline.drain(gate, spool, settings, rules, wait=True)  # the run's last load: closes with a checkpoint
        final_s = time.perf_counter() - t3
        elapsed = time.perf_counter() - began
        with Store(settings.store_path, read_only=True) as store:
            count = store.conn.execute("SELECT count(*) FROM mentions").fetchall()[0][0]

    def ms(values: list[float], q: float) -> float:
        return 1000 * statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else 1000 * values[0]

    print(f"store: {args.base:,} mentions before, {count:,} after ({args.pages} pages of {args.size})")
    print(f"spool write per page: median {ms(spool_s, 50):.1f} ms, p95 {ms(spool_s, 95):.1f} ms")
    print(
        f"store held per page (open, load, commit, close): median {ms(held_s, 50):.1f} ms, "
        f"p95 {ms(held_s, 95):.1f} ms, max {1000 * max(held_s):.1f} ms"
    )
    print(f"the run's last load (nothing left, checkpoint on close): {1000 * final_s:.0f} ms")
    print(f"end to end: {args.pages * args.size / elapsed:,.0f} mentions/s")


if __name__ == "__main__":
    main()
