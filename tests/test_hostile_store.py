"""Issue 11, store and pipeline side: nothing poisons the store, nothing leaks, faults are one line.

Each test is named after the item of the issue it checks. Real files, real
DuckDB stores, the real `listener` command in a subprocess, real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import x_api as X
from conftest import (
    ROOT,
    FeedServer,
    Route,
    rss_feed,
    run_in_process,
    table_rows,
    write_config,
)

from listener import pipeline
from listener.core.settings import settings_from_dict
from listener.store.connection import Store

GOOD = [
    {
        "source": "x",
        "id": str(n),
        "created_at": f"2026-11-{10 + n % 10:02d}T09:30:00+00:00",
        "text": f"acme {'great' if n % 2 else 'awful'} coffee take {n} @globex",
        "author": {"id": str(n % 7), "handle": f"u{n % 7}"},
        "mentions": ["globex"],
        **({"parent_id": str(n - 1)} if n % 3 else {}),
    }
    for n in range(1, 61)
]


def _jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def _store_with_mentions(capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    config = write_config(tmp_path, extra=extra)
    result = cli(capsys, "--config", str(config), "import", str(_jsonl(tmp_path / "good.jsonl", GOOD)))
    assert result.returncode == 0, result.stderr
    return config, tmp_path / "listener.duckdb"


class Ran:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = code, stdout, stderr


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    return Ran(*listener(capsys, *args))


def listener(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_in_process(capsys, *args)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and " INFO " not in line]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# -- 1. exports never overwrite the store, and never leave half a file ---------------------------


def test_item01_export_refuses_the_store_its_wal_spool_snapshot_and_config(tmp_path, capsys):
    config, db = _store_with_mentions(capsys, tmp_path)
    assert listener(capsys, "--config", str(config), "snapshot")[0] == 0
    before = db.read_bytes()
    for target in (
        "listener.duckdb",
        "listener.duckdb.wal",
        "listener.spool/x.jsonl",
        "snapshot/listener.duckdb",
        "snapshot/parquet/mentions.parquet",
        "listener.toml",
    ):
        for args in (
            ["--out", str(tmp_path / target)],
            ["--table", "mentions", "--out", str(tmp_path / target)],
            ["--graph", str(tmp_path / target)],
        ):
            code, _, err = listener(capsys, "--config", str(config), "export", *args)
            assert code == 2, (target, err)
            assert "refusing to write" in _one_line(err)
    assert db.read_bytes() == before
    assert listener(capsys, "--config", str(config), "status")[0] == 0


def test_item01_export_through_a_symlink_to_the_store_is_refused(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    link = tmp_path / "innocent.jsonl"
    link.symlink_to(db)
    result = cli(capsys, "--config", str(config), "export", "--out", str(link))
    assert result.returncode == 2 and "the live store" in result.stderr
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(60,)]


def _limited_file_size(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail with EFBIG, like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _cli_limited(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "listener", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=_limited_file_size(limit),
    )


def test_item01_failed_export_leaves_the_old_file_and_no_partial(capsys, tmp_path):
    config, _ = _store_with_mentions(capsys, tmp_path)
    out = tmp_path / "out" / "mentions.jsonl"
    out.parent.mkdir()
    out.write_text("previous export\n")
    result = _cli_limited(2_000, "--config", str(config), "export", "--out", str(out))
    assert result.returncode == 1, result.stderr
    line = _one_line(result.stderr)
    assert str(out) in line and "cannot write" in line
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["mentions.jsonl"]
    ok = cli(capsys, "--config", str(config), "export", "--out", str(out))
    assert ok.returncode == 0 and len(out.read_text().splitlines()) == 60


# -- 2. absurd time stamps already in the store never stop analyze ------------------------------

ABSURD = [
    "9999-12-31 23:00:00+00",
    "0001-01-01 00:00:00+00",
    "infinity",
    "-infinity",
    "10000-01-01 00:00:00+00",
    "0044-03-15 (BC) 00:00:00+00",
]


def test_item02_stored_absurd_times_are_repaired_and_analyze_completes(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    with duckdb.connect(str(db)) as conn:
        for n, value in enumerate(ABSURD, start=1):
            conn.execute("UPDATE mentions SET created_at = ?::TIMESTAMPTZ WHERE native_id = ?", [value, str(n)])
        conn.execute("UPDATE interactions SET created_at = 'infinity' WHERE mention_id = 'x:2'")
        conn.execute("UPDATE authors SET last_seen = '10000-01-01' WHERE author_id = 'x:1'")
    assert cli(capsys, "--config", str(config), "status").returncode == 0  # year 10000 used to break status
    for _ in range(2):  # and every later night
        result = cli(capsys, "--config", str(config), "analyze", "--json")
        assert result.returncode == 0, result.stderr
    first = json.loads(cli(capsys, "--config", str(config), "analyze", "--json").stdout)
    assert first["details"]["repair"] == {}  # repaired once, nothing left
    low, high = table_rows(db, "SELECT min(created_at), max(created_at) FROM mentions")[0]
    assert low.year >= 2000 and high.year <= 2100
    assert table_rows(db, "SELECT count(*) FROM interactions WHERE created_at = 'infinity'") == [(0,)]
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(60,)]
    assert table_rows(db, "SELECT count(*) FROM sentiment") == [(60,)]


def test_item02_collected_posts_with_absurd_dates_get_the_fetch_time(capsys, tmp_path, feed_server: FeedServer):
    items = [
        {"title": f"acme post {n}", "guid": f"http://e.com/{n}", "description": "acme", "pubDate": date}
        for n, date in enumerate(
            ["Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", "Tue, 17 Nov 2026 10:00:00 GMT"]
        )
    ]
    feed_server.routes["/f.xml"] = Route(body=rss_feed(items))
    config = write_config(tmp_path, feeds=[feed_server.url("/f.xml")])
    started = time.time()
    result = cli(capsys, "--config", str(config), "run", "--json")
    assert result.returncode == 0, result.stderr
    times = dict(
        table_rows(tmp_path / "listener.duckdb", "SELECT title, epoch(created_at) FROM mentions ORDER BY title")
    )
    assert set(times) == {"acme post 0", "acme post 1", "acme post 2"}
    assert started - 5 <= times["acme post 0"] <= time.time() + 5
    assert times["acme post 2"] == datetime(2026, 11, 17, 10, tzinfo=UTC).timestamp()
    warnings = json.loads(result.stdout)["sources"][0]["warnings"]
    assert sum("outside 2000-01-01" in w for w in warnings) >= 1


def test_item02_oversized_stored_text_is_cut_before_analysis(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    with duckdb.connect(str(db)) as conn:
        conn.execute("UPDATE mentions SET text = repeat('acme rocks ', 500000) WHERE native_id = '5'")
    started = time.monotonic()
    result = cli(capsys, "--config", str(config), "analyze", "--json")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60, result.stderr
    assert table_rows(db, "SELECT length(text) FROM mentions WHERE native_id = '5'") == [(100_000,)]
    assert json.loads(result.stdout)["details"]["repair"]["text"]["rows"] == 1


# -- 3 and 4. terms: any Unicode compiles; terms that match everything or nothing are refused ---------


@pytest.mark.parametrize("term", ["Macy’s", "acme™", "☕", "cafe\u0301", "naïve", "c++", "a.b.c", "(acme)", "50%"])
def test_item03_unicode_and_punctuation_terms_load_and_match(capsys, tmp_path, term):
    config = write_config(tmp_path, extra="")
    text = config.read_text().replace(
        'brand_terms = ["acme", "\\"acme coffee\\""]', f"brand_terms = [{json.dumps(term)}]"
    )
    config.write_text(text)
    doc = {
        "source": "x",
        "id": "1",
        "created_at": "2026-11-20T09:00:00Z",
        "text": f"I love {term} so much",
        "author": {"id": "9"},
    }
    other = dict(doc, id="2", text="nothing to see here")
    result = cli(capsys, "--config", str(config), "import", str(_jsonl(tmp_path / "t.jsonl", [doc, other])))
    assert result.returncode == 0, result.stderr
    assert table_rows(tmp_path / "listener.duckdb", "SELECT mention_id FROM mention_topics WHERE kind = 'brand'") == [
        ("x:1",)
    ]


def test_item03_curly_and_straight_apostrophes_match_each_other(capsys, tmp_path):
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace('brand_terms = ["acme", "\\"acme coffee\\""]', 'brand_terms = ["Macy’s"]')
    )
    docs = [
        {"source": "x", "id": str(n), "created_at": "2026-11-20T09:00:00Z", "text": text, "author": {"id": "9"}}
        for n, text in enumerate(["shopping at Macy's", "MACY’S sale", "macys", "Macy"])
    ]
    assert cli(capsys, "--config", str(config), "import", str(_jsonl(tmp_path / "t.jsonl", docs))).returncode == 0
    assert table_rows(tmp_path / "listener.duckdb", "SELECT mention_id FROM mention_topics ORDER BY 1") == [
        ("x:0",),
        ("x:1",),
    ]


@pytest.mark.parametrize("term", ["*", '"*"', '""', "-", ".", "  ", '"  "'])
def test_item04_terms_matching_everything_or_nothing_are_config_errors(capsys, tmp_path, term):
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace('tracked_terms = ["\\"cold brew\\""]', f"tracked_terms = [{json.dumps(term)}]")
    )
    result = cli(capsys, "--config", str(config), "import", str(_jsonl(tmp_path / "t.jsonl", GOOD[:2])))
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "config error" in line and "organization.tracked_terms" in line
    assert not (tmp_path / "listener.duckdb").exists()


# -- 5. secrets echoed by an API never reach the ledger, the snapshot, status or the report -----------

# Shaped like an X app-only bearer token (a run of A, then URL-encoded base64), but made up here.
TOKEN = "A" * 22 + "not%2Da%2Dreal%2Dtoken%3D" + "0123456789abcdef" * 4


def test_item05_x_error_echoing_the_bearer_token_is_masked_everywhere(capsys, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    settings = settings_from_dict(
        {
            "organization": {"name": "Acme", "brand_terms": ["acme"]},
            "store": {"path": str(tmp_path / "listener.duckdb")},
            "sources": {"x": {"enabled": True}},
        }
    )
    echo = {
        "title": "Invalid Request",
        "detail": f"bad header Authorization: Bearer {TOKEN}",
        "errors": [{"message": f"request headers {{'Authorization': 'Bearer {TOKEN}'}} token={TOKEN}"}],
    }
    cassette = X.write_cassette(tmp_path / "x.json", [X.search("acme", echo, status=400)] * 5)
    with X.x_vcr().use_cassette(str(cassette)), Store(settings.store_path) as store:
        report = pipeline.collect(store, settings, ["x"])
    db = tmp_path / "listener.duckdb"
    config = tmp_path / "listener.toml"
    config.write_text(f'[organization]\nname = "Acme"\nbrand_terms = ["acme"]\n[store]\npath = "{db}"\n')
    status = cli(capsys, "--config", str(config), "status", "--json")
    snapshot = cli(capsys, "--config", str(config), "snapshot")
    monkeypatch.delenv("X_BEARER_TOKEN")
    status_plain = cli(capsys, "--config", str(config), "status")  # without the variable: the token's shape
    assert status.returncode == status_plain.returncode == snapshot.returncode == 0
    runs_parquet = table_rows(tmp_path / "snapshot" / "listener.duckdb", "SELECT * FROM runs")
    with duckdb.connect() as conn:
        parquet = conn.execute(
            "SELECT * FROM read_parquet(?)", [str(tmp_path / "snapshot" / "parquet" / "runs.parquet")]
        ).fetchall()
    places = {
        "report": json.dumps([r.as_dict() for r in report.runs]),
        "runs": str(table_rows(db, "SELECT * FROM runs")),
        "snapshot": str(runs_parquet),
        "parquet": str(parquet),
        "status": status.stdout + status.stderr,
        "status_plain": status_plain.stdout,
        "logs": caplog.text,
        "spool": "".join(p.read_text() for p in (tmp_path / "listener.spool").rglob("*.jsonl")),
    }
    assert report.runs[0].status == "failed" and "X rejected the request" in report.runs[0].error
    for where, text in places.items():
        assert TOKEN not in text, where
        assert TOKEN[:40] not in text, where


# -- 6 and 7. a damaged store is not "busy", and says how to recover ------------------------------


def _damage(db: Path, how: str) -> None:
    if how == "header":
        with db.open("r+b") as handle:
            handle.seek(8)
            handle.write(b"\xff" * 32)
    elif how == "block":
        with db.open("r+b") as handle:
            handle.seek(4096 * 3 + 100)
            handle.write(b"\xa5" * 512)
    elif how == "truncated":
        os.truncate(db, 9000)
    else:
        db.write_bytes(b"not a database at all\n" * 100)


@pytest.mark.parametrize("how", ["header", "block", "truncated", "overwritten"])
def test_item06_item07_damaged_store_is_reported_with_recovery_not_busy(capsys, tmp_path, how):
    config, db = _store_with_mentions(capsys, tmp_path)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nlock_timeout_seconds = 30\n"))
    assert cli(capsys, "--config", str(config), "snapshot").returncode == 0
    with duckdb.connect(str(db)) as conn:
        conn.execute("CHECKPOINT")
    _damage(db, how)
    for command in (
        ["status"],
        ["analyze"],
        ["run"],
        ["import", str(tmp_path / "good.jsonl")],
        ["export", "--out", str(tmp_path / "e.jsonl")],
        ["maturity"],
    ):
        started = time.monotonic()
        result = cli(capsys, "--config", str(config), *command)
        assert time.monotonic() - started < 20, command  # no waiting out lock_timeout_seconds
        assert result.returncode == 4, (command, result.stderr)
        line = _one_line(result.stderr)
        assert "damaged" in line and str(db) in line and "in use by another process" not in line
        assert f"cp {tmp_path / 'snapshot' / 'listener.duckdb'} {db}" in line


def test_item06_a_real_lock_is_still_busy(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    config.write_text(config.read_text().replace("[store]\n", "[store]\nlock_timeout_seconds = 1\n"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = cli(capsys, "--config", str(config), "analyze")
        assert result.returncode == 3 and "in use by another process" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_item07_the_snapshot_restores_a_damaged_store(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    assert cli(capsys, "--config", str(config), "snapshot").returncode == 0
    _damage(db, "overwritten")
    shutil.copy(tmp_path / "snapshot" / "listener.duckdb", db)  # what the message tells the user to do
    assert cli(capsys, "--config", str(config), "analyze").returncode == 0
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(60,)]


# -- 9. outputs that cannot be written: one line naming the path and the cause, exit 1, ledger kept -----


def _many(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "source": "x",
            "id": str(i),
            "created_at": "2026-11-20T09:30:00Z",
            "text": f"acme coffee number {i} " + "lorem ipsum dolor " * 20,
            "author": {"id": str(i % 50)},
        }
        for i in range(start, start + n)
    ]


def test_item09_export_to_dev_full_is_one_line_exit_1(capsys, tmp_path):
    config, _ = _store_with_mentions(capsys, tmp_path)
    for args in (["--out", "/dev/full"], ["--table", "mentions", "--out", "/dev/full"], ["--graph", "/dev/full"]):
        result = cli(capsys, "--config", str(config), "export", *args)
        assert result.returncode == 1
        assert "/dev/full" in _one_line(result.stderr) and "not a regular file" in result.stderr
    assert Path("/dev/full").is_char_device()


def _read_only_folder(path: Path) -> None:
    path.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a read-only file system here (root needed); permissions do not stop root")


def test_item09_export_into_a_read_only_folder_is_one_line_exit_1(capsys, tmp_path):
    config, _ = _store_with_mentions(capsys, tmp_path)
    folder = tmp_path / "ro"
    _read_only_folder(folder)
    try:
        for args in (
            ["--out", str(folder / "m.jsonl")],
            ["--table", "sentiment", "--out", str(folder / "s.parquet")],
            ["--graph", str(folder / "g.gexf")],
        ):
            result = cli(capsys, "--config", str(config), "export", *args)
            assert result.returncode == 1, result.stderr
            line = _one_line(result.stderr)
            assert str(folder) in line and "read-only" in line
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_item09_item14_disk_full_import_is_one_line_keeps_committed_rows_and_the_ledger(capsys, tmp_path):
    config = write_config(tmp_path)
    path = _jsonl(tmp_path / "big.jsonl", _many(30_000))
    db = tmp_path / "listener.duckdb"
    result = _cli_limited(4_000_000, "--config", str(config), "import", str(path))
    assert result.returncode == 1, result.stderr
    line = _one_line(result.stderr)
    assert "cannot write" in line and str(tmp_path) in line
    status = json.loads(cli(capsys, "--config", str(config), "status", "--json").stdout)
    run = next(s["last_run"] for s in status["sources"] if s["source"] == "import")
    assert run["status"] in ("failed", "interrupted")
    assert run["error"]
    kept = table_rows(db, "SELECT count(*) FROM mentions")[0][0]
    assert run["fetched"] >= kept  # the row counts what was committed
    again = cli(capsys, "--config", str(config), "import", str(path))
    assert again.returncode == 0, again.stderr
    assert table_rows(db, "SELECT count(*), count(DISTINCT mention_id) FROM mentions") == [(30_000, 30_000)]


def test_item09_disk_full_run_is_one_line_and_recorded(capsys, tmp_path, feed_server: FeedServer):
    items = [
        {
            "title": f"acme {n}",
            "guid": f"http://e.com/{n}",
            "description": "acme coffee " * 200,
            "pubDate": "Tue, 17 Nov 2026 10:00:00 GMT",
        }
        for n in range(300)
    ]
    feed_server.routes["/f.xml"] = Route(body=rss_feed(items))
    config = write_config(tmp_path, feeds=[feed_server.url("/f.xml")])
    result = _cli_limited(600_000, "--config", str(config), "run")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot write" in result.stderr
    rerun = cli(capsys, "--config", str(config), "run")
    assert rerun.returncode == 0, rerun.stderr
    db = tmp_path / "listener.duckdb"
    assert table_rows(db, "SELECT count(*), count(DISTINCT mention_id) FROM mentions") == [(300, 300)]
    statuses = [s for (s,) in table_rows(db, "SELECT status FROM runs WHERE source = 'rss' ORDER BY started_at")]
    assert statuses[-1] == "ok" and "running" not in statuses


# -- 14. runs of dead processes are closed as interrupted; a usage error creates nothing -------------


def test_item14_import_of_a_missing_file_creates_no_store(capsys, tmp_path):
    config = write_config(tmp_path)
    for target in (tmp_path / "nonexist.jsonl", tmp_path):
        result = cli(capsys, "--config", str(config), "import", str(target))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and str(target) in result.stderr
    assert not (tmp_path / "listener.duckdb").exists()


def test_item14_killed_import_is_marked_interrupted_with_committed_counts(capsys, tmp_path):
    config = write_config(tmp_path)
    path = _jsonl(tmp_path / "big.jsonl", _many(120_000))
    child = subprocess.Popen(
        [sys.executable, "-m", "listener", "--config", str(config), "import", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "listener.duckdb"
    deadline = time.monotonic() + 60
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    child.kill()
    child.wait()
    status = json.loads(cli(capsys, "--config", str(config), "status", "--json").stdout)
    shown = next((s["last_run"] for s in status["sources"] if s["source"] == "import"), None)
    if shown is not None:  # killed after the row was written
        assert shown["status"] in ("interrupted", "ok")
    assert cli(capsys, "--config", str(config), "analyze").returncode == 0  # a writing command records it
    rows = table_rows(db, "SELECT status, fetched, inserted + updated FROM runs WHERE source = 'import'")
    kept = table_rows(db, "SELECT count(*) FROM mentions")[0][0]
    assert all(status != "running" for status, *_ in rows)
    if rows and rows[0][0] == "interrupted":
        assert rows[0][2] == kept


# -- 17. a second import waits for the store like `run` does -------------------------------------


def test_item17_import_waits_while_another_process_holds_the_store(capsys, tmp_path):
    config, db = _store_with_mentions(capsys, tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('held', flush=True); time.sleep(2.5)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    result = cli(capsys, "--config", str(config), "import", str(_jsonl(tmp_path / "more.jsonl", _many(10, 500))))
    holder.wait()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 1.5
    assert table_rows(db, "SELECT count(*) FROM mentions") == [(70,)]


# -- 10 (config part). a TOML error names its line and column ------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[organization]\nname = "A\nbrand_terms = ["a"]\n', "line 2, column 10"),
        ('[organization]\nname = "A"\nbrand_terms = ["a"\n', "line 3, column 19"),
        ('[organization]\nname = "A"\nname = "B"\n', "line 3"),
    ],
)
def test_item10_toml_syntax_errors_name_line_and_column(capsys, tmp_path, text, where):
    config = tmp_path / "listener.toml"
    config.write_text(text)
    result = cli(capsys, "--config", str(config), "status")
    assert result.returncode == 2
    assert where in _one_line(result.stderr)


def test_item10_config_that_is_a_folder_or_not_utf8_says_so(capsys, tmp_path):
    assert "is a folder" in cli(capsys, "--config", str(tmp_path), "status").stderr
    (tmp_path / "l.toml").write_bytes(b'[organization]\nname = "\xff"\n')
    result = cli(capsys, "--config", str(tmp_path / "l.toml"), "status")
    assert result.returncode == 2 and "byte 0xff at line 2" in result.stderr


def test_item12_collected_oversized_text_is_cut_by_the_loader_with_a_run_warning(capsys, tmp_path, feed_server):
    items = [
        {
            "title": "acme long",
            "guid": "http://e.com/long",
            "description": "acme " * 30_000,
            "pubDate": "Tue, 17 Nov 2026 10:00:00 GMT",
        }
    ]
    feed_server.routes["/f.xml"] = Route(body=rss_feed(items))
    config = write_config(tmp_path, feeds=[feed_server.url("/f.xml")])
    result = cli(capsys, "--config", str(config), "collect", "--json")
    assert result.returncode == 0, result.stderr
    assert table_rows(tmp_path / "listener.duckdb", "SELECT length(text) FROM mentions") == [(100_000,)]
    warnings = json.loads(result.stdout)["sources"][0]["warnings"]
    assert any('field "text" cut from' in w for w in warnings)
