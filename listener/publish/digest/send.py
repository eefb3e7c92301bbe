"""Rendered digest -> e-mail messages -> SMTP, recorded exactly once per (week, recipient).

The `digests` ledger is written before and after every delivery attempt:
- before: status `failed`, error "interrupted ...", attempts + 1 (so a crash
  mid-send is visible and the next run tries again);
- after: `sent` with `sent_at`, or `failed` with the server's answer.
A `sent` row is never sent again unless `force`. A retried message keeps its
Message-ID, so a receiving server that did get it once can drop the copy.
The one window that cannot be closed: the server accepts and the process dies
before `sent` is written; the next run then sends again (same Message-ID).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Any

import duckdb

from listener.core.errors import ConfigError
from listener.core.settings import Digest as DigestSettings
from listener.core.settings import Smtp
from listener.publish.digest.render import Rendered
from listener.store.connection import Store
from listener.store.gate import StoreAccess

PASSWORD_ENV = "LISTENER_SMTP_PASSWORD"
ATTEMPTS_PER_RUN = 2  # one try and one retry, then the next run
RETRY_DELAY_SECONDS = 5.0  # before the retry: a greylisting or busy server often answers 4xx briefly
INTERRUPTED = "interrupted: the attempt started but the server's answer was never recorded"
log = logging.getLogger(__name__)


@dataclass
class Outcome:
    recipient: str
    status: str  # sent | failed | skipped (already sent)
    message_id: str | None
    attempts: int  # this run
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()


class SendFailed(Exception):
    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


# -- messages ----------------------------------------------------------------------
def address(value: str, key: str) -> str:
    """A bare addr-spec (`name@domain`), or ConfigError naming the key; no CR/LF ever passes."""
    text = value.strip()
    try:
        if not text or any(ch in text for ch in '\r\n\t <>,;"') or text.count("@") != 1:
            raise ValueError
        parsed = Address(addr_spec=text)
        if not parsed.username or not parsed.domain:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(f"'{key}': {value!r} is not an e-mail address like name@example.com") from None
    return f"{parsed.username}@{parsed.domain.lower()}"


def build_message(rendered: Rendered, sender: str, recipient: str | list[str], message_id: str) -> EmailMessage:
    """multipart/alternative [ text/plain, multipart/related [ text/html, image/png ... ] ].

    The layout the stdlib documents: text-only readers get the text part alone,
    HTML readers get the page with its charts as cid: parts. Headers come from
    config and dates only (`rendered.subject` is built that way).
    """
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipient) if isinstance(recipient, list) else recipient
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Listener-Week"] = rendered.week
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    html_part: EmailMessage = msg.get_payload()[1]  # type: ignore[index, assignment]  # [plain, html] parts
    for image in rendered.images:
        html_part.add_related(
            image.data, "image", "png", cid=f"<{image.cid}>", filename=image.filename, disposition="inline"
        )
    return msg


def new_message_id(sender: str) -> str:
    return make_msgid(idstring="digest", domain=sender.rpartition("@")[2] or "listener.local")


# -- the ledger ------------------------------------------------------------------------
def ledger_row(conn: duckdb.DuckDBPyConnection, week: str, recipient: str) -> tuple[str, str | None] | None:
    row = conn.execute(
        "SELECT status, message_id FROM digests WHERE week = ? AND recipient = ?", [week, recipient]
    ).fetchone()
    return (row[0], row[1]) if row else None


def _record(
    store: Store, week: str, recipient: str, message_id: str, status: str, error: str | None, attempt: int = 0
) -> None:
    """One attempt's outcome, in a write transaction of its own."""
    store.write_transaction(
        lambda conn: _merge_row(conn, week, recipient, message_id, status, error, attempt), f"digest {week} {recipient}"
    )


def _merge_row(
    conn: duckdb.DuckDBPyConnection,
    week: str,
    recipient: str,
    message_id: str,
    status: str,
    error: str | None,
    attempt: int,
) -> None:
    # MERGE, not ON CONFLICT: a DuckLake store has no primary keys to conflict on.
    conn.execute(
        """MERGE INTO digests d
           USING (SELECT ?::VARCHAR AS week, ?::VARCHAR AS recipient, ?::VARCHAR AS message_id,
                         ?::VARCHAR AS status, ?::VARCHAR AS error, ?::INTEGER AS attempts) AS n
           ON d.week = n.week AND d.recipient = n.recipient
           WHEN MATCHED THEN UPDATE SET
             message_id = n.message_id, status = n.status, error = n.error,
             sent_at = CASE WHEN n.status = 'sent' THEN now() ELSE d.sent_at END,
             attempts = d.attempts + n.attempts, updated_at = now()
           WHEN NOT MATCHED THEN INSERT (week, recipient, message_id, sent_at, status, error, attempts, updated_at)
             VALUES (n.week, n.recipient, n.message_id, CASE WHEN n.status = 'sent' THEN now() END,
                     n.status, n.error, n.attempts, now())""",
        [week, recipient, message_id, status, error, attempt],
    )


# -- SMTP ------------------------------------------------------------------------------
def smtp_password(smtp: Smtp) -> str | None:
    """LISTENER_SMTP_PASSWORD when a username is configured; ConfigError if it is missing."""
    if not smtp.username:
        return None
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise ConfigError(
            f"[digest.smtp] username is set but {PASSWORD_ENV} is empty: set it in the "
            "environment or the .env file next to the config"
        )
    return password


class Mailer:
    """One SMTP session, opened on first use and reopened after a failure."""

    def __init__(self, smtp: Smtp, password: str | None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.smtp, self.password = smtp, password
        self.context = ssl_context or ssl.create_default_context()
        self.session: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage, sender: str, recipient: str) -> None:
        try:
            if self.session is None:
                self.session = self._connect()
            self.session.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except Exception as exc:
            self.close()
            raise _classify(exc, self.smtp) from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        if s.security == "ssl":
            session: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self.context)
        else:
            session = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            session.ehlo()
            if s.security == "starttls":
                session.starttls(context=self.context)
                session.ehlo()
            if s.username:
                if s.security == "none":
                    log.warning('digest: logging in to %s without TLS ([digest.smtp] security = "none")', s.host)
                session.login(s.username, self.password or "")
        except BaseException:
            _quietly_close(session)
            raise
        return session

    def close(self) -> None:
        if self.session is not None:
            try:
                self.session.quit()
            except Exception:  # the session is gone either way
                _quietly_close(self.session)
            self.session = None


def _quietly_close(session: smtplib.SMTP) -> None:
    try:
        session.close()
    except Exception:
        pass


def _classify(exc: Exception, smtp: Smtp) -> SendFailed:
    """What went wrong, in words the operator can act on, and whether a retry can help."""
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SendFailed(
            f"{where} refused the login for '{smtp.username}' ({exc.smtp_code}): check "
            f"[digest.smtp] username and {PASSWORD_ENV}",
            retry=False,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SendFailed(f"{where}: {exc} (check [digest.smtp] security: starttls, ssl or none)", retry=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, answer = next(iter(exc.recipients.values()))
        return SendFailed(f"{where} refused the recipient: {code} {_text(answer)}", retry=400 <= code < 500)
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendFailed(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}", retry=400 <= exc.smtp_code < 500)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendFailed(f"{where}: TLS certificate not trusted ({exc.verify_message})", retry=False)
    if isinstance(exc, ssl.SSLError):
        return SendFailed(
            f"{where}: TLS failed ({exc.reason}); is [digest.smtp] security right for port "
            f"{smtp.port}? (ssl is usually 465, starttls 587)",
            retry=False,
        )
    if isinstance(exc, (smtplib.SMTPException, OSError)):  # disconnects, timeouts, refused connections
        return SendFailed(f"{where}: {type(exc).__name__}: {exc or 'no answer'}", retry=True)
    return SendFailed(f"{where}: unexpected {type(exc).__name__}: {exc}", retry=False)


def _text(answer: Any) -> str:
    return (answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer))[:300]


# -- delivery ------------------------------------------------------------------------------
Ledger = Callable[[], AbstractContextManager[Store]]


def ledger_of(target: Store | StoreAccess) -> Ledger:
    """A delivery ledger (`digests`, `alert_deliveries`): an open store, or a gate that opens the
    store only per write, so the database is not held while a server takes its time."""
    if isinstance(target, Store):
        return lambda: nullcontext(target)

    @contextmanager
    def briefly() -> Iterator[Store]:
        with target.writer() as store:
            assert store is not None
            yield store

    return briefly


def deliver(
    target: Store | StoreAccess,
    rendered: Rendered,
    settings: DigestSettings,
    recipients: list[str],
    force: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    retry_delay: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send the digest to each recipient not yet sent this week; every attempt is recorded in `digests`."""
    mailer = Mailer(settings.smtp, smtp_password(settings.smtp), ssl_context)
    delay = RETRY_DELAY_SECONDS if retry_delay is None else retry_delay
    sender = address(settings.sender, "digest.sender")
    ledger = ledger_of(target)
    outcomes = []
    try:
        for recipient in recipients:
            outcomes.append(_deliver_one(ledger, mailer, rendered, sender, recipient, force, delay, sleep))
    finally:
        mailer.close()
    return outcomes


def _deliver_one(
    ledger: Ledger,
    mailer: Mailer,
    rendered: Rendered,
    sender: str,
    recipient: str,
    force: bool,
    retry_delay: float,
    sleep: Callable[[float], None],
) -> Outcome:
    week = rendered.week
    with ledger() as store:
        previous = ledger_row(store.conn, week, recipient)
    if previous and previous[0] == "sent" and not force:
        return Outcome(recipient, "skipped", previous[1], 0)
    # a retried delivery keeps its Message-ID; a forced resend is a new message
    message_id = previous[1] if previous and previous[0] != "sent" and previous[1] else new_message_id(sender)
    msg = build_message(rendered, sender, recipient, message_id)
    error = None
    for attempt in range(1, ATTEMPTS_PER_RUN + 1):
        with ledger() as store:
            _record(store, week, recipient, message_id, "failed", INTERRUPTED, attempt=1)
        try:
            mailer.send(msg, sender, recipient)  # the store is not held while the server answers
        except SendFailed as exc:
            error = str(exc)
            with ledger() as store:
                _record(store, week, recipient, message_id, "failed", error)
            log.warning("digest %s to %s: attempt %d failed: %s", week, recipient, attempt, error)
            if not exc.retry or attempt == ATTEMPTS_PER_RUN:
                return Outcome(recipient, "failed", message_id, attempt, error)
            sleep(retry_delay)
            continue
        with ledger() as store:
            _record(store, week, recipient, message_id, "sent", None)
        log.info("digest %s sent to %s (%s)", week, recipient, message_id)
        return Outcome(recipient, "sent", message_id, attempt)
    return Outcome(recipient, "failed", message_id, ATTEMPTS_PER_RUN, error)  # not reached


def eml_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP_POLICY)
