"""Migrations: named, ordered, recorded, and forward from any earlier version with data kept."""

from __future__ import annotations

from pathlib import Path

import duckdb

from listener.store.connection import Store
from listener.store.migrations import MIGRATIONS, apply_migrations, schema_version


def test_fresh_store_records_every_migration(tmp_path: Path):
    with Store(tmp_path / "s.duckdb") as store:
        rows = store.conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_old_store_migrates_forward_and_keeps_data(tmp_path: Path, monkeypatch):
    path = tmp_path / "old.duckdb"
    monkeypatch.setattr("listener.store.migrations.MIGRATIONS", MIGRATIONS[:1])
    with duckdb.connect(str(path)) as conn:
        apply_migrations(conn)
        conn.execute(
            "INSERT INTO mentions (mention_id, source, native_id, text, created_at, collected_at, updated_at)"
            " VALUES ('x:1', 'x', '1', 'acme', now(), now(), now())"
        )
        conn.execute("INSERT INTO sentiment VALUES ('x:1', 0.5, 0.5, 0.5, 0, 'positive', 'vader 3.3.2', now())")
        assert schema_version(conn) == 1
    monkeypatch.undo()
    with Store(path) as store:
        assert schema_version(store.conn) == MIGRATIONS[-1].version
        assert store.conn.execute("SELECT text, lang_detected FROM mentions").fetchall() == [("acme", False)]
        assert store.conn.execute("SELECT label, supported FROM sentiment").fetchall() == [("positive", True)]
    with Store(path) as store:  # opening again applies nothing twice
        assert store.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_text_hashes_are_filled_so_stored_scores_are_not_scored_again(tmp_path: Path, monkeypatch):
    from analytics.sentiment.score import score_pending, scorer_label
    from listener.core.models import text_hash_sql

    path = tmp_path / "v7.duckdb"
    monkeypatch.setattr("listener.store.migrations.MIGRATIONS", tuple(m for m in MIGRATIONS if m.version <= 7))
    with duckdb.connect(str(path)) as conn:
        apply_migrations(conn)
        conn.execute(
            "INSERT INTO mentions (mention_id, source, native_id, title, text, created_at, collected_at, "
            "updated_at) VALUES ('x:1', 'x', '1', 'Acme', 'great coffee', now(), now(), now()), "
            "('x:2', 'x', '2', NULL, 'meh', now(), now(), now())"
        )
        conn.execute(
            "INSERT INTO sentiment VALUES ('x:1', 0.6, 0.5, 0.5, 0, 'positive', ?, now(), true)", [scorer_label()]
        )
    monkeypatch.undo()
    with Store(path) as store:
        rows = store.conn.execute(f"SELECT text_hash = {text_hash_sql('m')} FROM mentions m").fetchall()
        assert rows == [(True,), (True,)]
        assert store.conn.execute(
            "SELECT s.text_hash = m.text_hash FROM sentiment s JOIN mentions m USING (mention_id)"
        ).fetchall() == [(True,)]
        assert store.conn.execute("SELECT writes FROM analysis_writes").fetchall() == [(0,)]
        assert score_pending(store, workers=1) == (1, 1)  # only the one never scored
        assert store.conn.execute("SELECT compound FROM sentiment WHERE mention_id = 'x:1'").fetchall() == [(0.6,)]
