"""Throwaway PostgreSQL server for tests (the DuckLake catalog), stdlib + pytest only.

Use from a test module (both names are needed, ``lake_catalog`` depends on ``postgres_server``)::

    from pgserver import postgres_server, lake_catalog  # noqa: F401

One cluster per pytest session, in a fresh temp dir, on 127.0.0.1 and a free port, trust auth.
Each ``lake_catalog`` test gets its own database. Skips when no server binaries are installed.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_REASON = "PostgreSQL server binaries not found (apt-get install postgresql); .ci/run installs them"
_DBNAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_db_counter = itertools.count(1)


def _as_postgres() -> list[str]:
    """Command prefix: initdb/postgres refuse to run as root, so drop to the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _env() -> dict[str, str]:
    """The current environment minus libpq/PG variables that could redirect the tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(cmd: list[str], cwd: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the postgres user (when root); never raises on exit status."""
    return subprocess.run(
        _as_postgres() + cmd,
        cwd=cwd,
        env=_env(),
        text=True,
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )


def _version_key(initdb: str) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin/initdb (numeric, so 9.6 < 15 < 16)."""
    version = Path(initdb).parent.parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version))


def find_bindir() -> Path | None:
    """Directory holding initdb + pg_ctl: newest /usr/lib/postgresql/*, else pg_config, else PATH."""
    candidates = [
        Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    ]
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    if initdb := shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(initdb)).parent)  # /usr/local/bin/initdb may be a symlink
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    """Last lines of a (server log) file, or a note when it is missing."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log at {path}: {exc})"


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster; superuser ``user`` connects without a password."""

    host: str
    port: int
    user: str
    bindir: Path

    def conninfo(self, dbname: str) -> str:
        """libpq conninfo string for ``dbname`` on this server."""
        return f"dbname={dbname} host={self.host} port={self.port} user={self.user}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (lowercase identifier, <= 63 chars) with createdb; return its conninfo."""
        if not _DBNAME.fullmatch(name):
            raise ValueError(f"database name must match {_DBNAME.pattern}: {name!r}")
        createdb = self.bindir / "createdb"
        tool = str(createdb) if os.access(createdb, os.X_OK) else (shutil.which("createdb") or "createdb")
        out = _run([tool, "-h", self.host, "-p", str(self.port), "-U", self.user, name], timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"createdb {name} failed ({out.returncode}):\n{out.stdout}")
        return self.conninfo(name)


def _initdb(bindir: Path, data: Path) -> None:
    """initdb with C.UTF-8, falling back to --no-locale when that locale is missing."""
    base = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    first = _run(base + ["--locale=C.UTF-8"])
    if first.returncode == 0:
        return
    shutil.rmtree(data, ignore_errors=True)  # initdb may leave a partial dir behind
    second = _run(base + ["--no-locale"])
    if second.returncode != 0:
        pytest.fail(
            f"initdb failed:\n--- with --locale=C.UTF-8:\n{first.stdout}\n--- with --no-locale:\n{second.stdout}",
            pytrace=False,
        )


def _start(bindir: Path, data: Path, log: Path) -> int:
    """pg_ctl start on a free port (retrying if the port got taken); return the port."""
    for _attempt in range(3):
        port = _free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off -c max_connections=100"
        out = _run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
            timeout=90,
        )
        if out.returncode == 0:
            return port
        if "already in use" not in _tail(log):
            break
    pytest.fail(
        f"PostgreSQL failed to start (pg_ctl exit {out.returncode}):\n{out.stdout}\n--- tail of {log}:\n{_tail(log)}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start one throwaway PostgreSQL cluster for the session; stop it and delete it afterwards."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700, the postgres user could not enter it.
    root = Path(tempfile.mkdtemp(prefix="listener-pg-"))
    data, log = root / "data", root / "server.log"
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        _initdb(bindir, data)
        port = _start(bindir, data, log)
        yield PostgresServer(host="127.0.0.1", port=port, user="postgres", bindir=bindir)
    finally:
        if (data / "postmaster.pid").exists():  # also after a half-failed start
            stop = _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], timeout=90)
            if stop.returncode != 0:
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=90)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def lake_catalog(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh, uniquely named database for this test; returns its libpq conninfo string."""
    suffix = f"_{next(_db_counter)}"
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()).strip("_") or "test"
    name = ("lake_" + stem)[: 63 - len(suffix)] + suffix
    return postgres_server.create_database(name)
