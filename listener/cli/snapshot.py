"""`listener snapshot`: publish a read-only copy of the store (DuckDB file + Parquet) for analysts.

Registered by listener/cli/app.py with `cli.add_command(snapshot_command)`. Exit
codes as everywhere: 0 ok, 2 usage or config error, 3 the store (or another
snapshot of the same folder) is busy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from listener.cli.app import Context


@click.command(name="snapshot")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Where to publish (default: [store] snapshot_dir, else <store dir>/snapshot).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def snapshot_command(obj: Context, out_dir: Path | None, as_json: bool) -> None:
    """Publish a consistent read-only copy of the store for analysts:
    DIR/listener.duckdb, DIR/parquet/<table or view>.parquet and
    DIR/manifest.json (time, schema version, row counts).

    The live store is opened read-only only for one bulk copy; the new files
    are then renamed over the old ones, so notebooks and BI tools may keep the
    snapshot open all day and never block `listener run`. See docs/analysts.md.

    \b
    Example:
      listener snapshot && duckdb -readonly data/snapshot/listener.duckdb
      listener snapshot --out /srv/share/listener --json
    """
    from listener.publish.snapshot import default_snapshot_dir, snapshot_store

    settings = obj.settings()
    out = out_dir or default_snapshot_dir(settings)
    try:
        result = snapshot_store(settings.store, out)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    mentions = result.tables.get("mentions")
    click.echo(
        f"{result.database}: {len(result.tables)} tables, {len(result.views)} views"
        + (f", {mentions} mentions" if mentions is not None else "")
        + f" (schema v{result.schema_version}), live store held {result.copy_seconds:.1f}s, "
        f"total {result.seconds:.1f}s"
    )
    click.echo(
        f"{result.parquet_dir}/: {len(result.tables) + len(result.views)} Parquet files; manifest {result.manifest}"
    )
    click.echo(f"open it: duckdb -readonly {result.database}")
