"""Fetch into the spool, load in short transactions: readers never make a run lose or repeat data."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
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

from listener import pipeline
from listener.core.settings import load_settings
from listener.ingest.spool import Spool
from listener.store.connection import open_store
from listener.store.gate import StoreGate


def hold_store(db: Path, seconds: float, read_only: bool = True) -> subprocess.Popen[str]:
    """Another process (an analyst's notebook, say) holding the DuckDB file; returns once it has it."""
    code = (
        "import duckdb, sys, time\n"
        "conn = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == 'ro')\n"
        "conn.execute('SELECT count(*) FROM mentions').fetchall()\n"
        "print('holding', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds), "ro" if read_only else "rw"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding", proc.stderr
    return proc


def _empty_store(path: Path) -> None:
    with open_store(path):
        pass  # creates the file with every table, as any earlier run would have


def _clean_run(tmp_path: Path, urls: list[str]) -> dict:
    clean = tmp_path / "clean"
    clean.mkdir()
    result = run_cli("--config", str(write_config(clean, urls)), "run")
    assert result.returncode == 0, result.stderr
    return content_snapshot(clean / "listener.duckdb")


def test_run_waits_for_a_reader_then_completes(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 3)
    expected = _clean_run(tmp_path, urls)
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(work, urls, extra="")
    _empty_store(work / "listener.duckdb")
    # The reader lets go only once the run has said it waits for it: no timing to guess on a busy machine.
    reader = hold_store(work / "listener.duckdb", seconds=120)
    run = subprocess.Popen(
        [sys.executable, "-m", "listener", "--config", str(cfg), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert run.stderr is not None
    said: list[str] = []
    for line in run.stderr:
        said.append(line)
        if "held by another process; retrying" in line:
            break
    assert run.poll() is None and said and "retrying" in said[-1], "".join(said)  # waiting, not failed
    reader.terminate()
    reader.wait(timeout=30)
    out, rest = run.communicate(timeout=120)
    assert run.returncode == 0, "".join(said) + rest
    assert content_snapshot(work / "listener.duckdb") == expected
    assert Spool(work / "listener.spool").pending() == []


def test_reader_past_the_limit_leaves_the_spool_and_the_rerun_loads_it(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 4)
    expected = _clean_run(tmp_path, urls)
    work = tmp_path / "work"
    work.mkdir()
    db = work / "listener.duckdb"
    cfg = write_config(work, urls)
    cfg.write_text(cfg.read_text().replace("[store]\n", "[store]\nlock_timeout_seconds = 1\n"))
    _empty_store(db)
    reader = hold_store(db, seconds=120)
    try:
        busy = run_cli("--config", str(cfg), "run", "--json")
        assert busy.returncode == 3, busy.stderr
        report = json.loads(busy.stdout)
        assert "in use by another process" in report["busy"] and "lock_timeout_seconds" in report["busy"]
        assert report["spool"]["pages"] == 4 and report["spool"]["mentions"] == 20
        assert "the next run loads them" in busy.stderr
        # Readers still see the store as it was; nothing was half-written.
        spool = Spool(work / "listener.spool")
        assert [s.kind for s in spool.pending()] == ["page"] * 4 + ["run"]
        status = run_cli("--config", str(cfg), "status")  # read-only: fine next to the reader
        assert status.returncode == 0, status.stderr
        assert "spool: 4 fetched pages (20 mentions) wait in" in status.stdout
    finally:
        reader.kill()
        reader.wait()
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(0,)]

    rerun = run_cli("--config", str(cfg), "run")
    assert rerun.returncode == 0, rerun.stderr
    assert content_snapshot(db) == expected
    assert spool.pending() == []
    # Both runs are in the ledger: the first one's counts arrived with its spooled pages.
    runs = table_rows(db, "SELECT status, fetched, inserted FROM runs ORDER BY started_at")
    assert runs == [("ok", 20, 20), ("ok", 0, 0)]
    # The rerun asked with the spooled pages' ETags (304): nothing was fetched twice.
    last = [headers for path, headers in feed_server.requests if path == "/f0.xml"][-1]
    assert last.get("If-None-Match") == '"e0"'


def test_writer_elsewhere_past_the_limit_exits_3_with_a_clear_message(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 1)
    cfg = write_config(tmp_path, urls)
    cfg.write_text(cfg.read_text().replace("[store]\n", "[store]\nlock_timeout_seconds = 1\n"))
    _empty_store(tmp_path / "listener.duckdb")
    writer = hold_store(tmp_path / "listener.duckdb", seconds=120, read_only=False)
    try:
        result = run_cli("--config", str(cfg), "collect")
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 3
    assert "in use by another process" in result.stdout and "wait in" in result.stdout
    assert run_cli("--config", str(cfg), "collect").returncode == 0
    assert table_rows(tmp_path / "listener.duckdb", "SELECT count(*) FROM mentions") == [(5,)]


# --- the spool's own guarantees, in process ----------------------------------------------------


def _collect(cfg: Path) -> pipeline.CollectReport:
    settings = load_settings(cfg)
    return pipeline.collect(StoreGate(settings.store, 5), settings)


def test_a_segment_left_behind_after_its_commit_is_not_loaded_twice(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
):
    urls = serve_feeds(feed_server, 2)
    cfg = write_config(tmp_path, urls)
    kept = tmp_path / "kept"
    kept.mkdir()
    real_remove = Spool.remove

    def crash_window(self: Spool, segment) -> None:  # the process "dies" after COMMIT, before unlink
        shutil.copy(segment.path, kept / segment.path.name)
        real_remove(self, segment)

    monkeypatch.setattr(Spool, "remove", crash_window)
    first = _collect(cfg)
    monkeypatch.undo()
    assert [r.inserted for r in first.runs] == [10]
    db = tmp_path / "listener.duckdb"
    before = content_snapshot(db), table_rows(db, "SELECT run_id, status, fetched, inserted, updated FROM runs")
    for left in kept.iterdir():  # every segment comes back, as after the crash
        shutil.move(left, tmp_path / "listener.spool" / left.name)
    settings = load_settings(cfg)
    loaded = pipeline.drain(StoreGate(settings.store, 5), Spool(settings.spool_dir), settings, [])
    assert loaded == 0
    assert Spool(settings.spool_dir).pending() == []
    assert (
        content_snapshot(db),
        table_rows(db, "SELECT run_id, status, fetched, inserted, updated FROM runs"),
    ) == before


def test_an_unreadable_segment_is_set_aside_and_the_rest_load(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
):
    urls = serve_feeds(feed_server, 1)
    cfg = write_config(tmp_path, urls)
    spool_dir = tmp_path / "listener.spool"
    spool_dir.mkdir()
    (spool_dir / "00000000000000000001-000000-rss-deadbeef.jsonl").write_text("not json\n")
    truncated = Spool(spool_dir).append_page(
        source="rss",
        run_id="r-old",
        command="collect",
        stream="s",
        documents=["{}", "{}"],
        cursor={},
        started_at="2026-11-01T00:00:00Z",
    )
    lines = truncated.path.read_text().splitlines()
    truncated.path.write_text("\n".join(lines[:2]) + "\n")  # one document lost: the header disagrees
    with caplog.at_level(logging.ERROR, logger="listener.spool"):
        report = _collect(cfg)
    assert report.runs[0].inserted == 5 and not report.busy
    rejected = sorted(p.name for p in (spool_dir / "rejected").iterdir())
    assert len(rejected) == 2
    assert "unreadable header" in caplog.text and "header says 2 mentions, found 1" in caplog.text


def test_only_one_process_collects_a_source_at_a_time(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 1)
    cfg = write_config(tmp_path, urls)
    settings = load_settings(cfg)
    with Spool(settings.spool_dir).source_lock("rss"):
        report = _collect(cfg)
    assert [(r.status, r.error) for r in report.runs] == [("skipped", "another process is collecting 'rss' right now")]
    assert not feed_server.requests
    assert _collect(cfg).runs[0].inserted == 5


def test_pages_spooled_by_a_run_that_never_loaded_them_move_the_next_fetch_on(tmp_path: Path, feed_server: FeedServer):
    """The cursor a fetch starts from is the store's, moved on by pages still waiting in the spool."""
    urls = serve_feeds(feed_server, 2)
    cfg = write_config(tmp_path, urls)
    settings = load_settings(cfg)
    _empty_store(settings.store_path)
    spool = Spool(settings.spool_dir)
    spool.append_page(
        source="rss",
        run_id="r1",
        command="collect",
        stream=urls[0],
        documents=[],
        cursor={urls[0]: json.dumps({"etag": '"e0"'})},
        started_at="2026-11-01T00:00:00Z",
    )
    pending = spool.pending_cursors("rss")
    assert pending == {urls[0]: json.dumps({"etag": '"e0"'})}
    report = _collect(cfg)
    assert report.runs[0].inserted == 5  # only the second feed: the first answered 304
    asked = {path: headers.get("If-None-Match") for path, headers in feed_server.requests}
    assert asked == {"/f0.xml": '"e0"', "/f1.xml": None}


def test_spool_files_are_written_whole_or_not_at_all(tmp_path: Path):
    spool = Spool(tmp_path / "spool")
    segment = spool.append_page(
        source="x",
        run_id="r",
        command="c",
        stream="q",
        documents=['{"a": 1}'],
        cursor={"q": "1"},
        started_at="2026-11-01T00:00:00Z",
    )
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [segment.path.name]  # no temporaries left
    (tmp_path / "spool" / f".{segment.name}-x-1.tmp").write_text("half a page")  # a crash mid-write
    assert [s.name for s in spool.pending()] == [segment.name]
    with spool.source_lock("x"):
        pass
    assert not list((tmp_path / "spool").glob("*.tmp"))
