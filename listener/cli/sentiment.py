"""`listener sentiment`: analysts' corrections of the labels, and how far to trust the scores.

Registered by listener/cli/app.py; the scorer is imported inside the commands. Corrections live in
`sentiment_overrides` (analytics/sentiment/overrides.py) and win in every view, KPI and the digest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from listener.cli.app import EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, Context, emit, json_option
from listener.cli.collect import store_gate


@click.group()
def sentiment() -> None:
    """Correct sentiment labels and check how far to trust the scores.

    \b
    Examples:
      listener sentiment set x:1789 negative          # the analyst's label wins everywhere
      listener sentiment set x:1789 positive --topic Zephyr
      listener sentiment unset x:1789
      listener sentiment overrides --json
      listener sentiment evaluate                     # the scorer against your corrections
      listener sentiment evaluate my_labelled_posts.csv
    """


@sentiment.command("set")
@click.argument("mention_ids", nargs=-1, required=True, metavar="ID...")
@click.argument("label", type=click.Choice(["positive", "neutral", "negative"]))
@click.option("--topic", metavar="NAME", help="Only this topic's label of the post (topic_sentiment).")
@click.option("--note", metavar="TEXT", help="Why: kept with the label.")
@json_option()
@click.pass_obj
def set_(
    obj: Context, mention_ids: tuple[str, ...], label: str, topic: str | None, note: str | None, as_json: bool
) -> None:
    """Store your label for mentions (ID... then LABEL); views, KPIs, spikes, alerts and the digest
    prefer it over the scorer's. KPIs and spikes follow at the next `listener analyze`.

    \b
    Examples:
      listener sentiment set x:1789 reddit:t1_abc negative --note sarcasm
      listener sentiment set x:1789 positive --topic Zephyr
    """
    from analytics.sentiment.overrides import set_label

    applied = _write(obj, lambda conn: set_label(conn, mention_ids, label, topic, note), "sentiment set")
    what = f"topic {topic!r} of " if topic else ""
    lines = [
        f"{len(set(mention_ids))} mention(s): {what}label {label} stored; {applied.posts} post and "
        f"{applied.topics} topic labels changed (KPIs and spikes: at the next `listener analyze`)"
    ]
    emit(
        {
            "label": label,
            "topic": topic,
            "mentions": list(dict.fromkeys(mention_ids)),
            "posts_changed": applied.posts,
            "topics_changed": applied.topics,
        },
        as_json,
        lines,
    )
    sys.exit(EXIT_OK)


@sentiment.command()
@click.argument("mention_ids", nargs=-1, required=True, metavar="ID...")
@click.option("--topic", metavar="NAME", help="Only the label set for this topic.")
@json_option()
@click.pass_obj
def unset(obj: Context, mention_ids: tuple[str, ...], topic: str | None, as_json: bool) -> None:
    """Forget your label for mentions: the scorer's applies again.

    \b
    Example:
      listener sentiment unset x:1789
    """
    from analytics.sentiment.overrides import clear_label

    applied = _write(obj, lambda conn: clear_label(conn, mention_ids, topic), "sentiment unset")
    lines = [
        f"{len(set(mention_ids))} mention(s): label removed; {applied.posts} post and {applied.topics} topic labels changed"
    ]
    emit(
        {
            "mentions": list(dict.fromkeys(mention_ids)),
            "topic": topic,
            "posts_changed": applied.posts,
            "topics_changed": applied.topics,
        },
        as_json,
        lines,
    )
    sys.exit(EXIT_OK)


@sentiment.command("overrides")
@json_option()
@click.pass_obj
def overrides_(obj: Context, as_json: bool) -> None:
    """List your stored labels beside the scorer's, newest first.

    \b
    Example:
      listener sentiment overrides --json
    """
    from analytics.sentiment.overrides import overrides

    with store_gate(obj.settings()).reader() as store:
        rows = overrides(store.conn)
    lines = [f"{len(rows)} label(s) set by analysts"]
    for r in rows:
        topic = f" [{r['topic']}]" if r["topic"] else ""
        lines.append(
            f"  {r['mention_id']}{topic}: {r['label']} (scorer: {r['model_label'] or 'not scored'})"
            f" {r['set_at']:%Y-%m-%d %H:%M}"
        )
    emit({"overrides": rows}, as_json, lines)
    sys.exit(EXIT_OK)


def _write(obj: Context, work: Callable[[Any], Any], what: str) -> Any:
    from analytics.sentiment.overrides import OverrideError

    with store_gate(obj.settings()).writer() as store:
        assert store is not None
        try:
            return store.write_transaction(work, what)
        except OverrideError as exc:
            raise click.UsageError(str(exc)) from None


@sentiment.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--text-column", metavar="C", help="Column with the text (default: text, sentence, content, ...).")
@click.option(
    "--label-column",
    metavar="L",
    help="Column with the label: positive/neutral/negative (pos/neu/neg, 1/0/-1) or a numeric "
    "rating on any scale (default: label, rating, sentiment, ...).",
)
@json_option()
@click.pass_obj
def evaluate(obj: Context, file: Path | None, text_column: str | None, label_column: str | None, as_json: bool) -> None:
    """Score your own labelled sample and compare with your labels; without FILE, compare the
    stored scores with the labels analysts set (`listener sentiment set`).

    FILE is CSV or TSV with a header (told by extension, else sniffed), or a
    headerless id<TAB>rating<TAB>text file like VADER's published ground truth.
    Prints Pearson r (numeric ratings), accuracy, macro-F1 and the confusion
    matrix, using the scorer `analyze` uses (with [analytics] lexicon when a
    config is found). Bad rows are reported with their line numbers. Exit 1
    if no row is usable, 2 for a missing file or column. See docs/sentiment.md.

    \b
    Examples:
      listener sentiment evaluate                 # agreement with your corrections in the store
      listener sentiment evaluate sample.csv --text-column body --label-column stars
      listener sentiment evaluate ratings.tsv --json     # id<TAB>rating<TAB>text, like VADER's ground truth
    """
    from analytics.sentiment.evaluate import SampleError, read_sample, report_lines
    from analytics.sentiment.evaluate import evaluate as run_evaluation
    from analytics.sentiment.score import scorer_label

    if file is None:
        _evaluate_overrides(obj, as_json)
        return
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


def _evaluate_overrides(obj: Context, as_json: bool) -> None:
    from analytics.sentiment.evaluate import report_lines
    from analytics.sentiment.overrides import agreement

    with store_gate(obj.settings()).reader() as store:
        result = agreement(store.conn)
    lines = [f"the scorer against {result['rows']} label(s) set by analysts (listener sentiment set)"]
    lines += report_lines(result) if result["rows"] else ["no label set yet: nothing to compare"]
    emit({"against": "overrides", **result}, as_json, lines)
    sys.exit(EXIT_OK if result["rows"] else EXIT_SOURCE_FAILED)


def _lexicon_if_configured(obj: Context) -> dict[str, float]:
    """The config's lexicon overrides when a config exists; evaluate also works without one."""
    from listener.core.settings import resolve_config_path

    path = resolve_config_path(obj.config)
    if not path.is_file() and not obj.config and not os.environ.get("LISTENER_CONFIG"):
        return {}
    return dict(obj.settings().analytics.lexicon)
