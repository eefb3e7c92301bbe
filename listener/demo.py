"""`listener demo`: the whole pipeline, offline, on the bundled sample corpus.

The sample feeds are served from 127.0.0.1 and go through the real RSS
connector, loader, topic matching and sentiment; nothing is short-cut.
"""
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from listener import pipeline
from listener.localserve import serve_directory
from listener.settings import settings_from_dict
from listener.store import open_store

EXAMPLE_QUERIES = (
    "SELECT topic, count(*) FROM mention_topics GROUP BY ALL ORDER BY 2 DESC;",
    "SELECT date_trunc('week', created_at) AS week, avg(compound) FROM mentions "
    "JOIN sentiment USING (mention_id) GROUP BY ALL ORDER BY 1;",
)


def demo_root() -> Path:
    return Path(str(resources.files("listener") / "demo_data"))


def run_demo(out_dir: Path) -> tuple[dict[str, Any], list[str]]:
    root = demo_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "listener.duckdb"
    for stale in (db_path, db_path.with_name(db_path.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo always starts from an empty store
    config = tomllib.loads((root / "demo.toml").read_text(encoding="utf-8"))
    feeds = sorted(p.name for p in (root / "feeds").iterdir() if p.is_file())
    with serve_directory(root) as base_url:
        config["sources"]["rss"]["feeds"] = [f"{base_url}/feeds/{name}" for name in feeds]
        config["store"] = {"path": str(db_path.resolve())}
        settings = settings_from_dict(config)
        with open_store(settings.store_path) as store:
            report = pipeline.collect(store, settings, command="demo")
            pipeline.analyze(store, settings)
            summary = summarize(store.conn)
    summary["database"] = str(db_path)
    summary["failed_sources"] = [r.source for r in report.failed]
    summary["warnings"] = [w for r in report.runs for w in r.warnings]
    return summary, summary_lines(summary)


def summarize(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return conn.execute(sql).fetchall()

    return {
        "mentions_per_source": dict(rows("SELECT source, count(*) FROM mentions GROUP BY 1 ORDER BY 2 DESC")),
        "mentions_per_topic": [
            {"topic": t, "kind": k, "mentions": n}
            for t, k, n in rows("SELECT topic, kind, count(*) FROM mention_topics GROUP BY 1, 2 ORDER BY 3 DESC")
        ],
        "sentiment": dict(rows("SELECT label, count(*) FROM sentiment GROUP BY 1 ORDER BY 2 DESC")),
        "most_active_authors": [
            {"author": h, "source": s, "mentions": n, "own": own}
            for h, s, n, own in rows(
                "SELECT coalesce(a.handle, m.author_id), m.source, count(*), bool_or(m.is_own) "
                "FROM mentions m LEFT JOIN authors a USING (author_id) "
                "GROUP BY ALL ORDER BY 3 DESC, 1 LIMIT 5"
            )
        ],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = ["", "Mentions per source:"]
    lines += [f"  {source:<10} {count:>6}" for source, count in summary["mentions_per_source"].items()]
    lines.append("Mentions per topic:")
    lines += [f"  {t['topic']:<12} {t['kind']:<11} {t['mentions']:>6}" for t in summary["mentions_per_topic"]]
    lines.append("Sentiment:")
    lines += [f"  {label:<10} {count:>6}" for label, count in summary["sentiment"].items()]
    lines.append("Most active authors:")
    lines += [
        f"  {a['author'][:30]:<30} {a['source']:<7} {a['mentions']:>4}" + ("  (own account)" if a["own"] else "")
        for a in summary["most_active_authors"]
    ]
    if summary["warnings"]:
        lines.append(f"Warnings ({len(summary['warnings'])}):")
        lines += [f"  {w}" for w in summary["warnings"][:10]]
    lines += ["", f"Open it: duckdb {summary['database']}   (or python -c \"import duckdb; ...\")",
              "Try:"] + [f"  {q}" for q in EXAMPLE_QUERIES]
    return lines
