"""`listener alerts`: the alerts the rules raised, delivering them now, testing a channel.

Registered by listener/cli/app.py. Evaluation and delivery are `pipeline.evaluate_alerts`, what
`listener run` and the scheduler call after each collect. Exit codes: 0 ok, 1 a delivery failed
(recorded; the next evaluation tries again), 2 usage or config error.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from listener.cli.app import EXIT_OK, EXIT_SOURCE_FAILED, Context, emit, json_option


def alert_lines(report: Any) -> list[str]:
    """What the alert rules raised and where it went, for `run` and `alerts send`."""
    lines = [f"alert [{e['severity']}] {e['rule']}: {e['summary']}" for e in report.raised]
    for o in report.deliveries:
        if o.status == "failed":
            lines.append(f"alert {o.event_id} to {o.channel}: FAILED: {o.error} (tried again next time)")
        elif o.status == "held":
            lines.append(f"alert {o.event_id} to {o.channel}: held (quiet hours)")
        else:
            lines.append(f"alert {o.event_id} to {o.channel}: sent")
    if report.error:
        lines.append(f"alerts: not evaluated: {report.error}")
    return lines


@click.group(invoke_without_command=True)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 365), help="Alerts raised this recently.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_context
def alerts(ctx: click.Context, days: int, as_json: bool) -> None:
    """List the alerts the [[alerts.rules]] raised, newest first, with where each went.

    \b
    Examples:
      listener alerts                    # the last 7 days
      listener alerts --days 30 --json
      listener alerts send               # evaluate the rules and deliver now
      listener alerts test team-slack    # a test message to one channel
    """
    if ctx.invoked_subcommand is not None:
        return
    from listener.store.connection import open_store

    obj: Context = ctx.obj
    settings = obj.settings()
    as_of = settings.analytics.as_of  # a store that lives on another day (the demo's) raised its alerts then
    base = datetime.combine(as_of, datetime.min.time(), UTC) if as_of else datetime.now(UTC)
    since = min(base, datetime.now(UTC)) - timedelta(days=days)
    with open_store(settings.store, read_only=True) as store:
        events = store.conn.execute(
            """
            SELECT e.event_id, e.rule, e.kind, e.severity, e.topic, e.summary, e.created_at,
                   CAST(e.mention_ids AS VARCHAR),
                   list({'channel': d.channel, 'status': d.status, 'attempts': d.attempts, 'error': d.error}
                        ORDER BY d.channel) FILTER (WHERE d.channel IS NOT NULL)
            FROM alert_events e LEFT JOIN alert_deliveries d USING (event_id)
            WHERE e.created_at >= ?::TIMESTAMPTZ
            GROUP BY ALL ORDER BY e.created_at DESC, e.event_id
            """,
            [since],
        ).fetchall()
    keys = ("event_id", "rule", "kind", "severity", "topic", "summary", "created_at", "mention_ids", "deliveries")
    rows = [dict(zip(keys, row, strict=True)) for row in events]
    for row in rows:
        row["mention_ids"] = json.loads(row["mention_ids"] or "[]")
        row["deliveries"] = row["deliveries"] or []
    lines = [f"{len(rows)} alert(s) in the last {days} days" + (":" if rows else "")]
    for row in rows:
        went = ", ".join(f"{d['channel']} {d['status']}" for d in row["deliveries"]) or "no channel"
        lines.append(
            f"  {row['created_at']:%Y-%m-%d %H:%M} [{row['severity']}] {row['rule']}: {row['summary']} ({went})"
        )
    emit({"alerts": rows}, as_json, lines)


@alerts.command(name="send")
@json_option()
@click.pass_obj
def send_command(obj: Context, as_json: bool) -> None:
    """Evaluate the alert rules on what is stored and deliver what waits, now.

    \b
    Example:
      listener alerts send    # exit 1 when a channel failed (tried again next time)
    """
    from listener import pipeline
    from listener.store.gate import StoreGate

    settings = obj.settings()
    report = pipeline.evaluate_alerts(StoreGate(settings.store, settings.store.lock_timeout_seconds), settings)
    lines = alert_lines(report) or ["no new alerts, nothing waiting"]
    emit(report.as_dict(), as_json, lines)
    failed = report.error or any(o.status == "failed" for o in report.deliveries)
    sys.exit(EXIT_SOURCE_FAILED if failed else EXIT_OK)


@alerts.command(name="test")
@click.argument("channel")
@json_option()
@click.pass_obj
def test_command(obj: Context, channel: str, as_json: bool) -> None:
    """Send a test message to CHANNEL (a [[alerts.channels]] name).

    \b
    Example:
      listener alerts test team-slack
    """
    from listener.core.errors import ConfigError
    from listener.publish.alerts import DeliveryError, send, test_message

    settings = obj.settings()
    channels = {c.name: c for c in settings.alerts.channels}
    if channel not in channels:
        known = ", ".join(channels) or "none configured"
        raise ConfigError(f"no alert channel named {channel!r} (channels: {known})")
    try:
        send(channels[channel], test_message(settings.organization.name, channels[channel]))
    except DeliveryError as exc:
        emit({"channel": channel, "sent": False, "error": str(exc)}, as_json, [f"{channel}: FAILED: {exc}"])
        sys.exit(EXIT_SOURCE_FAILED)
    emit({"channel": channel, "sent": True}, as_json, [f"{channel}: test message sent"])
