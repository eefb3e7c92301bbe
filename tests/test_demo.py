"""`listener demo` runs the real pipeline offline and leaves a queryable store.

RSS comes from a local server through the RSS connector; X, Reddit, Bluesky,
Mastodon, Hacker News and YouTube are recorded exchanges
(listener/ops/demo_data/recordings/) replayed by vcrpy to the real clients
(tweepy, praw, atproto, Mastodon.py, requests, google-api-python-client)
inside the real connectors.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httplib2  # type: ignore[import-untyped]
import httpx
import pytest
import requests
from conftest import DEMO_TODAY, REAL_LOOKING, ROOT, demo_port, run_cli, table_rows
from digest_helpers import run as listener_in_process

from listener.core.settings import load_settings
from listener.ops import demo
from listener.publish.digest.gather import Week

VOLATILE = {
    "collected_at",
    "updated_at",
    "run_id",
    "scored_at",
    "started_at",
    "finished_at",
    "applied_at",
    "computed_at",
    "recorded_at",
    "alerts.created_at",
    "assessed_at",
    "spool_segments.segment",
    "loaded_at",
}
# Other days the demo is run on (with DEMO_TODAY, a Wednesday): a Sunday months earlier, and a
# Monday whose story crosses the new year.
OTHER_DAY = "2026-06-14"
OPEN_NETWORKS = ("bluesky", "mastodon", "hackernews", "youtube")
OPEN_SQL = "('bluesky', 'mastodon', 'hackernews', 'youtube')"
NEW_YEAR_DAY = date(2026, 2, 2)


@pytest.fixture(scope="module")
def cli_run(demo_run: tuple[dict[str, Any], Path]) -> tuple[dict[str, Any], Path]:
    """`listener demo --json --today DEMO_TODAY` in a real process (the session's, see conftest)."""
    return demo_run


@pytest.fixture(scope="module")
def inprocess_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str | None]], dict, dict]:
    """run_demo() in this process on DEMO_TODAY, recording every request the clients send (before vcrpy answers it)."""
    out = tmp_path_factory.mktemp("demo-inprocess")
    sent: list[tuple[str, str | None]] = []
    real_send = requests.Session.send

    real_httpx_send = httpx.Client.send
    real_httplib2_request = httplib2.Http.request

    def spy(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        sent.append((request.url or "", request.headers.get("Authorization")))
        return real_send(self, request, **kwargs)

    def httpx_spy(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        body = request.content.decode("utf-8", "replace") if request.method == "POST" else ""
        sent.append((f"{request.url} {body}", request.headers.get("Authorization")))
        return real_httpx_send(self, request, **kwargs)

    def httplib2_spy(self: httplib2.Http, uri: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((uri, None))
        return real_httplib2_request(self, uri, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        for name, value in REAL_LOOKING.items():
            mp.setenv(name, value)
        mp.setattr(requests.Session, "send", spy)
        mp.setattr(httpx.Client, "send", httpx_spy)
        mp.setattr(httplib2.Http, "request", httplib2_spy)
        before = dict(os.environ)
        with demo_port(tmp_path_factory):
            summary, _ = demo.run_demo(out, today=date.fromisoformat(DEMO_TODAY))
        after = dict(os.environ)
    return out / "listener.duckdb", sent, summary, {"before": before, "after": after}


@pytest.fixture(scope="module")
def human_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`listener demo --today OTHER_DAY` as a person runs it: the printed summary."""
    out = tmp_path_factory.mktemp("demo-human")
    with demo_port(tmp_path_factory):
        result = run_cli("demo", "--out", str(out), "--today", OTHER_DAY)
    assert result.returncode == 0, result.stderr
    return result, out


@pytest.fixture(scope="module")
def new_year_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("demo-new-year")
    with demo_port(tmp_path_factory):
        summary, _ = demo.run_demo(out, today=NEW_YEAR_DAY)
    return summary, out / "listener.duckdb"


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    return table_rows(db, sql)


def test_demo_builds_a_store_and_prints_a_summary(cli_run):
    summary, db = cli_run
    assert summary["database"] == str(db)
    assert summary["failed_sources"] == []
    per_source = summary["mentions_per_source"]
    assert per_source["rss"] >= 150 and 120 <= per_source["x"] <= 160 and 80 <= per_source["reddit"] <= 120
    # every recorded post of the open networks, once (HN's search finds the comments that name a term)
    assert {s: per_source.get(s) for s in OPEN_NETWORKS} == {
        "bluesky": 17,
        "mastodon": 12,
        "hackernews": 11,
        "youtube": 17,
    }
    topics = {t["topic"]: t["mentions"] for t in summary["mentions_per_topic"]}
    assert topics["Acme"] > topics["Globex"] > topics["Initech"] > 0
    assert set(summary["sentiment"]) == {"positive", "neutral", "negative"}
    assert any("ill-formed feed" in w for w in summary["warnings"])  # the broken sample feed is kept
    assert not any(w.startswith("demo:") for w in summary["warnings"])  # every recorded exchange was asked for
    assert summary["most_active_authors"][0]["own"] is True
    assert rows(db, "SELECT source, status, error FROM runs ORDER BY started_at") == [
        ("rss", "warning", None),
        ("x", "ok", None),
        ("reddit", "ok", None),
        ("bluesky", "ok", None),
        ("mastodon", "ok", None),
        ("hackernews", "ok", None),
        ("youtube", "ok", None),
    ]
    # Every mention is scored; the Atom xml:lang entries keep their language, and so do tweets.
    assert rows(db, "SELECT count(*) FROM mentions m ANTI JOIN sentiment s USING (mention_id)") == [(0,)]
    langs = {(r[0], r[1]) for r in rows(db, "SELECT DISTINCT source, lang FROM mentions WHERE lang IS NOT NULL")}
    assert {("rss", "en"), ("rss", "fr"), ("x", "es"), ("x", "fr")} <= langs
    # "Acme anvil" cartoons are excluded from the brand, whichever source they come from.
    anvil = rows(
        db,
        "SELECT count(*) FROM mentions m JOIN mention_topics t USING (mention_id) "
        "WHERE t.topic = 'Acme' AND lower(coalesce(m.title, '') || ' ' || m.text) LIKE '%acme anvil%' "
        "AND NOT regexp_matches(replace(lower(coalesce(m.title, '') || ' ' || m.text), 'acme anvil', ''), "
        "'\\bacme\\b')",
    )
    assert anvil == [(0,)]
    assert rows(db, "SELECT count(*) FROM mentions WHERE source = 'reddit' AND lower(title) LIKE '%acme anvil%'") == [
        (1,)
    ]


def test_the_demo_leaves_a_config_and_a_snapshot_for_the_next_commands(cli_run):
    summary, db = cli_run
    config = Path(summary["config"])
    assert config == db.parent / "listener.toml"
    settings = load_settings(config)
    assert settings.store_path == db and settings.organization.name == "Acme"
    assert settings.sources.enabled() == []  # its feeds and replays are gone with the demo: `run` reaches nothing
    assert settings.analytics.as_of == date(2026, 11, 23) == date.fromisoformat(summary["analyzed_as_of"])
    assert "2026-W47" in config.read_text(encoding="utf-8")
    snapshot = Path(summary["snapshot"])
    assert snapshot == db.parent / "snapshot" / "listener.duckdb" and snapshot.is_file()
    manifest = json.loads((snapshot.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tables"]["mentions"] == sum(summary["mentions_per_source"].values())
    for name in ("mentions", "daily_sentiment", "share_of_voice", "top_influencers_current", "community_overview"):
        assert (Path(summary["parquet"]) / f"{name}.parquet").is_file(), name
    assert [c.split(" --config ")[1] for c in summary["next_commands"]] == [
        f"{config} {verb}" for verb in ("status", "digest", "maturity", "sql")
    ]
    for query in demo.EXAMPLE_QUERIES:  # the queries the summary suggests return rows
        assert rows(snapshot, query), query


def test_demo_human_output_ends_with_commands_that_work(human_run, capsys):
    result, out = human_run
    text = result.stdout
    assert "Mentions per topic:" in text and "Playing response" not in result.stderr  # vcrpy stays quiet
    for source in ("rss", "x", "reddit", *OPEN_NETWORKS):
        assert f"\n  {source} " in text
    assert "its last week, 2026-W23, is the last complete week before today (2026-06-14)" in text
    # Spike alerts: the newest first, and the count of the rest.
    lines = text.splitlines()
    head = lines.index("Spike alerts (7, newest first):")
    listed = [line.split()[0] for line in lines[head + 1 : head + 8]]
    assert listed == sorted(listed, reverse=True) and listed[0] == "2026-06-02"  # the story's last spike
    assert lines[head + 8].startswith("KPIs")  # all seven shown: no "... more" line
    assert "duckdb " + str(out) not in text  # no shell advice without -readonly
    commands = lines[lines.index("Next:") + 1 : lines.index("Next:") + 5]
    config = out / "listener.toml"
    assert [c.split()[-1] for c in commands] == ["status", "digest", "maturity", "sql"]
    assert all(f" --config {config} " in c for c in commands)
    assert f"Snapshot for analysts (docs/analysts.md): {out / 'snapshot' / 'listener.duckdb'}" in text
    # Each printed command as it is: `status` and `sql` pasted into a shell (the DuckDB shell reads
    # SQL from stdin when no terminal is attached), `digest` and `maturity` in this process (faster).
    outputs = {}
    for command in commands:
        argv = shlex.split(command)
        verb = argv[-1]
        if verb in ("status", "sql"):
            done = subprocess.run(
                argv,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                input="SELECT count(*) AS mentions FROM mentions;\n" if verb == "sql" else None,
            )
            assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)
            outputs[verb] = done.stdout
        else:
            capsys.readouterr()
            assert listener_in_process(*argv[1:]) == 0, command
            outputs[verb] = capsys.readouterr().out
    assert "disabled in the config; last run" in outputs["status"] and "failing" not in outputs["status"]
    assert outputs["digest"].startswith("Acme: weekly listening digest 2026-W23 (01 Jun to 07 Jun 2026)")
    assert "39 mentions of Acme by others (77 the week before" in outputs["digest"]
    assert "maturity: Share (level 3 of 5), window 2026-03-11 .. 2026-06-08" in outputs["maturity"]
    assert "467" in outputs["sql"]
    # `listener run` with the demo's config reaches no source: it analyzes and refreshes the snapshot.
    before = rows(out / "listener.duckdb", "SELECT count(*) FROM runs")
    capsys.readouterr()
    assert listener_in_process("--config", str(config), "run") == 0
    assert "no sources enabled" in capsys.readouterr().out
    assert rows(out / "listener.duckdb", "SELECT count(*) FROM runs") == before


def test_the_story_is_this_weeks_on_any_day(cli_run, human_run, new_year_run, capsys):
    """Whatever the day, the last complete week is the story's last one: the digest, the KPIs, the
    alerts and the maturity assessment all show it, with the same numbers, and a first ranking
    already tells new influencers from returning ones."""
    runs = [
        (date.fromisoformat(DEMO_TODAY), cli_run[1]),
        (date.fromisoformat(OTHER_DAY), human_run[1] / "listener.duckdb"),
        (NEW_YEAR_DAY, new_year_run[1]),
    ]
    alerts_seen = []
    for today, db in runs:
        week = Week.last_complete(today)
        analyzed = today - timedelta(days=today.weekday())
        assert week.sunday + timedelta(days=1) == analyzed
        config = str(db.parent / "listener.toml")
        capsys.readouterr()
        assert listener_in_process("--config", config, "digest", "--json") == 0
        digest = json.loads(capsys.readouterr().out)
        assert digest["week"] == week.label, today
        text = digest["text"]
        # own, competitors' and amplifying posts left out, each copy once (docs/analytics-metrics.md)
        assert "39 mentions of Acme by others (77 the week before, -49%)" in text, today
        assert "1 spike alert (cold brew 1)" in text and "No influencer ranking" not in text
        assert "Level 3 of 5: Share" in text
        assert "9 mentions that ask or complain in the last 7 days got no reply within 72 h" in text
        kpis = dict(rows(db, f"SELECT kpi, value FROM kpi_values WHERE period_start = DATE '{week.monday}'"))
        assert set(kpis) == {"share_of_voice", "net_sentiment", "engaged_authors", "response_rate"}
        assert all(v is not None for v in kpis.values()) and kpis["engaged_authors"] == 39, today
        assert listener_in_process("--config", config, "maturity", "--json") == 0
        assessment = json.loads(capsys.readouterr().out)
        assert assessment["window_end"] == analyzed.isoformat() and assessment["level"] == "Share"
        assert any(
            "9 mentions that ask or complain in the last 7 days" in step["text"]
            for step in assessment["recommendations"]
        )
        new = dict(rows(db, "SELECT is_new, count(*) FROM top_influencers_current GROUP BY ALL"))
        assert new.get(True) and new.get(False), today  # the window before was ranked too
        shift = (analyzed - date(2026, 11, 23)).days
        alerts_seen.append(
            rows(db, f"SELECT day - {shift}, kind, topic, observed, round(score, 6) FROM alerts ORDER BY ALL")
        )
        assert rows(
            db, f"SELECT count(*) FROM alerts WHERE day BETWEEN DATE '{week.monday}' AND DATE '{week.sunday}'"
        ) == [(1,)]
    assert alerts_seen[0] and alerts_seen[1] == alerts_seen[0] and alerts_seen[2] == alerts_seen[0]


def test_a_day_the_story_cannot_be_placed_before_is_one_line(tmp_path: Path):
    result = run_cli("demo", "--out", str(tmp_path / "d"), "--today", "2999-01-01")
    assert result.returncode == 2 and "is after today" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_own_accounts_are_marked_on_every_network(cli_run):
    _, db = cli_run
    own = dict(
        rows(db, "SELECT m.source, count(*) FROM mentions m JOIN authors a USING (author_id) WHERE m.is_own GROUP BY 1")
    )
    assert own["x"] >= 40 and own["reddit"] >= 15 and own["rss"] >= 15
    assert rows(
        db,
        "SELECT a.handle, m.is_own, count(*) FROM mentions m JOIN authors a USING (author_id) "
        "WHERE m.source IN ('x', 'reddit') AND (m.is_own OR a.handle IN ('acme', 'acme_official')) "
        "GROUP BY ALL ORDER BY 1",
    ) == [("acme", True, own["x"]), ("acme_official", True, own["reddit"])]
    assert rows(db, "SELECT source, handle FROM authors WHERE is_own AND source <> 'rss' ORDER BY 1") == [
        ("bluesky", "acme.bsky.social"),
        ("hackernews", "acme_eng"),
        ("mastodon", "acmecoffee@mastodon.social"),
        ("reddit", "acme_official"),
        ("x", "acme"),
        ("youtube", "AcmeCoffee"),
    ]
    # the open networks: the own account's posts, answers and reposts
    assert dict(
        rows(db, "SELECT source, count(*) FROM mentions WHERE is_own AND source IN " + OPEN_SQL + " GROUP BY 1")
    ) == {
        "bluesky": 6,
        "mastodon": 4,
        "hackernews": 3,
        "youtube": 4,
    }


def test_interactions_of_every_kind(cli_run):
    _, db = cli_run
    kinds = rows(
        db,
        "SELECT source, kind, count(*), count(*) FILTER (to_author_id IS NULL) FROM interactions "
        "WHERE source <> 'rss' GROUP BY ALL ORDER BY ALL",
    )
    counts = {(s, k): n for s, k, n, _ in kinds}
    assert {
        ("x", "reply"),
        ("x", "mention"),
        ("x", "repost"),
        ("x", "quote"),
        ("reddit", "comment"),
        ("reddit", "mention"),
    } <= set(counts)
    assert counts[("x", "reply")] >= 30 and counts[("x", "repost")] >= 10 and counts[("reddit", "comment")] >= 40
    assert all(unresolved == 0 for *_, unresolved in kinds)  # every target of the sample is in it
    acme = rows(db, "SELECT author_id FROM authors WHERE source = 'x' AND handle = 'acme'")[0][0]
    # Acme answers customers, quotes and reposts them; customers repost and quote Acme.
    edges = dict(
        rows(
            db,
            f"SELECT kind || CASE WHEN from_author_id = '{acme}' THEN ' by acme' ELSE ' to acme' END, "
            f"count(*) FROM interactions WHERE source = 'x' AND '{acme}' IN (from_author_id, to_author_id) "
            "AND from_author_id <> to_author_id GROUP BY 1",
        )
    )
    assert edges["reply by acme"] >= 25 and edges["reply to acme"] >= 5
    assert edges["quote by acme"] >= 2 and edges["repost by acme"] >= 1
    assert edges["repost to acme"] >= 8 and edges["quote to acme"] >= 3 and edges["mention to acme"] >= 50


def test_threads_comment_trees_and_authors(cli_run):
    _, db = cli_run
    # Multi-turn X conversations between @acme and one customer share a conversation id.
    threads = rows(
        db,
        "SELECT thread_id FROM mentions WHERE source = 'x' GROUP BY 1 "
        "HAVING count(*) >= 4 AND bool_or(is_own) AND bool_or(NOT is_own)",
    )
    assert len(threads) >= 3
    # Reddit comment trees: replies to comments, every thread's submission collected, deleted authors kept.
    assert (
        rows(db, "SELECT count(*) FROM mentions WHERE source = 'reddit' AND parent_id LIKE 'reddit:t1_%'")[0][0] >= 10
    )
    assert rows(
        db,
        "SELECT count(*) FROM mentions WHERE source = 'reddit' AND native_id LIKE 't1_%' "
        "AND thread_id NOT IN (SELECT mention_id FROM mentions)",
    ) == [(0,)]
    assert rows(db, "SELECT count(*) FROM mentions WHERE author_id = 'reddit:[deleted]'")[0][0] >= 3
    assert {r[0] for r in rows(db, "SELECT DISTINCT community FROM mentions WHERE source = 'reddit'")} >= {
        "r/espresso",
        "r/Coffee",
        "r/ColdBrew",
    }
    # A few big accounts among the people talking about Acme.
    assert rows(db, "SELECT count(*) FROM authors WHERE source = 'x' AND followers_count >= 100000")[0][0] >= 3


def test_the_open_networks_threads_quotes_and_reposts(cli_run):
    """Bluesky, Mastodon, Hacker News and YouTube as their connectors store them: every reply's parent
    and thread root stored too, reposts and quotes as interactions, authors with their profiles."""
    _, db = cli_run
    assert (
        rows(
            db,
            "SELECT source, count(*) FROM mentions WHERE source IN " + OPEN_SQL + " AND parent_id IS NOT NULL "
            "AND (parent_id NOT IN (SELECT mention_id FROM mentions) OR thread_id NOT IN (SELECT mention_id FROM mentions)) "
            "GROUP BY 1",
        )
        == []
    )
    replies = dict(
        rows(
            db,
            "SELECT source, count(*) FROM mentions WHERE source IN "
            + OPEN_SQL
            + " AND parent_id IS NOT NULL GROUP BY 1",
        )
    )
    assert replies == {"bluesky": 2, "mastodon": 2, "hackernews": 8, "youtube": 10}
    # A YouTube thread with more replies than the listing embeds was read whole through comments.list.
    assert rows(
        db, "SELECT count(*) FROM mentions WHERE source = 'youtube' GROUP BY thread_id ORDER BY 1 DESC LIMIT 1"
    ) == [(8,)]
    kinds = set(rows(db, "SELECT source, kind FROM interactions WHERE source IN " + OPEN_SQL))
    assert {("bluesky", "repost"), ("bluesky", "quote"), ("bluesky", "reply"), ("mastodon", "repost")} <= kinds
    assert rows(db, "SELECT handle, followers_count FROM authors WHERE source = 'bluesky' ORDER BY 2 DESC LIMIT 1") == [
        ("brewlab.example.com", 58300)
    ]
    # the same Mastodon status from another server is keyed by its ActivityPub uri
    assert rows(db, "SELECT count(*) FROM mentions WHERE source = 'mastodon' AND native_id NOT LIKE 'https://%'") == [
        (0,)
    ]
    langs = dict(
        rows(
            db,
            "SELECT source, list_sort(list(DISTINCT lang)) FROM mentions WHERE source IN ('bluesky', 'mastodon') GROUP BY 1",
        )
    )
    assert langs == {"bluesky": ["de", "en", "pt"], "mastodon": ["de", "en", "fr"]}


def test_streams_finished_their_pagination(cli_run):
    _, db = cli_run
    cursors = dict(rows(db, "SELECT source || ' ' || key, value FROM cursors WHERE source IN ('x', 'reddit')"))
    assert len(cursors) == 6 + 9  # x: 3 searches, handle, mentions, posts; reddit: 3 searches, 2 x 2 subreddits, 2 own
    for key, value in cursors.items():
        if key == "x user:acme":
            assert value.isdigit()
        elif key.startswith("x "):
            assert list(json.loads(value)) == ["since_id"], key  # every page down to the end was stored
        else:
            assert set(json.loads(value)) == {"created_utc", "name"}, key
    # The open networks: every stream caught up (no page token pending), per the connectors' docstrings.
    open_cursors = dict(rows(db, "SELECT source || ' ' || key, value FROM cursors WHERE source IN " + OPEN_SQL))
    searches = ("acme", '"acme coffee"', "globex", "initech")
    assert set(open_cursors) == {
        *(f"bluesky search:{q}" for q in searches),
        "bluesky mentions:acme.bsky.social",
        "bluesky posts:acme.bsky.social",
        "mastodon account:acmecoffee@mastodon.social",
        "mastodon account_id:acmecoffee@mastodon.social",
        *(f"mastodon tag:mastodon.social:{t}" for t in ("acme", "globex", "initech")),
        *(f"hackernews search:{q}" for q in searches),
        "hackernews author:acme_eng",
        "youtube channel:UCacmeCoffeeRoasters-PDX",
        "youtube video:bRwLabCald3",
        "youtube quota",
    }
    for key, value in open_cursors.items():
        source = key.split()[0]
        if key.endswith("account_id:acmecoffee@mastodon.social"):
            assert value.isdigit()
        elif key == "youtube quota":
            assert json.loads(value)["used"] == 3  # two thread listings and one reply listing
        else:
            assert (
                list(json.loads(value))
                == {"bluesky": ["newest"], "mastodon": ["min_id"], "hackernews": ["newest"], "youtube": ["since"]}[
                    source
                ]
            ), key
    usage = json.loads(rows(db, "SELECT usage FROM runs WHERE source = 'youtube'")[0][0])
    assert usage["quota_units"] == 3 and usage["daily_quota_units"] == 10000
    assert rows(db, "SELECT fetched > inserted, updated > 0 FROM runs WHERE source IN ('x', 'reddit')") == [
        (True, True),
        (True, True),
    ]  # streams overlap (a search also finds a mention): upserts, not duplicates


def test_the_story_shows_in_weekly_sentiment(cli_run):
    _, db = cli_run
    weekly = dict(
        rows(
            db,
            "SELECT date_trunc('week', created_at)::DATE::VARCHAR, avg(compound) FROM mentions "
            "JOIN sentiment USING (mention_id) WHERE source IN ('x', 'reddit') GROUP BY 1",
        )
    )
    assert min(weekly, key=weekly.get) == "2026-11-09"  # the burnt cold brew and the recall
    assert weekly["2026-11-09"] < 0 < 0.2 < weekly["2026-10-19"]  # the Caldera launch
    assert min(weekly) == "2026-09-28" and max(weekly) == "2026-11-16"


def test_placeholder_credentials_only_and_the_environment_is_restored(inprocess_run):
    db, sent, summary, env = inprocess_run
    assert summary["failed_sources"] == [] and summary["mentions_per_source"]["x"] > 0
    assert env["after"] == env["before"]
    hosts = {r.split("/")[2] for r, _ in sent}
    assert hosts == {
        "127.0.0.1:28471",
        "api.twitter.com",
        "www.reddit.com",
        "oauth.reddit.com",
        "bsky.social",
        "mastodon.social",
        "hn.algolia.com",
        "youtube.googleapis.com",
    }
    urls = " ".join(u for u, _ in sent)
    assert f"key={demo.DEMO_CREDENTIALS['YOUTUBE_API_KEY']}" in urls  # the YouTube key travels in the URL
    assert demo.DEMO_CREDENTIALS["BLUESKY_APP_PASSWORD"] in urls  # the createSession body
    assert not any(secret in urls for secret in REAL_LOOKING.values())
    auth = " ".join(_readable(a) for _, a in sent if a)
    assert f"Bearer {demo.DEMO_CREDENTIALS['X_BEARER_TOKEN']}" in auth
    assert f"Basic {demo.DEMO_CREDENTIALS['REDDIT_CLIENT_ID']}:{demo.DEMO_CREDENTIALS['REDDIT_CLIENT_SECRET']}" in auth
    assert not any(secret in auth for secret in REAL_LOOKING.values())


def _readable(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    return f"Basic {base64.b64decode(value).decode()}" if scheme == "Basic" else authorization


def test_two_runs_are_identical(cli_run, inprocess_run):
    first, second = cli_run[1], inprocess_run[0]
    assert _contents(first) == _contents(second)


def _contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, without the columns that say when something happened or which run did it."""
    with duckdb.connect(str(db), read_only=True) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            columns = [
                (c, kind)
                for (c, kind) in conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE "
                    "table_name = ? ORDER BY ordinal_position",
                    [table],
                ).fetchall()
                if c not in VOLATILE and f"{table}.{c}" not in VOLATILE
            ]
            # Sums of floats differ in their last digits with summation order: compare 9 decimals.
            select = ", ".join(f"round({c}, 9)" if kind in ("DOUBLE", "FLOAT") else c for c, kind in columns)
            rows = conn.execute(f"SELECT {select} FROM {table} ORDER BY ALL").fetchall()
            out[table] = [tuple(_rounded_json(v) for v in row) for row in rows]
    assert out["mentions"]
    return out


_LONG_DECIMAL = re.compile(r"(\d+\.\d{9})\d+")


def _rounded_json(value: Any) -> Any:
    """Floats inside JSON text (evidence, components) cut to 9 decimals, like the DOUBLE columns."""
    return _LONG_DECIMAL.sub(r"\1", value) if isinstance(value, str) else value


def test_recordings_are_what_the_story_script_writes(monkeypatch):
    script = ROOT / "tools" / "make_recordings.py"
    spec = importlib.util.spec_from_file_location("make_recordings", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    for name, text in module.build().items():
        assert (ROOT / "listener" / "ops" / "demo_data" / "recordings" / name).read_text(encoding="utf-8") == text, (
            f"recordings/{name} is stale: run {script.relative_to(ROOT)}"
        )


def test_the_graph_export_leaves_placeholder_authors_out(cli_run, tmp_path: Path, capsys):
    """`reddit:[deleted]` is no one in particular: not a node, like in every per-author analysis."""
    _, db = cli_run
    assert (
        rows(
            db,
            "SELECT count(*) FROM interactions WHERE from_author_id = 'reddit:[deleted]' "
            "OR to_author_id = 'reddit:[deleted]'",
        )[0][0]
        > 0
    )
    graph = tmp_path / "week.gexf"
    assert listener_in_process("--config", str(db.parent / "listener.toml"), "export", "--graph", str(graph)) == 0
    ids = re.findall(r'<node id="([^"]+)"', graph.read_text(encoding="utf-8"))
    edges = re.findall(r'<edge [^>]*source="([^"]+)" target="([^"]+)"', graph.read_text(encoding="utf-8"))
    assert len(ids) > 40 and edges
    assert not [i for i in ids if i.endswith((":[deleted]", ":unknown"))]
    assert not [e for e in edges if any(end.endswith((":[deleted]", ":unknown")) for end in e)]


def test_the_summary_says_how_many_alerts_it_leaves_out(cli_run):
    from listener.ops.demo import SHOWN_ALERTS, summary_lines

    summary = {**cli_run[0], "alerts": [cli_run[0]["alerts"][0]] * (SHOWN_ALERTS + 6)}
    lines = summary_lines(summary)
    assert lines.index("  ... 6 more, older: SELECT * FROM alerts ORDER BY day DESC;") == (
        lines.index(f"Spike alerts ({SHOWN_ALERTS + 6}, newest first):") + SHOWN_ALERTS + 1
    )
