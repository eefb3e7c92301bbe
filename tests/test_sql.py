"""`listener sql`: the real DuckDB shell (duckdb-cli), read-only, on the snapshot or the live store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli

from listener.cli.sql import ShellProblem, find_shell


@pytest.fixture
def copied_demo(demo_run, tmp_path: Path) -> Path:
    """The demo's store and config in a folder of our own, without a snapshot; returns the config."""
    summary, db = demo_run
    shutil.copy(db, tmp_path / "listener.duckdb")
    shutil.copy(summary["config"], tmp_path / "listener.toml")
    return tmp_path / "listener.toml"


def test_sql_opens_the_snapshot_with_the_views_read_only(demo_run):
    summary, _ = demo_run
    config = summary["config"]
    result = run_cli(
        "--config",
        config,
        "sql",
        "-json",
        "-c",
        "SELECT count(*) AS ranked, count(*) FILTER (is_new) AS new FROM top_influencers_current",
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["ranked"] == 50 and 0 < row["new"] < 50
    # JSON operators, Parquet and the UTC day work in the shell as the docs use them.
    days = run_cli(
        "--config",
        config,
        "sql",
        "-csv",
        "-c",
        "SELECT current_setting('TimeZone') AS tz, "
        "(SELECT count(*) FROM alerts WHERE mention_ids ->> '$[0]' IS NOT NULL) AS alerts, "
        f"(SELECT count(*) FROM read_parquet('{Path(summary['parquet']).as_posix()}/mentions.parquet')) AS m",
    )
    assert days.returncode == 0, days.stderr
    assert days.stdout.splitlines()[1] == f"UTC,{len(summary['alerts'])},{sum(summary['mentions_per_source'].values())}"
    before = Path(summary["snapshot"]).stat().st_mtime_ns
    write = run_cli("--config", config, "sql", "-c", "CREATE TABLE mine (i INTEGER)")
    assert write.returncode == 1 and "read-only" in write.stderr
    assert Path(summary["snapshot"]).stat().st_mtime_ns == before


def test_without_a_snapshot_it_says_how_to_get_one(copied_demo: Path):
    result = run_cli("--config", str(copied_demo), "sql", "-c", "SELECT 1")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no snapshot yet" in result.stderr and "listener snapshot" in result.stderr
    assert "listener sql --live" in result.stderr


def test_live_reads_the_store_only_when_no_job_writes_it(copied_demo: Path):
    db = copied_demo.parent / "listener.duckdb"
    free = run_cli("--config", str(copied_demo), "sql", "--live", "-csv", "-c", "SELECT count(*) AS runs FROM runs")
    assert free.returncode == 0 and free.stdout.split() == ["runs", "7"], free.stderr  # one per source of the demo
    with duckdb.connect(str(db)):  # a job holding the store for writing
        busy = run_cli("--config", str(copied_demo), "sql", "--live", "-c", "SELECT 1")
    assert busy.returncode == 3 and len(busy.stderr.strip().splitlines()) == 1
    assert "in use by another process" in busy.stderr and "`listener sql`" in busy.stderr


def test_a_shell_older_than_the_file_is_refused_with_the_pip_command():
    assert find_shell(duckdb.__version__).is_file()  # the shell listener depends on reads this DuckDB's files
    with pytest.raises(ShellProblem) as problem:
        find_shell("9.9.0")  # a file written by a DuckDB newer than any shell here
    assert "older shell cannot read its storage format" in str(problem.value)
    assert "pip install 'duckdb-cli==9.9.0'" in str(problem.value)
