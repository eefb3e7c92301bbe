"""`listener digest`: build the weekly digest; preview it, write it for review, or send it once.

Registered by listener/cli/app.py. `--send` is `pipeline.send_digest`, what the
scheduler's weekly job runs too. Exit codes as everywhere: 0 ok, 1 a send failed
(recorded; the next run retries), 2 usage or config error (nothing sent or written).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from listener.core.errors import ConfigError
from listener.core.redact import MASK, secret_values

if TYPE_CHECKING:
    from listener.cli.app import Context
    from listener.publish.digest.gather import Week
    from listener.publish.digest.render import Rendered

EXIT_OK, EXIT_SEND_FAILED = 0, 1


def _week(ctx: click.Context, param: click.Parameter, value: str | None) -> Week | None:
    from listener.publish.digest.gather import Week

    if value is None:
        return None
    try:
        return Week.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="digest")
@click.option(
    "--week",
    callback=_week,
    metavar="YYYY-Www",
    help="ISO week, e.g. 2026-W47 (default: the last complete week, UTC, before [analytics] as_of when set).",
)
@click.option("--send", is_flag=True, help="E-mail it to each recipient not yet sent this week ([digest] config).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write digest-<week>.eml, .html and the chart PNGs to DIR for review; sends nothing.",
)
@click.option(
    "--to", "to", multiple=True, metavar="ADDR", help="Recipient instead of [digest] recipients (repeatable)."
)
@click.option(
    "--force",
    is_flag=True,
    help="With --send: send again to recipients who already got this week's digest "
    "(or send a week that is not over yet).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def digest_command(
    obj: Context, week: Week | None, send: bool, out_dir: Path | None, to: tuple[str, ...], force: bool, as_json: bool
) -> None:
    """Build the weekly digest: who mattered, where, how it felt, how we compare,
    spikes, KPIs against the baseline, the maturity level and next steps.

    Without --send or --out it prints the plain-text version. Each (week,
    recipient) is sent once, recorded in the `digests` table; a failed send
    exits 1 and goes out on the next run. SMTP password: LISTENER_SMTP_PASSWORD.

    \b
    Examples:
      listener digest                          # preview last week's digest as text
      listener digest --out review/            # .eml + .html to open and check
      listener digest --send                   # Monday cron: e-mail [digest] recipients once
      listener digest --week 2026-W47 --send --to me@example.com --force
    """
    from listener import pipeline
    from listener.publish.digest.gather import Week
    from listener.publish.digest.send import address
    from listener.publish.outfile import refuse_protected
    from listener.store.gate import StoreGate

    if send and out_dir:
        raise click.UsageError("--send and --out exclude each other: --out writes files for review, --send e-mails")
    if force and not send:
        raise click.UsageError("--force only applies to --send")
    settings = obj.settings()
    if out_dir:
        refuse_protected(out_dir, settings)
    today = settings.today()  # [analytics] as_of, else the real date
    week = week or Week.last_complete(today)
    recipients = (
        pipeline.recipient_addresses(to, "--to")
        if to
        else pipeline.recipient_addresses(settings.digest.recipients, "digest.recipients")
    )
    sender = address(settings.digest.sender, "digest.sender")
    if send:
        _check_sendable(week, today, recipients, force)
        outcomes = pipeline.send_digest(settings, week, recipients, force=force)
        failed = [o for o in outcomes if o.status == "failed"]
        _emit(
            {"week": week.label, "recipients": [o.as_dict() for o in outcomes]},
            as_json,
            [_outcome_line(week, o) for o in outcomes],
        )
        sys.exit(EXIT_SEND_FAILED if failed else EXIT_OK)
    rendered = pipeline.render_digest(StoreGate(settings.store, settings.store.lock_timeout_seconds), settings, week)
    if out_dir:
        files = write_review(rendered, out_dir, sender, recipients)
        _emit(
            {"week": week.label, "files": [str(f) for f in files]}, as_json, [f"{week.label}: wrote {f}" for f in files]
        )
    else:
        _emit(
            {"week": week.label, "subject": rendered.subject, "text": rendered.text},
            as_json,
            [rendered.subject, "", rendered.text],
        )


def _check_sendable(week: Week, today: date, recipients: list[str], force: bool) -> None:
    if not recipients:
        raise ConfigError('no recipients: set [digest] recipients = ["you@example.com"] or pass --to ADDR')
    if week.sunday >= today and not force:
        raise click.UsageError(
            f"{week.label} is not over yet (it ends {week.sunday}): preview it with --out, "
            "send it from the Monday after, or add --force to send it as it is"
        )


def write_review(rendered: Rendered, out_dir: Path, sender: str, recipients: list[str]) -> list[Path]:
    """The .eml as it would be sent, and an .html that opens in a browser (charts as files next to it)."""
    from listener.publish.digest.send import build_message, eml_bytes, new_message_id

    stem = f"digest-{rendered.week}"
    html = rendered.html
    files = []
    for image in rendered.images:
        path = out_dir / f"{stem}-{image.filename}"
        _write(path, image.data)
        html = html.replace(f'src="cid:{image.cid}"', f'src="{path.name}"')  # our own cids, never data
        files.append(path)
    html_path = out_dir / f"{stem}.html"
    _write(html_path, html.encode("utf-8"))
    eml_path = out_dir / f"{stem}.eml"
    msg = build_message(rendered, sender, recipients or [sender], new_message_id(sender))
    _write(eml_path, eml_bytes(msg))
    return [eml_path, html_path, *files]


def _write(path: Path, data: bytes) -> None:
    from listener.publish.outfile import atomic_output

    with atomic_output(path) as partial:
        partial.write_bytes(data)


def _outcome_line(week: Week, outcome: Any) -> str:
    if outcome.status == "skipped":
        return f"{week.label} {outcome.recipient}: already sent, not sent again (use --force to resend)"
    if outcome.status == "sent":
        return f"{week.label} {outcome.recipient}: sent {outcome.message_id}"
    return (
        f"{week.label} {outcome.recipient}: FAILED after {outcome.attempts} attempt(s): {outcome.error}; "
        "recorded in the digests table, the next `listener digest --send` tries again"
    )


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """Like the shared emit, but only the configured secret values are masked: the credential
    shapes would also star ordinary words ("Key: patience") in the quoted mentions."""
    secrets = secret_values()

    def masked(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    if as_json:
        click.echo(masked(json.dumps(data, indent=2, default=str)))
    else:
        for line in lines:
            click.echo(masked(line))
