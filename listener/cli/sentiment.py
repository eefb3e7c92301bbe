"""`listener sentiment evaluate`: how far to trust the sentiment scores, on the user's own labels.

Registered by listener/cli/app.py; the scorer is imported inside the command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from listener.cli.app import EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, Context, emit, json_option


@click.group()
def sentiment() -> None:
    """Check how far to trust the sentiment scores.

    \b
    Example:
      listener sentiment evaluate my_labelled_posts.csv
    """


@sentiment.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text-column", metavar="C", help="Column with the text (default: text, sentence, content, ...).")
@click.option(
    "--label-column",
    metavar="L",
    help="Column with the label: positive/neutral/negative (pos/neu/neg, 1/0/-1) or a numeric "
    "rating on any scale (default: label, rating, sentiment, ...).",
)
@json_option()
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
    result = {
        "file": str(file),
        "layout": sample.layout,
        "text_column": sample.text_column,
        "label_column": sample.label_column,
        "scorer": scorer_label(lexicon),
        **result,
        "errors": [{"line": n, "error": why} for n, why in sample.errors],
    }
    lines = [f"{file}: line {n}: {why}" for n, why in sample.errors[:50]]
    if len(sample.errors) > 50:
        lines.append(f"... and {len(sample.errors) - 50} more rejected rows (use --json for all)")
    lines.append(f"{file}: scorer {result['scorer']}")
    lines += report_lines(result)
    emit(result, as_json, lines)
    sys.exit(EXIT_OK if result["rows"] else EXIT_SOURCE_FAILED)


def _lexicon_if_configured(obj: Context) -> dict[str, float]:
    """The config's lexicon overrides when a config exists; evaluate also works without one."""
    from listener.core.settings import resolve_config_path

    path = resolve_config_path(obj.config)
    if not path.is_file() and not obj.config and not os.environ.get("LISTENER_CONFIG"):
        return {}
    return dict(obj.settings().analytics.lexicon)
