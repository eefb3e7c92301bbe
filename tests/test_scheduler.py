"""`listener schedule`: jobs from config run on short real intervals against a real feed server and
a real DuckDB file, never overlap, survive a busy store, and stop cleanly on SIGTERM; `--check`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, FeedServer, Route, rss_feed, table_rows

from listener import pipeline
from listener.cli.app import Context, cli
from listener.cli.schedule import schedule_command
from listener.core.errors import ConfigError
from listener.core.settings import load_settings
from listener.ops.scheduler import (
    build_scheduler,
    check_heartbeat,
    digest_job,
    write_json_atomic,
)
from listener.store.gate import StoreGate

ITEMS = [
    {
        "title": f"Acme coffee post {n}",
        "guid": f"http://example.com/p/{n}",
        "link": f"http://example.com/p/{n}",
        "pubDate": "Tue, 10 Nov 2026 04:00:00 GMT",
        "description": f"I love acme coffee, take {n}.",
    }
    for n in range(1, 6)
]


def _wait(predicate, timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _mentions(db: Path) -> int:
    return table_rows(db, "SELECT count(*) FROM mentions")[0][0]


def test_jobs_come_from_config(tmp_path, feed_server: FeedServer, config_for):
    schedule = '[schedule]\ntimezone = "Europe/Paris"\nanalyze_cron = "15 3 * * *"\n'
    settings = load_settings(config_for([feed_server.url("/a.xml")], extra=schedule))
    daemon = build_scheduler(settings)
    assert set(daemon.jobs) == {"collect:rss", "analyze", "digest"}
    assert daemon.heartbeat_path == tmp_path / "scheduler-heartbeat.json"  # next to the store by default
    daemon.scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
        assert jobs["collect:rss"].trigger.interval == timedelta(minutes=60)  # poll_interval_minutes default
        assert jobs["collect:rss"].max_instances == 1 and jobs["collect:rss"].coalesce
        assert jobs["collect:rss"].misfire_grace_time == settings.schedule.misfire_grace_seconds
        nightly = jobs["analyze"].next_run_time
        assert (nightly.hour, nightly.minute, str(nightly.tzinfo)) == (3, 15, "Europe/Paris")
        weekly = jobs["digest"].next_run_time
        assert (weekly.weekday(), weekly.hour, weekly.minute) == (0, 6, 30)
    finally:
        daemon.scheduler.shutdown(wait=False)


@pytest.mark.parametrize(
    "line, key",
    [
        ('analyze_cron = "every night"', "analyze_cron"),
        ('timezone = "Mars/Olympus"', "timezone"),
        ('digest_cron = "61 * * * *"', "digest_cron"),
        ("jiter_seconds = 5", "jiter_seconds"),
        ("heartbeat_seconds = 0", "heartbeat_seconds"),
    ],
)
def test_bad_schedule_config_is_a_config_error(config_for, line, key):
    """[schedule] has one definition (settings.Schedule): keys and numbers fail when the config loads,
    cron expressions and the time zone when the scheduler is built; each error names its key."""
    config = config_for(extra=f"[schedule]\n{line}\n")
    with pytest.raises(ConfigError, match=f"'schedule.{key}'"):
        build_scheduler(load_settings(config))


def test_source_jobs_run_on_their_interval_and_commit(tmp_path, feed_server: FeedServer, config_for):
    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS))
    settings = load_settings(config_for([feed_server.url("/a.xml")]))
    daemon = build_scheduler(settings, interval_override_seconds=0.3)
    daemon.start()
    try:
        assert _wait(lambda: daemon.jobs["collect:rss"].runs >= 3, timeout=8)
    finally:
        daemon.stop()
    db = settings.store_path
    assert _mentions(db) == len(ITEMS)  # reruns add nothing twice
    runs = table_rows(db, "SELECT command, status, inserted FROM runs ORDER BY started_at")
    assert len(runs) >= 3 and {r[:2] for r in runs} == {("schedule", "ok")}
    assert sum(r[2] for r in runs) == len(ITEMS)
    beat = json.loads(daemon.heartbeat_path.read_text())
    assert beat["pid"] == os.getpid() and beat["stopping"] is True
    assert beat["jobs"]["collect:rss"]["last_status"] == "ok"
    assert "inserted" in beat["jobs"]["collect:rss"]["last_summary"]
    assert beat["jobs"]["analyze"]["next_run"] and beat["jobs"]["analyze"]["runs"] == 0


def test_a_slow_source_never_overlaps_itself(tmp_path, feed_server: FeedServer, config_for, caplog):
    starts: list[float] = []
    feed_server.routes["/slow.xml"] = Route(
        body=rss_feed(ITEMS), delay=0.7, on_request=lambda: starts.append(time.monotonic())
    )
    settings = load_settings(config_for([feed_server.url("/slow.xml")]))
    daemon = build_scheduler(settings, interval_override_seconds=0.1)
    caplog.set_level("WARNING", logger="listener.ops.scheduler")
    daemon.start()
    try:
        assert _wait(lambda: len(starts) >= 3, timeout=8)
    finally:
        daemon.stop()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= 0.65, gaps  # each fetch waits for the previous run to finish
    assert daemon.max_seen_running == 1
    assert "still running" in caplog.text  # ticks during a run are skipped, not queued
    assert _mentions(settings.store_path) == len(ITEMS)


def test_a_busy_store_is_logged_and_retried_at_the_next_tick(tmp_path, feed_server: FeedServer, config_for, caplog):
    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS))
    settings = load_settings(config_for([feed_server.url("/a.xml")]))
    settings = settings.model_copy(update={"store": settings.store.model_copy(update={"lock_timeout_seconds": 0.5})})
    db = settings.store_path
    holder = subprocess.Popen(  # another process holds the write lock, like an open notebook writer
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        caplog.set_level("INFO", logger="listener.ops.scheduler")
        daemon = build_scheduler(settings, interval_override_seconds=0.3)
        daemon.start()
        try:
            assert _wait(lambda: daemon.jobs["collect:rss"].last_status == "busy", timeout=5)
            holder.communicate("\n", timeout=10)  # the other process goes away
            assert _wait(lambda: daemon.jobs["collect:rss"].last_status == "ok", timeout=5)
            assert daemon.scheduler.running  # busy was not a crash
        finally:
            daemon.stop()
    finally:
        holder.kill()
        holder.wait()
    assert "busy" in caplog.text and "wait in the spool" in caplog.text and "next tick" in caplog.text
    assert _mentions(db) == len(ITEMS)


def test_digest_job_without_recipients_is_skipped_not_failed(config_for):
    settings = load_settings(config_for())
    assert digest_job(settings) == ("skipped", "no [digest] recipients configured")


def _utc_second() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def test_the_nightly_analyze_refreshes_the_analysts_snapshot(tmp_path, feed_server: FeedServer, config_for):
    """Users of `listener schedule` read the snapshot: after the nightly job it holds what the collect
    jobs loaded since the last one, analyzed."""
    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS[:2]))
    settings = load_settings(config_for([feed_server.url("/a.xml")]))
    assert not pipeline.run(StoreGate(settings.store, 5), settings).failed  # what `listener run` publishes
    manifest = tmp_path / "snapshot" / "manifest.json"
    before = json.loads(manifest.read_text())
    assert before["tables"]["mentions"] == 2
    assert _wait(lambda: _utc_second() > before["created_at"], timeout=2)  # manifest times are whole seconds

    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS))
    daemon = build_scheduler(settings, interval_override_seconds=3600)  # collect:rss runs once, at start-up
    daemon.start()
    try:
        assert _wait(lambda: daemon.jobs["collect:rss"].runs == 1, timeout=15)
        daemon.scheduler.modify_job("analyze", next_run_time=datetime.now(UTC))  # tonight is now
        assert _wait(lambda: daemon.jobs["analyze"].runs == 1, timeout=60)
    finally:
        daemon.stop()
    analyze = daemon.jobs["analyze"]
    assert analyze.last_status == "ok" and analyze.last_summary.endswith("; snapshot refreshed")
    after = json.loads(manifest.read_text())
    assert after["created_at"] > before["created_at"]
    assert after["tables"]["mentions"] == after["tables"]["sentiment"] == len(ITEMS)
    snapshot = tmp_path / "snapshot" / "listener.duckdb"
    scored = table_rows(snapshot, "SELECT count(*) FROM mentions JOIN sentiment USING (mention_id)")[0][0]
    assert scored == len(ITEMS)


def _schedule_argv(config: Path) -> list[str]:
    """`python -m listener --config C schedule`; registers the command first if cli.py does not yet."""
    if "schedule" in cli.commands:
        return [sys.executable, "-m", "listener", "--config", str(config), "schedule"]
    shim = (
        "from listener.cli.app import cli, main; from listener.cli.schedule import schedule_command; "
        "cli.add_command(schedule_command); main()"
    )
    return [sys.executable, "-c", shim, "--config", str(config), "schedule"]


def test_sigterm_lets_the_running_job_commit_then_exits_0(tmp_path, feed_server: FeedServer, config_for):
    in_flight = threading.Event()
    feed_server.routes["/a.xml"] = Route(body=rss_feed(ITEMS), delay=0.8, on_request=in_flight.set)
    config = config_for([feed_server.url("/a.xml")])
    proc = subprocess.Popen(
        _schedule_argv(config),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LISTENER_CONFIG": ""},
    )
    try:
        assert in_flight.wait(20), "the collect job never fetched"
        proc.send_signal(signal.SIGTERM)  # mid-fetch: the job must still finish and commit
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    db = tmp_path / "listener.duckdb"
    assert _mentions(db) == len(ITEMS)
    assert table_rows(db, "SELECT command, status FROM runs") == [("schedule", "ok")]
    assert "SIGTERM received" in err and "collect:rss: ok in" in err and "inserted 5" in err and "stopped" in err
    beat = json.loads((tmp_path / "scheduler-heartbeat.json").read_text())
    assert beat["stopping"] is True and beat["pid"] == proc.pid
    ok, line = check_heartbeat(tmp_path / "scheduler-heartbeat.json")
    assert not ok and "stopp" in line  # a stopped daemon is unhealthy


def _check(config: Path, beat: Path) -> tuple[int, str]:
    result = CliRunner().invoke(schedule_command, ["--check", "--heartbeat-file", str(beat)], obj=Context(str(config)))
    return result.exit_code, result.output


def test_check_fresh_stale_missing(tmp_path, config_for):
    config = config_for()
    beat = tmp_path / "beat.json"
    assert _check(config, beat)[0] == 1  # no heartbeat yet
    now = datetime.now(UTC)
    write_json_atomic(
        beat, {"pid": 1, "tick_at": now.isoformat(), "heartbeat_seconds": 30, "stopping": False, "jobs": {}}
    )
    code, out = _check(config, beat)
    assert code == 0 and "fresh" in out
    write_json_atomic(
        beat,
        {
            "pid": 1,
            "tick_at": (now - timedelta(seconds=91)).isoformat(),
            "heartbeat_seconds": 30,
            "stopping": False,
            "jobs": {},
        },
    )
    code, out = _check(config, beat)
    assert code == 1 and "stale" in out
    beat.write_text("{not json")
    assert _check(config, beat)[0] == 1
    assert not list(tmp_path.glob(".beat.json.*"))  # atomic writes leave no temp files


def test_check_reads_the_heartbeat_a_real_daemon_writes(tmp_path, config_for):
    settings = load_settings(config_for(extra="[schedule]\nheartbeat_seconds = 1\n"))
    daemon = build_scheduler(settings)
    thread = threading.Thread(target=daemon.run_forever)
    thread.start()
    try:
        assert _wait(daemon.heartbeat_path.exists, timeout=5)
        first = json.loads(daemon.heartbeat_path.read_text())["tick_at"]
        assert _check(tmp_path / "listener.toml", daemon.heartbeat_path)[0] == 0
        assert _wait(lambda: json.loads(daemon.heartbeat_path.read_text())["tick_at"] != first, timeout=4)
    finally:
        daemon.stopping.set()
        thread.join(10)
    assert not thread.is_alive()
    assert _check(tmp_path / "listener.toml", daemon.heartbeat_path)[0] == 1  # stopped: unhealthy


@pytest.mark.parametrize(
    "field, expected",
    [
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
    ],
)
def test_crontab_day_numbers_mean_what_cron_means(field, expected):
    # APScheduler 3's from_crontab reads "1" as Tuesday; the config means Monday like cron does
    from listener.ops.scheduler import crontab_day_of_week

    assert crontab_day_of_week(field) == expected


def test_sigterm_mid_collect_stops_after_the_page_in_hand(tmp_path, feed_server: FeedServer, config_for):
    """Ten slow feeds: SIGTERM during the second one ends the job after that page, not after all ten."""
    second = threading.Event()
    urls = []
    for n in range(10):
        items = [dict(item, guid=f"{item['guid']}/{n}") for item in ITEMS]
        feed_server.routes[f"/f{n}.xml"] = Route(
            body=rss_feed(items), delay=0.5, on_request=second.set if n == 1 else None
        )
        urls.append(feed_server.url(f"/f{n}.xml"))
    config = config_for(urls)
    proc = subprocess.Popen(
        _schedule_argv(config),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LISTENER_CONFIG": ""},
    )
    try:
        assert second.wait(30), "the collect job never reached the second feed"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    db = tmp_path / "listener.duckdb"
    assert _mentions(db) == 2 * len(ITEMS)  # the page in hand was kept; no further feed was asked for
    assert len([path for path, _ in feed_server.requests]) == 2
    assert table_rows(db, "SELECT status, fetched FROM runs") == [("ok", 2 * len(ITEMS))]
    assert "stop requested; stopping after this page" in err
    # The next run picks up exactly where it stopped.
    settings = load_settings(config)
    report = pipeline.collect(StoreGate(settings.store_path, 5), settings)
    assert report.runs[0].inserted == 8 * len(ITEMS)
    assert _mentions(db) == 10 * len(ITEMS)
