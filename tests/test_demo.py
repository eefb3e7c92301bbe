"""`listener demo` runs the real pipeline offline and leaves a queryable store."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, table_rows


def test_demo_builds_a_store_and_prints_a_summary(tmp_path: Path):
    result = run_cli("demo", "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    db = tmp_path / "listener.duckdb"
    assert summary["database"] == str(db)
    assert summary["mentions_per_source"]["rss"] >= 150
    topics = {t["topic"]: t["mentions"] for t in summary["mentions_per_topic"]}
    assert topics["Acme"] > topics["Globex"] > topics["Initech"] > 0
    assert set(summary["sentiment"]) == {"positive", "neutral", "negative"}
    assert any("ill-formed feed" in w for w in summary["warnings"])  # the broken sample feed is kept
    assert summary["most_active_authors"][0]["own"] is True
    # Every mention is scored; the Atom xml:lang entries keep their language.
    assert table_rows(db, "SELECT count(*) FROM mentions m ANTI JOIN sentiment s USING (mention_id)") == [(0,)]
    langs = {r[0] for r in table_rows(db, "SELECT DISTINCT lang FROM mentions WHERE lang IS NOT NULL")}
    assert {"en", "fr"} <= langs
    # "Acme anvil" cartoons are excluded from the brand.
    anvil = table_rows(db, "SELECT count(*) FROM mentions m JOIN mention_topics t USING (mention_id) "
                           "WHERE t.topic = 'Acme' AND lower(m.text) LIKE '%acme anvil%' "
                           "AND NOT regexp_matches(replace(lower(m.text), 'acme anvil', ''), '\\bacme\\b')")
    assert anvil == [(0,)]


def test_demo_human_output_explains_how_to_query(tmp_path: Path):
    result = run_cli("demo", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Mentions per topic:" in result.stdout and "Open it: duckdb" in result.stdout
