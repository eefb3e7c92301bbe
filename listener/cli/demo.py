"""`listener demo`: the whole pipeline offline on the bundled sample corpus.

Registered by listener/cli/app.py; listener.ops.demo (and the pipeline) is imported inside the command.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from listener.cli.app import EXIT_OK, EXIT_SOURCE_FAILED, emit, json_option


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Where to write listener.duckdb, listener.toml and snapshot/.",
)
@click.option(
    "--today",
    "today",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="Place the story before DATE instead of today (UTC): its last week becomes the last "
    "complete ISO week before DATE. Any day up to today.",
)
@json_option(help="Print the summary as JSON.")
def demo(out_dir: Path, today: datetime | None, as_json: bool) -> None:
    """Run the whole pipeline offline on the bundled sample corpus.

    Serves the sample feeds from 127.0.0.1 and collects them through the real
    connectors into OUT/listener.duckdb, places the story's last week in the
    last complete week, analyzes, writes OUT/listener.toml (a config for that
    store) and the analysts' snapshot OUT/snapshot/, and prints a summary that
    ends with the commands to run next.

    \b
    Examples:
      listener demo && listener --config demo/listener.toml digest
      listener demo --today 2026-11-25 --out /tmp/demo --json
    """
    from listener.ops.demo import check_today, run_demo

    if today is not None:
        try:
            check_today(today.date())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--today") from None
    summary, lines = run_demo(out_dir, today.date() if today else None)
    emit(summary, as_json, lines)
    sys.exit(EXIT_SOURCE_FAILED if summary["failed_sources"] else EXIT_OK)
