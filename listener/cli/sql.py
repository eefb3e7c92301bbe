"""`listener sql`: the DuckDB shell, read-only, on the analysts' snapshot (default) or the live store.

Registered by listener/cli/app.py with `cli.add_command(sql_command)`.

The shell is the `duckdb` CLI of the duckdb-cli package, a dependency declared
with the same version range as the duckdb library (so it reads the storage
format the store is written in); else a `duckdb` on PATH. A shell older (by
minor version) than the DuckDB that wrote the file cannot read it: the command
refuses and says which package to install. The shell always runs with
`-readonly` (a shared lock only) and `SET TimeZone = 'UTC'`, the zone every
documented day and week is in. The snapshot has every table and view
(docs/analysts.md); `--live` opens the live store, only when no job writes it,
and while that shell is open no job can write it either.

Exit codes: the shell's own (0, or 1 when a statement given with -c fails);
2 no snapshot yet, no usable shell, or a usage error; 3 `--live` while a job
writes; 4 the store is damaged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from listener.core.errors import ConfigError, StoreBusyError

if TYPE_CHECKING:
    from listener.cli.app import Context

EXIT_USAGE = 2
VIEWS = ("daily_sentiment", "share_of_voice", "top_influencers_current", "community_overview")
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


class ShellProblem(Exception):
    """No DuckDB shell that can read the file: one line, exit 2."""


@click.command(name="sql", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--snapshot",
    "where",
    flag_value="snapshot",
    default=True,
    help="Open the analysts' snapshot (the default): never blocks a job.",
)
@click.option(
    "--live",
    "where",
    flag_value="live",
    help="Open the live store instead, when no job is writing it; jobs wait while the shell is open.",
)
@click.argument("shell_args", nargs=-1, type=click.UNPROCESSED, metavar="[DUCKDB ARGS]...")
@click.pass_obj
def sql_command(obj: Context, where: str, shell_args: tuple[str, ...]) -> None:
    """Open the DuckDB shell, read-only, on the snapshot (default) or the live store,
    with every table and analyst view (daily_sentiment, share_of_voice,
    top_influencers_current, community_overview; see docs/analysts.md).

    Other arguments go to the DuckDB shell: `-c "SQL"` runs one statement and
    exits, `-csv`, `-json` or `-markdown` choose the output, a last argument
    is SQL to run. `.tables` lists everything, `.quit` leaves.

    \b
    Examples:
      listener sql                                     # interactive, on the snapshot
      listener sql -c "SELECT * FROM top_influencers_current LIMIT 10"
      listener sql --live -csv -c "SELECT source, status FROM runs ORDER BY started_at DESC LIMIT 5"
    """
    import duckdb

    settings = obj.settings()
    if where == "live":
        path, writer = _live_store(settings), duckdb.__version__
        what = "the live store: jobs cannot write it until you .quit"
    else:
        path, writer, created = _snapshot(settings)
        what = f"the snapshot of {created}" if created else "the snapshot"
    try:
        shell = find_shell(writer)
    except ShellProblem as exc:
        click.echo(f"listener: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not shell_args and sys.stdin.isatty():
        click.echo(
            f"listener sql: {path} ({what}), read-only, times in UTC. Views: {', '.join(VIEWS)}; "
            ".tables lists everything, .quit leaves.",
            err=True,
        )
    argv = [str(shell), str(path), "-readonly", "-cmd", "SET TimeZone = 'UTC'", *shell_args]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(argv[0], argv)  # the shell takes over this process: its terminal, signals and exit code
    sys.exit(subprocess.call(argv))


def _snapshot(settings: object) -> tuple[Path, str, str | None]:
    """The snapshot file, the DuckDB version that wrote it, and when (from its manifest)."""
    import duckdb

    from listener.publish.snapshot import DB_NAME, MANIFEST, default_snapshot_dir

    folder = default_snapshot_dir(settings)
    path = folder / DB_NAME
    if not path.is_file():
        raise ConfigError(
            f"{path}: no snapshot yet: publish one with `listener snapshot` "
            "(`listener run` refreshes it), or open the live store with `listener sql --live`"
        )
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    manifest = manifest if isinstance(manifest, dict) else {}
    return path, str(manifest.get("duckdb_version") or duckdb.__version__), manifest.get("created_at")


def _live_store(settings: object) -> Path:
    """The live store's file, after checking that no job writes it (and that it is readable)."""
    from listener.store.connection import open_store

    store = settings.store  # type: ignore[attr-defined]
    if store.backend != "duckdb":
        raise ConfigError(
            "the store is a DuckLake catalog, not one file: publish the snapshot with "
            "`listener snapshot` and open it with `listener sql`"
        )
    if not settings.has_store:  # type: ignore[attr-defined]
        raise ConfigError(f"{store.path}: no store yet; run `listener run` or `listener import` first")
    try:
        with open_store(store, read_only=True):
            pass
    except StoreBusyError as exc:
        raise StoreBusyError(f"{exc} Or open the snapshot, which never waits: `listener sql`") from None
    return store.path


def find_shell(writer_version: str) -> Path:
    """The DuckDB shell to run: duckdb-cli's binary in this environment, else `duckdb` on PATH,
    if it is at least the minor version of the DuckDB that wrote the file."""
    candidates = []
    spec = importlib.util.find_spec("duckdb_cli")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / ("duckdb.exe" if os.name == "nt" else "duckdb")
        if binary.is_file():
            candidates.append(binary)
    on_path = shutil.which("duckdb")
    if on_path:
        candidates.append(Path(on_path))
    wanted = _parse(writer_version)
    install = (
        f"install the matching shell into this environment: {sys.executable} -m pip install "
        f"'duckdb-cli=={writer_version}'"
    )
    if not candidates:
        raise ShellProblem(f"no DuckDB shell found (the duckdb-cli package or `duckdb` on PATH); {install}")
    found = []
    for shell in candidates:
        version = shell_version(shell)
        if version is not None and wanted is not None and version[:2] >= wanted[:2]:
            return shell
        found.append(f"{shell} is {'.'.join(map(str, version)) if version else 'not a working DuckDB shell'}")
    raise ShellProblem(
        f"{'; '.join(found)}, but the file was written by DuckDB {writer_version} and an older "
        f"shell cannot read its storage format; {install}"
    )


def shell_version(shell: Path) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run([str(shell), "-version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return _parse(out)


def _parse(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None
