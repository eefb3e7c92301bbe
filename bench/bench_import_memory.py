"""Benchmark: peak memory of `listener import` must not depend on the file's size.

    nice python bench/bench_import_memory.py                # ~2 GB files
    python bench/bench_import_memory.py --size-gb 0.5 --keep

Generates, in a temp folder, (1) a ~2 GB JSONL file of ~10 KB lines (streamed),
(2) a 2 GB sparse file of NUL bytes, (3) one good line, a 2 GB sparse "line" of
NUL bytes, one good line; imports each (the first twice: inserts, then all
updates) into one store with the real `listener import` in a child process and prints the child's peak RSS (wait4 ru_maxrss) beside two
anchors measured in the same run: `listener --help` and the import of a
one-line file. The goal is under 1.5 GB for every case. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 1536
CONFIG = """
[organization]
name = "Acme"
brand_terms = ["acme"]
[[organization.competitors]]
name = "Globex"
terms = ["globex"]
[store]
path = "{store}"
"""
WORDS = (
    "acme globex coffee espresso cold brew great awful service latte morning cup bean roast "
    "grinder crema burnt bitter sweet refund order shipping"
).split()


@dataclass
class Run:
    name: str
    size: int
    seconds: float
    code: int
    peak_mb: float
    summary: str


def doc(i: int, text_bytes: int) -> str:
    words = [WORDS[(i * 7 + k * 13) % len(WORDS)] for k in range(text_bytes // 6)]
    text = " ".join(words)[:text_bytes]
    return json.dumps(
        {
            "source": "x",
            "id": str(10**15 + i),
            "created_at": f"2026-11-{1 + i % 28:02d}T09:30:00Z",
            "text": text,
            "lang": "en",
            "author": {"id": str(i % 5000), "handle": f"user{i % 5000}"},
            "metrics": {"likes": i % 13},
            "mentions": ["globex"] if i % 4 == 0 else [],
        }
    )


def write_lines(path: Path, size: int, line_bytes: int) -> int:
    """Streamed: a few MB at a time, never the whole file in memory."""
    written, i = 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < size:
            chunk = "".join(doc(i + k, line_bytes - 250) + "\n" for k in range(500))
            out.write(chunk)
            written += len(chunk)
            i += 500
    return i


def write_sparse(path: Path, size: int, around: bool) -> None:
    """NUL bytes without writing them: a hole in the file (instant, no disk used)."""
    with path.open("wb") as out:
        if around:
            out.write(doc(1, 100).encode() + b"\n")
        out.truncate(out.tell() + size)
    if around:
        with path.open("ab") as out:
            out.write(b"\n" + doc(2, 100).encode() + b"\n")


def run(name: str, args: list[str], size: int = 0) -> Run:
    """The real command in a child; its own peak RSS from wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "listener", *args], cwd=ROOT, text=True, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        lines = [line for line in (out.read() + err.read()).splitlines() if line.strip() and " INFO " not in line]
    return Run(name, size, seconds, proc.returncode, usage.ru_maxrss / 1024, lines[-1] if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=2.0, help="size of each big file (default 2)")
    parser.add_argument("--line-kb", type=float, default=10.0, help="line size of the JSONL file (default 10)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temp folder (needs the space)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    size = int(args.size_gb * 1024**3)
    work = Path(tempfile.mkdtemp(prefix="listener-memory-", dir=args.dir))
    try:
        config = work / "listener.toml"
        config.write_text(CONFIG.format(store=(work / "bench.duckdb").as_posix()), encoding="utf-8")
        small_config = work / "small.toml"
        small_config.write_text(CONFIG.format(store=(work / "small.duckdb").as_posix()), encoding="utf-8")
        one = work / "one.jsonl"
        one.write_text(doc(0, 100) + "\n", encoding="utf-8")

        t0 = time.perf_counter()
        lines = work / "lines.jsonl"
        rows = write_lines(lines, size, int(args.line_kb * 1024))
        zeros, giant = work / "zeros.jsonl", work / "giant-line.jsonl"
        write_sparse(zeros, size, around=False)
        write_sparse(giant, size, around=True)
        print(
            f"generated {lines.stat().st_size / 1e9:.2f} GB ({rows:,} lines of ~{args.line_kb:g} KB) "
            f"and two {size / 1e9:.2f} GB sparse files in {time.perf_counter() - t0:.1f}s in {work}"
        )

        results = [
            run("anchor: listener --help", ["--help"]),
            run(
                "anchor: import of a 1-line file",
                ["--config", str(small_config), "import", str(one)],
                one.stat().st_size,
            ),
            run(
                f"{lines.name} (~{args.line_kb:g} KB lines)",
                ["--config", str(config), "import", str(lines)],
                lines.stat().st_size,
            ),
            run(
                f"{lines.name} again (all updates)",
                ["--config", str(config), "import", str(lines)],
                lines.stat().st_size,
            ),
            run(f"{zeros.name} (all NUL, sparse)", ["--config", str(config), "import", str(zeros)], size),
            run(
                f"{giant.name} (1 line, NUL line, 1 line)",
                ["--config", str(config), "import", str(giant)],
                giant.stat().st_size,
            ),
        ]
        print(f"\n{'case':44} {'file':>9} {'exit':>4} {'time':>8} {'peak RSS':>9}  last line of output")
        for r in results:
            print(
                f"{r.name:44} {r.size / 1e9:8.2f}G {r.code:>4} {r.seconds:7.1f}s {r.peak_mb:7.0f}MB  {r.summary[:110]}"
            )
        worst = max(r.peak_mb for r in results)
        print(f"\nworst peak {worst:,.0f} MB; goal < {GOAL_MB:,} MB: {'met' if worst < GOAL_MB else 'NOT met'}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
