"""`listener import`: bad rows reported by line, good rows kept; export round-trips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import run_cli, table_rows, write_config

GOOD = [
    {
        "source": "x",
        "id": "100",
        "url": "https://x.example/acme/status/100",
        "created_at": "2026-11-20T09:30:00+00:00",
        "text": "Acme coffee rocks @globex",
        "lang": "en",
        "author": {"id": "1", "handle": "acme", "name": "Acme", "followers": 5400},
        "metrics": {"likes": 3, "reposts": 1},
        "mentions": ["globex"],
        "campaign": "launch",
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
        "created_at": "2026-11-21T08:00:00",
        "text": "Globex is fine too",
        "community": "r/espresso",
        "thread_id": "t3_p",
        "parent_id": "t3_p",
        "author": {"handle": "carol"},
    },
]


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_reports_bad_rows_by_line_and_keeps_good(tmp_path: Path):
    config = write_config(tmp_path)
    lines = [
        json.dumps(GOOD[0]),
        "{broken json",
        json.dumps(GOOD[1]),
        json.dumps({"source": "x", "id": "9"}),
        "",
        json.dumps(dict(GOOD[2], created_at="yesterday")),
        json.dumps(GOOD[2]),
        "[1, 2]",
        json.dumps({"source": "x", "id": "8", "created_at": "2026-01-01", "text": "no author"}),
    ]
    result = run_cli("--config", str(config), "import", str(_write_jsonl(tmp_path / "in.jsonl", lines)), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["inserted"] == 3
    assert [(e["line"], e["error"]) for e in report["errors"]] == [
        (2, "not valid JSON"),
        (4, 'missing required field "created_at"'),
        (6, 'field "created_at" is not an ISO-8601 timestamp: yesterday'),
        (8, "not a JSON object"),
        (9, 'missing required field "author.id" (or "author.handle")'),
    ]
    db = tmp_path / "listener.duckdb"
    raw = table_rows(db, "SELECT raw->>'campaign', is_own FROM mentions WHERE mention_id = 'x:100'")
    assert raw == [("launch", True)]  # unknown fields kept in raw; own account from config
    edges = table_rows(db, "SELECT mention_id, from_author_id, to_author_id, kind FROM interactions ORDER BY ALL")
    assert edges == [
        ("reddit:t1_c1", "reddit:@carol", None, "comment"),
        ("x:100", "x:1", "x:@globex", "mention"),
        ("x:101", "x:2", "x:1", "reply"),
    ]
    again = run_cli("--config", str(config), "import", str(tmp_path / "in.jsonl"), "--json")
    assert json.loads(again.stdout)["inserted"] == 0
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(3,)]


def test_duplicate_ids_in_one_file_keep_the_last(tmp_path: Path):
    config = write_config(tmp_path)
    later = dict(GOOD[0], text="Acme edited text", metrics={"likes": 9})
    path = _write_jsonl(tmp_path / "dup.jsonl", [json.dumps(GOOD[0]), json.dumps(later)])
    assert run_cli("--config", str(config), "import", str(path)).returncode == 0
    assert table_rows(tmp_path / "listener.duckdb", "SELECT text, like_count FROM mentions") == [
        ("Acme edited text", 9)
    ]


def test_csv_import_with_dotted_columns(tmp_path: Path):
    config = write_config(tmp_path)
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "source",
                "id",
                "created_at",
                "text",
                "author.id",
                "author.handle",
                "author.followers",
                "metrics.likes",
                "mentions",
            ]
        )
        writer.writerow(
            ["x", "1", "2026-11-20T09:30:00Z", 'Acme, "quoted"\nmultiline', "7", "dora", "12", "4", "acme globex"]
        )
        writer.writerow(["x", "2", "not a date", "acme", "8", "eve", "", "", ""])
    result = run_cli("--config", str(config), "import", str(path), "--json")
    report = json.loads(result.stdout)
    assert report["inserted"] == 1 and report["errors"][0]["line"] == 4  # CSV line numbers count the header
    rows = table_rows(tmp_path / "listener.duckdb", "SELECT text, like_count FROM mentions")
    assert rows == [('Acme, "quoted"\nmultiline', 4)]
    authors = table_rows(tmp_path / "listener.duckdb", "SELECT author_id, followers_count FROM authors")
    assert authors == [("x:7", 12)]


def test_export_then_import_round_trips(tmp_path: Path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    path = _write_jsonl(tmp_path / "in.jsonl", [json.dumps(d) for d in GOOD])
    assert run_cli("--config", str(write_config(first)), "import", str(path)).returncode == 0
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"out.{fmt}"
        assert run_cli("--config", str(write_config(first)), "export", "--out", str(out)).returncode == 0
        target = second / fmt
        target.mkdir()
        assert run_cli("--config", str(write_config(target)), "import", str(out)).returncode == 0
        query = (
            "SELECT mention_id, author_id, text, created_at, parent_id, thread_id, community, like_count "
            "FROM mentions ORDER BY 1"
        )
        assert table_rows(target / "listener.duckdb", query) == table_rows(first / "listener.duckdb", query)
        edges = "SELECT mention_id, from_author_id, to_author_id, kind FROM interactions ORDER BY ALL"
        assert table_rows(target / "listener.duckdb", edges) == table_rows(first / "listener.duckdb", edges)
