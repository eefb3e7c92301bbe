"""Issue 11, import side: hostile files and records get one clear line each, good rows are kept.

Every test runs the real `listener import` (or the real reader and loader) on
real files in tmp_path; test names start with the item number of the issue.
"""

from __future__ import annotations

import csv
import ctypes
import io
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_cli, table_rows, write_config

from listener import pipeline
from listener.core.models import (
    EARLIEST_CREATED_AT,
    MAX_FUTURE,
    MAX_TEXT_CHARS,
    created_at_in_range,
)
from listener.core.settings import settings_from_dict
from listener.ingest.importer import read_batches
from listener.ingest.loader import documents_batch
from listener.store.connection import Store

NOW = datetime.now(UTC)
GOOD = {"source": "x", "id": "1", "created_at": "2026-11-20T09:30:00Z", "text": "acme", "author": {"id": "7"}}


def _good(n: int | str, **fields: Any) -> dict[str, Any]:
    return {**GOOD, "id": str(n), **fields}


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _import(tmp_path: Path, path: Path) -> tuple[int, dict[str, Any], str]:
    result = run_cli("--config", str(write_config(tmp_path)), "import", str(path), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def _errors(report: dict[str, Any]) -> dict[int, str]:
    return {e["line"]: e["error"] for e in report["errors"]}


def _kept(tmp_path: Path) -> list[str]:
    return [
        m for (m,) in table_rows(tmp_path / "listener.duckdb", "SELECT native_id FROM mentions ORDER BY created_at, 1")
    ]


def _fails_at_the_door(tmp_path: Path, path: Path | str) -> str:
    """The file is refused with exit 2 and one line on stderr; no store is created."""
    result = run_cli("--config", str(write_config(tmp_path)), "import", str(path))
    lines = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert not (tmp_path / "listener.duckdb").exists()
    return lines[0]


# -- item 2: time stamps outside 2000-01-01 .. now + 1 day -------------------------


def test_item2_created_at_outside_the_range_is_rejected_with_its_line(tmp_path: Path):
    soon, later = NOW + timedelta(hours=12), NOW + timedelta(days=2)
    rows = [
        _good(1),
        _good(2, created_at="9999-12-31T00:00:00Z"),
        _good(3, created_at="0001-01-01T00:00:00Z"),
        _good(4, created_at="10000-01-01T00:00:00Z"),
        _good(5, created_at="0044-03-15 BC"),
        _good(6, created_at="infinity"),
        _good(7, created_at="-infinity"),
        _good(8, created_at=later.isoformat()),
        _good(9, created_at="1999-12-31T23:59:59.999999Z"),
        _good(10, created_at="2000-01-01T00:00:00Z"),
        _good(11, created_at=soon.isoformat()),
    ]
    code, report, _ = _import(tmp_path, _jsonl(tmp_path / "in.jsonl", rows))
    assert code == 1
    assert _errors(report) == {
        2: 'field "created_at" is more than 1 day in the future: 9999-12-31T00:00:00Z',
        3: 'field "created_at" is before 2000-01-01T00:00:00Z: 0001-01-01T00:00:00Z',
        4: 'field "created_at" is more than 1 day in the future: 10000-01-01T00:00:00Z',
        5: 'field "created_at" is not an ISO-8601 timestamp: 0044-03-15 BC',
        6: 'field "created_at" is more than 1 day in the future: infinity',
        7: 'field "created_at" is before 2000-01-01T00:00:00Z: -infinity',
        8: f'field "created_at" is more than 1 day in the future: {later.isoformat()}',
        9: 'field "created_at" is before 2000-01-01T00:00:00Z: 1999-12-31T23:59:59.999999Z',
    }
    assert _kept(tmp_path) == ["10", "1", "11"]
    assert run_cli("--config", str(tmp_path / "listener.toml"), "analyze").returncode == 0


def test_item2_offsets_and_forms_the_cast_accepts_but_iso_does_not_are_rejected(tmp_path: Path):
    bad = [
        "2026-11-20T09:30:00+25:00",
        "2026-11-20T09:30:00-15:00",
        "2026-11-20 09:30:00 Europe/Paris",
        "2026-1-2",
        "2026-11-20T24:00:00",
        "2026-11-20T9:30",
        "epoch",
        " 2026-11-20",
        "2026-02-30",
    ]
    good = [
        "2026-11-20T09:30:00+14:00",
        "2026-11-20T09:30:00+0530",
        "2026-11-20",
        "2026-11-20 09:30:00+00",
        "2026-11-20T09:30:00.123456789Z",
        "2026-11-20T09:30",
    ]
    rows = [_good(f"b{i}", created_at=v) for i, v in enumerate(bad)] + [
        _good(f"g{i}", created_at=v) for i, v in enumerate(good)
    ]
    code, report, _ = _import(tmp_path, _jsonl(tmp_path / "in.jsonl", rows))
    offset, not_iso = (
        'field "created_at" has a UTC offset beyond 14 hours: ',
        'field "created_at" is not an ISO-8601 timestamp: ',
    )
    assert code == 1 and _errors(report) == {
        1: offset + bad[0],
        2: offset + bad[1],
        3: not_iso + bad[2],
        4: not_iso + bad[3],
        5: not_iso + bad[4],
        6: not_iso + bad[5],
        7: 'field "created_at" is before 2000-01-01T00:00:00Z: epoch',
        8: not_iso + bad[7],
        9: not_iso + bad[8],
    }
    assert report["inserted"] == len(good)
    stored = table_rows(
        tmp_path / "listener.duckdb", "SELECT native_id, created_at FROM mentions WHERE native_id = 'g0'"
    )
    assert stored == [("g0", datetime(2026, 11, 19, 19, 30, tzinfo=UTC))]


def test_item2_one_range_in_models_for_every_path(tmp_path: Path):
    assert EARLIEST_CREATED_AT == datetime(2000, 1, 1, tzinfo=UTC) and MAX_FUTURE == timedelta(days=1)
    assert created_at_in_range(EARLIEST_CREATED_AT, NOW)
    assert not created_at_in_range(EARLIEST_CREATED_AT - timedelta(microseconds=1), NOW)
    assert created_at_in_range(NOW + MAX_FUTURE - timedelta(seconds=1), NOW)
    assert not created_at_in_range(NOW + MAX_FUTURE + timedelta(seconds=1), NOW)
    assert created_at_in_range(datetime(2026, 11, 20, 9, 30), NOW)  # naive: UTC
    # The collect path (documents from connectors) goes through the same loader check.
    settings = settings_from_dict(
        {"organization": {"name": "Acme", "brand_terms": ["acme"]}, "store": {"path": str(tmp_path / "s.duckdb")}}
    )
    docs = [json.dumps(_good(1)), json.dumps(_good(2, created_at="9999-12-31T00:00:00Z"))]
    with Store(settings.store_path) as store:
        result = pipeline.load_batches(store, settings, [documents_batch(docs)], "test")
    assert result.inserted == 1 and [n for n, _ in result.errors] == [2]


# -- item 10: the message names the real cause ----------------------------------


def test_item10_bad_utf8_and_null_lines_say_what_is_wrong(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        json.dumps(_good(1)).encode()
        + b"\n"
        + b'{"source": "x", "id": "2", "text": "caf\xe9"}\n'
        + b"null\n"
        + json.dumps(_good(4, text="ok ☕")).encode()
        + b"\n"
        + b'{"a": "\xe2\x98"}\n'
    )
    code, report, _ = _import(tmp_path, path)
    assert code == 1
    assert _errors(report) == {
        2: "not valid UTF-8 (byte 0xe9 at column 40)",
        3: "a JSON null, not an object",
        5: "not valid UTF-8 (byte 0xe2 at column 8)",
    }
    assert _kept(tmp_path) == ["1", "4"]


@pytest.mark.parametrize(
    ("encoding", "bom", "name"),
    [
        ("utf-16-le", b"\xff\xfe", "UTF-16"),
        ("utf-16-be", b"\xfe\xff", "UTF-16"),
        ("utf-16-le", b"", "UTF-16"),
        ("utf-16-be", b"", "UTF-16"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "UTF-32"),
        ("utf-32-be", b"", "UTF-32"),
    ],
)
def test_item10_utf16_and_utf32_files_fail_with_one_line(tmp_path: Path, encoding: str, bom: bytes, name: str):
    for suffix in ("jsonl", "csv"):
        text = (
            json.dumps(_good(1)) + "\n"
            if suffix == "jsonl"
            else "source,id,created_at,text,author.id\nx,1,2026-11-20,a,7\n"
        )
        path = tmp_path / f"in.{suffix}"
        path.write_bytes(bom + text.encode(encoding))
        assert _fails_at_the_door(tmp_path, path) == f"listener: {path}: the file is {name}; save it as UTF-8"


def test_item10_devices_fifos_directories_and_missing_files_say_so(tmp_path: Path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    assert _fails_at_the_door(tmp_path, fifo) == (
        f"listener: {fifo}: not a regular file (a named pipe); save the data to a file first"
    )
    assert _fails_at_the_door(tmp_path, "/dev/null").startswith(
        "listener: /dev/null: not a regular file (a character device)"
    )
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    assert _fails_at_the_door(tmp_path, folder) == f"listener: {folder}: is a directory, not a file"
    assert _fails_at_the_door(tmp_path, tmp_path / "nope.jsonl") == f"listener: {tmp_path / 'nope.jsonl'}: no such file"


def test_item10_an_empty_file_imports_nothing_and_exits_0(tmp_path: Path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, report, _ = _import(tmp_path, path)
    assert code == 0 and report["rows"] == 0
    assert report["warnings"] == [{"line": None, "warning": "empty file: nothing to import"}]
    text = run_cli("--config", str(tmp_path / "listener.toml"), "import", str(path))
    assert text.returncode == 0 and f"{path}: warning: empty file: nothing to import" in text.stdout


def _without_read_override() -> None:
    """In the child: give up root's right to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl")


def test_item10_an_unreadable_file_says_permission_denied(tmp_path: Path):
    path = _jsonl(tmp_path / "secret.jsonl", [_good(1)])
    path.chmod(0)
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "listener", "--config", str(config), "import", str(path)]
    preexec = _without_read_override if os.geteuid() == 0 else None
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, preexec_fn=preexec)
    except subprocess.SubprocessError as exc:
        pytest.skip(f"cannot drop root's read override here: {exc}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"listener: {path}: cannot be read (Permission denied)"]


# -- item 11: memory bounded by bytes, over-long lines skipped unread ---------------


def test_item11_batches_are_capped_by_bytes_as_well_as_lines(tmp_path: Path):
    rows = [_good(i, text="x" * 1000) for i in range(50)]
    path = _jsonl(tmp_path / "in.jsonl", rows)
    batches = list(read_batches(path, "jsonl", batch_lines=1000, batch_bytes=10_000))
    sizes = [sum(len(d) for d in b.column("doc").to_pylist()) for b in batches]
    assert len(batches) == 5 and all(size <= 10_000 + 1200 for size in sizes)
    assert [n for b in batches for n in b.column("line_no").to_pylist()] == list(range(1, 51))
    assert len(list(read_batches(path, "jsonl", batch_lines=7))) == 8


def _peak_rss_mb(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the real command and measure its own peak RSS (wait4: this child only)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "listener", *args], cwd=ROOT, text=True, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read()), usage.ru_maxrss / 1024


def test_item11_a_giant_line_is_rejected_without_being_read_into_memory(tmp_path: Path):
    path = tmp_path / "sparse.jsonl"
    with path.open("wb") as handle:
        handle.write(json.dumps(_good(1)).encode() + b"\n")
        handle.truncate(handle.tell() + 300 * 1024 * 1024)  # a 300 MB "line" of NUL bytes, sparse on disk
    with path.open("ab") as handle:
        handle.write(b"\n" + json.dumps(_good(3)).encode() + b"\n")
    small = tmp_path / "small"
    small.mkdir()
    _, anchor = _peak_rss_mb(
        "--config", str(write_config(small)), "import", str(_jsonl(small / "one.jsonl", [_good(1)]))
    )
    config = str(write_config(tmp_path))
    result, peak = _peak_rss_mb("--config", config, "import", str(path), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert _errors(report) == {2: "line is longer than 1,048,576 bytes (314,572,801 bytes); skipped"}
    assert _kept(tmp_path) == ["1", "3"]
    assert peak < anchor + 150, (peak, anchor)  # reading the line whole would take 300 MB or more


def test_item11_a_file_starting_with_nul_bytes_fails_at_once(tmp_path: Path):
    path = tmp_path / "zeros.jsonl"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    assert (
        _fails_at_the_door(tmp_path, path) == f"listener: {path}: the file starts with NUL bytes: it is not UTF-8 text"
    )


def test_item11_the_line_limit_applies_to_csv_rows_and_reading_goes_on(tmp_path: Path):
    path = tmp_path / "in.csv"
    path.write_text(
        "source,id,created_at,text,author.id\n"
        f"x,1,2026-11-20T09:30:00Z,{'y' * 500},7\n"
        f'x,2,2026-11-20T09:30:00Z,"{"z" * 300}\n{"z" * 300}",7\n'
        "x,3,2026-11-20T09:30:00Z,short,7\n",
        encoding="utf-8",
    )
    batches = list(read_batches(path, "csv", max_line_bytes=400))
    got = [
        (n, d is not None, p)
        for b in batches
        for n, d, p in zip(*(b.column(c).to_pylist() for c in ("line_no", "doc", "problem")))
    ]
    assert got[0] == (2, False, "line is longer than 400 bytes (528 bytes); skipped")
    assert got[1][0] == 3 and got[1][2].startswith(
        "a quoted field opened on this line runs on to line 4 and past 400 bytes"
    )
    assert got[-1] == (5, True, None)


# -- item 12: stored text is capped, with a warning ---------------------------------


def test_item12_long_text_and_title_are_cut_with_a_warning_and_exit_0(tmp_path: Path):
    rows = [_good(1), _good(2, text="☕" * 150_000), _good(3, title="t" * (MAX_TEXT_CHARS + 1), text=None)]
    path = _jsonl(tmp_path / "in.jsonl", rows)
    code, report, _ = _import(tmp_path, path)
    assert code == 0 and report["rejected"] == 0 and report["inserted"] == 3
    assert report["warnings"] == [
        {"line": 2, "warning": 'field "text" cut from 150,000 to 100,000 characters'},
        {"line": 3, "warning": 'field "title" cut from 100,001 to 100,000 characters'},
    ]
    lengths = table_rows(
        tmp_path / "listener.duckdb", "SELECT native_id, length(text), length(title) FROM mentions ORDER BY 1"
    )
    assert lengths == [("1", 4, None), ("2", 100_000, None), ("3", None, 100_000)]
    text = run_cli("--config", str(tmp_path / "listener.toml"), "import", str(path))
    assert text.returncode == 0
    assert f'{path}: line 2: warning: field "text" cut from 150,000 to 100,000 characters' in text.stdout
    assert "3 rows, 0 new, 3 updated, 0 rejected, 2 warnings" in text.stdout


def test_item12_load_result_carries_the_warnings_for_the_collect_path(tmp_path: Path):
    settings = settings_from_dict(
        {"organization": {"name": "Acme", "brand_terms": ["acme"]}, "store": {"path": str(tmp_path / "s.duckdb")}}
    )
    with Store(settings.store_path) as store:
        result = pipeline.load_batches(
            store, settings, [documents_batch([json.dumps(_good(1, text="a" * 100_001))])], "t"
        )
    assert result.warnings == [(1, 'field "text" cut from 100,001 to 100,000 characters')] and not result.errors


# -- item 15: CSV ---------------------------------------------------------------------

HEADER = "source,id,created_at,text,author.id\n"


def _csv(path: Path, body: bytes | str) -> Path:
    path.write_bytes(
        (HEADER.encode() if isinstance(body, bytes) else HEADER) + body
        if isinstance(body, bytes)
        else (HEADER + body).encode("utf-8")
    )
    return path


def test_item15_an_unterminated_quote_is_reported_at_its_line_and_later_rows_are_kept(tmp_path: Path):
    body = (
        "x,1,2026-11-20T09:30:00Z,good,7\n"
        'x,2,2026-11-20T09:30:00Z,"never closed,7\n'
        "x,3,2026-11-20T09:30:00Z,fine,8\n"
        "x,4,2026-11-20T09:30:00Z,fine too,9\n"
    )
    code, report, _ = _import(tmp_path, _csv(tmp_path / "eof.csv", body))
    assert code == 1 and _errors(report) == {
        3: "a quoted field opened on this line is never closed (unterminated "
        "quote); the lines after this one were read again as rows"
    }
    assert _kept(tmp_path) == ["1", "3", "4"]
    # Closed again further down, mid-cell: still reported at the line that opened it.
    body = (
        'x,5,2026-11-20T09:30:00Z,"opened here,7\n'
        "x,6,2026-11-20T09:30:00Z,fine,8\n"
        'x,7,2026-11-20T09:30:00Z,"quoted, properly",9\n'
        "x,8,2026-11-20T09:30:00Z,fine,8\n"
    )
    code, report, _ = _import(tmp_path, _csv(tmp_path / "mid.csv", body))
    assert (
        code == 1 and list(_errors(report)) == [2] and "runs on to line 4 (unterminated quote?)" in _errors(report)[2]
    )
    assert report["inserted"] == 3


def test_item15_multi_line_records_are_reported_at_their_first_line(tmp_path: Path):
    body = (
        'x,1,2026-11-20T09:30:00Z,"one\ntwo\nthree",7\nx,2,not a date,"four\nfive",7\nx,3,2026-11-20T09:30:00Z,ok,7\n'
    )
    code, report, _ = _import(tmp_path, _csv(tmp_path / "in.csv", body))
    assert code == 1 and _errors(report) == {5: 'field "created_at" is not an ISO-8601 timestamp: not a date'}
    assert table_rows(tmp_path / "listener.duckdb", "SELECT text FROM mentions WHERE native_id = '1'") == [
        ("one\ntwo\nthree",)
    ]


def test_item15_invalid_utf8_rejects_the_row_naming_line_and_column(tmp_path: Path):
    body = (
        b"x,1,2026-11-20T09:30:00Z,caf\xe9,7\n"
        b'x,2,2026-11-20T09:30:00Z,"first\nsecond \xff",7\n'
        b"x,3,2026-11-20T09:30:00Z,fine,7\n"
    )
    code, report, _ = _import(tmp_path, _csv(tmp_path / "in.csv", body))
    assert code == 1 and _errors(report) == {
        2: "not valid UTF-8 (byte 0xe9 at column 29)",
        3: "not valid UTF-8 (byte 0xff at column 8) on line 4",
    }
    assert _kept(tmp_path) == ["3"]


def test_item15_extra_cells_reject_the_row_but_an_empty_trailing_cell_is_fine(tmp_path: Path):
    body = "x,1,2026-11-20T09:30:00Z,acme, globex,7\nx,2,2026-11-20T09:30:00Z,ok,7,\nx,3,2026-11-20T09:30:00Z,short\n"
    code, report, _ = _import(tmp_path, _csv(tmp_path / "in.csv", body))
    assert code == 1 and _errors(report) == {
        2: "the row has 6 cells but the header has 5",
        4: 'missing required field "author.id" (or "author.handle")',
    }
    assert _kept(tmp_path) == ["2"]


def test_item15_columns_outside_the_format_are_kept_in_raw_with_one_warning(tmp_path: Path):
    path = tmp_path / "in.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "id", "created_at", "text", "author.id", "campaign", "metrics.views"])
        writer.writerow(["x", "1", "2026-11-20T09:30:00Z", "acme", "7", "launch", "12"])
        writer.writerow(["x", "2", "2026-11-20T09:30:00Z", "acme", "7", "", ""])
    code, report, _ = _import(tmp_path, path)
    assert code == 0 and report["inserted"] == 2
    assert report["warnings"] == [
        {"line": 1, "warning": 'columns not in the canonical format, kept in "raw": campaign, metrics.views'}
    ]
    raw = table_rows(tmp_path / "listener.duckdb", "SELECT native_id, raw FROM mentions ORDER BY 1")
    assert [(n, json.loads(r) if r else None) for n, r in raw] == [
        ("1", {"campaign": "launch", "metrics.views": "12"}),
        ("2", None),
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "source,id,created_at,text,author,author.handle",
            'line 1: columns "author" and "author.handle" conflict; keep only the dotted ones ("author.id", "author.handle", ...)',
        ),
        (
            "source,id,created_at,text,author",
            'line 1: column "author" cannot hold an object in CSV; use dotted columns such as "author.id"',
        ),
        ("source,id,created_at,text,text,author.id", 'line 1: column "text" appears twice in the header'),
    ],
)
def test_item15_conflicting_header_columns_fail_the_file(tmp_path: Path, header: str, message: str):
    path = tmp_path / "in.csv"
    path.write_text(header + "\nx,1,2026-11-20T09:30:00Z,acme,bob,bob\n", encoding="utf-8")
    assert _fails_at_the_door(tmp_path, path) == f"listener: {path}: {message}"


# -- item 16: types are checked, not coerced ------------------------------------------


def test_item16_ids_must_be_strings_or_whole_numbers_which_keep_their_digits(tmp_path: Path):
    rows = [
        _good(1),
        {**GOOD, "id": {"x": 1}},
        {**GOOD, "id": [1]},
        {**GOOD, "id": 1e3},
        _good(5, parent_id=7.0),
        {**GOOD, "id": True},
        {**GOOD, "id": 1234567890123456789},
        _good(8, author={"id": 42}),
        {**GOOD, "id": 123456789012345678901234567890},
        _good(10, thread_id={"a": 1}),
        _good(11, repost_of=[1]),
        _good(12, quote_of=1.5),
        _good(13, in_reply_to_author=False),
    ]
    code, report, _ = _import(tmp_path, _jsonl(tmp_path / "in.jsonl", rows))
    kind = "must be a string or a whole number, not"
    assert code == 1 and _errors(report) == {
        2: f'field "id" {kind} an object',
        3: f'field "id" {kind} a list',
        4: f'field "id" {kind} a number with a fraction or exponent',
        5: f'field "parent_id" {kind} a number with a fraction or exponent',
        6: f'field "id" {kind} a boolean',
        10: f'field "thread_id" {kind} an object',
        11: f'field "repost_of" {kind} a list',
        12: f'field "quote_of" {kind} a number with a fraction or exponent',
        13: f'field "in_reply_to_author" {kind} a boolean',
    }
    kept = table_rows(tmp_path / "listener.duckdb", "SELECT mention_id, author_id FROM mentions ORDER BY 1")
    assert kept == [
        ("x:1", "x:7"),
        ("x:1234567890123456789", "x:7"),
        ("x:123456789012345678901234567890", "x:7"),
        ("x:8", "x:42"),
    ]


def test_item16_counts_booleans_lists_objects_and_strings_are_typed(tmp_path: Path):
    rows = [
        _good(1, metrics={"likes": "many"}),
        _good(2, metrics={"likes": -1}),
        _good(3, metrics={"reposts": 3.5}),
        _good(4, author={"id": "7", "followers": "12"}),
        _good(5, author={"id": "7", "verified": "yes"}),
        _good(6, mentions="notalist"),
        _good(7, mentions=[1, "bob"]),
        _good(8, metrics=5),
        _good(9, author="bob"),
        _good(10, text=5),
        _good(11, referenced_authors=["a"]),
        _good(12, metrics={"likes": 2**63}),
        _good(
            13,
            metrics={"score": -5, "likes": 0},
            author={"id": "7", "verified": False, "followers": 3},
            mentions=["bob", {"handle": "carol", "id": "9"}],
            text="ok",
        ),
    ]
    code, report, _ = _import(tmp_path, _jsonl(tmp_path / "in.jsonl", rows))
    count = "must be a whole number (0 or more), not"
    assert code == 1 and _errors(report) == {
        1: f'field "metrics.likes" {count} "many"',
        2: f'field "metrics.likes" {count} -1',
        3: f'field "metrics.reposts" {count} a number with a fraction or exponent',
        4: f'field "author.followers" {count} "12"',
        5: 'field "author.verified" must be true or false, not "yes"',
        6: 'field "mentions" must be a list, not "notalist"',
        7: 'field "mentions" must list handles (strings) or objects with a "handle"',
        8: 'field "metrics" must be an object, not a number',
        9: 'field "author" must be an object, not "bob"',
        11: 'field "referenced_authors" must be an object, not a list',
        12: 'field "metrics.likes" is too large',
    }
    db = tmp_path / "listener.duckdb"
    assert table_rows(db, "SELECT native_id, text, score, like_count FROM mentions ORDER BY 1") == [
        ("10", "5", None, None),
        ("13", "ok", -5, 0),
    ]  # text fields are read as text (documented)
    assert table_rows(db, "SELECT verified, followers_count FROM authors") == [(False, 3)]


def test_item16_csv_cells_convert_only_when_they_are_what_the_field_needs(tmp_path: Path):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source", "id", "created_at", "text", "author.id", "metrics.likes", "author.verified"])
    for row in (
        ["x", "1", "2026-11-20T09:30:00Z", "a", "7", "12", "true"],
        ["x", "2", "2026-11-20T09:30:00Z", "a", "7", "many", ""],
        ["x", "3", "2026-11-20T09:30:00Z", "a", "7", "3.5", ""],
        ["x", "4", "2026-11-20T09:30:00Z", "a", "7", "", "maybe"],
        ["x", "5", "2026-11-20T09:30:00Z", "a", "7", " 4 ", "No"],
    ):
        writer.writerow(row)
    path = tmp_path / "in.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    code, report, _ = _import(tmp_path, path)
    count = 'field "metrics.likes" must be a whole number (0 or more), not'
    assert code == 1 and _errors(report) == {
        3: f'{count} "many"',
        4: f'{count} "3.5"',
        5: 'field "author.verified" must be true or false, not "maybe"',
    }
    assert table_rows(tmp_path / "listener.duckdb", "SELECT native_id, like_count FROM mentions ORDER BY 1") == [
        ("1", 12),
        ("5", 4),
    ]
    assert table_rows(tmp_path / "listener.duckdb", "SELECT verified FROM authors") == [(False,)]


# -- staged in parts, merged in larger units ---------------------------------------------


@pytest.mark.parametrize("merge_rows", [1_000, 4], ids=["one merge", "a merge every 4 rows"])
def test_parts_staged_together_keep_the_last_line_of_an_id_and_every_part_s_reasons(tmp_path: Path, merge_rows: int):
    """An import stages each read batch and merges several at once: a repeated id's last line wins
    across parts, each part's rejected and cut rows keep their line numbers, and the counts add up."""
    rows: list[Any] = [
        _good(1, text="first acme"),
        _good(2),
        {**GOOD, "id": 3, "metrics": {"likes": "many"}},  # rejected in part 1
        _good(4, text="x" * (MAX_TEXT_CHARS + 5)),  # part 2: cut
        _good(1, text="second acme"),  # part 2: supersedes line 1
        "not json",
        _good(5),  # part 3
        _good(1, text="third acme"),  # part 3: wins
        {**GOOD, "id": "", "text": "acme"},
    ]
    path = _jsonl(tmp_path / "parts.jsonl", rows)
    settings = settings_from_dict(
        {"organization": {"name": "Acme", "brand_terms": ["acme"]}, "store": {"path": str(tmp_path / "s.duckdb")}}
    )
    with Store(settings.store_path) as store:
        batches = read_batches(path, "jsonl", batch_lines=3)
        result = pipeline.load_batches(store, settings, batches, "t", merge_rows=merge_rows)
        kept = store.conn.execute("SELECT native_id, left(text, 12) FROM mentions ORDER BY 1").fetchall()
        tagged = store.conn.execute("SELECT count(*) FROM mention_topics WHERE mention_id = 'x:1'").fetchone()
        staged_left = store.conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'staged'").fetchone()
    assert [n for n, _ in result.errors] == [3, 6, 9]
    assert 'field "metrics.likes" must be a whole number' in dict(result.errors)[3]
    assert dict(result.errors)[9] == 'missing required field "id"'
    assert result.warnings == [(4, f'field "text" cut from {MAX_TEXT_CHARS + 5:,} to {MAX_TEXT_CHARS:,} characters')]
    assert kept == [("1", "third acme"), ("2", "acme"), ("4", "x" * 12), ("5", "acme")]
    assert tagged == (1,) and staged_left == (0,)
    # two merges (after lines 1-6 and 7-9): id 1 is inserted by the first and updated by the second
    assert (result.received, result.inserted, result.updated) == ((9, 4, 0) if merge_rows > 9 else (9, 4, 1))
