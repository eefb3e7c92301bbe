"""Each period's interaction graph built once per `listener analyze`, shared by communities,
influencers and shapes.

While `keeping_periods` is open (pipeline.analyze, on a store only this process writes),
`analytics.network.graph.stage_period` keeps what it stages as the temp tables
`period_cache_<start>_<end>_v` / `_e` and copies them back for the next step that asks for the
same period. A kept table created in a transaction that rolled back is simply gone and is built
again. On DuckLake the cache stays off: another worker may load between two steps, and each step
must read what is there. No heavy imports here: the pipeline imports this module at start-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb

from listener.store.connection import Store, temp_table_exists

MARKER = "period_cache_on"  # a temp table: while it exists, staged periods are kept
PREFIX = "period_cache_"


def kept_name(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> str | None:
    """The kept tables' stem for a period (`_v` and `_e` appended), or None when nothing is kept."""
    return f"{PREFIX}{start:%Y%m%d}_{end:%Y%m%d}" if temp_table_exists(conn, MARKER) else None


@contextmanager
def keeping_periods(store: Store) -> Iterator[None]:
    if store.lake is not None:
        yield
        return
    store.conn.execute(f"CREATE OR REPLACE TEMP TABLE {MARKER} (on_ BOOLEAN)")
    try:
        yield
    finally:
        kept = store.conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, ?)", [PREFIX]
        ).fetchall()
        for (name,) in kept:
            store.conn.execute(f'DROP TABLE IF EXISTS temp.main."{name}"')
