"""`listener demo`: the whole pipeline, offline, on the bundled sample corpus.

The sample feeds are served from 127.0.0.1 and go through the real RSS
connector; the X, Reddit, Bluesky, Mastodon, Hacker News and YouTube samples
are recorded HTTP exchanges (demo_data/recordings/, written by
tools/make_recordings.py) that vcrpy replays to the real clients inside the
real connectors: tweepy, praw, atproto (httpx), Mastodon.py and requests
(Hacker News), google-api-python-client (httplib2).
Nothing reaches the network: the replay answers only what was recorded and
fails on anything else, and localhost (the feed server) is left alone. Then
loader, topic matching and sentiment run as always; nothing is short-cut.

The story is placed relative to the day the demo runs (`today`, default the
real UTC date). The recordings and feeds are fixed (2026-09-28 to 2026-11-22,
the end of ISO week 2026-W47): after collection, and before anything is
analyzed, every stored story time (`mentions.created_at`,
`interactions.created_at`, `authors.first_seen`/`last_seen`) moves by a whole
number of weeks, so that the story's last week is the last complete ISO week
before `today`; then the store is analyzed as of the Monday of `today`'s week,
the morning the weekly digest goes out. Why shift the store rather than what
is served and replayed:

- the connectors still see byte for byte what the story script wrote
  (tools/make_recordings.py; a test checks the recordings are its output),
  including X's snowflake ids, which encode their own times;
- whole weeks keep weekdays and ISO weeks intact: Tuesday's spike stays on a
  Tuesday, each digest week holds the same days, the KPI baseline the same 28;
- it is one transaction, easy to audit, and the same `today` always gives the
  same store, so a second demo on the same day (or in the same week) is
  identical to the first.

What does not move: texts and URLs that name a date ("Black Friday", a blog
post's /2026/11/ path), `mentions.raw` (the payload as the source sent it),
the sources' cursors, and the real times of collection and analysis
(`collected_at`, `runs`, `computed_at`).

The demo then writes `<out>/listener.toml` (its organization, the store next
to it, sources switched off, `[analytics] as_of` = the analysis day) and
publishes the analysts' snapshot to `<out>/snapshot/`, so `listener --config
demo/listener.toml status | digest | maturity | sql` work on the result.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import duckdb
import vcr
from vcr.persisters.filesystem import CassetteNotFoundError
from vcr.serialize import deserialize

from listener import pipeline
from listener.core.settings import settings_from_dict
from listener.ops.localserve import serve_directory
from listener.publish.outfile import atomic_output
from listener.publish.snapshot import DB_NAME, PARQUET_DIR, publish_snapshot
from listener.store.connection import Store, open_store

# What the replayed connectors read from the environment, for the demo only:
# placeholders, so a real token the user has set is never used or sent.
DEMO_CREDENTIALS = {
    "X_BEARER_TOKEN": "demo-x-bearer-token-not-real",
    "REDDIT_CLIENT_ID": "demo-reddit-client-id",
    "REDDIT_CLIENT_SECRET": "demo-reddit-client-secret-not-real",
    "BLUESKY_HANDLE": "demo-listener.bsky.social",
    "BLUESKY_APP_PASSWORD": "demo-app-password-not-real",
    "YOUTUBE_API_KEY": "demo-youtube-api-key-not-real",
}
# Set aside while the demo runs: they would point it at the user's own store
# (LISTENER_STORE), change what praw asks for (praw_* settings) or send a real
# Mastodon token (MASTODON_ACCESS_TOKEN, MASTODON_ACCESS_TOKEN_<HOST>).
SET_ASIDE = ("LISTENER_STORE",)
SET_ASIDE_PREFIXES = ("praw_", "MASTODON_ACCESS_TOKEN")
# RSS ids and author ids carry the feed URL, so the feeds are served on one
# fixed port (outside the usual ephemeral ranges) to make every run identical.
FEED_PORT = 28471
# Requests match on the parameters that decide what comes back, per host (as in
# the connectors' tests): page sizes follow the per-run budget, HN's time window
# ends at the time of the run, and the rest (limits, part lists, the API key) is
# the same in every run. Hosts not named here (Reddit) match on the whole query.
DECIDING_PARAMS = {
    "api.twitter.com": ("query", "since_id", "next_token", "pagination_token", "usernames"),
    "bsky.social": ("q", "since", "cursor", "actor", "actors", "sort"),
    "mastodon.social": ("min_id", "max_id", "since_id", "q", "acct"),
    "hn.algolia.com": ("query", "tags", "page"),
    "youtube.googleapis.com": ("allThreadsRelatedToChannelId", "videoId", "searchTerms", "parentId", "pageToken"),
}

# What people (not our own or competitors' accounts) say, each copy once, scored where VADER
# applies (English): like the views.
EXAMPLE_QUERIES = (
    "SELECT t.topic, t.kind, count(*) FILTER (m.counted) AS mentions, count(*) AS raw_mentions "
    "FROM mention_topics t JOIN mentions_by_others m USING (mention_id) GROUP BY ALL ORDER BY mentions DESC;",
    "SELECT date_trunc('week', m.created_at)::DATE AS week, count(*) AS scored, "
    "round(avg(s.compound), 3) AS avg_compound FROM mentions_by_others m JOIN sentiment s USING (mention_id) "
    "WHERE m.counted AND s.supported GROUP BY ALL ORDER BY week;",
    "SELECT rank, handle, source, round(score, 3) AS score, is_new FROM top_influencers_current LIMIT 10;",
)

# The recorded story: Monday 2026-09-28 to Sunday 2026-11-22 (the end of ISO week 2026-W47).
STORY_FIRST_DAY = date(2026, 9, 28)
STORY_LAST_DAY = date(2026, 11, 22)
# `today` can be any day from here to the real date: earlier would push the story before 2000,
# later into the future, and both are what the pipeline repairs as absurd times.
EARLIEST_TODAY = date(2001, 1, 1)
SHOWN_ALERTS = 8


def story_placement(today: date) -> tuple[date, int]:
    """(the day the demo analyzes as of, whole weeks the story moves) for a demo run on `today`.

    The analysis day is the Monday of `today`'s ISO week; the story's last week
    becomes the week before it, the last complete one.
    """
    monday = today - timedelta(days=today.weekday())
    return monday, (monday - (STORY_LAST_DAY + timedelta(days=1))).days // 7


def check_today(today: date, real_today: date | None = None) -> None:
    """ValueError (one line) for a `today` the demo cannot place its story before."""
    real_today = real_today or datetime.now(UTC).date()
    if today > real_today:
        raise ValueError(
            f"{today} is after today ({real_today}, UTC): the story would be placed in the future, "
            "where the pipeline treats post times as absurd"
        )
    if today < EARLIEST_TODAY:
        raise ValueError(f"{today} is before {EARLIEST_TODAY}: the story would start before 2000")


def demo_root() -> Path:
    return Path(str(resources.files("listener.ops") / "demo_data"))


def run_demo(out_dir: Path, today: date | None = None) -> tuple[dict[str, Any], list[str]]:
    """The whole demo into `out_dir`: store, config, snapshot; returns (summary, printable lines).

    `today` (UTC, default the real date) decides where the story is placed (see the module docstring).
    """
    today = today or datetime.now(UTC).date()
    check_today(today)
    as_of, weeks = story_placement(today)
    root = demo_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "listener.duckdb"
    for stale in (db_path, db_path.with_name(db_path.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo always starts from an empty store
    config = tomllib.loads((root / "demo.toml").read_text(encoding="utf-8"))
    feeds = sorted(p.name for p in (root / "feeds").iterdir() if p.is_file())
    with demo_environment(), serve_directory(root, FEED_PORT) as base_url, replay(root / "recordings") as tape:
        serve_feeds(config["sources"], [f"{base_url}/feeds/{name}" for name in feeds])
        config["store"] = {"path": str(db_path.resolve())}
        settings = settings_from_dict(config)
        shutil.rmtree(settings.spool_dir, ignore_errors=True)
        with open_store(settings.store) as store:
            report = pipeline.collect(store, settings, command="demo")
            shift_story(store, weeks)
            pipeline.analyze(store, settings, today=as_of)
            summary = summarize(store.conn, as_of)
            publish_snapshot(store.conn, out_dir / "snapshot")
    config_path = write_demo_config(out_dir, config, today, as_of, weeks)
    last_week = as_of - timedelta(days=7)
    year, week, _ = last_week.isocalendar()
    summary.update(
        database=str(db_path),
        config=str(config_path),
        snapshot=str(out_dir / "snapshot" / DB_NAME),
        parquet=str(out_dir / "snapshot" / PARQUET_DIR),
        today=today.isoformat(),
        analyzed_as_of=as_of.isoformat(),
        story={
            "first_day": str(STORY_FIRST_DAY + timedelta(weeks=weeks)),
            "last_day": str(STORY_LAST_DAY + timedelta(weeks=weeks)),
            "last_week": f"{year}-W{week:02d}",
            "weeks_shifted": weeks,
        },
        next_commands=next_commands(config_path),
    )
    summary["failed_sources"] = [r.source for r in report.failed]
    summary["warnings"] = [w for r in report.runs for w in r.warnings]
    if not base_url.endswith(f":{FEED_PORT}"):
        summary["warnings"].append(f"demo: port {FEED_PORT} was busy, so the RSS ids differ from other demo runs")
    if not tape.all_played:  # a connector asked for less than was recorded: the recordings are stale
        unplayed = len(tape.data) - tape.play_count
        summary["warnings"].append(f"demo: {unplayed} recorded responses were never asked for")
    return summary, summary_lines(summary)


def serve_feeds(sources: dict[str, Any], urls: list[str]) -> None:
    """Every source table of demo.toml with a `feeds` key reads the feeds the demo serves."""
    for table in sources.values():
        if "feeds" in table:
            table["feeds"] = urls


def shift_story(store: Store, weeks: int) -> None:
    """Move every stored story time by `weeks` whole weeks, in one transaction (before analyze).

    Hours, not days: 168 hours is a week in UTC whatever a session's time zone would make of a day.
    """
    if not weeks:
        return
    hours = 168 * weeks

    def move(conn: duckdb.DuckDBPyConnection) -> None:
        conn.execute(f"UPDATE mentions SET created_at = created_at + INTERVAL ({hours}) HOUR")
        conn.execute(f"UPDATE interactions SET created_at = created_at + INTERVAL ({hours}) HOUR")
        conn.execute(
            f"UPDATE authors SET first_seen = first_seen + INTERVAL ({hours}) HOUR, "
            f"last_seen = last_seen + INTERVAL ({hours}) HOUR"
        )

    store.write_transaction(move, "demo: place the story")


CONFIG_HEADER = """\
# Written by `listener demo` (today = {today}): the demo's store, for the commands it prints, e.g.
#   listener --config {config} status      (also: digest, maturity, sql, snapshot, export)
# `listener demo` rewrites this file; copy config/listener.example.toml for your own organization.
#
# The sample story was placed from {first} to {last} (its recorded dates {moved}),
# so its last week, {last_week}, is the last complete ISO week before {as_of}.
"""
CONFIG_BODY = """
[store]
path = "listener.duckdb"   # next to this file; `listener snapshot` and `sql` use snapshot/ next to it

# The demo's sources are off: it served its feeds on 127.0.0.1 and replayed the networks only
# while `listener demo` ran. `listener run` with this file analyzes and refreshes the snapshot.
{sources_off}
[analytics]
# The store's "today": analyze, maturity and digest see {last_week} as the last complete week on
# any day you run them. Leave it out for a store you collect into.
as_of = {as_of}

# `listener --config {config} digest --send --force` delivers to the bundled Mailpit
# (docker compose up -d mailpit, UI on http://localhost:8025; see docs/digest.md).
[digest]
recipients = ["insights@acme.example"]
sender = "listener@acme.example"

[digest.smtp]
host = "localhost"
port = 1025
security = "none"
"""


def write_demo_config(out_dir: Path, demo_config: dict[str, Any], today: date, as_of: date, weeks: int) -> Path:
    """`<out>/listener.toml`: the demo's organization and store, for status, digest, maturity, sql."""
    path = out_dir / "listener.toml"
    last_week = as_of - timedelta(days=7)
    year, week, _ = last_week.isocalendar()
    facts = {
        "today": today,
        "config": path,
        "first": STORY_FIRST_DAY + timedelta(weeks=weeks),
        "last": STORY_LAST_DAY + timedelta(weeks=weeks),
        "weeks": weeks,
        "last_week": f"{year}-W{week:02d}",
        "as_of": as_of,
        "moved": _moved(weeks),
        "sources_off": _sources_off(demo_config["sources"]),
    }
    text = (
        CONFIG_HEADER.format(**facts)
        + "\n"
        + "\n".join(_toml_table("organization", demo_config["organization"]))
        + "\n"
        + CONFIG_BODY.format(**facts)
    )
    tomllib.loads(text)  # what we write must read back
    with atomic_output(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return path


def _sources_off(sources: dict[str, Any]) -> str:
    """`[sources.<name>] enabled = false` for every source demo.toml collects (names the settings checked)."""
    return "\n".join(f"[sources.{name}]\nenabled = false\n" for name in sources)


def _moved(weeks: int) -> str:
    if not weeks:
        return "kept as recorded"
    return f"moved {'forward' if weeks > 0 else 'back'} {abs(weeks)} week{'s' if abs(weeks) != 1 else ''}"


def _toml_table(name: str, table: dict[str, Any]) -> list[str]:
    """TOML for a table of strings, lists of strings, sub-tables and arrays of tables (the organization)."""
    lines, later = [f"[{name}]"], []
    in_array = name.startswith("[")  # an array of tables' item: its sub-tables are written inline
    for key, value in table.items():
        if isinstance(value, dict) and in_array:
            inline = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inline} }}")
        elif isinstance(value, dict):
            later += [""] + _toml_table(f"{name}.{key}", value)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                later += [""] + _toml_table(f"[{name}.{key}]", item)
        else:
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return lines + later


def next_commands(config_path: Path) -> list[str]:
    """The commands that work on the demo's result, as the user can paste them from here."""
    run = f"{listener_command()} --config {shlex.quote(str(config_path))}"
    return [f"{run} status", f"{run} digest", f"{run} maturity", f"{run} sql"]


def listener_command() -> str:
    """How this shell reaches the `listener` that runs now: `listener` when it is on PATH,
    else its script relative to the current folder (`.venv/bin/listener` after dev.py)."""
    script = Path(sys.executable).parent / ("listener.exe" if os.name == "nt" else "listener")
    found = shutil.which("listener")
    if found and Path(found).resolve() == script.resolve():
        return "listener"
    if not script.exists():
        return "listener"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


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
    recorder = vcr.VCR(
        serializer="json",
        record_mode="none",
        ignore_localhost=True,
        match_on=("method", "scheme", "host", "port", "path", "deciding_query"),
    )
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
    """vcrpy matcher: a host of DECIDING_PARAMS on those parameters (repeated ones in any order),
    every other host on the whole query."""
    deciding = DECIDING_PARAMS.get(r1.host)
    if deciding is None:
        assert r1.query == r2.query, f"{r1.query} != {r2.query}"
        return
    q1, q2 = parse_qs(urlparse(r1.uri).query), parse_qs(urlparse(r2.uri).query)
    for name in deciding:
        assert sorted(q1.get(name, [])) == sorted(q2.get(name, [])), f"{name}: {q1.get(name)} != {q2.get(name)}"


class _Recordings:
    """vcrpy persister: the cassette files of a folder (x.json, reddit.json, bluesky.json, ...), read as one cassette."""

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


def summarize(conn: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, Any]:
    def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return conn.execute(sql, params or []).fetchall()

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
            {
                "rank": r,
                "author": h,
                "source": src,
                "score": round(sc, 3),
                "followers": f,
                "mentions": n,
                "is_new": bool(new),
            }
            for r, h, src, sc, f, n, new in rows(
                "SELECT rank, coalesce(handle, author_id), source, score, followers_count, mentions, is_new "
                "FROM top_influencers_current ORDER BY rank LIMIT 5"
            )
        ],
        "alerts": [  # newest first
            {"day": str(d), "kind": k, "topic": t, "observed": int(o), "score": round(z, 1)}
            for d, k, t, o, z in rows(
                "SELECT day, kind, topic, observed, score FROM alerts ORDER BY day DESC, score DESC, kind, topic"
            )
        ],
        "kpis_last_week": [
            {"kpi": k, "week": str(w), "value": v, "baseline": b}
            for k, w, v, b in rows(
                "SELECT kpi, period_start, value, baseline FROM kpi_values WHERE period_start = ? ORDER BY kpi",
                [as_of - timedelta(days=7)],
            )
        ],
    }


def summary_lines(summary: dict[str, Any]) -> list[str]:
    story = summary.get("story") or {}
    lines = [
        "",
        f"The sample story runs from {story.get('first_day')} to {story.get('last_day')}: its last week, "
        f"{story.get('last_week')}, is the last complete week before today ({summary.get('today')}); "
        f"analyzed as of {summary.get('analyzed_as_of')}.",
        "Mentions per source:",
    ]
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
    lines.append("Top influencers (rolling window; new = not ranked in the window before):")
    lines += [
        f"  {i['rank']:>2}. {str(i['author'])[:28]:<28} {i['source']:<7} score {i['score']:.2f}"
        + ("  new" if i.get("is_new") else "")
        for i in summary["top_influencers"]
    ]
    alerts = summary["alerts"]
    lines.append(f"Spike alerts ({len(alerts)}, newest first):")
    lines += [
        f"  {a['day']} {a['kind']:<8} {a['topic']:<12} {a['observed']:>4} (z {a['score']})"
        for a in alerts[:SHOWN_ALERTS]
    ]
    if len(alerts) > SHOWN_ALERTS:
        lines.append(f"  ... {len(alerts) - SHOWN_ALERTS} more, older: SELECT * FROM alerts ORDER BY day DESC;")
    week = summary["kpis_last_week"][0]["week"] if summary["kpis_last_week"] else None
    lines.append(f"KPIs, last complete week ({week}) vs baseline:")
    lines += [
        f"  {k['kpi']:<16} {_num(k['value']):>8}  baseline {_num(k['baseline'])}" for k in summary["kpis_last_week"]
    ]
    if summary["warnings"]:
        lines.append(f"Warnings ({len(summary['warnings'])}):")
        lines += [f"  {w}" for w in summary["warnings"][:10]]
    lines += [
        "",
        f"Store: {summary['database']}; config for it: {summary['config']}",
        f"Snapshot for analysts (docs/analysts.md): {summary['snapshot']}, "
        f"{summary['parquet']}/<table or view>.parquet",
        "Next:",
    ]
    lines += [f"  {command}" for command in summary.get("next_commands", [])]
    lines += ["In the SQL shell (read-only, on the snapshot; .tables lists everything, .quit leaves), try:"]
    lines += [f"  {q}" for q in EXAMPLE_QUERIES]
    lines.append(
        f"The story stays there ({summary['config']} sets [analytics] as_of); "
        "run `listener demo` again to place it before another day."
    )
    return lines


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
