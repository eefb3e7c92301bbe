"""The analysis step registry, the one write-transaction API, and rescoring through `text_hash`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import FIXTURES

from analytics.sentiment.score import score_pending
from analytics.steps import STEPS, restart_after_retag, steps_for, tables_restarted_by_retag
from listener import pipeline
from listener.core.models import text_hash_sql
from listener.core.settings import settings_from_dict
from listener.ingest.loader import documents_batch, load_batch
from listener.store.connection import Claim, Store

sys.path.insert(0, str(FIXTURES / "maturity"))  # `orgs`: the maturity scenarios, imported where used

# Tables written by the store's own upkeep or the loader, not by an analysis step.
NOT_ANALYSIS = {
    "mentions",
    "authors",
    "interactions",
    "mention_topics",
    "runs",
    "cursors",
    "digests",
    "alert_events",  # the alert rules' (analytics/alerting.py, after each collect, not an analyze step)
    "alert_deliveries",
    "inbox_state",  # the analysts' decisions (listener inbox), not computed
    "sentiment_overrides",  # the analysts' labels (listener sentiment set)
    "spool_segments",
    "store_writes",
    "analysis_writes",
    "schema_migrations",
}


def _doc(native_id: str, text: str) -> str:
    return json.dumps(
        {
            "source": "x",
            "id": native_id,
            "created_at": "2026-03-02T09:00:00Z",
            "text": text,
            "author": {"handle": "bob"},
        }
    )


def _load(store: Store, docs: list[str]) -> None:
    rules = pipeline.prepare(store, settings_from_dict({"organization": {"name": "Acme", "brand_terms": ["acme"]}}))
    store.write_transaction(
        lambda conn: load_batch(conn, documents_batch(docs), "test", rules), "test", claim=Claim.LOADS
    )


def _scored(store: Store) -> dict[str, tuple[Any, ...]]:
    return {
        r[0]: r[1:]
        for r in store.conn.execute("SELECT mention_id, label, scored_at, text_hash FROM sentiment").fetchall()
    }


def test_every_analytics_table_is_written_by_a_registered_step(tmp_path: Path):
    with Store(tmp_path / "s.duckdb") as store:
        tables = {
            t
            for (t,) in store.conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            ).fetchall()
        }
    written = {table for step in STEPS for table in step.writes}
    assert written <= tables
    assert tables - NOT_ANALYSIS <= written
    assert len({step.name for step in STEPS}) == len(STEPS)
    assert tables_restarted_by_retag() == (
        "topic_sentiment",
        "influencers",
        "communities",
        "community_members",
        "conversation_shapes",
    )


def test_language_detection_is_a_step_only_when_configured():
    org = {"organization": {"name": "Acme", "brand_terms": ["acme"]}}
    on = [s.name for s in steps_for(settings_from_dict(org))]
    off = [s.name for s in steps_for(settings_from_dict({**org, "analytics": {"detect_language": False}}))]
    assert on == ["language", *off] and off[:2] == ["sentiment", "supported"] and off[-1] == "maturity"


def test_a_retag_empties_the_weekly_tables_and_nothing_else(tmp_path: Path):
    from orgs import AS_OF, cocreate_org, write_org_config

    from listener.core.settings import load_settings
    from listener.ingest.importer import read_batches

    settings = load_settings(write_org_config(tmp_path))
    file = cocreate_org().write(tmp_path / "mentions.jsonl")
    with Store(settings.store_path) as store:
        pipeline.load_batches(store, settings, read_batches(file, "jsonl"), "test")
        pipeline.analyze(store, settings, today=AS_OF)
        counts = {
            t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for step in STEPS for t in step.writes
        }
        assert all(counts[t] for t in tables_restarted_by_retag()) and counts["sentiment"]
        store.write_transaction(restart_after_retag, "test", claim=Claim.ANALYSIS)
        after = {t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts}
    assert after == {t: 0 if t in tables_restarted_by_retag() else n for t, n in counts.items()}


def test_a_changed_text_is_scored_again_and_an_unchanged_one_is_not(tmp_path: Path):
    with Store(tmp_path / "s.duckdb") as store:
        _load(store, [_doc("1", "acme is great"), _doc("2", "acme is fine")])
        assert score_pending(store, workers=1) == (2, 2)
        before = _scored(store)
        _load(store, [_doc("1", "acme is awful"), _doc("2", "acme is fine")])  # 1 edited, 2 collected again
        hashes = dict(store.conn.execute(f"SELECT mention_id, {text_hash_sql('m')} FROM mentions m").fetchall())
        assert dict(store.conn.execute("SELECT mention_id, text_hash FROM mentions").fetchall()) == hashes
        assert score_pending(store, workers=1) == (1, 1)
        after = _scored(store)
    assert after["x:1"][0] == "negative" and after["x:1"][2] == hashes["x:1"] != before["x:1"][2]
    assert after["x:2"] == before["x:2"]  # same score, same time: not scored again


def test_a_write_transaction_rolls_back_on_error_and_does_not_nest(tmp_path: Path):
    with Store(tmp_path / "s.duckdb") as store:

        def fail(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute("INSERT INTO cursors VALUES ('test', 'k', 'v', now())")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            store.write_transaction(fail, "test")
        assert store.conn.execute("SELECT count(*) FROM cursors").fetchone()[0] == 0
        with pytest.raises(RuntimeError, match="does not nest"):
            store.write_transaction(lambda conn: store.write_transaction(lambda inner: None, "inner"), "outer")
        assert store.write_transaction(lambda conn: 7, "test", claim=Claim.ANALYSIS) == 7
        assert store.conn.execute("SELECT writes FROM analysis_writes").fetchall() == [(1,)]
