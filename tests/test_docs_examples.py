"""Every ```sql block of README.md and docs/*.md runs against the demo's snapshot and returns rows.

The demo of the session (conftest.demo_run: `listener demo --today DEMO_TODAY`) is what a
newcomer has after `python3 dev.py demo`. Two documented placeholders are read the way the
docs say (docs/analysts.md): `data/snapshot/` is the demo's `<out>/snapshot/`, and
`current_date` is the day the demo ran (DEMO_TODAY), as it is for someone who runs the
examples after the demo. Shell dot-commands (`.tables`, `.quit`) run in the DuckDB shell
itself, through `listener sql`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import DEMO_TODAY, ROOT, run_cli

SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.S)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_blocks() -> list[Any]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in SQL_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(pytest.param(match.group(1), id=f"{path.name}:{line}"))
    return found


BLOCKS = documented_blocks()


def statements(block: str) -> list[str]:
    """The SQL statements of a block: dot-commands left to the shell, comment-only pieces dropped."""
    sql = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("."))
    pieces = [piece.strip() for piece in sql.split(";")]
    return [p for p in pieces if any(line.strip() and not line.strip().startswith("--") for line in p.splitlines())]


def as_documented(sql: str, snapshot_dir: Path) -> str:
    return sql.replace("data/snapshot/", f"{snapshot_dir.as_posix()}/").replace("current_date", f"DATE '{DEMO_TODAY}'")


def test_the_docs_have_sql_examples_to_check():
    assert len(BLOCKS) >= 24
    assert {p.id.split(":")[0] for p in BLOCKS} >= {
        "analysts.md",
        "analytics-metrics.md",
        "analytics-network.md",
        "maturity.md",
        "schema.md",
    }


@pytest.mark.parametrize("block", BLOCKS)
def test_every_documented_query_returns_rows_on_the_demo(block: str, demo_run):
    summary, _ = demo_run
    snapshot = Path(summary["snapshot"])
    queries = statements(block)
    assert queries, "a sql block without a statement"
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")  # as `listener sql` sets it
        for sql in queries:
            rows = conn.execute(as_documented(sql, snapshot.parent)).fetchall()
            assert rows, f"no rows from:\n{sql}"


def test_the_shell_block_runs_in_the_duckdb_shell(demo_run):
    """docs/analysts.md's block with `.tables` and `.quit`, as typed into `listener sql`."""
    summary, _ = demo_run
    (block,) = [p.values[0] for p in BLOCKS if ".tables" in p.values[0]]
    result = run_cli("--config", summary["config"], "sql", env={"NO_COLOR": "1"}, stdin=block)
    assert result.returncode == 0, result.stderr
    for name in ("mentions", "daily_sentiment", "top_influencers_current", "kpi_values"):
        assert name in result.stdout
    assert "positive" in result.stdout  # a row of daily_sentiment
