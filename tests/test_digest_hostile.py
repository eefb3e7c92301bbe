"""Hostile content: what strangers write must never become markup, links, headers or a broken layout."""

from __future__ import annotations

import email
from email import policy

import pytest
from digest_helpers import WEEK, audit, build_store, mention, ordinary_mentions

from listener.core.settings import settings_from_dict
from listener.publish.digest.gather import Week, gather
from listener.publish.digest.render import clean, render, safe_url
from listener.publish.digest.send import build_message
from listener.store.connection import Store

SCRIPT_NAME = "Evil\r\nBcc: victim@example.com <script>alert(1)</script>"
ATTR_NAME = '"><img src=x onerror=alert(1)>'
ARABIC = "\u202eأكمي رائع جدا acme قهوة"
EMOJI = "acme ☕🔥 👩‍👩‍👧 so good"
LONG = "acme " + "A" * 10_000


def hostile_mentions() -> list:
    evil = dict(likes=900, followers=90_000)
    return ordinary_mentions() + [
        mention(
            100,
            "evil1",
            'acme <script>alert("x")</script> "onerror=alert(1) <a href="javascript:alert(1)">win</a>',
            name=SCRIPT_NAME,
            author_url="javascript:alert(document.cookie)",
            **evil,
        ),
        mention(101, "evil2", LONG, name=ATTR_NAME, url='https://x.example/evil2/1?a="><script>', **evil),
        mention(102, "evil3", ARABIC, name="محمد\u202e", lang="ar", **evil),
        mention(103, "evil4", EMOJI, name="☕ Barista 🔥", **evil),
        mention(
            104,
            "evil5",
            "acme\r\nSubject: spoofed\r\n\r\nbody",
            name="x" * 5000,
            community='<b onmouseover="alert(1)">r/evil</b>',
            source="reddit",
            **evil,
        ),
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("hostile") / "listener.duckdb"
    settings = build_store(db, hostile_mentions())
    with Store(db) as store:  # rows an older import or another tool might have left: bypass the loader's checks
        store.conn.execute("UPDATE mentions SET url = 'javascript:alert(1)' WHERE mention_id = 'x:m103'")
        store.conn.execute("UPDATE mentions SET url = ' JaVaScRiPt:alert(2)' WHERE mention_id = 'x:m102'")
        store.conn.execute(
            "UPDATE authors SET url = 'data:text/html,<script>alert(3)</script>' WHERE author_id = 'x:evil2'"
        )
    org = settings.organization.model_dump()
    org["name"] = "Acme\r\nBcc: everyone@example.com"
    settings = settings_from_dict(
        {"organization": org, "store": {"path": str(db)}, "analytics": {"detect_language": False}}
    )
    with Store(db, read_only=True) as store:
        digest = gather(store.conn, settings, Week.parse(WEEK))
    return digest, render(digest)


def test_the_hostile_authors_are_in_the_digest(hostile):
    digest, _ = hostile
    names = {p.author_id for p in digest.influencers}
    assert {"x:evil1", "x:evil2", "x:evil3", "x:evil4"} & names, names  # otherwise the test proves nothing


def test_html_has_no_script_event_handlers_or_unsafe_links(hostile):
    _, rendered = hostile
    page = audit(rendered.html)
    assert "script" not in page.tags and "<script" not in rendered.html.lower()
    assert not [a for a in page.attrs if a[1].lower().startswith("on")]
    hrefs = [v for tag, k, v in page.attrs if k == "href"]
    assert hrefs and all(v.startswith(("https://", "http://")) for v in hrefs)
    assert not [v for v in hrefs if "javascript" in v.lower() or "data:" in v.lower()]
    assert all(v.startswith("cid:") for tag, k, v in page.attrs if k == "src")
    assert set(page.tags) <= {
        "html",
        "head",
        "meta",
        "title",
        "body",
        "table",
        "tr",
        "td",
        "th",
        "p",
        "h1",
        "h2",
        "span",
        "a",
        "br",
        "b",
        "img",
        "ol",
        "li",
        "code",
    }


def test_layout_holds_long_texts_are_cut_and_rtl_is_isolated(hostile):
    _, rendered = hostile
    page = audit(rendered.html)
    assert max(len(t) for t in page.texts) < 700  # the 10,000-character post and 5,000-character name are cut
    assert "A" * 300 not in rendered.html and "x" * 300 not in rendered.html
    assert "\u2026" in rendered.html
    assert len(rendered.html) < 80_000
    arabic = [t for t in page.texts if "أكمي" in t or "محمد" in t]
    assert arabic and all(t in page.auto_dir_texts for t in arabic)  # each inside dir="auto"
    assert "\u202e" not in rendered.html and "\u202e" not in rendered.text
    assert "☕🔥" in rendered.html and "👩‍👩‍👧" in rendered.html  # emoji survive intact


def test_text_part_cannot_be_forged_by_line_breaks(hostile):
    _, rendered = hostile
    lines = rendered.text.splitlines()
    assert not [line for line in lines if line.startswith(("Bcc:", "Subject:"))]
    assert max(len(line) for line in lines) < 700
    assert "<javascript:" not in rendered.text.lower()  # never offered as a link


def test_no_header_injection_from_any_field(hostile):
    _, rendered = hostile
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    msg = build_message(rendered, "listener@acme.example", "insights@acme.example", "<id@acme.example>")
    parsed = email.message_from_bytes(bytes(msg), policy=policy.default)
    assert sorted(parsed.keys()) == sorted(
        [
            "Subject",
            "From",
            "To",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Listener-Week",
            "Content-Type",
            "MIME-Version",
        ]
    )
    assert parsed["To"] == "insights@acme.example" and "Bcc" not in parsed


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://example.com/a?b=c", "https://example.com/a?b=c"),
        ("http://example.com", "http://example.com"),
        ("javascript:alert(1)", None),
        (" JAVASCRIPT:alert(1)", None),
        ("data:text/html,x", None),
        ("//example.com/x", None),
        ("/relative", None),
        ("https://", None),
        ("https://exa mple.com", None),
        ("https://example.com/\u202e", None),
        ("https://example.com/\r\nX: y", None),
        (None, None),
        ("vbscript:msgbox", None),
        ("https://[::1", None),
    ],
)
def test_safe_url(url, expected):
    assert safe_url(url) == expected


def test_clean():
    assert clean("a\r\nb\tc\u202ed\u2066e", 100) == "a b cde"
    assert clean("x" * 50, 10) == "x" * 9 + "\u2026"
    assert clean(None) == ""
