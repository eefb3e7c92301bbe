"""The `listener` command: parse, call one pipeline function, map errors to exit codes.

Exit codes: 0 all good; 1 a source failed (the others committed), rows were
rejected or an output could not be written; 2 usage or config error (nothing
written); 3 the store is busy; 4 the store file is damaged.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import duckdb

from listener import pipeline
from listener.core.errors import (
    ConfigError,
    ImportFormatError,
    ListenerError,
    StoreBusyError,
    StoreDamagedError,
)
from listener.core.progress import setup_logging
from listener.core.redact import mask, mask_all, secret_values
from listener.core.settings import (
    Settings,
    load_dotenv_file,
    load_settings,
    resolve_config_path,
)
from listener.ingest.segments import INTERRUPTED, close_dead_runs, dead_runs
from listener.ingest.spool import Spool
from listener.publish.outfile import (
    atomic_output,
    check_writable_target,
    refuse_protected,
)
from listener.store.connection import RunLedger, Store, open_store
from listener.store.faults import describe, recovery_advice
from listener.store.gate import StoreGate

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_DAMAGED = 0, 1, 2, 3, 4
log = logging.getLogger("listener")


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config

    def settings(self, sources: tuple[str, ...] = ()) -> Settings:
        """Load and fully validate config before anything touches the store."""
        from analytics.maturity.classifier import validate_thresholds
        from listener.ingest.topics import rules_from_organization

        path = resolve_config_path(self.config)
        load_dotenv_file(path)
        settings = load_settings(path)
        rules_from_organization(settings.organization)
        validate_thresholds(settings)
        pipeline.selected_sources(settings, sources or None)
        global _loaded_settings
        _loaded_settings = settings
        return settings


_loaded_settings: Settings | None = None  # for messages about the store once a command has failed


def _emit(data: Any, as_json: bool, lines: list[str]) -> None:
    """Print the report; every string in it has secrets masked (an API may echo a token back)."""
    secrets = secret_values()
    if as_json:
        plain = json.loads(json.dumps(data, default=str))
        click.echo(json.dumps(mask_all(plain, secrets), indent=2))
    else:
        for line in lines:
            click.echo(mask(line, secrets))


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


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def run(obj: Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Collect every enabled source, then analyze. The command for cron.

    Pages are fetched into the spool without locking the store, then loaded in
    short transactions. While an analyst holds the file, loading waits up to
    [store] lock_timeout_seconds; past that the pages stay in the spool, the
    command exits 3, and the next run loads them.

    \b
    Example:
      listener run            # exit 1 if a source failed, 3 if the DB stayed busy
    """
    settings = obj.settings(sources)
    gate = store_gate(settings)
    report = pipeline.collect(gate, settings, sources or None, command="run")
    if report.busy:
        _emit({"sources": [r.as_dict() for r in report.runs], "busy": report.busy, "spool": report.spool},
              as_json, _collect_lines(report))
        sys.exit(EXIT_BUSY)
    with gate.writer() as store:
        analysis = pipeline.analyze(store, settings)
        snapshot = _publish_snapshot(store, settings)
    data = {"sources": [r.as_dict() for r in report.runs], "analyze": vars(analysis), "snapshot": snapshot}
    _emit(data, as_json, _collect_lines(report) + [
        f"analyze: {analysis.scored} mentions scored in {analysis.seconds:.1f}s",
        f"snapshot: {snapshot.get('database')} ({snapshot.get('seconds')}s)" if "error" not in snapshot
        else f"snapshot: not refreshed: {snapshot['error']}"])
    sys.exit(EXIT_SOURCE_FAILED if report.failed or "error" in snapshot else EXIT_OK)


def store_gate(settings: Settings) -> StoreGate:
    """The store, opened only around each write, waiting up to [store] lock_timeout_seconds."""
    return StoreGate(settings.store, settings.store.lock_timeout_seconds)


def _publish_snapshot(store: Any, settings: Settings) -> dict[str, Any]:
    """Refresh the analysts' read-only copy; a failure is reported (exit 1), the run's data stays committed."""
    import duckdb

    from listener.publish.snapshot import default_snapshot_dir, publish_snapshot

    try:
        return publish_snapshot(store.conn, default_snapshot_dir(settings)).as_dict()
    except (OSError, ValueError, duckdb.Error, StoreBusyError) as exc:
        log.error("snapshot not refreshed: %s", exc)
        return {"error": str(exc)}


@cli.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def collect(obj: Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Fetch new mentions from enabled sources (no analysis).

    Exit 3 when the store stayed locked: the fetched pages wait in the spool.

    \b
    Example:
      listener collect --source rss
    """
    settings = obj.settings(sources)
    report = pipeline.collect(store_gate(settings), settings, sources or None)
    data: dict[str, Any] = {"sources": [r.as_dict() for r in report.runs]}
    if report.busy:
        data.update(busy=report.busy, spool=report.spool)
    _emit(data, as_json, _collect_lines(report))
    sys.exit(EXIT_BUSY if report.busy else EXIT_SOURCE_FAILED if report.failed else EXIT_OK)


def _collect_lines(report: pipeline.CollectReport) -> list[str]:
    lines = []
    for r in report.runs:
        lines.append(f"{r.source}: {r.status}: fetched {r.fetched}, new {r.inserted}, updated {r.updated}")
        lines += [f"  warning: {w}" for w in r.warnings[:20]]
        if len(r.warnings) > 20:
            lines.append(f"  ... {len(r.warnings) - 20} more warnings (see the runs table)")
        if r.error:
            lines.append(f"  error: {r.error}")
    if not report.runs:
        lines.append("no sources enabled: set enabled = true under [sources.<name>] in the config")
    if report.busy:
        spool = report.spool
        lines.append(f"store busy: {spool.get('pages', 0)} fetched pages ({spool.get('mentions', 0)} mentions) "
                     f"wait in {spool.get('directory')}; the next run loads them. {report.busy}")
    return lines


@cli.command()
@click.option("--retag", is_flag=True, help="Re-apply topic terms to all mentions (after changing terms).")
@click.option("--rebaseline", is_flag=True,
              help="Re-measure the KPI baseline over the configured [analytics] baseline period.")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Analyze as if today were DATE (UTC): rolling windows, KPI weeks and the maturity "
                   "assessment end that day (backfills; default: [analytics] as_of, else today).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def analyze(obj: Context, retag: bool, rebaseline: bool, as_of: datetime | None, as_json: bool) -> None:
    """Refresh every analysis for what is new: languages, sentiment,
    influencers, communities, conversation shapes, spikes, KPIs, and record
    a maturity assessment.

    \b
    Examples:
      listener analyze --retag    # after changing brand or competitor terms
      listener analyze --as-of 2026-06-30
    """
    settings = obj.settings()
    with store_gate(settings).writer() as store:
        report = pipeline.analyze(store, settings, retag=retag, rebaseline=rebaseline,
                                  today=as_of.date() if as_of else None)
    level = report.details.get("maturity") or {}
    _emit(vars(report), as_json, [
        f"scored {report.scored} mentions ({report.distinct_texts} distinct texts), "
        f"resolved {report.resolved_interactions} interactions in {report.seconds:.1f}s",
        "steps: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.steps.items()),
        f"maturity: {level.get('level')} (`listener maturity` for the evidence)"])


@cli.command()
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Assess the window ending DATE (UTC), using only data created up to that day "
                   "(default: [analytics] as_of, else today).")
@click.option("--record", is_flag=True, help="Also store the assessment in maturity_assessments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def maturity(obj: Context, as_of: datetime | None, record: bool, as_json: bool) -> None:
    """Where the organization stands on the engagement ladder (Monitor, Discover,
    Share, Participate, Co-create): level, evidence per rung, organizational
    model, path and next steps. Computes a fresh assessment from the store
    (read-only unless --record); `listener analyze` records one every run.
    See docs/maturity.md.

    \b
    Examples:
      listener maturity
      listener maturity --json --as-of 2026-06-30 | jq '.rungs[] | select(.pass | not)'
    """
    from analytics.maturity.classifier import assess, report_lines
    from analytics.maturity.classifier import record as record_assessment

    settings = obj.settings()
    if not settings.has_store:
        raise ConfigError(f"{settings.store_path}: no store yet; run `listener run` or `listener import` first")
    with open_store(settings.store, read_only=not record) as store:
        assessment = assess(store.conn, settings, as_of.date() if as_of else settings.today())
        if record:
            with store.transaction() as conn:
                record_assessment(conn, assessment)
    _emit(assessment, as_json, report_lines(assessment))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Last run per source, counts, cursor age and errors.

    Exit 1 when the last run of an enabled source failed, was partial or was
    interrupted (disabled sources are shown, never failing); else 0.

    \b
    Example:
      listener status --json | jq '.sources[] | select(.last_run.status != "ok")'
      listener status > /dev/null || echo "a source is failing"
    """
    from listener.publish.status import gather_status, refresh_health, status_lines

    settings = obj.settings()
    if not settings.has_store:
        raise ConfigError(f"{settings.store_path}: no store yet; run `listener run` first")
    spool = Spool(settings.spool_dir)
    with open_store(settings.store, read_only=True) as store:
        data = gather_status(store.conn, settings.sources.enabled())
        dead = set(dead_runs(store, spool))
    for source in data["sources"]:  # read-only: shown as it will be recorded by the next writing command
        run = source["last_run"]
        if run and run["run_id"] in dead:
            run["status"] = "interrupted"
            run["error"] = run["error"] or INTERRUPTED
    data["spool"] = spool.summary().as_dict()
    refresh_health(data)
    _emit(data, as_json, status_lines(data))
    sys.exit(EXIT_OK if data["healthy"] else EXIT_SOURCE_FAILED)


@cli.command(name="import")
@click.argument("file", type=click.Path(readable=False, path_type=Path))  # the importer says what is wrong
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the file extension.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def import_(obj: Context, file: Path, fmt: str | None, as_json: bool) -> None:
    """Load a canonical mention file (JSONL or CSV), e.g. an export from another tool.

    Bad rows are reported with their line numbers; good rows are kept. Exit 1
    if any row was rejected; warnings alone (a text cut to length, columns kept
    in raw, an empty file) exit 0.

    \b
    Example:
      listener import history.jsonl && listener analyze
    """
    from listener.ingest.importer import check_file, detect_format, read_batches

    settings = obj.settings()
    check_file(file)  # a FIFO, device, directory or UTF-16 file is named as such, before its format
    kind = detect_format(file, fmt)
    notes: list[tuple[int, str]] = []  # the reader's, about the file (line 0: the whole file)
    batches = _first_batch_read(read_batches(file, kind, warnings=notes))  # a file that cannot be read creates nothing
    with store_gate(settings).writer() as store:  # waits up to lock_timeout_seconds, like `run`
        assert store is not None
        result, ledger = _import_into(store, settings, file, batches)
        ledger.fetched, ledger.inserted, ledger.updated = result.received, result.inserted, result.updated
        warnings = sorted(notes + result.warnings)
        where = [(f"line {n}: " if n else "", why) for n, why in warnings]
        ledger.warnings = ([f"line {n}: {why}" for n, why in result.errors[:1000]]
                           + [f"{at}warning: {why}" for at, why in where[:1000]])
        ledger.status = "warning" if result.errors or warnings else "ok"
        store.finish_run(ledger)
    data = {"file": str(file), "rows": result.received, "inserted": result.inserted,
            "updated": result.updated, "rejected": len(result.errors),
            "errors": [{"line": n, "error": why} for n, why in result.errors],
            "warnings": [{"line": n or None, "warning": why} for n, why in warnings]}
    lines = [f"{file}: line {n}: {why}" for n, why in result.errors[:50]]
    if len(result.errors) > 50:
        lines.append(f"... and {len(result.errors) - 50} more rejected rows (use --json for all)")
    lines += [f"{file}: {at}warning: {why}" for at, why in where[:50]]
    if len(warnings) > 50:
        lines.append(f"... and {len(warnings) - 50} more warnings (use --json for all)")
    summary = (f"{file}: {result.received} rows, {result.inserted} new, {result.updated} updated, "
               f"{len(result.errors)} rejected")
    if warnings:
        summary += f", {len(warnings)} warning" + ("s" if len(warnings) > 1 else "")
    lines.append(summary)
    _emit(data, as_json, lines)
    sys.exit(EXIT_SOURCE_FAILED if result.errors else EXIT_OK)


def _first_batch_read(batches: Iterator[Any]) -> Iterator[Any]:
    """Read the first batch now, so a missing, unreadable or wrongly encoded file fails before the store
    is opened or created; the rest stream on."""
    first = next(batches, None)
    return iter(()) if first is None else itertools.chain([first], batches)


def _import_into(store: Store, settings: Settings, file: Path, batches: Iterator[Any]) -> tuple[Any, RunLedger]:
    """Load the batches under a `runs` row that says what happened even if the import dies half-way:
    each batch adds its counts to the row in its own transaction; a failure marks the row failed."""
    spool = Spool(settings.spool_dir)
    close_dead_runs(store, spool)
    ledger = store.start_run("import", f"import {file.name}")
    with spool.run_lock(ledger.run_id):
        try:
            return pipeline.load_batches(store, settings, batches, ledger.run_id), ledger
        except (duckdb.Error, OSError, ListenerError) as exc:
            problem = describe(exc, settings.store_path) or exc
            store.mark_run_failed(ledger.run_id, str(problem))
            raise problem from None


@cli.command()
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: all mentions (.jsonl or .csv), or with --table the table (.parquet or .csv).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "parquet"]),
              help="Default: from the extension. Mentions: jsonl|csv; --table: parquet|csv.")
@click.option("--table", "table", metavar="NAME",
              help="Write this store table or view (e.g. sentiment, influencers) to --out via DuckDB COPY.")
@click.option("--graph", "graph", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.gexf",
              help="Write the author interaction graph as GEXF 1.3 (Gephi, networkx, igraph).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="--graph: only interactions on or after this day (UTC), e.g. 2026-11-01.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="--graph: only interactions up to and including this day (UTC), e.g. 2026-11-30.")
@click.pass_obj
def export(obj: Context, out: Path | None, fmt: str | None, table: str | None, graph: Path | None,
           since: datetime | None, until: datetime | None) -> None:
    """Write mentions (canonical format), one store table, or the interaction graph.

    Exit 2 for an unknown table or a bad combination of options.

    \b
    Examples:
      listener export --out mentions.jsonl                  # all mentions, what `import` reads
      listener export --out mentions.csv --format csv       # same, flat CSV
      listener export --table sentiment --out sentiment.parquet
      listener export --table influencers --out influencers.csv
      listener export --table mentions --out m.data --format parquet
      listener export --graph week.gexf --since 2026-11-23 --until 2026-11-29
    """
    from listener.publish import exporter

    if graph and (table or out):
        raise click.UsageError("--graph writes its own file; use it without --out/--table")
    if not graph and not out:
        raise click.UsageError("give --out FILE (mentions or --table), or --graph FILE.gexf")
    if (since or until) and not graph:
        raise click.UsageError("--since/--until only apply to --graph")
    settings = obj.settings()
    target = graph or out
    assert target is not None
    refuse_protected(target, settings)
    check_writable_target(target)
    if not settings.has_store:
        raise ConfigError(f"{settings.store_path}: no store yet; run `listener run` or `listener import` first")
    with open_store(settings.store, read_only=True) as store:
        if graph:
            end = until + timedelta(days=1) if until else None
            with atomic_output(graph) as partial:
                nodes, edges = exporter.export_graph(store.conn, partial, _utc(since), _utc(end))
            click.echo(f"{graph}: {nodes} authors, {edges} edges")
        elif table:
            try:
                kind = exporter.table_format(out, fmt)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from None
            if kind not in ("parquet", "csv"):
                raise click.UsageError("--table writes parquet or csv")
            try:
                with atomic_output(out) as partial:
                    count = exporter.export_table(store.conn, table, partial, kind)
            except KeyError:
                known = ", ".join(exporter.store_relations(store.conn))
                raise click.BadParameter(f"unknown table {table!r}; tables and views: {known}",
                                         param_hint="--table") from None
            click.echo(f"{out}: {count} rows of {table} ({kind})")
        else:
            from listener.ingest.importer import detect_format

            if fmt == "parquet":
                raise click.UsageError("mentions are written as jsonl or csv; use --table mentions for parquet")
            kind = detect_format(out, fmt)
            with atomic_output(out) as partial:
                count = exporter.export_mentions(store.conn, partial, kind)
            click.echo(f"{out}: {count} mentions")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value else None


@cli.group()
def sentiment() -> None:
    """Check how far to trust the sentiment scores.

    \b
    Example:
      listener sentiment evaluate my_labelled_posts.csv
    """


@sentiment.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text-column", metavar="C", help="Column with the text (default: text, sentence, content, ...).")
@click.option("--label-column", metavar="L",
              help="Column with the label: positive/neutral/negative (pos/neu/neg, 1/0/-1) or a numeric "
                   "rating on any scale (default: label, rating, sentiment, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def evaluate(obj: Context, file: Path, text_column: str | None, label_column: str | None, as_json: bool) -> None:
    """Score your own labelled sample and compare with your labels.

    FILE is CSV or TSV with a header (told by extension, else sniffed), or a
    headerless id<TAB>rating<TAB>text file like VADER's published ground truth.
    Prints Pearson r (numeric ratings), accuracy, macro-F1 and the confusion
    matrix, using the scorer `analyze` uses (with [analytics] lexicon when a
    config is found). Bad rows are reported with their line numbers. Exit 1
    if no row is usable, 2 for a missing file or column. See docs/sentiment.md.

    \b
    Examples:
      listener sentiment evaluate sample.csv --text-column body --label-column stars
      listener sentiment evaluate ratings.tsv --json     # id<TAB>rating<TAB>text, like VADER's ground truth
    """
    from analytics.sentiment.evaluate import SampleError, read_sample, report_lines
    from analytics.sentiment.evaluate import evaluate as run_evaluation
    from analytics.sentiment.score import scorer_label

    lexicon = _lexicon_if_configured(obj)
    try:
        sample = read_sample(file, text_column, label_column)
    except SampleError as exc:
        click.echo(f"listener: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    result = run_evaluation(sample, lexicon)
    result = {"file": str(file), "layout": sample.layout, "text_column": sample.text_column,
              "label_column": sample.label_column, "scorer": scorer_label(lexicon), **result,
              "errors": [{"line": n, "error": why} for n, why in sample.errors]}
    lines = [f"{file}: line {n}: {why}" for n, why in sample.errors[:50]]
    if len(sample.errors) > 50:
        lines.append(f"... and {len(sample.errors) - 50} more rejected rows (use --json for all)")
    lines.append(f"{file}: scorer {result['scorer']}")
    lines += report_lines(result)
    _emit(result, as_json, lines)
    sys.exit(EXIT_OK if result["rows"] else EXIT_SOURCE_FAILED)


def _lexicon_if_configured(obj: Context) -> dict[str, float]:
    """The config's lexicon overrides when a config exists; evaluate also works without one."""
    path = resolve_config_path(obj.config)
    if not path.is_file() and not obj.config and not os.environ.get("LISTENER_CONFIG"):
        return {}
    return dict(obj.settings().analytics.lexicon)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="Where to write listener.duckdb, listener.toml and snapshot/.")
@click.option("--today", "today", type=click.DateTime(["%Y-%m-%d"]), metavar="DATE",
              help="Place the story before DATE instead of today (UTC): its last week becomes the last "
                   "complete ISO week before DATE. Any day up to today.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
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
    _emit(summary, as_json, lines)
    sys.exit(EXIT_SOURCE_FAILED if summary["failed_sources"] else EXIT_OK)


from listener.cli.digest import digest_command  # noqa: E402 - registered after Context exists

cli.add_command(digest_command)

from listener.cli.snapshot import snapshot_command  # noqa: E402 - registered after Context exists

cli.add_command(snapshot_command)

from listener.cli.schedule import schedule_command  # noqa: E402 - registered after Context exists

cli.add_command(schedule_command)

from listener.cli.sql import sql_command  # noqa: E402 - registered after Context exists

cli.add_command(sql_command)


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
    except (duckdb.Error, OSError) as exc:  # a fault, not a bug: one line, never a traceback
        store = _loaded_settings.store_path if _loaded_settings else None
        problem = describe(exc, store)
        if problem is None:
            raise
        if isinstance(problem, StoreDamagedError):
            _fail(f"{problem}. {_recovery(problem.path)}", EXIT_DAMAGED)
        _fail(str(problem), EXIT_SOURCE_FAILED)


def _fail(message: str, code: int) -> None:
    click.echo(f"listener: {mask(' '.join(message.split()))}", err=True)
    sys.exit(code)


def _recovery(path: str) -> str:
    snapshot = None
    if _loaded_settings is not None:
        from listener.publish.snapshot import DB_NAME, default_snapshot_dir

        snapshot = default_snapshot_dir(_loaded_settings) / DB_NAME
    return recovery_advice(path, snapshot)


if __name__ == "__main__":
    main()
