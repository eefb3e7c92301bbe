"""Things defined once: the placeholder author, engagement, the canonical fields, the `runs` writer."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT

from analytics.definitions import engagement, is_placeholder, is_placeholder_author, iso_week, utc_day
from listener.core.models import AUTHOR_FIELDS, CANONICAL_FIELDS, METRIC_FIELDS, AuthorRef, Mention, Metrics
from listener.ingest import importer, loader
from listener.publish import exporter

AUTHOR_IDS = [
    "x:unknown",
    "reddit:[deleted]",
    "rss:unknown",
    "x:123",
    "x:@unknown_fan",
    "reddit:deleted",
    "x:unknown:1",
    "rss:a:unknown",
    "unknown",
    "",
    None,
]


def test_the_placeholder_author_is_the_same_in_sql_and_in_python():
    with duckdb.connect() as conn:
        in_sql = [conn.execute(f"SELECT {is_placeholder('?')}", [author]).fetchone()[0] for author in AUTHOR_IDS]
    assert in_sql == [is_placeholder_author(author) for author in AUTHOR_IDS]
    assert in_sql == [True, True, True] + [False] * (len(AUTHOR_IDS) - 3)


def test_engagement_counts_each_interaction_once_unless_weighted():
    with duckdb.connect() as conn:
        conn.execute(
            "CREATE TABLE m AS SELECT 1 AS like_count, 2 AS repost_count, 3 AS reply_count, "
            "NULL AS quote_count, -5 AS score UNION ALL SELECT 0, 0, 0, 4, 7"
        )
        plain = conn.execute(f"SELECT {engagement('m')} FROM m").fetchall()
        weighted = conn.execute(f"SELECT {engagement('m', {'repost_count': 2, 'reply_count': 2})} FROM m").fetchall()
    assert plain == [(6,), (11,)]  # a negative score earns nothing
    assert weighted == [(11,), (11,)]


def test_days_and_weeks_are_utc_whatever_the_session_zone():
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'America/Los_Angeles'")
        day, week = conn.execute(
            f"SELECT {utc_day('t')}, {iso_week(utc_day('t'))} FROM (SELECT TIMESTAMPTZ '2026-11-30 02:00:00+00' AS t)"
        ).fetchone()
    assert (str(day), str(week)) == ("2026-11-30", "2026-11-30")  # Monday in UTC, Sunday in Los Angeles


def test_the_canonical_fields_are_the_mention_model_and_every_stage_uses_them():
    assert set(CANONICAL_FIELDS) == {f.name for f in dataclasses.fields(Mention)}
    assert AUTHOR_FIELDS == tuple(f.name for f in dataclasses.fields(AuthorRef))
    assert METRIC_FIELDS == tuple(f.name for f in dataclasses.fields(Metrics))
    assert loader._KNOWN == CANONICAL_FIELDS
    assert set(importer._TOP_LEVEL) | set(importer._OBJECTS) == set(CANONICAL_FIELDS)
    # Export writes every field the store keeps, in the documented order.
    kept = tuple(f for f in CANONICAL_FIELDS if f not in ("in_reply_to_author", "referenced_authors"))
    assert exporter.EXPORTED_FIELDS == kept


def _writes_runs(path: Path) -> bool:
    """True when a string in the module's code (not its docstrings) writes the `runs` table."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            sql = " ".join(node.value.upper().split())
            if any(verb in sql for verb in ("INTO RUNS ", "INTO RUNS(", "UPDATE RUNS ", "DELETE FROM RUNS")):
                return True
    return False


@pytest.mark.parametrize("package", ["listener", "analytics", "connectors"])
def test_only_the_ledger_writes_the_runs_table(package: str):
    writers = [str(p.relative_to(ROOT)) for p in sorted((ROOT / package).rglob("*.py")) if _writes_runs(p)]
    assert writers == (["listener/store/ledger.py"] if package == "listener" else [])
