"""`listener status`, `maturity` and `export`: the commands that read the store and report on it.

Registered by listener/cli/app.py. What each command needs is imported inside it:
`status` never loads the analytics or the connectors.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from listener.cli.app import EXIT_OK, EXIT_SOURCE_FAILED, Context, emit, json_option
from listener.core.errors import ConfigError


@click.command()
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="Assess the window ending DATE (UTC), using only data created up to that day "
    "(default: [analytics] as_of, else today).",
)
@click.option("--record", is_flag=True, help="Also store the assessment in maturity_assessments.")
@json_option(help="Print JSON.")
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
    from listener.store.connection import Claim, open_store

    settings = obj.settings()
    if not settings.has_store:
        raise ConfigError(f"{settings.store_path}: no store yet; run `listener run` or `listener import` first")
    with open_store(settings.store, read_only=not record) as store:
        assessment = assess(store.conn, settings, as_of.date() if as_of else settings.today())
        if record:
            store.write_transaction(lambda conn: record_assessment(conn, assessment), "maturity", claim=Claim.ANALYSIS)
    emit(assessment, as_json, report_lines(assessment))


@click.command()
@json_option(help="Print JSON.")
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
    from listener.ingest.segments import INTERRUPTED, dead_runs
    from listener.ingest.spool import Spool
    from listener.publish.status import gather_status, refresh_health, status_lines
    from listener.store.connection import open_store

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
    emit(data, as_json, status_lines(data))
    sys.exit(EXIT_OK if data["healthy"] else EXIT_SOURCE_FAILED)


@click.command()
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file: all mentions (.jsonl or .csv), or with --table the table (.parquet or .csv).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    help="Default: from the extension. Mentions: jsonl|csv; --table: parquet|csv.",
)
@click.option(
    "--table",
    "table",
    metavar="NAME",
    help="Write this store table or view (e.g. sentiment, influencers) to --out via DuckDB COPY.",
)
@click.option(
    "--graph",
    "graph",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.gexf",
    help="Write the author interaction graph as GEXF 1.3 (Gephi, networkx, igraph).",
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="--graph: only interactions on or after this day (UTC), e.g. 2026-11-01.",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    metavar="DATE",
    help="--graph: only interactions up to and including this day (UTC), e.g. 2026-11-30.",
)
@click.pass_obj
def export(
    obj: Context,
    out: Path | None,
    fmt: str | None,
    table: str | None,
    graph: Path | None,
    since: datetime | None,
    until: datetime | None,
) -> None:
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
    from listener.publish.outfile import atomic_output, check_writable_target, refuse_protected
    from listener.store.connection import open_store

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
            assert out is not None  # checked above: --table needs --out
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
                raise click.BadParameter(
                    f"unknown table {table!r}; tables and views: {known}", param_hint="--table"
                ) from None
            click.echo(f"{out}: {count} rows of {table} ({kind})")
        else:
            from listener.ingest.importer import detect_format

            assert out is not None  # checked above: no --graph means --out

            if fmt == "parquet":
                raise click.UsageError("mentions are written as jsonl or csv; use --table mentions for parquet")
            kind = detect_format(out, fmt)
            with atomic_output(out) as partial:
                count = exporter.export_mentions(store.conn, partial, kind)
            click.echo(f"{out}: {count} mentions")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value else None
