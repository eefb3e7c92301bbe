"""Delivery against a real SMTP server on 127.0.0.1 (aiosmtpd): plain, AUTH, STARTTLS, SSL,
refusals and retries, and the exactly-once ledger in `digests`."""

from __future__ import annotations

import email
import shutil
import ssl
import subprocess
import sys
from email import policy
from pathlib import Path
from typing import Any

import pytest
from conftest import table_rows
from digest_helpers import (
    WEEK,
    SmtpServer,
    build_store,
    ordinary_mentions,
    run,
    self_signed_cert,
    settings_for,
    write_config,
)

from listener.core.settings import Digest, Smtp
from listener.publish.digest import send
from listener.publish.digest.gather import Week, gather
from listener.publish.digest.render import render
from listener.store.connection import Store


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("digest-store") / "listener.duckdb"
    build_store(db, ordinary_mentions())
    return db


@pytest.fixture
def db(tmp_path: Path, template_store: Path) -> Path:
    copy = tmp_path / "listener.duckdb"
    shutil.copy(template_store, copy)
    return copy


@pytest.fixture
def server():
    smtp = SmtpServer()
    yield smtp
    smtp.stop()


@pytest.fixture(autouse=True)
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send, "RETRY_DELAY_SECONDS", 0.0)
    monkeypatch.delenv("LISTENER_SMTP_PASSWORD", raising=False)


def plain_config(tmp_path: Path, db: Path, port: int, recipients: str = '["insights@acme.example"]') -> Path:
    return write_config(
        tmp_path,
        db,
        f"""
[digest]
recipients = {recipients}
sender = "listener@acme.example"
[digest.smtp]
host = "127.0.0.1"
port = {port}
security = "none"
timeout_seconds = 5
""",
    )


def ledger(db: Path) -> list[tuple]:
    return table_rows(
        db,
        "SELECT week, recipient, status, attempts, error IS NULL, message_id, sent_at IS NOT NULL "
        "FROM digests ORDER BY recipient",
    )


def parsed(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.original_content, policy=policy.default)


def test_sends_once_per_recipient_and_the_message_has_both_parts_and_the_charts(tmp_path, db, server, capsys):
    config = plain_config(tmp_path, db, server.port, '["insights@acme.example", "ceo@acme.example"]')
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
    assert sorted(e.rcpt_tos[0] for e in server.inbox.messages) == ["ceo@acme.example", "insights@acme.example"]
    for envelope in server.inbox.messages:
        assert len(envelope.rcpt_tos) == 1 and envelope.mail_from == "listener@acme.example"
        msg = parsed(envelope)
        assert msg["To"] == envelope.rcpt_tos[0] and msg["From"] == "listener@acme.example"
        assert msg["Subject"] == "Acme: weekly listening digest 2026-W47 (16 Nov to 22 Nov 2026)"
        assert msg.get_content_type() == "multipart/alternative"
        types = [p.get_content_type() for p in msg.walk()]
        assert types == [
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "image/png",
        ]
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "WHO MATTERED" in text and "SHARE OF VOICE" in text and "Globex" in text
        for image in (p for p in msg.walk() if p.get_content_type() == "image/png"):
            assert image.get_content().startswith(b"\x89PNG")
            assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    rows = ledger(db)
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        ("ceo@acme.example", "sent", 1, True, True),
        ("insights@acme.example", "sent", 1, True, True),
    ]
    sent_ids = {parsed(e)["Message-ID"] for e in server.inbox.messages}
    assert sent_ids == {r[5] for r in rows}

    capsys.readouterr()
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0  # the rerun sends nothing
    assert len(server.inbox.messages) == 2
    assert "already sent" in capsys.readouterr().out

    assert run("--config", str(config), "digest", "--week", WEEK, "--send", "--force", "--to", "ceo@acme.example") == 0
    assert len(server.inbox.messages) == 3 and server.inbox.messages[-1].rcpt_tos == ["ceo@acme.example"]


def test_a_refused_send_is_retried_once_and_delivered_exactly_once(tmp_path, db, server):
    server.inbox.refuse = ["451 4.3.0 try again later"]
    config = plain_config(tmp_path, db, server.port)
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
    assert len(server.inbox.messages) == 1
    assert [(r[2], r[3], r[4]) for r in ledger(db)] == [("sent", 2, True)]


def test_a_failed_send_is_recorded_exits_1_and_goes_out_on_the_next_run(tmp_path, db, server, capsys):
    server.inbox.refuse = ["451 4.3.0 busy", "452 4.3.1 still busy"]
    config = plain_config(tmp_path, db, server.port)
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 1
    assert "FAILED after 2 attempt(s)" in capsys.readouterr().out
    [row] = ledger(db)
    assert (row[2], row[3], row[6]) == ("failed", 2, False)
    error = table_rows(db, "SELECT error FROM digests")[0][0]
    assert "452" in error and "still busy" in error
    first_id = row[5]

    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
    assert len(server.inbox.messages) == 1
    assert parsed(server.inbox.messages[0])["Message-ID"] == first_id  # same message, so it can be deduplicated
    assert [(r[2], r[3], r[4]) for r in ledger(db)] == [("sent", 3, True)]
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
    assert len(server.inbox.messages) == 1


def test_a_permanent_refusal_is_not_retried(tmp_path, db, server):
    server.inbox.refuse = ["554 5.7.1 rejected"]
    config = plain_config(tmp_path, db, server.port)
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 1
    assert [(r[2], r[3]) for r in ledger(db)] == [("failed", 1)]


def test_an_unreachable_server_fails_cleanly(tmp_path, db):
    from digest_helpers import free_port

    config = plain_config(tmp_path, db, free_port())
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 1
    assert [(r[2], r[3]) for r in ledger(db)] == [("failed", 2)]


def test_login_without_tls_when_the_server_allows_it(tmp_path, db, monkeypatch):
    server = SmtpServer(password="s3cret")
    try:
        config = write_config(
            tmp_path,
            db,
            f"""
[digest]
recipients = ["insights@acme.example"]
[digest.smtp]
host = "127.0.0.1"
port = {server.port}
security = "none"
username = "listener"
""",
        )
        assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 2  # no password: config error
        assert ledger(db) == [] and server.inbox.messages == []
        monkeypatch.setenv("LISTENER_SMTP_PASSWORD", "wrong")
        assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 1
        assert "refused the login for 'listener'" in table_rows(db, "SELECT error FROM digests")[0][0]
        assert [(r[2], r[3]) for r in ledger(db)] == [("failed", 1)]  # a bad password is not retried
        monkeypatch.setenv("LISTENER_SMTP_PASSWORD", "s3cret")
        assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
        assert server.inbox.logins == ["listener"] and len(server.inbox.messages) == 1
    finally:
        server.stop()


def _rendered(db: Path):
    settings = settings_for(db)
    with Store(db, read_only=True) as store:
        return render(gather(store.conn, settings, Week.parse(WEEK)))


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_auth_and_a_self_signed_certificate(tmp_path, db, monkeypatch, mode):
    cert, key = self_signed_cert(tmp_path)
    server = SmtpServer(password="s3cret", tls=(cert, key), implicit_tls=mode == "ssl")
    monkeypatch.setenv("LISTENER_SMTP_PASSWORD", "s3cret")
    digest = Digest(
        recipients=["insights@acme.example"],
        sender="listener@acme.example",
        smtp=Smtp(host="127.0.0.1", port=server.port, security=mode, username="listener", timeout_seconds=5),
    )
    rendered = _rendered(db)
    try:
        with Store(db) as store:
            # the default context does not trust a self-signed certificate: refused, not retried
            [outcome] = send.deliver(store, rendered, digest, ["insights@acme.example"])
            assert outcome.status == "failed" and "not trusted" in outcome.error and outcome.attempts == 1
            trusted = ssl.create_default_context(cafile=str(cert))
            [outcome] = send.deliver(store, rendered, digest, ["insights@acme.example"], ssl_context=trusted)
            assert outcome.status == "sent"
            [again] = send.deliver(store, rendered, digest, ["insights@acme.example"], ssl_context=trusted)
            assert again.status == "skipped"
    finally:
        server.stop()
    assert server.inbox.logins == ["listener"] and len(server.inbox.messages) == 1
    assert parsed(server.inbox.messages[0]).get_body(("html",)) is not None
    assert [(r[2], r[3]) for r in ledger(db)] == [("sent", 2)]


def test_starttls_required_by_config_but_not_offered(tmp_path, db, server):
    digest = Digest(
        recipients=["a@acme.example"],
        smtp=Smtp(host="127.0.0.1", port=server.port, security="starttls", timeout_seconds=5),
    )
    rendered = _rendered(db)
    with Store(db) as store:
        [outcome] = send.deliver(store, rendered, digest, ["a@acme.example"])
    assert outcome.status == "failed" and "STARTTLS" in outcome.error and server.inbox.messages == []


def test_usage_and_config_errors_exit_2_and_send_nothing(tmp_path, db, server, capsys):
    config = plain_config(tmp_path, db, server.port, "[]")
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 2  # no recipients
    assert "no recipients" in capsys.readouterr().err
    assert run("--config", str(config), "digest", "--week", "2026-W60") == 2
    assert run("--config", str(config), "digest", "--week", WEEK, "--send", "--out", str(tmp_path)) == 2
    assert run("--config", str(config), "digest", "--week", "2099-W01", "--send", "--to", "a@acme.example") == 2
    assert (
        run(
            "--config",
            str(config),
            "digest",
            "--week",
            WEEK,
            "--send",
            "--to",
            "a@acme.example\r\nBcc: evil@example.com",
        )
        == 2
    )
    assert server.inbox.messages == [] and ledger(db) == []


def test_the_store_is_free_while_the_smtp_server_takes_its_time(tmp_path, db, server):
    """--send reads the digest, closes the store, and opens it only to write the ledger."""
    config = plain_config(tmp_path, db, server.port)
    seen: list[str] = []
    accept = server.inbox.handle_DATA

    async def slow_server(smtp: Any, session: Any, envelope: Any) -> str:
        probe = subprocess.run(  # an analyst opening the store while the digest is on the wire
            [
                sys.executable,
                "-c",
                "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                "print(c.execute('SELECT status FROM digests').fetchall())",
                str(db),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        seen.append(probe.stdout.strip() or probe.stderr.strip())
        return await accept(smtp, session, envelope)

    server.inbox.handle_DATA = slow_server
    assert run("--config", str(config), "digest", "--week", WEEK, "--send") == 0
    assert seen == ["[('failed',)]"]  # it could read: the attempt was recorded, the lock released
    assert [r[2] for r in ledger(db)] == ["sent"]
