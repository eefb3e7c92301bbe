"""Benchmark: `listener analyze` on 1M mentions, seconds per step.

    python bench/bench_analyze.py                 # 1,000,000 mentions, 200,000 authors, 8 weeks
    python bench/bench_analyze.py --unique        # most texts distinct (duplicates' worst case)
    python bench/bench_analyze.py --n 200000 --authors 40000 --keep
    python bench/bench_analyze.py --scale 1,2,4    # 1M, 2M, 4M mentions (authors in step): growth per step
    python bench/bench_analyze.py --loaded /tmp/b1m.duckdb   # load once, analyze a copy on later runs

Generates canonical mentions with a heavy-tailed interaction graph (authors
post with Zipf activity; replies, reposts and mentions go to Zipf-popular
targets of the same network, i.e. preferential attachment), loads them with
the real import path (`listener.pipeline.load_batches`), runs
`listener.pipeline.analyze` and prints seconds per step, the steps the numbers
issue added (per-topic sentiment, roles, duplicates, coordinated) and their share
of the whole, and peak memory (RSS). The texts are drawn from 20,000 sentences
(Zipf), so most posts are exact copies; `--unique` appends random words, so
near-duplicate detection has a million texts to sign. A second analyze shows the
incremental cost when nothing changed. The anchor: DuckDB alone grouping the same
texts by their lower-cased md5. Peak memory per step is the process's high-water
mark (VmHWM, reset before each step through /proc/self/clear_refs; Linux).
`--scale` runs each size in its own process and prints seconds and peak memory per
step side by side, with each size's time as a multiple of the first size's.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from listener import pipeline  # noqa: E402
from listener.core.settings import settings_from_dict  # noqa: E402
from listener.ingest.loader import BATCH_SCHEMA  # noqa: E402
from listener.store.connection import Store  # noqa: E402

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
DAYS = 56
WORDS = (
    "great awful coffee beans grinder espresso latte price service delivery broken love hate slow fast "
    "barista roast decaf refund support app update launch review crema milk foam cup morning"
).split()
BRANDS = ("acme", "Acme coffee", "globex", "initech", "acme", "cold brew")
NEW_STEPS = ("topic_sentiment", "roles", "duplicates", "coordinated")  # issue 14
EXTRA_WORDS = [f"w{i}" for i in range(50_000)]


def zipf_index(rng: np.random.Generator, size: int, n: int, a: float = 1.6) -> np.ndarray:
    """Heavy-tailed picks in 0..n-1 (rank 0 the most popular)."""
    return (rng.zipf(a, size) - 1) % n


def sentences(rng: np.random.Generator, count: int = 20_000) -> list[str]:
    out = []
    for i in range(count):
        words = " ".join(rng.choice(WORDS, 5))
        tag = f" #{WORDS[i % len(WORDS)]}{i % 7}" if i % 3 == 0 else ""
        out.append(f"{BRANDS[i % len(BRANDS)]} {words}{tag}")
    return out


def batches(n: int, n_authors: int, seed: int = 7, size: int = 100_000, unique: bool = False) -> Iterator[pa.Table]:
    rng = np.random.default_rng(seed)
    texts = sentences(rng)
    popularity = rng.permutation(n_authors)  # who is popular is unrelated to the author number
    followers = (rng.pareto(1.2, n_authors) * 50).astype(np.int64)
    for lo in range(0, n, size):
        k = min(size, n - lo)
        # half the posts from Zipf-active authors, half from anyone: a long tail that covers most authors
        authors = np.where(
            rng.random(k) < 0.5, popularity[zipf_index(rng, k, n_authors, 1.3)], rng.integers(0, n_authors, k)
        )
        # same residue mod 10 keeps a target on the author's network (x or reddit)
        targets = (popularity[zipf_index(rng, k, n_authors // 10, 1.5)] // 10 * 10 + authors % 10) % n_authors
        kind = rng.random(k)
        seconds = rng.integers(0, DAYS * 86400, k)
        text_ix = zipf_index(rng, k, len(texts), 1.2)
        likes = (rng.pareto(1.5, k) * 2).astype(np.int64)
        extra = rng.integers(0, len(EXTRA_WORDS), (k, 4)) if unique else None
        docs = [
            _doc(
                lo + i,
                int(authors[i]),
                int(targets[i]),
                float(kind[i]),
                int(seconds[i]),
                texts[text_ix[i]] + ("" if extra is None else " " + " ".join(EXTRA_WORDS[j] for j in extra[i])),
                int(followers[authors[i]]),
                int(likes[i]),
            )
            for i in range(k)
        ]
        table = pa.table({"line_no": np.arange(lo + 1, lo + k + 1), "doc": docs}, schema=BATCH_SCHEMA)
        yield pa.Table.from_batches(table.to_batches(max_chunksize=16_384), schema=BATCH_SCHEMA)


def _doc(i: int, author: int, target: int, kind: float, seconds: int, text: str, followers: int, likes: int) -> str:
    source = "x" if author % 10 < 7 else "reddit"
    doc: dict = {
        "source": source,
        "id": f"m{i}",
        "created_at": (START + timedelta(seconds=seconds)).isoformat(),
        "text": text,
        "lang": "en",
        "author": {"id": f"a{author}", "handle": f"user{author}", "followers": followers},
        "metrics": {
            "likes": likes,
            "reposts": likes // 4,
            "replies": likes // 3,
            "quotes": 0,
            "score": likes if source == "reddit" else None,
        },
    }
    if source == "reddit":
        doc["community"] = f"r/sub{(author * 7919) % 200 if author % 3 else author % 5}"
    if target != author and kind < 0.35:
        doc["parent_id"], doc["in_reply_to_author"] = f"p{i}", f"a{target}"
    elif target != author and kind < 0.50:
        doc["repost_of"], doc["referenced_authors"] = f"o{i}", {f"o{i}": f"a{target}"}
    elif target != author and kind < 0.60:
        doc["mentions"] = [f"user{target}"]
    return json.dumps(doc)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def high_water_mb() -> float | None:
    """This process's peak RSS since the last `reset_high_water` (Linux VmHWM), or None elsewhere."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else None


def reset_high_water() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS
    except OSError:
        pass


class StepPeaks(logging.Handler):
    """Peak memory per analyze step: pipeline.analyze logs "analyze: <step> done in ..." after each
    step, so the high-water mark read there (and reset) is that step's."""

    DONE = re.compile(r"^analyze: (.+) done in ")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.peaks: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = self.DONE.match(record.getMessage())
        if found:
            peak = high_water_mb()
            if peak is not None:
                self.peaks[found.group(1)] = peak
            reset_high_water()


def print_steps(title: str, steps: dict[str, float], peaks: dict[str, float] | None = None) -> float:
    total = sum(steps.values())
    print(f"{title}: {total:.1f}s")
    for name, seconds in steps.items():
        peak = f"  peak {peaks[name]:7,.0f} MB" if peaks and name in peaks else ""
        print(f"  {name:18s} {seconds:6.1f}s{peak}")
    return total


def scale_run(factors: list[int], args: argparse.Namespace) -> None:
    """Each size in its own process (a fresh peak); seconds and peak MB per step side by side."""
    results = []
    for factor in factors:
        n, authors = args.n * factor, args.authors * factor
        print(f"scale: {n:,} mentions, {authors:,} authors ...", flush=True)
        command = [sys.executable, __file__, "--n", str(n), "--authors", str(authors), "--json-out", "-"]
        done = subprocess.run(command + (["--unique"] if args.unique else []), capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"scale run at {n:,} failed:\n{done.stderr[-2000:]}")
        lines = done.stdout.strip().splitlines()
        print("\n".join(f"  | {line}" for line in lines if not line.startswith("{")), flush=True)
        results.append(json.loads(next(line for line in reversed(lines) if line.startswith("{"))))
    base = results[0]
    head = "".join(f" | {r['n'] / 1e6:g}M s   peak MB" for r in results)
    print(f"\n{'step':18s}{head}")
    for name in base["steps"]:
        cells = "".join(f" | {r['steps'].get(name, 0):6.1f} {r['peaks'].get(name, 0):9,.0f}" for r in results)
        print(f"{name:18s}{cells}")
    totals = "".join(f" | {r['total']:6.1f} {r['peak']:9,.0f}" for r in results)
    print(f"{'analyze (total)':18s}{totals}")
    anchors = "".join(f" | {r['anchor']:6.2f} {'':9s}" for r in results)
    print(f"{'anchor (md5 group)':18s}{anchors}")
    for r in results[1:]:
        ratio = r["total"] / base["total"]
        size = r["n"] / base["n"]
        print(
            f"{r['n'] / 1e6:g}M / {base['n'] / 1e6:g}M: {ratio:.2f}x the time for {size:g}x the mentions "
            f"(anchor {r['anchor'] / base['anchor']:.2f}x); peak {r['peak']:,.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--unique", action="store_true", help="append random words: most texts distinct")
    parser.add_argument("--scale", help="comma-separated multiples of --n and --authors, e.g. 1,2,4")
    parser.add_argument(
        "--loaded", type=Path, help="a loaded store to analyze a copy of (written there by the first run)"
    )
    parser.add_argument("--json-out", help=argparse.SUPPRESS)  # '-': the figures as one JSON line (--scale)
    args = parser.parse_args()
    if args.scale:
        scale_run([int(f) for f in args.scale.split(",")], args)
        return
    work = Path(tempfile.mkdtemp(prefix="listener-bench-analyze-"))
    settings = settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "brand_terms": ["acme", '"acme coffee"'],
                "tracked_terms": ['"cold brew"'],
                "competitors": [{"name": "Globex", "terms": ["globex"], "own_accounts": {"x": ["user2"]}}],
                "own_accounts": {"x": ["user1"]},
            },
            "store": {"path": str(work / "bench.duckdb")},
            "analytics": {"detect_language": False},
        }
    )
    today = (START + timedelta(days=DAYS - 1)).date()
    if args.loaded and args.loaded.exists():
        shutil.copyfile(args.loaded, settings.store_path)
        print(f"store: a copy of {args.loaded}")
    with Store(settings.store_path) as store:
        t0 = time.perf_counter()
        if not (args.loaded and args.loaded.exists()):
            pipeline.load_batches(store, settings, batches(args.n, args.authors, unique=args.unique), run_id="bench")
            if args.loaded:
                store.conn.execute("CHECKPOINT")
                shutil.copyfile(settings.store_path, args.loaded)
        counts = store.conn.execute(
            "SELECT (SELECT count(*) FROM mentions), (SELECT count(*) FROM authors), "
            "(SELECT count(*) FROM interactions WHERE to_author_id IS NOT NULL), "
            "(SELECT count(DISTINCT text) FROM mentions)"
        ).fetchall()[0]
        print(
            f"generate + load: {time.perf_counter() - t0:.1f}s (mentions {counts[0]:,}, authors {counts[1]:,}, "
            f"edges {counts[2]:,}, distinct texts {counts[3]:,}); peak {peak_rss_mb():,.0f} MB"
        )
        t0 = time.perf_counter()
        store.conn.execute("SELECT md5(lower(text)) AS k, count(*) FROM mentions GROUP BY k").fetchall()
        anchor = time.perf_counter() - t0
        print(f"anchor, DuckDB alone: group {counts[0]:,} texts by md5(lower(text)) in {anchor:.2f}s")
        peaks = StepPeaks()
        logging.getLogger("listener").addHandler(peaks)
        logging.getLogger("listener").setLevel(logging.INFO)
        reset_high_water()
        first = pipeline.analyze(store, settings, today=today)
        logging.getLogger("listener").removeHandler(peaks)
        total = print_steps("analyze, first run", first.steps, peaks.peaks)
        new = sum(first.steps.get(name, 0.0) for name in NEW_STEPS)
        print(f"  new steps ({', '.join(NEW_STEPS)}): {new:.1f}s = {100 * new / total:.0f}% of the analyze")
        for name in ("duplicates", "coordinated"):
            print(f"  {name}: {first.details.get(name)}")
        again = pipeline.analyze(store, settings, today=today)
        print_steps("analyze again, nothing new (incremental)", again.steps)
    print(f"peak memory (RSS, max of process and children): {peak_rss_mb():,.0f} MB")
    if args.json_out:
        figures = {"n": args.n, "steps": first.steps, "peaks": peaks.peaks, "total": total, "anchor": anchor}
        print(json.dumps({**figures, "peak": max(peaks.peaks.values(), default=0.0)}))
    print(f"work folder: {work}" + ("" if args.keep else " (deleted)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
