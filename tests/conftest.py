"""Shared fixtures: a real HTTP server on 127.0.0.1, temp configs and DuckDB files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
# The maintainers' extra test data: real recordings and corpora written outside the project, kept
# next to their checkout (../shared/data/README.md says what and from where), never in the repository.
SHARED = ROOT.parent / "shared" / "data"


def shared_missing(what: str) -> str:
    """The skip reason of a test that needs `what` from ../shared/data."""
    return (
        f"needs {what} in ../shared/data, the maintainers' extra test data (real recordings and corpora "
        "kept next to their checkout, not in this repository): a user's clone skips this test"
    )


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    # statuses to return first, one per request, before the normal answer (e.g. [500, 500])
    failures: list[int] = field(default_factory=list)
    on_request: Callable[[], None] | None = None  # e.g. kill the client mid-run


class FeedServer:
    """A tiny web server with per-path behaviour, recording every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None:
                    return self._send(404, b"not found", {})
                if route.on_request:
                    route.on_request()
                if route.delay:
                    time.sleep(route.delay)
                if route.failures:
                    return self._send(route.failures.pop(0), b"oops", {})
                headers = dict(route.headers)
                if route.etag:
                    headers["ETag"] = route.etag
                if route.last_modified:
                    headers["Last-Modified"] = route.last_modified
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
                )
                if fresh:
                    return self._send(304, b"", headers)
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    headers.setdefault("Content-Type", "application/xml")
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if body and status != 304:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


ORG_TOML = """
[organization]
name = "Acme"
objectives = ["customer engagement"]
brand_terms = ["acme", "\\"acme coffee\\""]
exclude_terms = ["\\"acme anvil\\""]
tracked_terms = ["\\"cold brew\\""]
[[organization.competitors]]
name = "Globex"
terms = ["globex"]
[organization.own_accounts]
x = ["acme"]
rss = ["acme coffee team"]
"""


def write_config(tmp_path: Path, feeds: list[str] | None = None, extra: str = "", timeout: float = 1.0) -> Path:
    feed_list = json.dumps(feeds or [])
    text = (
        ORG_TOML
        + f"""
[store]
path = "{(tmp_path / "listener.duckdb").as_posix()}"
[sources.rss]
enabled = {"true" if feeds else "false"}
feeds = {feed_list}
timeout_seconds = {timeout}
retries = 1
backoff_seconds = 0
"""
        + extra
    )
    path = tmp_path / "listener.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_for(tmp_path: Path) -> Callable[..., Path]:
    return lambda feeds=None, extra="": write_config(tmp_path, feeds, extra)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command in a real process, as cron would run it (`stdin`: what is typed into it)."""
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "listener", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        input=stdin,
    )


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real command in this process (no interpreter start-up): exit code, stdout, stderr."""
    from listener.cli.app import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# The day the demo tests pin (`listener demo --today`): a Wednesday whose week starts on Monday
# 2026-11-23, so the story keeps its recorded dates (its last week is 2026-W47).
DEMO_TODAY = "2026-11-25"
REAL_LOOKING = {
    "X_BEARER_TOKEN": "AAAA-users-real-x-token",
    "REDDIT_CLIENT_ID": "users-real-reddit-id",
    "REDDIT_CLIENT_SECRET": "users-real-reddit-secret",
    "BLUESKY_HANDLE": "users-real-handle.bsky.social",
    "BLUESKY_APP_PASSWORD": "users-real-bsky-app-password",
    "MASTODON_ACCESS_TOKEN": "users-real-mastodon-token",
    "YOUTUBE_API_KEY": "users-real-youtube-key",
}


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> tuple[Path, Path]:
    """(built, copy): a folder `build` fills once per test session, and this worker's own copy of it.

    Under pytest-xdist the first worker that needs it builds it into the session's shared temp
    folder while the others wait; each then works on its copy, so the tests may change it. Every
    `listener.toml` in the copy is pointed at the copy."""
    workers_share = os.environ.get("PYTEST_XDIST_WORKER") is not None
    shared = tmp_path_factory.getbasetemp().parent if workers_share else tmp_path_factory.mktemp(f"{name}-shared")
    built, done = shared / f"{name}-built", shared / f"{name}-built.done"
    with FileLock(str(shared / f"{name}-built.lock")):
        if not done.exists():
            shutil.rmtree(built, ignore_errors=True)
            build(built)
            done.touch()
    out = tmp_path_factory.mktemp(name)
    shutil.copytree(built, out, dirs_exist_ok=True)
    for config in out.rglob("listener.toml"):
        config.write_text(config.read_text(encoding="utf-8").replace(str(built), str(out)), encoding="utf-8")
    return built, out


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`listener demo --json --today DEMO_TODAY` in a real process, once per test session (`built_once`),
    with the user's own credentials and store in the environment (the demo must use neither).
    Read-only for the tests that share it: copy the store before changing anything."""
    built, out = built_once(tmp_path_factory, "demo-cli", _run_demo_once)
    summary = json.loads(
        (out / "demo.json")
        .read_text(encoding="utf-8")
        .replace(json.dumps(str(built))[1:-1], json.dumps(str(out))[1:-1])
    )
    return summary, out / "listener.duckdb"


def _run_demo_once(out: Path) -> None:
    elsewhere = out / "users-own-store.duckdb"
    with demo_port():
        result = run_cli(
            "demo",
            "--out",
            str(out),
            "--json",
            "--today",
            DEMO_TODAY,
            env={**REAL_LOOKING, "LISTENER_STORE": str(elsewhere)},
        )
    assert result.returncode == 0, result.stderr
    assert not elsewhere.exists()  # LISTENER_STORE does not redirect the demo into the user's store
    for secret in REAL_LOOKING.values():
        assert secret not in result.stdout + result.stderr
    json.loads(result.stdout)
    (out / "demo.json").write_text(result.stdout, encoding="utf-8")


# The demo serves its feeds on a fixed port (its RSS ids depend on it): tests take turns running
# one through a lock file in the system's temp folder, shared by parallel pytest-xdist workers
# and by two test sessions on one machine.
@contextmanager
def demo_port(tmp_path_factory: pytest.TempPathFactory | None = None) -> Iterator[None]:
    with FileLock(str(Path(tempfile.gettempdir()) / "listener-demo-port.lock")):
        yield


def table_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def rss_feed(items: list[dict[str, str]], title: str = "Test feed") -> bytes:
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        "<link>http://example.com/</link><description>d</description>"
    ]
    for item in items:
        parts.append("<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def serve_feeds(server: FeedServer, count: int, items: int = 5) -> list[str]:
    """`count` RSS feeds of `items` posts each, with ETags, on the test server; their URLs."""
    urls = []
    for n in range(count):
        posts = [
            {
                "title": f"Acme post {n}-{i}",
                "guid": f"http://example.com/{n}/{i}",
                "pubDate": f"Tue, 1{i % 10} Nov 2026 0{n % 10}:{i // 10:02d}:00 GMT",
                "author": f"a{i}@example.com (Writer {i})",
                "description": f"acme and globex, take {n}.{i}: {'great' if i % 2 else 'awful'}",
            }
            for i in range(items)
        ]
        server.routes[f"/f{n}.xml"] = Route(body=rss_feed(posts, title=f"Feed {n}"), etag=f'"e{n}"')
        urls.append(server.url(f"/f{n}.xml"))
    return urls


CONTENT_QUERIES = {  # what a rerun must reproduce exactly (collection times and run ids aside)
    "mentions": "SELECT mention_id, source, native_id, url, author_id, title, text, lang, created_at, parent_id, "
    "thread_id, community, like_count, repost_count, reply_count, quote_count, score, is_own, raw "
    "FROM mentions ORDER BY mention_id",
    "authors": "SELECT * FROM authors ORDER BY author_id",
    "interactions": "SELECT * FROM interactions ORDER BY ALL",
    "mention_topics": "SELECT * FROM mention_topics ORDER BY ALL",
    "sentiment": "SELECT mention_id, compound, pos, neu, neg, label, scorer FROM sentiment ORDER BY mention_id",
    "cursors": "SELECT source, key, value FROM cursors ORDER BY ALL",
}


def content_snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {name: table_rows(db, sql) for name, sql in CONTENT_QUERIES.items()}
