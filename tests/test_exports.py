"""`listener export`: any table as Parquet/CSV, the interaction graph as GEXF."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli, table_rows, write_config

HOSTILE = "<script>alert('x')</script> & \"co\"\x01\x1f"
DOCS = [
    {
        "source": "x",
        "id": "1",
        "created_at": "2026-11-20T09:00:00Z",
        "text": "Acme rocks @bob @bob",
        "author": {"id": "10", "handle": HOSTILE, "followers": 42},
        "mentions": ["bob"],
    },
    {
        "source": "x",
        "id": "2",
        "created_at": "2026-11-21T09:00:00Z",
        "text": "@bob acme again",
        "parent_id": "3",
        "author": {"id": "10", "handle": HOSTILE, "followers": 42},
    },
    {
        "source": "x",
        "id": "3",
        "created_at": "2026-11-19T09:00:00Z",
        "text": "hi from bob",
        "author": {"id": "20", "handle": "bob", "followers": 7},
    },
    {
        "source": "x",
        "id": "4",
        "created_at": "2026-11-25T09:00:00Z",
        "text": "late @bob",
        "author": {"id": "30", "handle": "a&b", "followers": 1},
        "mentions": ["bob"],
    },
]
NS = {"g": "http://gexf.net/1.3"}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("exports")
    config = write_config(home)
    data = home / "in.jsonl"
    data.write_text("\n".join(json.dumps(d) for d in DOCS) + "\n", encoding="utf-8")
    assert run_cli("--config", str(config), "import", str(data)).returncode == 0
    assert run_cli("--config", str(config), "analyze").returncode == 0
    return config


def test_table_to_parquet_and_csv(loaded: Path, tmp_path: Path):
    db = loaded.parent / "listener.duckdb"
    parquet = tmp_path / "sentiment.parquet"
    result = run_cli("--config", str(loaded), "export", "--table", "sentiment", "--out", str(parquet))
    assert result.returncode == 0, result.stderr
    count = table_rows(db, "SELECT count(*) FROM sentiment")[0][0]
    assert f"{count} rows" in result.stdout
    with duckdb.connect() as conn:
        assert conn.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)]).fetchone()[0] == count
    out = tmp_path / "authors.data"
    assert (
        run_cli(
            "--config", str(loaded), "export", "--table", "AUTHORS", "--out", str(out), "--format", "csv"
        ).returncode
        == 0
    )
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == table_rows(db, "SELECT count(*) FROM authors")[0][0]
    assert HOSTILE in {row["handle"] for row in rows}


def test_unknown_table_and_bad_options_exit_2(loaded: Path, tmp_path: Path):
    for name in ("nope", "sentiment; DROP TABLE mentions"):
        result = run_cli("--config", str(loaded), "export", "--table", name, "--out", str(tmp_path / "x.csv"))
        assert result.returncode == 2 and "unknown table" in result.stderr and "mentions" in result.stderr
    assert table_rows(loaded.parent / "listener.duckdb", "SELECT count(*) FROM mentions") == [(4,)]
    bad = run_cli("--config", str(loaded), "export", "--table", "mentions", "--out", str(tmp_path / "x.txt"))
    assert bad.returncode == 2 and "--format parquet|csv" in bad.stderr
    both = run_cli("--config", str(loaded), "export", "--graph", str(tmp_path / "g.gexf"), "--out", "x.csv")
    assert both.returncode == 2


def _graph(path: Path) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], dict[str, str]]]:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://gexf.net/1.3}gexf" and root.get("version") == "1.3"
    nodes = {}
    for node in root.iterfind("g:graph/g:nodes/g:node", NS):
        values = {v.get("for"): v.get("value") for v in node.iterfind("g:attvalues/g:attvalue", NS)}
        nodes[node.get("id")] = {"label": node.get("label"), **values}
    edges = {}
    for edge in root.iterfind("g:graph/g:edges/g:edge", NS):
        values = {v.get("for"): v.get("value") for v in edge.iterfind("g:attvalues/g:attvalue", NS)}
        edges[(edge.get("source"), edge.get("target"))] = {"weight": edge.get("weight"), **values}
    return nodes, edges


def test_graph_gexf_weights_attributes_and_hostile_names(loaded: Path, tmp_path: Path):
    out = tmp_path / "g.gexf"
    result = run_cli("--config", str(loaded), "export", "--graph", str(out))
    assert result.returncode == 0, result.stderr
    nodes, edges = _graph(out)
    clean = HOSTILE.replace("\x01", "").replace("\x1f", "")  # XML 1.0 cannot carry control characters
    assert nodes["x:10"] == {"label": clean, "handle": clean, "source": "x", "followers": "42", "is_own": "false"}
    assert nodes["x:30"]["handle"] == "a&b"
    bob = next(node_id for node_id, node in nodes.items() if node["handle"] == "bob")
    # x:10 replied to bob once and mentioned him once: one edge, weight 2, with the kind breakdown.
    assert edges == {
        ("x:10", bob): {"weight": "2", "reply": "1", "mention": "1"},
        ("x:30", bob): {"weight": "1", "mention": "1"},
    }
    week = tmp_path / "week.gexf"
    assert (
        run_cli(
            "--config", str(loaded), "export", "--graph", str(week), "--since", "2026-11-20", "--until", "2026-11-21"
        ).returncode
        == 0
    )
    _, window = _graph(week)
    assert set(window) == {("x:10", bob)}
