"""`listener schedule`: the long-running scheduler daemon, and `--check` for healthchecks.

Registered by listener/cli/app.py with `cli.add_command(schedule_command)`. Exit
codes: 0 stopped cleanly (SIGTERM/SIGINT) or heartbeat fresh; 1 heartbeat
stale or missing (`--check`); 2 usage or config error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from listener.cli.app import Context

EXIT_OK, EXIT_STALE = 0, 1


@click.command(name="schedule")
@click.option(
    "--check",
    is_flag=True,
    help="Do not run: exit 0 if the running scheduler's heartbeat is fresh, else 1 (container healthcheck).",
)
@click.option(
    "--heartbeat-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Heartbeat JSON (default: [schedule] heartbeat_file, else scheduler-heartbeat.json next to the store).",
)
@click.pass_obj
def schedule_command(obj: Context, check: bool, heartbeat_file: Path | None) -> None:
    """Run the scheduler daemon: each enabled source on its own poll interval,
    `analyze` nightly and `digest --send` weekly, from the [schedule] config
    (cron expressions and a time zone).

    Collect jobs fetch into the spool and open the database only to load each
    page; a database held by another process past [store] lock_timeout_seconds
    is logged, the pages wait in the spool and load at the next tick. SIGTERM
    or Ctrl-C lets a collect job finish the page in hand (analyze and digest
    run to the end), then exits 0. A heartbeat JSON file (pid,
    last tick, per-job last run, status and next run) is rewritten every
    [schedule] heartbeat_seconds and after each job.

    \b
    Example:
      listener --config /etc/listener.toml schedule           # foreground daemon (systemd, docker)
      listener --config /etc/listener.toml schedule --check   # healthcheck: exit 0 fresh, 1 stale
    """
    from listener.ops.scheduler import (
        build_scheduler,
        check_heartbeat,
        check_schedule,
        heartbeat_path,
        run_daemon,
    )

    settings = obj.settings()
    check_schedule(settings.schedule)  # a bad [schedule] is exit 2, also for --check
    path = heartbeat_file or heartbeat_path(settings)
    if check:
        fresh, line = check_heartbeat(path)
        click.echo(line, err=not fresh)
        sys.exit(EXIT_OK if fresh else EXIT_STALE)
    daemon = build_scheduler(settings, heartbeat_file=path)
    if not any(job_id.startswith("collect:") for job_id in daemon.jobs):
        click.echo("listener: no sources enabled; only analyze and digest are scheduled", err=True)
    sys.exit(run_daemon(daemon))
