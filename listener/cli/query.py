"""`listener query test`: try a topic query on the stored mentions before putting it in the config.

Registered by listener/cli/app.py; the matcher and the translations are imported inside the command.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from listener.cli.app import EXIT_OK, Context, emit, json_option
from listener.core.errors import ConfigError


@click.group()
def query() -> None:
    """Try topic queries (docs/queries.md).

    \b
    Example:
      listener query test 'acme NOT anvil' --limit 5
    """


@query.command(name="test")
@click.argument("text", required=False, metavar='"QUERY"')
@click.option("--topic", metavar="NAME", help="Compare with this topic's tags now (its query when QUERY is left out).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="Only mentions from this day (UTC) on.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(0, 1000), help="Samples to show.")
@json_option()
@click.pass_obj
def test(obj: Context, text: str | None, topic: str | None, since: datetime | None, limit: int, as_json: bool) -> None:
    """How many stored mentions QUERY matches, samples (newest first) with the
    matched words marked «like this», and the searches each platform would get.
    Read-only: nothing is tagged. A malformed query exits 2 with the spot marked.
    After changing a topic's query in the config, `listener analyze --retag`
    re-tags every stored mention.

    \b
    Examples:
      listener query test '"cold brew" NEAR/3 (acme OR {ACME}) NOT anvil'
      listener query test 'acme* lang:fr' --since 2026-11-01 --json
      listener query test --topic Globex          # the configured query, against its tags now
    """
    from connectors.queries import max_query_length, supported_platforms, translate
    from listener.core.query import describe, mark_matches
    from listener.ingest.topics import rules_from_organization, trial_rule, try_query
    from listener.store.connection import open_store

    settings = obj.settings()
    rules = {rule.topic: rule for rule in rules_from_organization(settings.organization)}
    if topic is not None and topic not in rules:
        raise ConfigError(f"no topic {topic!r} in the config (topics: {', '.join(rules)})")
    if text is None:
        if topic is None or rules[topic].query is None:
            raise click.UsageError("give a QUERY, or --topic NAME of a topic defined by a query")
        rule = rules[topic]
    else:
        rule = trial_rule(topic, text, rules[topic].kind if topic else "term")
    assert rule.query is not None
    platforms: list[dict[str, Any]] = []
    for name in supported_platforms():
        translation = translate(rule.query, name, max_query_length(settings, name))
        platforms.append({"platform": name, "queries": translation.queries, "note": translation.note})
    data: dict[str, Any] = {"query": text or "", "parsed": describe(rule.query), "topic": topic, "platforms": platforms}
    lines = [f"query: {describe(rule.query)}"]
    if not settings.has_store:
        data["store"] = None
        lines.append(
            f"{settings.store_path}: no store yet, so nothing to match (run `listener run` or `listener import`)"
        )
    else:
        with open_store(settings.store, read_only=True) as store:
            trial = try_query(store.conn, rule, since.date() if since else None, limit, compare=topic is not None)
        data |= {
            "store": str(settings.store_path),
            "since": since.date().isoformat() if since else None,
            "stored": trial.stored,
            "matched": trial.matched,
            "tagged_now": trial.tagged_now,
            "added": trial.added,
            "dropped": trial.dropped,
            "samples": [
                {**s, "marked": mark_matches(" ".join(str(p) for p in (s["title"], s["text"]) if p), rule.query)}
                for s in trial.samples
            ],
        }
        span = f" since {since.date()}" if since else ""
        lines.append(f"matches {trial.matched:,} of {trial.stored:,} stored mentions{span}")
        if trial.tagged_now is not None:
            lines.append(
                f"topic {topic}: tagged now {trial.tagged_now:,}; this query adds {trial.added:,}, drops {trial.dropped:,}"
            )
        if data["samples"]:
            lines.append("samples (newest first):")
        for sample in data["samples"]:
            when = str(sample["created_at"])[:10]
            marked = " ".join(str(sample["marked"]).split())
            marked = marked if len(marked) <= 200 else marked[:199] + "\u2026"
            lines.append(
                f"  {when} {sample['source']} @{sample['author'] or '?'}: {marked}  {sample['url'] or ''}".rstrip()
            )
    lines.append("platform searches:")
    for p in platforms:
        shown = p["queries"] or [p["note"]]
        lines += [f"  {p['platform']}: {q}" for q in shown]
        if p["queries"] and p["note"]:
            lines.append(f"  {p['platform']}: ({p['note']})")
    emit(data, as_json, lines)
    sys.exit(EXIT_OK)
