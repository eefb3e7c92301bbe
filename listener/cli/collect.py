"""`listener run`, `collect`, `analyze` and `import`: the commands that write mentions and analyses.

Registered by listener/cli/app.py. The pipeline (and with it the connectors and
analytics) is imported inside each command, never when the CLI starts.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from listener.cli.app import EXIT_BUSY, EXIT_OK, EXIT_SOURCE_FAILED, Context, emit, json_option

if TYPE_CHECKING:
    from listener.core.settings import Settings
    from listener.pipeline import CollectReport
    from listener.store.connection import Store
    from listener.store.gate import StoreGate
    from listener.store.ledger import RunLedger


def store_gate(settings: Settings) -> StoreGate:
    """The store, opened only around each write, waiting up to [store] lock_timeout_seconds."""
    from listener.store.gate import StoreGate

    return StoreGate(settings.store, settings.store.lock_timeout_seconds)


@click.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@json_option()
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
    from listener import pipeline
    from listener.cli.alerts import alert_lines

    settings = obj.settings(sources)
    report = pipeline.run(store_gate(settings), settings, sources or None)
    collected, published = report.collected, report.published
    if published is None:  # the store stayed busy: the pages wait in the spool
        emit(
            {"sources": [r.as_dict() for r in collected.runs], "busy": collected.busy, "spool": collected.spool},
            as_json,
            collect_lines(collected),
        )
        sys.exit(EXIT_BUSY)
    analysis, snapshot = published.analysis, published.snapshot
    data = {
        "sources": [r.as_dict() for r in collected.runs],
        "analyze": vars(analysis),
        "snapshot": snapshot,
        "alerts": report.alerts.as_dict(),
    }
    emit(
        data,
        as_json,
        collect_lines(collected)
        + [
            f"analyze: {analysis.scored} mentions scored in {analysis.seconds:.1f}s",
            f"snapshot: {snapshot.get('database')} ({snapshot.get('seconds')}s)"
            if published.snapshot_error is None
            else f"snapshot: not refreshed: {published.snapshot_error}",
        ]
        + alert_lines(report.alerts),
    )
    sys.exit(EXIT_SOURCE_FAILED if report.failed else EXIT_OK)


@click.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@json_option()
@click.pass_obj
def collect(obj: Context, sources: tuple[str, ...], as_json: bool) -> None:
    """Fetch new mentions from enabled sources (no analysis).

    Exit 3 when the store stayed locked: the fetched pages wait in the spool.

    \b
    Example:
      listener collect --source rss
    """
    from listener import pipeline

    settings = obj.settings(sources)
    report = pipeline.collect(store_gate(settings), settings, sources or None)
    data: dict[str, Any] = {"sources": [r.as_dict() for r in report.runs]}
    if report.busy:
        data.update(busy=report.busy, spool=report.spool)
    emit(data, as_json, collect_lines(report))
    sys.exit(EXIT_BUSY if report.busy else EXIT_SOURCE_FAILED if report.failed else EXIT_OK)


def collect_lines(report: CollectReport) -> list[str]:
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
        lines.append(
            f"store busy: {spool.get('pages', 0)} fetched pages ({spool.get('mentions', 0)} mentions) "
            f"wait in {spool.get('directory')}; the next run loads them. {report.busy}"
        )
    return lines


@click.command()
@click.option("--retag", is_flag=True, help="Re-apply topic terms to all mentions (after changing terms).")
@click.option(
    "--rebaseline", is_flag=True, help="Re-measure the KPI baseline over the configured [analytics] baseline period."
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="Analyze as if today were DATE (UTC): rolling windows, KPI weeks and the maturity "
    "assessment end that day (backfills; default: [analytics] as_of, else today).",
)
@json_option()
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
    from listener import pipeline

    settings = obj.settings()
    with store_gate(settings).writer() as store:
        assert store is not None  # a waiting writer() opens the store or raises StoreBusyError
        report = pipeline.analyze(
            store, settings, retag=retag, rebaseline=rebaseline, today=as_of.date() if as_of else None
        )
    level = report.details.get("maturity") or {}
    emit(
        vars(report),
        as_json,
        [
            f"scored {report.scored} mentions ({report.distinct_texts} distinct texts), "
            f"resolved {report.resolved_interactions} interactions in {report.seconds:.1f}s",
            "steps: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in report.steps.items()),
            f"maturity: {level.get('level')} (`listener maturity` for the evidence)",
        ],
    )


@click.command(name="import")
@click.argument("file", type=click.Path(readable=False, path_type=Path))  # the importer says what is wrong
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the file extension.")
@json_option()
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
    from listener.store.ledger import finish_run

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
        ledger.warnings = [f"line {n}: {why}" for n, why in result.errors[:1000]] + [
            f"{at}warning: {why}" for at, why in where[:1000]
        ]
        ledger.status = "warning" if result.errors or warnings else "ok"
        finish_run(store, ledger)
    data = {
        "file": str(file),
        "rows": result.received,
        "inserted": result.inserted,
        "updated": result.updated,
        "rejected": len(result.errors),
        "errors": [{"line": n, "error": why} for n, why in result.errors],
        "warnings": [{"line": n or None, "warning": why} for n, why in warnings],
    }
    lines = [f"{file}: line {n}: {why}" for n, why in result.errors[:50]]
    if len(result.errors) > 50:
        lines.append(f"... and {len(result.errors) - 50} more rejected rows (use --json for all)")
    lines += [f"{file}: {at}warning: {why}" for at, why in where[:50]]
    if len(warnings) > 50:
        lines.append(f"... and {len(warnings) - 50} more warnings (use --json for all)")
    summary = (
        f"{file}: {result.received} rows, {result.inserted} new, {result.updated} updated, "
        f"{len(result.errors)} rejected"
    )
    if warnings:
        summary += f", {len(warnings)} warning" + ("s" if len(warnings) > 1 else "")
    lines.append(summary)
    emit(data, as_json, lines)
    sys.exit(EXIT_SOURCE_FAILED if result.errors else EXIT_OK)


def _first_batch_read(batches: Iterator[Any]) -> Iterator[Any]:
    """Read the first batch now, so a missing, unreadable or wrongly encoded file fails before the store
    is opened or created; the rest stream on."""
    first = next(batches, None)
    return iter(()) if first is None else itertools.chain([first], batches)


def _import_into(store: Store, settings: Settings, file: Path, batches: Iterator[Any]) -> tuple[Any, RunLedger]:
    """Load the batches under a `runs` row that says what happened even if the import dies half-way:
    each batch adds its counts to the row in its own transaction; a failure marks the row failed."""
    import duckdb

    from listener import pipeline
    from listener.core.errors import ListenerError
    from listener.ingest.segments import close_dead_runs
    from listener.ingest.spool import Spool
    from listener.store.faults import describe
    from listener.store.ledger import mark_run_failed, start_run

    spool = Spool(settings.spool_dir)
    close_dead_runs(store, spool)
    ledger = start_run(store, "import", f"import {file.name}")
    with spool.run_lock(ledger.run_id):
        try:
            return pipeline.load_batches(store, settings, batches, ledger.run_id), ledger
        except (duckdb.Error, OSError, ListenerError) as exc:
            problem = describe(exc, settings.store_path) or exc
            mark_run_failed(store, ledger.run_id, str(problem))
            raise problem from None
