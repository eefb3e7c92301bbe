"""Shared by the digest tests: a small analyzed store, a real SMTP server, the CLI in-process."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from listener import pipeline
from listener.cli.app import cli, main
from listener.cli.digest import digest_command
from listener.core.models import AuthorRef, Mention, Metrics
from listener.core.settings import Settings, settings_from_dict
from listener.ingest.loader import load_batch
from listener.store.connection import Store

AS_OF = date(2026, 11, 23)  # a Monday: the last complete week is 2026-W47
WEEK = "2026-W47"
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)

ORG = {
    "name": "Acme",
    "brand_terms": ["acme"],
    "tracked_terms": ['"cold brew"'],
    "competitors": [{"name": "Globex", "terms": ["globex"]}],
    "own_accounts": {"x": ["acme"]},
}


def settings_for(db: Path, digest: dict[str, Any] | None = None) -> Settings:
    return settings_from_dict(
        {
            "organization": ORG,
            "store": {"path": str(db)},
            "analytics": {"detect_language": False},
            "digest": digest or {},
        }
    )


def mention(
    i: int,
    author: str,
    text: str,
    day: int = 0,
    name: str | None = None,
    url: str | None = None,
    likes: int = 5,
    followers: int = 1000,
    source: str = "x",
    author_url: str | None = None,
    community: str | None = None,
    lang: str = "en",
) -> Mention:
    return Mention(
        source=source,
        id=f"m{i}",
        created_at=MONDAY + timedelta(days=day, hours=10 + i % 8),
        author=AuthorRef(id=author, handle=author, name=name, followers=followers, url=author_url),
        text=text,
        url=url if url is not None else f"https://x.example/{author}/status/{i}",
        lang=lang,
        community=community,
        metrics=Metrics(likes=likes, reposts=likes // 3, replies=1),
    )


def ordinary_mentions() -> list[Mention]:
    """Two weeks of a small, friendly conversation about Acme and Globex."""
    out = []
    for i in range(40):
        day = i % 14 - 7  # the week before and the digest week
        who = f"fan{i % 6}"
        topic = "acme" if i % 3 else "globex"
        mood = ("love the new", "great", "awful", "fine")[i % 4]
        out.append(mention(i, who, f"{mood} {topic} coffee today", day=day, likes=3 + i))
    return out


def build_store(db: Path, mentions: list[Mention], digest: dict[str, Any] | None = None) -> Settings:
    settings = settings_for(db, digest)
    with Store(db) as store:
        rules = pipeline.prepare(store, settings)
        store.write_transaction(
            lambda conn: load_batch(conn, pipeline.mentions_to_batch(mentions), "test", rules), "test"
        )
        pipeline.analyze(store, settings, today=AS_OF)
    return settings


def write_config(tmp_path: Path, db: Path, digest_toml: str) -> Path:
    path = tmp_path / "listener.toml"
    path.write_text(
        f"""
[organization]
name = "Acme"
brand_terms = ["acme"]
tracked_terms = ["\\"cold brew\\""]
[[organization.competitors]]
name = "Globex"
terms = ["globex"]
[organization.own_accounts]
x = ["acme"]
[store]
path = "{db.as_posix()}"
[analytics]
detect_language = false
{digest_toml}
""",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> int:
    """`listener ARGS` in this process; returns the exit code.

    Until listener/cli/app.py registers `digest`, it is added for the call only, so
    other tests (e.g. the README meta-test) see the CLI as it really is.
    """
    added = "digest" not in cli.commands
    if added:
        cli.add_command(digest_command)
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        if added:
            cli.commands.pop("digest", None)
    return 0


# -- a real SMTP server -------------------------------------------------------------
@dataclass
class Inbox:
    messages: list[Any] = field(default_factory=list)  # aiosmtpd envelopes
    refuse: list[str] = field(default_factory=list)  # answers to DATA, one per message, before accepting
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd name
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append(envelope)
        return "250 2.0.0 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(
        self, password: str | None = None, tls: tuple[Path, Path] | None = None, implicit_tls: bool = False
    ) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if password is not None:

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and data.password == password.encode()
                if ok:
                    self.inbox.logins.append(data.login.decode())
                return AuthResult(success=ok, handled=False)

            # with implicit TLS aiosmtpd does not know the socket is encrypted: let AUTH through
            kwargs.update(
                authenticator=authenticate, auth_required=True, auth_require_tls=tls is not None and not implicit_tls
            )
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if implicit_tls:
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=True)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# -- HTML inspection --------------------------------------------------------------------
class HtmlAudit(HTMLParser):
    """Every tag, attribute and text node of a page, for safety and layout assertions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.texts: list[str] = []
        self.auto_dir_texts: list[str] = []
        self._dir_depth: list[bool] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag not in ("br", "img", "meta", "hr", "input", "link"):
            self._dir_depth.append(("dir", "auto") in attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._dir_depth and tag not in ("br", "img", "meta"):
            self._dir_depth.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append(data)
            if any(self._dir_depth):
                self.auto_dir_texts.append(data)


def audit(html: str) -> HtmlAudit:
    parser = HtmlAudit()
    parser.feed(html)
    parser.close()
    return parser
