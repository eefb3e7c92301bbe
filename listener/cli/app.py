"""The `listener` command: the group, shared options, and errors mapped to exit codes.

Each command family has its module, registered at the end of this one:
collect.py (run, collect, analyze, import), reports.py (status, maturity,
export), sentiment.py, demo.py, digest.py, snapshot.py, schedule.py, sql.py.
They import the pipeline, the analytics and the connectors inside the
commands that need them, so `listener --help`, `status` and `sql` start
without loading igraph, matplotlib, praw or tweepy.

Exit codes: 0 all good; 1 a source failed (the others committed), rows were
rejected or an output could not be written; 2 usage or config error (nothing
written); 3 the store is busy; 4 the store file is damaged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from listener.core.errors import (
    ConfigError,
    ImportFormatError,
    ListenerError,
    StoreBusyError,
    StoreDamagedError,
)
from listener.core.progress import setup_logging
from listener.core.redact import mask, mask_all, secret_values

if TYPE_CHECKING:
    from listener.core.settings import Settings

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_DAMAGED = 0, 1, 2, 3, 4
Command = TypeVar("Command", bound=Callable[..., Any])


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    def settings(self, sources: tuple[str, ...] = ()) -> Settings:
        """Load and fully validate config before anything touches the store."""
        from listener.core.settings import load_dotenv_file, load_settings, resolve_config_path
        from listener.ingest.topics import rules_from_organization

        path = resolve_config_path(self.config)
        load_dotenv_file(path)
        settings = load_settings(path)
        rules_from_organization(settings.organization)
        if settings.maturity.thresholds:  # the metric table lives in analytics: loaded only when there is one to check
            from analytics.maturity.classifier import validate_thresholds

            validate_thresholds(settings)
        if sources:  # --source names a connector; the enabled ones are always known (the config model lists them)
            from listener.pipeline import selected_sources

            selected_sources(settings, sources)
        global _loaded_settings
        _loaded_settings = settings
        return settings


_loaded_settings: Settings | None = None  # for messages about the store once a command has failed


def emit(data: Any, as_json: bool, lines: list[str]) -> None:
    """Print the report; every string in it has secrets masked (an API may echo a token back)."""
    secrets = secret_values()
    if as_json:
        plain = json.loads(json.dumps(data, default=str))
        click.echo(json.dumps(mask_all(plain, secrets), indent=2))
    else:
        for line in lines:
            click.echo(mask(line, secrets))


def json_option(help: str = "Print a JSON report.") -> Callable[[Command], Command]:
    """`--json` (as `as_json`): the report as JSON instead of lines, as every reporting command offers."""
    return click.option("--json", "as_json", is_flag=True, help=help)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "-c", metavar="PATH", help="Config file (default: $LISTENER_CONFIG, then ./listener.toml).")
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
@click.option("--quiet", "-q", is_flag=True, help="Warnings and errors only.")
@click.version_option(package_name="listener")
@click.pass_context
def cli(ctx: click.Context, config: str | None, verbose: bool, quiet: bool) -> None:
    """Social listening into DuckDB: collect mentions, analyze them, report.

    \b
    Example (nightly cron):
      listener --config /etc/listener.toml run
    """
    setup_logging(verbose=verbose, quiet=quiet)
    ctx.obj = Context(config)


# The command families import Context, emit and the exit codes from here, so they are registered last.
from listener.cli.alerts import alerts  # noqa: E402
from listener.cli.collect import analyze, collect, import_, run  # noqa: E402
from listener.cli.demo import demo  # noqa: E402
from listener.cli.digest import digest_command  # noqa: E402
from listener.cli.inbox import inbox  # noqa: E402
from listener.cli.query import query  # noqa: E402
from listener.cli.reports import export, maturity, status  # noqa: E402
from listener.cli.schedule import schedule_command  # noqa: E402
from listener.cli.sentiment import sentiment  # noqa: E402
from listener.cli.snapshot import snapshot_command  # noqa: E402
from listener.cli.sql import sql_command  # noqa: E402

for _command in (
    run,
    collect,
    analyze,
    import_,
    maturity,
    status,
    export,
    demo,
    digest_command,
    snapshot_command,
    schedule_command,
    sql_command,
    query,
):
    cli.add_command(_command)
# mypy may not follow the import cycle for these (they import Context from here)
cli.add_command(alerts)  # type: ignore[has-type, unused-ignore]
cli.add_command(sentiment)  # type: ignore[has-type, unused-ignore]
cli.add_command(inbox)  # type: ignore[has-type, unused-ignore]


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="listener", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except (ConfigError, ImportFormatError) as exc:
        click.echo(f"listener: config error: {exc}" if isinstance(exc, ConfigError) else f"listener: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except StoreBusyError as exc:
        _fail(str(exc), EXIT_BUSY)
    except StoreDamagedError as exc:
        _fail(f"{exc}. {_recovery(exc.path)}", EXIT_DAMAGED)
    except ListenerError as exc:
        _fail(str(exc), EXIT_SOURCE_FAILED)
    except Exception as exc:  # a fault, not a bug: one line, never a traceback
        if not _is_store_or_disk_fault(exc):
            raise
        from listener.store.faults import describe

        store = _loaded_settings.store_path if _loaded_settings else None
        problem = describe(exc, store)
        if problem is None:
            raise
        if isinstance(problem, StoreDamagedError):
            _fail(f"{problem}. {_recovery(problem.path)}", EXIT_DAMAGED)
        _fail(str(problem), EXIT_SOURCE_FAILED)


def _is_store_or_disk_fault(exc: Exception) -> bool:
    """An OSError or a DuckDB error. Only a command that loaded duckdb can raise the latter, so it is
    looked up, not imported: `listener --help` never pays for loading it."""
    duckdb = sys.modules.get("duckdb")
    return isinstance(exc, OSError) or (duckdb is not None and isinstance(exc, duckdb.Error))


def _fail(message: str, code: int) -> None:
    click.echo(f"listener: {mask(' '.join(message.split()))}", err=True)
    sys.exit(code)


def _recovery(path: str) -> str:
    from listener.store.faults import recovery_advice

    snapshot = None
    if _loaded_settings is not None:
        from listener.publish.snapshot import DB_NAME, default_snapshot_dir

        snapshot = default_snapshot_dir(_loaded_settings) / DB_NAME
    return recovery_advice(path, snapshot)


if __name__ == "__main__":
    main()
