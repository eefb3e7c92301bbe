"""Kill the collector between pages (SIGKILL, no cleanup), rerun, and compare with a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    ROOT,
    FeedServer,
    content_snapshot,
    run_cli,
    serve_feeds,
    table_rows,
    write_config,
)


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_sigkill_between_pages_then_rerun_converges(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 4)
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    clean_dir.mkdir(), crash_dir.mkdir()
    clean_cfg, crash_cfg = write_config(clean_dir, urls), write_config(crash_dir, urls)
    assert run_cli("--config", str(clean_cfg), "run").returncode == 0

    proc = subprocess.Popen(
        [sys.executable, "-m", "listener", "--config", str(crash_cfg), "run"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # The third feed's request arrives after two pages are committed: kill the client right there.
    feed_server.routes["/f2.xml"].on_request = lambda: os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    feed_server.routes["/f2.xml"].on_request = None
    partial = table_rows(crash_dir / "listener.duckdb", "SELECT count(*), count(DISTINCT community) FROM mentions")
    assert partial == [(10, 2)]  # exactly the two committed pages, nothing half-written
    assert table_rows(crash_dir / "listener.duckdb", "SELECT status FROM runs") == [("running",)]

    rerun = run_cli("--config", str(crash_cfg), "run")
    assert rerun.returncode == 0, rerun.stderr
    assert content_snapshot(crash_dir / "listener.duckdb") == content_snapshot(clean_dir / "listener.duckdb")
    statuses = table_rows(crash_dir / "listener.duckdb", "SELECT status FROM runs ORDER BY started_at")
    assert statuses == [("interrupted",), ("ok",)]
    # And once more: a third run changes nothing.
    before = content_snapshot(crash_dir / "listener.duckdb")
    assert run_cli("--config", str(crash_cfg), "run").returncode == 0
    assert content_snapshot(crash_dir / "listener.duckdb") == before


def test_second_run_while_the_first_fetches_skips_that_source(tmp_path: Path, feed_server: FeedServer):
    """The first run holds no store lock while it fetches; a second one skips the source in hand."""
    urls = serve_feeds(feed_server, 1)
    cfg = write_config(tmp_path, urls, timeout=30)
    # keep the first run busy inside its fetch while the second starts (several seconds on a busy machine)
    feed_server.routes["/f0.xml"].delay = 10
    first = subprocess.Popen(
        [sys.executable, "-m", "listener", "--config", str(cfg), "run"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while not any(path == "/f0.xml" for path, _ in feed_server.requests) and time.time() < deadline:
        time.sleep(0.05)
    second = run_cli("--config", str(cfg), "run")
    assert second.returncode == 0, second.stderr
    assert "rss: skipped" in second.stdout and "another process is collecting 'rss'" in second.stdout
    first.communicate(timeout=60)
    assert first.returncode == 0
    assert table_rows(tmp_path / "listener.duckdb", "SELECT count(*), count(DISTINCT mention_id) FROM mentions") == [
        (5, 5)
    ]
    assert table_rows(tmp_path / "listener.duckdb", "SELECT status FROM runs") == [("ok",)]
