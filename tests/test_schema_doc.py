"""docs/schema.md and the real tables stay in step."""

from __future__ import annotations

import re
from pathlib import Path

from listener.store.connection import Store

DOC = Path(__file__).resolve().parent.parent / "docs" / "schema.md"

CONTRACT = {  # the analyst contract from the foundation issue: these must exist as written
    "mentions": [
        "mention_id",
        "source",
        "native_id",
        "url",
        "author_id",
        "title",
        "text",
        "lang",
        "created_at",
        "collected_at",
        "parent_id",
        "thread_id",
        "community",
        "like_count",
        "repost_count",
        "reply_count",
        "quote_count",
        "score",
        "is_own",
        "run_id",
        "raw",
    ],
    "authors": [
        "author_id",
        "source",
        "handle",
        "display_name",
        "followers_count",
        "following_count",
        "verified",
        "url",
        "is_own",
        "first_seen",
        "last_seen",
    ],
    "interactions": ["mention_id", "source", "from_author_id", "to_author_id", "kind", "created_at"],
    "mention_topics": ["mention_id", "topic", "kind"],
    "sentiment": ["mention_id", "compound", "pos", "neu", "neg", "label", "scorer", "scored_at"],
    "runs": ["run_id", "source", "started_at", "finished_at", "status", "fetched", "inserted", "error"],
    "cursors": ["source", "key", "value", "updated_at"],
}


def documented_tables() -> dict[str, list[tuple[str, str]]]:
    tables: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### (\w+)\s*$", line)
        if heading:
            current = heading.group(1)
            tables[current] = []
            continue
        row = re.match(r"^\| (\w+) \| ([A-Z]+) \|", line)
        if current and row:
            tables[current].append((row.group(1), row.group(2)))
    return tables


def actual_tables(tmp_path: Path) -> dict[str, list[tuple[str, str]]]:
    with Store(tmp_path / "s.duckdb") as store:
        rows = store.conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, []).append((column, "TIMESTAMPTZ" if dtype == "TIMESTAMP WITH TIME ZONE" else dtype))
    return tables


def test_every_table_and_column_is_documented_with_its_type(tmp_path: Path):
    assert documented_tables() == actual_tables(tmp_path)


def test_contract_columns_exist(tmp_path: Path):
    actual = actual_tables(tmp_path)
    for table, columns in CONTRACT.items():
        names = [c for c, _ in actual[table]]
        assert set(columns) <= set(names), (table, set(columns) - set(names))
