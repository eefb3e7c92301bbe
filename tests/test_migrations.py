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
        conn.execute("INSERT INTO mentions (mention_id, source, native_id, text, created_at, collected_at, updated_at)"
                     " VALUES ('x:1', 'x', '1', 'acme', now(), now(), now())")
        conn.execute("INSERT INTO sentiment VALUES ('x:1', 0.5, 0.5, 0.5, 0, 'positive', 'vader 3.3.2', now())")
        assert schema_version(conn) == 1
    monkeypatch.undo()
    with Store(path) as store:
        assert schema_version(store.conn) == MIGRATIONS[-1].version
        assert store.conn.execute("SELECT text, lang_detected FROM mentions").fetchall() == [("acme", False)]
        assert store.conn.execute("SELECT label, supported FROM sentiment").fetchall() == [("positive", True)]
    with Store(path) as store:  # opening again applies nothing twice
        assert store.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
