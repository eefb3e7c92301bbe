"""`listener demo`: the whole pipeline, offline, on the bundled sample corpus.

The sample feeds are served from 127.0.0.1 and go through the real RSS
connector; the X and Reddit samples are recorded HTTP exchanges
(demo_data/recordings/, written by demo_data/make_recordings.py) that vcrpy
replays to the real tweepy and praw clients inside the real connectors.
Nothing reaches the network: the replay answers only what was recorded and
fails on anything else, and localhost (the feed server) is left alone. Then
loader, topic matching and sentiment run as always; nothing is short-cut.
"""
from __future__ import annotations

import logging
import os
import shutil
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import vcr
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import deserialize

from listener import pipeline
from listener.localserve import serve_directory
from listener.settings import settings_from_dict
from listener.store import open_store

# What the replayed connectors read from the environment, for the demo only:
# placeholders, so a real token the user has set is never used or sent.
DEMO_CREDENTIALS = {
    "X_BEARER_TOKEN": "demo-x-bearer-token-not-real",
    "REDDIT_CLIENT_ID": "demo-reddit-client-id",
    "REDDIT_CLIENT_SECRET": "demo-reddit-client-secret-not-real",
}
# Set aside while the demo runs: they would point it at the user's own store
# (LISTENER_STORE) or change what praw asks for (praw_* settings).
SET_ASIDE = ("LISTENER_STORE",)
SET_ASIDE_PREFIXES = ("praw_",)
# RSS ids and author ids carry the feed URL, so the feeds are served on one
# fixed port (outside the usual ephemeral ranges) to make every run identical.
FEED_PORT = 28471
X_HOST = "api.twitter.com"
# X requests match on the parameters that decide what comes back (as in
# tests/x_api.py): max_results follows the per-run budget, not the data.
X_DECIDING_PARAMS = ("query", "since_id", "next_token", "pagination_token", "usernames")

EXAMPLE_QUERIES = (
    "SELECT topic, count(*) FROM mention_topics GROUP BY ALL ORDER BY 2 DESC;",
    "SELECT date_trunc('week', created_at) AS week, avg(compound) FROM mentions "
    "JOIN sentiment USING (mention_id) GROUP BY ALL ORDER BY 1;",
)


# The sample story ends on 2026-11-22: the demo analyzes as of the next day, so
# rolling windows and KPIs show the same picture whenever it is run.
DEMO_AS_OF = date(2026, 11, 23)


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
    with demo_environment(), serve_directory(root, FEED_PORT) as base_url, replay(root / "recordings") as tape:
        config["sources"]["rss"]["feeds"] = [f"{base_url}/feeds/{name}" for name in feeds]
        config["store"] = {"path": str(db_path.resolve())}
        settings = settings_from_dict(config)
        shutil.rmtree(settings.spool_dir, ignore_errors=True)
        with open_store(settings.store) as store:
            report = pipeline.collect(store, settings, command="demo")
            pipeline.analyze(store, settings, today=DEMO_AS_OF)
            summary = summarize(store.conn)
    summary["database"] = str(db_path)
    summary["failed_sources"] = [r.source for r in report.failed]
    summary["warnings"] = [w for r in report.runs for w in r.warnings]
    if not base_url.endswith(f":{FEED_PORT}"):
        summary["warnings"].append(f"demo: port {FEED_PORT} was busy, so the RSS ids differ from other demo runs")
    if not tape.all_played:  # a connector asked for less than was recorded: the recordings are stale
        unplayed = len(tape.data) - tape.play_count
        summary["warnings"].append(f"demo: {unplayed} recorded X/Reddit responses were never asked for")
    return summary, summary_lines(summary)


@contextmanager
def demo_environment() -> Iterator[None]:
    """Placeholder credentials while the demo runs; the environment is restored afterwards.

    The local feed server is also kept off any HTTP proxy the environment names.
    """
    no_proxy = ",".join(filter(None, (os.environ.get("no_proxy") or os.environ.get("NO_PROXY"), "127.0.0.1,localhost")))
    overrides = {**DEMO_CREDENTIALS, "no_proxy": no_proxy, "NO_PROXY": no_proxy}
    names = [*overrides, *SET_ASIDE, *(n for n in os.environ if n.startswith(SET_ASIDE_PREFIXES))]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(overrides)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def replay(recordings: Path) -> Iterator[Any]:
    """vcrpy over every cassette in `recordings`, replay only; localhost passes through."""
    recorder = vcr.VCR(serializer="json", record_mode="none", ignore_localhost=True,
                       match_on=("method", "scheme", "host", "port", "path", "deciding_query"))
    recorder.register_matcher("deciding_query", _same_query)
    recorder.register_persister(_Recordings)
    chatty = logging.getLogger("vcr")  # logs every recorded exchange at INFO
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        with recorder.use_cassette(str(recordings)) as tape:
            yield tape
    finally:
        chatty.setLevel(level)


def _same_query(r1: Any, r2: Any) -> None:
    """vcrpy matcher: X on its deciding parameters, everything else on the whole query."""
    if r1.host == X_HOST:
        q1, q2 = parse_qs(urlparse(r1.uri).query), parse_qs(urlparse(r2.uri).query)
        for name in X_DECIDING_PARAMS:
            assert q1.get(name) == q2.get(name), f"{name}: {q1.get(name)} != {q2.get(name)}"
    else:
        assert r1.query == r2.query, f"{r1.query} != {r2.query}"


class _Recordings:
    """vcrpy persister: the cassette files of a folder (x.json, reddit.json), read as one cassette."""

    @staticmethod
    def load_cassette(cassette_path: str, serializer: Any) -> tuple[list[Any], list[Any]]:
        requests: list[Any] = []
        responses: list[Any] = []
        for path in sorted(Path(cassette_path).glob("*.json")):
            loaded = deserialize(path.read_text(encoding="utf-8"), serializer)
            requests += loaded[0]
            responses += loaded[1]
        if not requests:
            raise CassetteNotFoundError(f"no recordings in {cassette_path}")
        return requests, responses

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        raise RuntimeError("the demo recordings are replayed, never re-recorded")


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
        "top_influencers": [
            {"rank": r, "author": h, "source": src, "score": round(sc, 3), "followers": f, "mentions": n}
            for r, h, src, sc, f, n in rows(
                "SELECT rank, coalesce(handle, author_id), source, score, followers_count, mentions "
                "FROM top_influencers_current ORDER BY rank LIMIT 5"
            )
        ],
        "alerts": [
            {"day": str(d), "kind": k, "topic": t, "observed": int(o), "score": round(z, 1)}
            for d, k, t, o, z in rows("SELECT day, kind, topic, observed, score FROM alerts ORDER BY day, kind, topic")
        ],
        "kpis_last_week": [
            {"kpi": k, "week": str(w), "value": v, "baseline": b}
            for k, w, v, b in rows(
                "SELECT kpi, period_start, value, baseline FROM kpi_values "
                "WHERE period_end < (SELECT max(period_end) FROM kpi_values) "
                "QUALIFY period_start = max(period_start) OVER () ORDER BY kpi"
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
    lines.append("Top influencers (rolling window):")
    lines += [f"  {i['rank']:>2}. {str(i['author'])[:28]:<28} {i['source']:<7} score {i['score']:.2f}"
              for i in summary["top_influencers"]]
    lines.append(f"Spike alerts ({len(summary['alerts'])}):")
    lines += [f"  {a['day']} {a['kind']:<8} {a['topic']:<12} {a['observed']:>4} (z {a['score']})"
              for a in summary["alerts"][:8]]
    lines.append("KPIs, last complete week vs baseline:")
    lines += [f"  {k['kpi']:<16} {_num(k['value']):>8}  baseline {_num(k['baseline'])}" for k in summary["kpis_last_week"]]
    if summary["warnings"]:
        lines.append(f"Warnings ({len(summary['warnings'])}):")
        lines += [f"  {w}" for w in summary["warnings"][:10]]
    lines += ["", f"Open it: duckdb {summary['database']}   (or python -c \"import duckdb; ...\")",
              "Try:"] + [f"  {q}" for q in EXAMPLE_QUERIES]
    return lines


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
