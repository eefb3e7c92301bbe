"""Kill the collector between pages (SIGKILL, no cleanup), rerun, and compare with a clean run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, content_snapshot, FeedServer, Route, rss_feed, run_cli, table_rows, write_config

def _feeds(server: FeedServer, count: int) -> list[str]:
    urls = []
    for n in range(count):
        items = [{"title": f"Acme post {n}-{i}", "guid": f"http://example.com/{n}/{i}",
                  "pubDate": f"Tue, 1{i} Nov 2026 0{n}:00:00 GMT", "author": f"a{i}@example.com (Writer {i})",
                  "description": f"acme and globex, take {n}.{i}: {'great' if i % 2 else 'awful'}"} for i in range(5)]
        server.routes[f"/f{n}.xml"] = Route(body=rss_feed(items, title=f"Feed {n}"), etag=f'"e{n}"')
        urls.append(server.url(f"/f{n}.xml"))
    return urls


@pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
def test_sigkill_between_pages_then_rerun_converges(tmp_path: Path, feed_server: FeedServer):
    urls = _feeds(feed_server, 4)
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    clean_dir.mkdir(), crash_dir.mkdir()
    clean_cfg, crash_cfg = write_config(clean_dir, urls), write_config(crash_dir, urls)
    assert run_cli("--config", str(clean_cfg), "run").returncode == 0

    proc = subprocess.Popen([sys.executable, "-m", "listener", "--config", str(crash_cfg), "run"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def test_second_writer_exits_with_clear_message(tmp_path: Path, feed_server: FeedServer):
    urls = _feeds(feed_server, 1)
    cfg = write_config(tmp_path, urls, timeout=30)
    feed_server.routes["/f0.xml"].delay = 4  # keep the first run busy inside collect
    first = subprocess.Popen([sys.executable, "-m", "listener", "--config", str(cfg), "run"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not any(path == "/f0.xml" for path, _ in feed_server.requests) and time.time() < deadline:
        time.sleep(0.05)
    second = run_cli("--config", str(cfg), "run")
    assert second.returncode == 3
    assert "in use by another process" in second.stderr
    first.communicate(timeout=60)
    assert first.returncode == 0
