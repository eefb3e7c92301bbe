"""kill -9 of `listener run` and of `listener schedule` at random moments, several seeds.

Whatever instant the process dies at (mid-fetch, mid-spool-write, mid-load,
mid-analyze), the next `listener run` must converge: the same mention ids,
rows and cursors as one uninterrupted run, no duplicates, an empty spool.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")

FEEDS, ITEMS, DELAY = 8, 12, 0.15


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict, float]]:
    """The feeds, and what one uninterrupted `listener run` of them stores (and how long it took):
    served and run once per module (per worker), since every seed kills runs of the same feeds."""
    server = FeedServer()
    try:
        urls = serve_feeds(server, FEEDS, items=ITEMS)
        for n in range(FEEDS):
            server.routes[f"/f{n}.xml"].delay = DELAY  # a run that lasts long enough to be cut anywhere
        clean = tmp_path_factory.mktemp("clean")
        began = time.monotonic()
        result = run_cli("--config", str(write_config(clean, urls)), "run")
        assert result.returncode == 0, result.stderr
        yield urls, content_snapshot(clean / "listener.duckdb"), time.monotonic() - began
    finally:
        server.close()


def _kill_at_random(command: list[str], cfg: Path, at: float) -> int | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "listener", "--config", str(cfg), *command],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return proc.wait(timeout=at)  # finished before its moment came
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def _assert_converged(work: Path, expected: dict) -> None:
    db = work / "listener.duckdb"
    assert table_rows(db, "SELECT count(*) - count(DISTINCT mention_id) FROM mentions") == [(0,)]
    assert content_snapshot(db) == expected
    spool = work / "listener.spool"
    assert not list(spool.glob("*.jsonl")) and not list(spool.glob(".*.tmp"))
    assert table_rows(db, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]


@pytest.mark.parametrize(
    "command, seed", [("run", 1), ("run", 2), ("run", 3), ("run", 4), ("schedule", 11), ("schedule", 12)]
)
def test_kill_at_random_moments_then_rerun_converges(
    tmp_path: Path, clean_run: tuple[list[str], dict, float], command: str, seed: int
):
    """`listener run` killed twice in a row, or the daemon killed in its start-up collect, then one rerun."""
    urls, expected, clean_seconds = clean_run
    rng = random.Random(seed)
    work = tmp_path / "work"
    work.mkdir()
    cfg = write_config(work, urls)
    kills, window = 0, clean_seconds
    for _ in range(6):  # until it has been cut twice; a run that finished first narrows the window
        began = time.monotonic()
        if _kill_at_random([command], cfg, at=rng.uniform(0.3, window)) is None:
            kills += 1
            if kills == 2:
                break
        else:
            window = max(0.6, 0.7 * (time.monotonic() - began))
    assert kills >= 1  # at least one process really was cut short (a daemon never exits by itself)
    rerun = run_cli("--config", str(cfg), "run")
    assert rerun.returncode == 0, rerun.stderr
    _assert_converged(work, expected)
