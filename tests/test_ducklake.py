"""The DuckLake backend: the same pipeline against a PostgreSQL catalog + Parquet data directory.

A real PostgreSQL server (tests/pgserver.py, installed by .ci/run) and the
real DuckLake and PostgreSQL extensions from their PyPI wheels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    CONTENT_QUERIES,
    FIXTURES,
    ROOT,
    FeedServer,
    content_snapshot,
    run_cli,
    serve_feeds,
    write_config,
)
from pgserver import lake_catalog, postgres_server  # noqa: F401  (fixtures)

from listener.core.settings import load_settings
from listener.store.connection import Claim, open_store

sys.path.insert(0, str(FIXTURES / "maturity"))  # `orgs`: the maturity scenarios, imported where used


def lake_config(work: Path, urls: list[str], catalog: str, spool: str = "spool", name: str = "listener.toml") -> Path:
    text = write_config(work, urls).read_text()
    text = text.replace("[store]\n", f'[store]\nbackend = "ducklake"\nspool_dir = "{spool}"\n', 1)
    text += f'\n[store.ducklake]\ncatalog = {json.dumps("postgres:" + catalog)}\ndata_path = "lake-data"\n'
    cfg = work / name
    cfg.write_text(text)
    return cfg


def lake_rows(cfg: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_store(load_settings(cfg).store, read_only=True) as store:
        return store.conn.execute(sql).fetchall()


def lake_snapshot(cfg: Path) -> dict[str, list[tuple[Any, ...]]]:
    with open_store(load_settings(cfg).store, read_only=True) as store:  # attached once: each attach asks the catalog
        return {name: store.conn.execute(sql).fetchall() for name, sql in CONTENT_QUERIES.items()}


def test_the_pipeline_gives_the_same_data_on_ducklake_as_on_a_file(
    tmp_path: Path, feed_server: FeedServer, lake_catalog: str
):
    urls = serve_feeds(feed_server, 3)
    on_file = tmp_path / "file"
    on_file.mkdir()
    assert run_cli("--config", str(write_config(on_file, urls)), "run").returncode == 0
    work = tmp_path / "lake"
    work.mkdir()
    cfg = lake_config(work, urls, lake_catalog)
    result = run_cli("--config", str(cfg), "run", "--json")
    assert result.returncode == 0, result.stderr
    assert lake_snapshot(cfg) == content_snapshot(on_file / "listener.duckdb")
    assert list((work / "lake-data").rglob("*.parquet"))  # the data lives in Parquet files
    assert not (work / "listener.duckdb").exists()
    # A rerun is idempotent there too; status reads the lake; the snapshot is a plain DuckDB file.
    before = lake_snapshot(cfg)
    assert run_cli("--config", str(cfg), "run").returncode == 0
    assert lake_snapshot(cfg) == before
    status = json.loads(run_cli("--config", str(cfg), "status", "--json").stdout)
    assert status["totals"]["mentions"] == 15 and status["totals"]["schema_version"] >= 7
    snapshot = json.loads(result.stdout)["snapshot"]
    assert snapshot["tables"]["mentions"] == 15
    # The maintenance docs/operations.md recommends runs as written and changes no data.
    with open_store(load_settings(cfg).store) as store:
        store.conn.execute("CALL ducklake_merge_adjacent_files('lake')").fetchall()
        store.conn.execute("CALL ducklake_expire_snapshots('lake', older_than => now() - INTERVAL 7 DAY)").fetchall()
        store.conn.execute("CALL ducklake_cleanup_old_files('lake', cleanup_all => true)").fetchall()
    assert lake_snapshot(cfg) == before


def test_two_workers_collect_into_one_lake_at_once(tmp_path: Path, feed_server: FeedServer, lake_catalog: str):
    """Two `listener collect` processes, overlapping feeds, one lake, a reader polling all along."""
    urls = serve_feeds(feed_server, 8, items=12)
    for n in range(8):
        feed_server.routes[f"/f{n}.xml"].delay = 0.1
    reference = tmp_path / "file"
    reference.mkdir()
    assert run_cli("--config", str(write_config(reference, urls)), "collect").returncode == 0
    expected_ids = [r[0] for r in content_snapshot(reference / "listener.duckdb")["mentions"]]

    work = tmp_path / "lake"
    work.mkdir()
    first = lake_config(work, urls[:6], lake_catalog, spool="spool-a", name="first.toml")
    second = lake_config(work, urls[2:], lake_catalog, spool="spool-b", name="second.toml")
    with open_store(load_settings(first).store):
        pass  # the schema exists before the race, as after any earlier run

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "listener", "--config", str(cfg), "collect", "--json"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cfg in (first, second)
    ]
    seen = []
    with open_store(load_settings(first).store, read_only=True) as analyst:  # reading while both write: never blocked
        while any(w.poll() is None for w in workers):
            seen.append(analyst.conn.execute("SELECT count(*) FROM mentions").fetchall()[0][0])
            time.sleep(0.2)
    outputs = [w.communicate() for w in workers]
    for worker, (_out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    inserted = sum(r["inserted"] for out, _ in outputs for r in json.loads(out)["sources"])
    assert inserted == 96  # the 4 shared feeds were inserted once, by one worker or the other
    assert lake_rows(first, "SELECT count(*), count(DISTINCT mention_id) FROM mentions") == [(96, 96)]
    assert [r[0] for r in lake_rows(first, "SELECT mention_id FROM mentions ORDER BY mention_id")] == expected_ids
    assert seen == sorted(seen) and seen[-1] > seen[0]  # the reader saw whole commits only, growing
    assert lake_rows(first, "SELECT count(*), count(DISTINCT (source, key)) FROM cursors")[0][0] == 8
    analyzed = run_cli("--config", str(first), "analyze", "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    assert lake_rows(first, "SELECT count(*) FROM sentiment") == [(96,)]


def test_a_catalog_that_cannot_be_reached_is_a_clear_error(tmp_path: Path, feed_server: FeedServer):
    urls = serve_feeds(feed_server, 1)
    cfg = lake_config(tmp_path, urls, "dbname=nowhere host=127.0.0.1 port=1 user=postgres connect_timeout=2")
    cfg.write_text(cfg.read_text().replace("[store]\n", "[store]\nlock_timeout_seconds = 1\n", 1))
    result = run_cli("--config", str(cfg), "collect")
    assert result.returncode == 3
    assert "cannot open the DuckLake catalog" in result.stdout + result.stderr
    # What was fetched waits in the spool for the catalog to come back.
    assert list((tmp_path / "spool").glob("*.jsonl"))


def test_a_password_in_the_catalog_string_is_refused(tmp_path: Path):
    cfg = lake_config(tmp_path, [], "dbname=x host=h user=u password=hunter2")
    result = run_cli("--config", str(cfg), "status")
    assert result.returncode == 2
    assert "PGPASSWORD" in result.stderr and "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "sql, expected",
    [
        ("CREATE TABLE t (\n  a VARCHAR PRIMARY KEY,\n  b INT\n);", "CREATE TABLE t (\n  a VARCHAR,\n  b INT\n);"),
        ("CREATE TABLE t (a INT, b INT,\n  PRIMARY KEY (a, b)\n);", "CREATE TABLE t (a INT, b INT\n);"),
        ("ALTER TABLE t ADD COLUMN ok BOOLEAN DEFAULT true;", "ALTER TABLE t ADD COLUMN ok BOOLEAN DEFAULT 'true';"),
    ],
)
def test_migrations_lose_only_their_key_constraints_on_ducklake(sql: str, expected: str):
    from listener.store.ducklake import lake_dialect

    assert lake_dialect(sql) == expected


def test_the_documented_ducklake_example_config_is_valid():
    settings = load_settings(ROOT / "docs" / "examples" / "listener-ducklake.toml")
    assert settings.store.backend == "ducklake" and settings.store.ducklake is not None
    assert settings.store.ducklake.catalog.startswith("postgres:") and settings.spool_dir.name == "spool"


@pytest.mark.parametrize("claim", list(Claim))
def test_a_lost_write_conflict_is_run_again_in_a_fresh_snapshot(tmp_path: Path, lake_catalog: str, claim: Claim):
    """Two units of the same kind, neither deleting anything (as on a first run): the claim alone makes
    the later commit lose, and the unit runs again where it sees the other's rows."""
    from listener.store.ducklake import connect_lake

    catalog, data = "postgres:" + lake_catalog, str(tmp_path / "lake-data")
    with open_store(load_settings(lake_config(tmp_path, [], lake_catalog)).store) as store:
        other = connect_lake(catalog, data)
        other.execute("BEGIN")
        other.execute(f"UPDATE {claim.value} SET writes = writes + 10")  # another worker's unit, mid-way
        other.execute("INSERT INTO cursors VALUES ('test', 'k', 'theirs', now())")
        attempts = []

        def write(conn: Any) -> None:
            attempts.append(1)
            if len(attempts) == 1:
                other.execute("COMMIT")  # the other worker commits first: ours, which claimed too, must lose
            if not conn.execute("SELECT 1 FROM cursors WHERE source = 'test'").fetchall():
                conn.execute("INSERT INTO cursors VALUES ('test', 'k', 'ours', now())")

        store.write_transaction(write, "test", claim=claim)
        assert len(attempts) == 2
        assert store.conn.execute(f"SELECT writes FROM {claim.value}").fetchall() == [(11,)]
        assert store.conn.execute("SELECT value FROM cursors WHERE source = 'test'").fetchall() == [("theirs",)]
        other.close()


# One worker's `analyze` in its own process: it connects (and migrates) first, says so, then waits
# for the start signal, so that two of them analyze at the same moment; prints when it began and ended.
ANALYZE_WORKER = textwrap.dedent("""
    import json, sys, time
    from datetime import date
    from pathlib import Path
    from listener import pipeline
    from listener.core.progress import setup_logging
    from listener.core.settings import load_settings
    from listener.store.connection import open_store
    config, ready, start, as_of = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    setup_logging()
    settings = load_settings(config)
    with open_store(settings.store) as store:
        ready.touch()
        while not start.exists():
            time.sleep(0.01)
        began = time.time()
        pipeline.analyze(store, settings, today=date.fromisoformat(as_of))
    print(json.dumps({"began": began, "ended": time.time()}))
""")
VOLATILE = {"scored_at", "computed_at", "created_at", "recorded_at", "assessed_at", "updated_at"}  # when, not what
HISTORY = {"maturity_assessments"}  # a row per analyze by design: compared as distinct rows
ANALYZED = {"mentions": ("mention_id", "lang", "lang_detected")}  # what analysis writes of a mention


def org_on_lake(work: Path, catalog: str | None) -> Path:
    """The co-creating organization of tests/fixtures/maturity, imported into a lake of its own (into a
    DuckDB file when `catalog` is None); its config."""
    from orgs import cocreate_org, write_org_config

    from listener import pipeline
    from listener.ingest.importer import read_batches
    from listener.store.ledger import finish_run, start_run

    work.mkdir()
    cfg = write_org_config(work)
    if catalog is not None:
        text = cfg.read_text().replace("[store]\n", '[store]\nbackend = "ducklake"\nspool_dir = "spool"\n', 1)
        cfg.write_text(
            text + f'\n[store.ducklake]\ncatalog = {json.dumps("postgres:" + catalog)}\ndata_path = "lake-data"\n'
        )
    file = cocreate_org().write(work / "mentions.jsonl")
    settings = load_settings(cfg)
    with open_store(settings.store) as store:
        ledger = start_run(store, "import", f"import {file.name}")
        pipeline.load_batches(store, settings, read_batches(file, "jsonl"), ledger.run_id)
        ledger.status = "ok"
        finish_run(store, ledger)
    return cfg


def analytics_content(cfg: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table an analysis step writes (and the edges and tags it reads), without time stamps,
    floats to 9 decimals, in a fixed order."""
    from analytics.steps import STEPS

    tables = sorted({table for step in STEPS for table in step.writes} | {"interactions", "mention_topics"})
    content = {}
    with open_store(load_settings(cfg).store, read_only=True) as store:
        for table in tables:
            names = [d[0] for d in store.conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
            kept = ", ".join(f'"{name}"' for name in ANALYZED.get(table, names) if name not in VOLATILE)
            rows = [
                tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                for row in store.conn.execute(f"SELECT {kept} FROM {table}").fetchall()
            ]
            content[table] = sorted(set(rows) if table in HISTORY else rows, key=repr)
    return content


def test_two_workers_analyze_one_lake_at_once_and_agree_with_one(tmp_path: Path, lake_catalog: str):
    """Two `analyze` processes, each with its own connection, on one lake at the same moment: both
    finish, and the analytics tables hold exactly what one analyze writes (into a DuckDB file: the
    lake computes what the embedded store does)."""
    from orgs import AS_OF

    from listener import pipeline

    alone = org_on_lake(tmp_path / "alone", None)
    settings = load_settings(alone)
    with open_store(settings.store) as store:
        pipeline.analyze(store, settings, today=AS_OF)
    expected = analytics_content(alone)
    for table in (
        "sentiment",
        "influencers",
        "communities",
        "conversation_shapes",
        "kpi_values",
        "maturity_assessments",
    ):
        assert expected[table], table  # the organization gives every step something to write

    raced = org_on_lake(tmp_path / "raced", lake_catalog)
    start = tmp_path / "start"
    ready = [tmp_path / f"worker{n}.ready" for n in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", ANALYZE_WORKER, str(raced), str(flag), str(start), str(AS_OF)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready):
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers), [
            w.communicate() for w in workers
        ]
        time.sleep(0.05)
    start.touch()
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    spans = [json.loads(out) for out, _ in outputs]
    assert max(s["began"] for s in spans) < min(s["ended"] for s in spans)  # they did analyze at once
    assert analytics_content(raced) == expected
    with open_store(load_settings(raced).store, read_only=True) as store:  # each recorded its assessment
        assert store.conn.execute("SELECT count(*) FROM maturity_assessments").fetchall() == [(2,)]
    retries = sum(err.count("write conflict with another worker, retrying") for _, err in outputs)
    print(f"\ntwo analyzes at once: {retries} units of work re-run after a lost conflict")
