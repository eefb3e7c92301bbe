"""`listener snapshot`: a consistent read-only copy (DuckDB file + Parquet) analysts can keep open."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, table_rows, write_config

from listener import pipeline
from listener.cli import app as cli_module
from listener.cli.snapshot import snapshot_command
from listener.core.settings import load_settings
from listener.ingest.importer import read_batches
from listener.publish.snapshot import snapshot_store
from listener.store.connection import open_store
from listener.store.ledger import finish_run, start_run

DOCS = [
    {
        "source": "x",
        "id": "100",
        "created_at": "2026-11-20T09:30:00+00:00",
        "text": "Acme coffee rocks @globex",
        "lang": "en",
        "author": {"id": "1", "handle": "acme", "followers": 5400},
        "metrics": {"likes": 3},
        "mentions": ["globex"],
    },
    {
        "source": "x",
        "id": "101",
        "created_at": "2026-11-20T10:00:00Z",
        "text": "@acme yours is burnt",
        "parent_id": "100",
        "author": {"id": "2", "handle": "bob"},
    },
    {
        "source": "reddit",
        "id": "t1_c1",
        "created_at": "2026-11-21T08:00:00Z",
        "text": "Globex is fine too",
        "community": "r/espresso",
        "thread_id": "t3_p",
        "parent_id": "t3_p",
        "author": {"handle": "carol"},
    },
]
LATE = {
    "source": "x",
    "id": "102",
    "created_at": "2026-11-22T10:00:00Z",
    "text": "acme again, love it",
    "author": {"id": "3", "handle": "dan"},
}

# the real entry point (listener.cli.app.main: exit codes), with the command registered if cli.py does not yet
SNAPSHOT = textwrap.dedent("""
    import sys
    from listener.cli.app import cli, main
    from listener.cli.snapshot import snapshot_command
    if "snapshot" not in cli.commands:
        cli.add_command(snapshot_command)
    main(sys.argv[1:])
""")


def snapshot_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SNAPSHOT, "--config", str(config), "snapshot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def _import(config: Path, docs: list[dict], name: str = "in.jsonl") -> None:
    """What `listener import` does, in this process (a CLI start costs ~1.5 s)."""
    path = config.parent / name
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    settings = load_settings(config)
    with open_store(settings.store_path) as store:
        ledger = start_run(store, "import", f"import {name}")
        result = pipeline.load_batches(store, settings, read_batches(path, "jsonl"), ledger.run_id)
        ledger.status = "ok"
        finish_run(store, ledger)
    assert not result.errors


def snapshot_main(config: Path, *args: str) -> int:
    """`listener ... snapshot` through listener.cli.app.main (exit codes), in this process."""
    added = "snapshot" not in cli_module.cli.commands
    if added:
        cli_module.cli.add_command(snapshot_command)
    try:
        cli_module.main(["--config", str(config), "snapshot", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if added:
            del cli_module.cli.commands["snapshot"]
    return 0


def _relations(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as conn:
        names = [
            n
            for (n,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal "
                "AND NOT temporary"
            ).fetchall()
        ]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = write_config(tmp_path_factory.mktemp("snapshot"))
    _import(config, DOCS)
    settings = load_settings(config)
    with open_store(settings.store_path) as store:
        pipeline.analyze(store, settings)
    return config


def test_snapshot_is_a_faithful_copy_with_manifest_and_parquet(analyzed: Path, capsys: pytest.CaptureFixture[str]):
    live = analyzed.parent / "listener.duckdb"
    assert snapshot_main(analyzed, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    out = analyzed.parent / "snapshot"  # default: <store dir>/snapshot
    assert Path(report["database"]) == out / "listener.duckdb"

    expected = _relations(live)
    assert _relations(out / "listener.duckdb") == expected
    for view in ("daily_sentiment", "share_of_voice", "top_influencers_current", "community_overview"):
        assert view in expected
    assert expected["mentions"] == 3

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    version = table_rows(live, "SELECT max(version) FROM schema_migrations")[0][0]
    assert manifest["schema_version"] == version
    assert {**manifest["tables"], **manifest["views"]} == expected
    assert set(manifest["views"]) == {
        n
        for (n,) in table_rows(live, "SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal")
    }
    assert manifest["created_at"].endswith("+00:00")

    parquet = out / "parquet"
    assert {p.stem for p in parquet.glob("*.parquet")} == set(expected)
    assert not list(out.glob(".staging-*"))
    with duckdb.connect() as conn:
        for name, rows in expected.items():
            assert conn.execute(f"SELECT count(*) FROM read_parquet('{parquet / name}.parquet')").fetchone()[0] == rows
        texts = conn.execute(f"SELECT text FROM read_parquet('{parquet}/mentions.parquet') ORDER BY 1").fetchall()
    assert texts == table_rows(live, "SELECT text FROM mentions ORDER BY 1")

    # the live store is writable at once: the snapshot let go of it
    with open_store(live) as store:
        store.write_transaction(lambda conn: store.set_cursors("rss", {"probe": "1"}), "test")
    with open_store(live) as store:
        store.write_transaction(lambda conn: conn.execute("DELETE FROM cursors WHERE key = 'probe'"), "test")

    text = snapshot_cli(analyzed)  # the real thing, in its own process
    assert text.returncode == 0, text.stderr
    assert "open it: duckdb -readonly" in text.stdout


def test_open_reader_keeps_its_view_while_a_new_snapshot_is_published(tmp_path: Path):
    config = write_config(tmp_path)
    _import(config, DOCS)
    live, out = tmp_path / "listener.duckdb", tmp_path / "share"
    first = snapshot_store(live, out)
    assert first.tables["mentions"] == 3

    reader = subprocess.Popen(  # an analyst's notebook, open on the snapshot all along
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys
            conn = duckdb.connect({str(out / "listener.duckdb")!r}, read_only=True)
            print(conn.execute("SELECT count(*) FROM mentions").fetchone()[0], flush=True)
            sys.stdin.readline()
            print(conn.execute("SELECT count(*) FROM mentions").fetchone()[0], flush=True)
            print(conn.execute("SELECT count(*) FROM mentions m JOIN authors a USING (author_id)").fetchone()[0])
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert reader.stdout.readline().strip() == "3"
        _import(config, [LATE], "late.jsonl")  # the writer is not blocked by the open snapshot
        second = snapshot_store(live, out)  # nor is publishing
        assert second.tables["mentions"] == 4
        assert table_rows(out / "listener.duckdb", "SELECT count(*) FROM mentions") == [(4,)]
        assert (
            duckdb.connect()
            .execute(f"SELECT count(*) FROM read_parquet('{out}/parquet/mentions.parquet')")
            .fetchone()[0]
            == 4
        )
        stdout, stderr = reader.communicate("go\n", timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0, stderr
    assert stdout.split() == ["3", "3"]
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["tables"]["mentions"] == 4


def test_busy_store_exits_3_and_live_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config = write_config(tmp_path)
    _import(config, DOCS[:1])
    live = tmp_path / "listener.duckdb"
    holder = subprocess.Popen(  # another process (e.g. `listener run`) holds the store for writing
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(live)!r}); print('ready', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert snapshot_main(config) == 3
    finally:
        holder.communicate("done\n", timeout=30)
    assert "in use by another process" in capsys.readouterr().err
    assert not (tmp_path / "snapshot" / "listener.duckdb").exists()

    assert snapshot_main(config, "--out", str(tmp_path)) == 2
    assert "live store" in capsys.readouterr().err
    assert table_rows(live, "SELECT count(*) FROM mentions") == [(1,)]


def test_no_store_yet_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert snapshot_main(write_config(tmp_path)) == 2
    assert "no store yet" in capsys.readouterr().err
