"""`listener inbox`: who waits for an answer, and the team's decisions about each mention.

Registered by listener/cli/app.py. The listing and the state changes are
listener/publish/inbox.py; the state lives in `inbox_state` (docs/schema.md). Exit codes:
0 ok, 2 usage (unknown id, missing --reason or --to), 3 the store is busy.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from listener.cli.app import EXIT_OK, Context, emit, json_option
from listener.cli.collect import store_gate

TEXT_CHARS = 140


@click.group(invoke_without_command=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="At most N mentions.")
@click.option("--source", metavar="NAME", help="Only mentions from this source (x, reddit, bluesky, ...).")
@click.option("--assignee", metavar="NAME", help="Only mentions assigned to NAME.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="DATE",
    help="Only mentions created on or after DATE (UTC).",
)
@json_option()
@click.pass_context
def inbox(
    ctx: click.Context, limit: int, source: str | None, assignee: str | None, since: datetime | None, as_json: bool
) -> None:
    """Brand mentions that ask or complain and still wait: no own reply, not done, not dismissed.

    Most influential authors first (current influencer score, then followers),
    newest first among equals, with links. A question mark or a negative
    sentiment (where sentiment is supported) makes a mention ask, as in the
    response-rate KPI and the maturity ladder (docs/inbox.md).

    \b
    Examples:
      listener inbox                              # the 50 most pressing
      listener inbox --source reddit --json
      listener inbox assign x:1789 x:1790 --to dana
      listener inbox done x:1789                  # answered, or handled off-platform
      listener inbox dismiss x:1790 --reason spam
      listener inbox reopen x:1790
    """
    if ctx.invoked_subcommand is not None:
        return
    from listener.publish.digest.render import clean, safe_url
    from listener.publish.inbox import Filters, summary, waiting

    obj: Context = ctx.obj
    filters = Filters(limit=limit, source=source, assignee=assignee, since=since.replace(tzinfo=UTC) if since else None)
    with store_gate(obj.settings()).reader() as store:
        rows = waiting(store.conn, filters)
        counts = summary(store.conn, filters)
    for row in rows:
        row["text"] = clean(" ".join(v for v in (row.pop("title"), row["text"]) if v), 1000)
        row["url"] = safe_url(row["url"])
    lines = [
        f"inbox: {counts['waiting']} waiting ({counts['assigned']} assigned), {counts['answered']} answered, "
        f"{counts['handled_off_platform']} handled off-platform, {counts['dismissed']} dismissed"
        + (f"; showing {len(rows)}" if len(rows) < counts["waiting"] else "")
    ]
    for row in rows:
        who = "@" + clean(row["handle"], 60) if row["handle"] else clean(row["author_id"], 60)
        why = "question" if row["question"] else "complaint"
        followers = f", {row['followers']:,} followers" if row["followers"] is not None else ""
        assigned = f", assigned to {clean(row['assignee'], 40)}" if row["state"] == "assigned" else ""
        lines.append(f"  {row['mention_id']}  {row['created_at']:%Y-%m-%d %H:%M}  {row['source']}  {who}{followers}")
        lines.append(f"      {why}{assigned}: {clean(row['text'], TEXT_CHARS)}")
        if row["url"]:
            lines.append(f"      {row['url']}")
    emit({"summary": counts, "mentions": rows}, as_json, lines)
    sys.exit(EXIT_OK)


def _decide(obj: Context, ids: tuple[str, ...], state: str, as_json: bool, **details: str | None) -> None:
    from listener.publish.inbox import InboxError, set_state

    with store_gate(obj.settings()).writer() as store:
        assert store is not None
        try:
            changes = store.write_transaction(lambda conn: set_state(conn, ids, state, **details), f"inbox {state}")
        except InboxError as exc:
            raise click.UsageError(str(exc)) from None
    lines = [f"{c['mention_id']}: {c['was']} -> {c['now']}" for c in changes]
    emit({"changed": changes}, as_json, lines)
    sys.exit(EXIT_OK)


_ids = click.argument("mention_ids", nargs=-1, required=True, metavar="ID...")
_note = click.option("--note", metavar="TEXT", help="A note kept with the decision.")


@inbox.command()
@_ids
@_note
@json_option()
@click.pass_obj
def done(obj: Context, mention_ids: tuple[str, ...], note: str | None, as_json: bool) -> None:
    """Mark mentions handled. With an own reply they count as answered; without one, as handled
    off-platform (a call, an e-mail, a ticket), reported apart from the response rate.

    \b
    Example:
      listener inbox done x:1789 reddit:t1_abc --note "called back"
    """
    _decide(obj, mention_ids, "done", as_json, note=note)


@inbox.command()
@_ids
@click.option(
    "--reason",
    required=True,
    type=click.Choice(["false-positive", "spam", "not-relevant"]),
    help="Why it needs no answer.",
)
@_note
@json_option()
@click.pass_obj
def dismiss(obj: Context, mention_ids: tuple[str, ...], reason: str, note: str | None, as_json: bool) -> None:
    """Take mentions out of the inbox: they no longer ask, so they leave the response rate and the
    maturity measures.

    \b
    Example:
      listener inbox dismiss x:1790 --reason false-positive
    """
    _decide(obj, mention_ids, "dismissed", as_json, reason=reason, note=note)


@inbox.command()
@_ids
@click.option("--to", "assignee", required=True, metavar="NAME", help="Who answers them.")
@_note
@json_option()
@click.pass_obj
def assign(obj: Context, mention_ids: tuple[str, ...], assignee: str, note: str | None, as_json: bool) -> None:
    """Assign mentions to someone; they stay in the inbox until done.

    \b
    Example:
      listener inbox assign x:1789 --to dana
      listener inbox --assignee dana
    """
    _decide(obj, mention_ids, "assigned", as_json, assignee=assignee, note=note)


@inbox.command()
@_ids
@json_option()
@click.pass_obj
def reopen(obj: Context, mention_ids: tuple[str, ...], as_json: bool) -> None:
    """Undo a decision: the mentions are open again.

    \b
    Example:
      listener inbox reopen x:1790
    """
    _decide(obj, mention_ids, "open", as_json)
