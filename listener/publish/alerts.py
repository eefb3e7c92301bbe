"""Alert delivery: each `alert_events` row to each `[[alerts.channels]]` channel exactly once, through apprise.

The ledger is `alert_deliveries` (event_id, channel): `sent` rows are never sent again; a `failed`
row is tried again at the next delivery (one attempt each, up to `[alerts] max_attempts`); `held`
means the rule's quiet hours were on. One failing channel never blocks the others. The store is
opened only around each ledger write, never while a service answers. A crash between a send and its
ledger write can repeat that one message at the next delivery (the ledger cannot know it went out).

Everything strangers wrote (authors, texts) is neutralised before it reaches a channel: `<`, `>` and
`[`, `]` become look-alikes (no Slack `<!channel>`, `<@U1>`, `<url|text>` or Markdown links),
`@channel`, `@here`, `@everyone`, `@room`, `@all` lose their power, control characters go, a text is
cut to one line; links are shown only when they are http(s). E-mail channels get HTML with every
value escaped.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from listener.core.redact import mask
from listener.core.settings import SEVERITY_RANK, AlertChannel, AlertRule, Settings
from listener.publish.digest.send import Ledger, ledger_of
from listener.store.connection import Store
from listener.store.gate import StoreAccess

log = logging.getLogger(__name__)

TEXT_CHARS = 200  # a driving mention's text, cut to one line
MAX_DRIVING = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_BROADCAST = re.compile(r"@(channel|here|everyone|room|all|group)\b", re.IGNORECASE)
_LOOKALIKE = str.maketrans({"<": "\u2039", ">": "\u203a", "[": "\uff3b", "]": "\uff3d"})
_LINK = re.compile(r"https?://[^\s<>\"'|\[\]()]+", re.IGNORECASE)
_EMAIL_SCHEMES = ("mailto", "mailtos")


class DeliveryError(Exception):
    """A channel refused or could not be reached; the message says why, without the URL's secrets."""


@dataclass
class Outcome:
    event_id: str
    channel: str
    status: str  # sent | failed | held | skipped
    error: str | None = None


@dataclass
class Message:
    title: str
    lines: list[str] = field(default_factory=list)  # safe text: what happened, then driving mentions
    links: list[str | None] = field(default_factory=list)  # per driving mention line, its http(s) link
    driving: list[tuple[str, str, str | None]] = field(default_factory=list)  # (author, text, link)

    def text(self) -> str:
        body = list(self.lines)
        for author, text, link in self.driving:
            body.append(f"- {author}: {text}" + (f" {link}" if link else ""))
        return "\n".join(body)

    def html(self) -> str:
        parts = [f"<p>{html.escape(line)}</p>" for line in self.lines]
        if self.driving:
            items = []
            for author, text, link in self.driving:
                shown = f"<b>{html.escape(author)}</b>: {html.escape(text)}"
                if link:
                    shown += f' <a href="{html.escape(link, quote=True)}">{html.escape(link)}</a>'
                items.append(f"<li>{shown}</li>")
            parts.append("<ul>" + "".join(items) + "</ul>")
        return "\n".join(parts)


# -- what strangers wrote ----------------------------------------------------------------------


def safe_text(value: object, limit: int = TEXT_CHARS) -> str:
    """One line of untrusted text that no channel reads as markup, a mention of everyone or a link label."""
    text = unicodedata.normalize("NFC", str(value or ""))
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    text = text.translate(_LOOKALIKE)
    text = _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), text)  # a word joiner breaks the keyword
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def safe_link(value: object) -> str | None:
    """An http(s) URL as is, when the whole value is one; anything else (javascript:, spaces, markup) is dropped."""
    text = str(value or "").strip()
    match = _LINK.fullmatch(text)
    return match.group(0) if match else None


# -- building messages -------------------------------------------------------------------------


def build_message(conn: duckdb.DuckDBPyConnection, event: dict[str, Any], organization: str) -> Message:
    severity = str(event["severity"]).upper()
    title = f"[{severity}] " + safe_text(f"{organization}: {event['rule']}", 120)
    lines = [safe_text(event["summary"], 400)]
    ids = event.get("mention_ids") or []
    driving = []
    if ids:
        rows = conn.execute(
            """
            SELECT m.mention_id, coalesce(a.handle, a.display_name, 'unknown'), m.source,
                   coalesce(nullif(m.text, ''), m.title, ''), m.url
            FROM mentions m LEFT JOIN authors a ON a.author_id = m.author_id
            WHERE m.mention_id IN (SELECT unnest(?::VARCHAR[]))
            """,
            [ids],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        for mention_id in ids[:MAX_DRIVING]:
            row = by_id.get(mention_id)
            if row is None:
                continue
            _, handle, source, text, url = row
            driving.append((safe_text(f"{handle} ({source})", 80), safe_text(text), safe_link(url)))
    return Message(title, lines, driving=driving)


# -- channels ----------------------------------------------------------------------------------


def channel_url(channel: AlertChannel) -> str:
    if channel.url is not None:
        return channel.url
    assert channel.url_env is not None
    value = os.environ.get(channel.url_env, "").strip()
    if not value:
        raise DeliveryError(f"channel {channel.name}: {channel.url_env} is not set (the channel's apprise URL)")
    return value


def send(channel: AlertChannel, message: Message) -> None:
    """One message to one channel through apprise; DeliveryError with the reason when it did not go out."""
    import apprise  # loaded only when something is sent

    url = channel_url(channel)
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise DeliveryError(f"channel {channel.name}: apprise does not understand its URL (check the scheme)")
    email = url.split("://", 1)[0].lower() in _EMAIL_SCHEMES
    body = message.html() if email else message.text()
    body_format = apprise.NotifyFormat.HTML if email else apprise.NotifyFormat.TEXT
    chatty = logging.getLogger("apprise")  # its lines come back in our one-line error instead
    propagate, chatty.propagate = chatty.propagate, False
    try:
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
            ok = notifier.notify(title=message.title, body=body, body_format=body_format)
    finally:
        chatty.propagate = propagate
    if not ok:
        said = " ".join(line.strip() for line in str(captured.getvalue()).splitlines() if line.strip())[-300:]
        if said and channel.url_env is not None:
            said = mask_url(said, url)  # the URL came from the environment: it may be the secret
        raise DeliveryError(f"channel {channel.name}: not delivered" + (f": {mask(said)}" if said else ""))


def mask_url(text: str, url: str) -> str:
    """The apprise log without the URL or any part of it that could be its secret."""
    for piece in sorted({url, *re.split(r"[/:@?&=]+", url)}, key=len, reverse=True):
        if len(piece) >= 6:
            text = text.replace(piece, "***")
    return mask(text)


def in_quiet_hours(rule: AlertRule | None, at: datetime, zone: str) -> bool:
    if rule is None or not rule.quiet_hours:
        return False
    start_text, end_text = rule.quiet_hours.strip().split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = at.astimezone(ZoneInfo(zone)).time()
    return start <= local < end if start <= end else local >= start or local < end


# -- the ledger --------------------------------------------------------------------------------


def pending(conn: duckdb.DuckDBPyConnection, settings: Settings, at: datetime) -> list[dict[str, Any]]:
    """(event, channel) pairs still to deliver: recent events, channels of their severity, not sent yet."""
    channels = settings.alerts.channels
    if not channels:
        return []
    since = at - timedelta(hours=settings.alerts.lookback_hours) - timedelta(days=1)
    events = conn.execute(
        """
        SELECT event_id, rule, kind, severity, topic, summary, CAST(mention_ids AS VARCHAR), created_at
        FROM alert_events WHERE created_at >= ?::TIMESTAMPTZ ORDER BY created_at, event_id
        """,
        [since],
    ).fetchall()
    ledger = {
        (e, c): (s, n)
        for e, c, s, n in conn.execute("SELECT event_id, channel, status, attempts FROM alert_deliveries").fetchall()
    }
    out = []
    for event_id, rule, kind, severity, topic, summary, ids, created_at in events:
        for channel in channels:
            if SEVERITY_RANK[severity] < SEVERITY_RANK[channel.min_severity]:
                continue
            status, attempts = ledger.get((event_id, channel.name), (None, 0))
            if status == "sent" or attempts >= settings.alerts.max_attempts:
                continue
            out.append(
                {
                    "event_id": event_id, "rule": rule, "kind": kind, "severity": severity, "topic": topic,
                    "summary": summary, "mention_ids": json.loads(ids) if ids else [], "created_at": created_at,
                    "channel": channel.name,
                }
            )  # fmt: skip
    return out


def record(conn: duckdb.DuckDBPyConnection, event_id: str, channel: str, status: str, error: str | None) -> None:
    """One attempt's outcome (held counts no attempt). MERGE: a DuckLake store has no keys to conflict on."""
    attempt = 0 if status == "held" else 1
    conn.execute(
        """MERGE INTO alert_deliveries d
           USING (SELECT ?::VARCHAR AS event_id, ?::VARCHAR AS channel, ?::VARCHAR AS status,
                         ?::VARCHAR AS error, ?::INTEGER AS attempts) AS n
           ON d.event_id = n.event_id AND d.channel = n.channel
           WHEN MATCHED THEN UPDATE SET status = n.status, error = n.error, attempts = d.attempts + n.attempts,
             sent_at = CASE WHEN n.status = 'sent' THEN now() ELSE d.sent_at END, updated_at = now()
           WHEN NOT MATCHED THEN INSERT (event_id, channel, status, attempts, error, sent_at, updated_at)
             VALUES (n.event_id, n.channel, n.status, n.attempts, n.error,
                     CASE WHEN n.status = 'sent' THEN now() END, now())""",
        [event_id, channel, status, error, attempt],
    )


def _record(ledger: Ledger, event_id: str, channel: str, status: str, error: str | None) -> None:
    def write(conn: duckdb.DuckDBPyConnection) -> None:
        record(conn, event_id, channel, status, error)

    with ledger() as store:
        store.write_transaction(write, f"alert {event_id} to {channel}")


def deliver(
    target: Store | StoreAccess,
    settings: Settings,
    at: datetime | None = None,
    sender: Callable[[AlertChannel, Message], None] = send,
) -> list[Outcome]:
    """Deliver every pending (event, channel); returns what happened to each."""
    from analytics.alerting import evaluation_time  # the rules' clock: [analytics] as_of on a demo's store

    now = evaluation_time(settings, at)
    ledger = ledger_of(target)
    with ledger() as store:
        work = pending(store.conn, settings, now)
        messages = {item["event_id"]: build_message(store.conn, item, settings.organization.name) for item in work}
    rules = {rule.name: rule for rule in settings.alerts.rules}
    channels = {channel.name: channel for channel in settings.alerts.channels}
    outcomes = []
    for item in work:
        event_id, name = item["event_id"], item["channel"]
        if in_quiet_hours(rules.get(item["rule"]), datetime.now(UTC), settings.schedule.timezone):
            _record(ledger, event_id, name, "held", None)
            outcomes.append(Outcome(event_id, name, "held"))
            continue
        error = None
        try:
            sender(channels[name], messages[event_id])  # the store is not held while the service answers
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # a plugin's own failure must not stop the other channels
            error = f"channel {name}: {type(exc).__name__}: {mask(str(exc))[:200]}"
        status = "failed" if error else "sent"
        _record(ledger, event_id, name, status, error)
        if error:
            log.warning("alert %s to %s: %s", event_id, name, error)
        else:
            log.info("alert %s sent to %s", event_id, name)
        outcomes.append(Outcome(event_id, name, status, error))
    return outcomes


def test_message(organization: str, channel: AlertChannel) -> Message:
    return Message(
        "[TEST] " + safe_text(f"{organization}: listener alerts", 120),
        [safe_text(f"A test message for channel {channel.name}: alerts of severity {channel.min_severity} and up "
                   "arrive here.", 400)],
    )  # fmt: skip
