"""Benchmark: `listener import` against DuckDB alone on the same JSONL file.

    nice python bench/bench_load.py               # 1,000,000 mentions
    python bench/bench_load.py --n 300000 --keep

Generates N canonical mentions (multilingual-looking texts, replies, mentions,
repeated authors) as JSONL, then runs, each in its own child process with its
peak RSS taken from wait4:

1. anchor: DuckDB alone parses the same file (`read_json` with the same
   columns) and deduplicates it by id into a keyed table;
2. `listener import FILE` into a fresh store (all inserts);
3. `listener import FILE` again (all updates).

Prints mentions/s and peak RSS for each, and the ratio import/anchor. Goals
(issue 17): import within 2.0x of the anchor, reload at least as fast, peak
RSS at most 1.5 GB at 1M. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 2.0
GOAL_MB = 1536
CONFIG = """
[organization]
name = "Acme"
brand_terms = ["acme"]
[[organization.competitors]]
name = "Globex"
terms = ["globex"]
[analytics]
detect_language = false
[store]
path = "{store}"
"""
WORDS = {
    "en": "acme coffee is great but the cold brew tasted burnt and support never answered my refund".split(),
    "es": "el café de acme es bueno pero el envío tardó mucho y nadie responde".split(),
    "de": "der kaffee von acme ist gut aber die lieferung war zu spät und teuer".split(),
    "fr": "le café acme est bon mais la livraison était lente et le service absent".split(),
    "ja": ["アクメ", "の", "コーヒー", "は", "美味しい", "けど", "配送", "が", "遅い"],
}
# DuckDB alone, same file: the columns the loader reads, deduplicated by id (last line wins)
ANCHOR_SQL = """
CREATE TABLE m (mention_id VARCHAR PRIMARY KEY, source VARCHAR, created_at TIMESTAMPTZ, text VARCHAR,
                lang VARCHAR, author_id VARCHAR, parent_id VARCHAR, likes BIGINT, mentions JSON);
INSERT INTO m
SELECT source || ':' || id, source, created_at::TIMESTAMPTZ, text, lang, source || ':' || author.id,
       parent_id, metrics.likes, mentions
FROM (SELECT *, row_number() OVER () AS line_no
      FROM read_json('{path}', format = 'newline_delimited', columns = {{
          source: 'VARCHAR', id: 'VARCHAR', created_at: 'VARCHAR', text: 'VARCHAR', lang: 'VARCHAR',
          author: 'STRUCT(id VARCHAR, handle VARCHAR)', parent_id: 'VARCHAR',
          metrics: 'STRUCT(likes BIGINT)', mentions: 'JSON'}}))
QUALIFY row_number() OVER (PARTITION BY source, id ORDER BY line_no DESC) = 1;
SELECT count(*) FROM m;
"""


@dataclass
class Run:
    name: str
    seconds: float
    code: int
    peak_mb: float
    last_line: str


def write_mentions(path: Path, n: int, seed: int = 7) -> None:
    """Streamed in chunks: the generator never holds the file."""
    rng = random.Random(seed)
    langs = list(WORDS)
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, n, 10_000):
            lines = []
            for i in range(start, min(n, start + 10_000)):
                lang = langs[i % len(langs)]
                words = WORDS[lang]
                text = " ".join(rng.choice(words) for _ in range(8 + i % 20))
                doc = {
                    "source": "x",
                    "id": str(10**15 + i),
                    "created_at": f"2026-11-{1 + i % 28:02d}T09:{i % 60:02d}:00Z",
                    "text": text,
                    "lang": lang if i % 3 else None,
                    "author": {"id": str(i % 50_000), "handle": f"user{i % 50_000}", "followers": i % 9000},
                    "metrics": {"likes": i % 13, "reposts": i % 5},
                    "mentions": ["globex"] if i % 4 == 0 else [],
                }
                if i % 5 == 0 and i:
                    doc["parent_id"] = str(10**15 + rng.randrange(i))
                lines.append(json.dumps(doc, ensure_ascii=False))
            out.write("\n".join(lines) + "\n")


def child(name: str, command: list[str]) -> Run:
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, text=True, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        out.seek(0)
        lines = [line for line in out.read().splitlines() if line.strip() and " INFO " not in line]
    return Run(name, seconds, os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, lines[-1] if lines else "")


def anchor_command(path: Path, db: Path) -> list[str]:
    script = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "[r := c.execute(s).fetchall() for s in sys.argv[2].split(';') if s.strip()]; print(r[0][0], 'rows')"
    )
    return [sys.executable, "-c", script, str(db), ANCHOR_SQL.format(path=path.as_posix())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="mentions (default 1,000,000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temp folder")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="listener-load-", dir=args.dir))
    try:
        data = work / "mentions.jsonl"
        t0 = time.perf_counter()
        write_mentions(data, args.n)
        print(f"generated {args.n:,} mentions ({data.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.1f}s")
        config = work / "listener.toml"
        config.write_text(CONFIG.format(store=(work / "store.duckdb").as_posix()), encoding="utf-8")
        listener = [sys.executable, "-m", "listener", "--config", str(config), "--quiet", "import", str(data)]
        runs = [
            child("anchor: DuckDB alone (read_json + dedupe by id)", anchor_command(data, work / "anchor.duckdb")),
            child("listener import (fresh store: inserts)", listener),
            child("listener import again (all updates)", listener),
        ]
        print(f"\n{'case':50} {'exit':>4} {'seconds':>8} {'mentions/s':>11} {'peak RSS':>9} {'x anchor':>8}")
        anchor = runs[0].seconds
        for r in runs:
            print(
                f"{r.name:50} {r.code:>4} {r.seconds:8.1f} {args.n / r.seconds:11,.0f} {r.peak_mb:7,.0f}MB "
                f"{r.seconds / anchor:7.2f}x   {r.last_line[:80]}"
            )
        fresh, again = runs[1], runs[2]
        print(
            f"\nimport {fresh.seconds / anchor:.2f}x the anchor (goal <= {GOAL_RATIO}x): "
            f"{'met' if fresh.seconds / anchor <= GOAL_RATIO else 'NOT met'}; "
            f"reload {again.seconds / fresh.seconds:.2f}x the import (goal <= 1.0x): "
            f"{'met' if again.seconds <= fresh.seconds else 'NOT met'}; "
            f"peak {max(fresh.peak_mb, again.peak_mb):,.0f} MB (goal <= {GOAL_MB:,} MB): "
            f"{'met' if max(fresh.peak_mb, again.peak_mb) <= GOAL_MB else 'NOT met'}"
        )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
