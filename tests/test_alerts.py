"""Alert rules and delivery: real DuckDB stores, a real HTTP server on 127.0.0.1 receiving apprise's JSON
webhooks, a real SMTP server (aiosmtpd) for e-mail channels; exactly once per (alert, channel)."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import run_in_process, table_rows
from digest_helpers import MONDAY, ORG, SmtpServer, free_port, mention

from analytics.alerting import evaluate_rules
from listener import pipeline
from listener.core.errors import ConfigError
from listener.core.settings import Settings, settings_from_dict
from listener.ingest.loader import load_batch
from listener.publish.alerts import deliver, safe_link, safe_text
from listener.store.connection import Store

NOW = MONDAY + timedelta(days=2, hours=23)  # Wednesday night of the stored week


class Hook:
    """A webhook receiver on 127.0.0.1: apprise's json:// posts land in `received`; `fail` answers 500."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def settings_with(db: Path, alerts: dict[str, Any], schedule: dict[str, Any] | None = None) -> Settings:
    return settings_from_dict(
        {
            "organization": ORG,
            "store": {"path": str(db)},
            "analytics": {"detect_language": False},
            "alerts": alerts,
            "schedule": schedule or {},
        }
    )


HOSTILE = "<!channel> @everyone recall!! [click](javascript:alert(1)) <https://evil.example|your bank> \x1b[31m"


def mentions() -> list:
    out = [mention(i, f"fan{i}", f"acme recall again? day {i}", day=2, followers=100 + i, likes=i) for i in range(6)]
    out.append(mention(50, "bigvoice", "acme coffee is great", day=2, followers=250_000, likes=900))
    out.append(mention(51, "troll", f"acme {HOSTILE}", day=2, followers=10, likes=99, url="javascript:alert(1)"))
    out.append(mention(52, "acme", "acme recall statement", day=2, followers=9000))  # own: not counted
    return out


def build(db: Path, settings: Settings) -> None:
    with Store(db) as store:
        rules = pipeline.prepare(store, settings)
        batch = pipeline.mentions_to_batch(mentions())
        store.write_transaction(lambda conn: load_batch(conn, batch, "test", rules), "test")


RULES = [
    {"name": "recall", "kind": "query", "query": "recall OR lawsuit", "min_mentions": 5, "window_minutes": 1440},
    {"name": "big", "kind": "influencer", "topic": "Acme", "min_followers": 100_000, "severity": "critical"},
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "listener.duckdb"
    build(path, settings_with(path, {}))
    return path


def test_rules_raise_each_event_once_and_cooldowns_hold(db: Path) -> None:
    settings = settings_with(db, {"rules": RULES})
    with Store(db) as store:
        raised = evaluate_rules(store, settings, NOW)
        assert sorted(e["rule"] for e in raised) == ["big", "recall"]
        recall = next(e for e in raised if e["rule"] == "recall")
        assert recall["observed"] == 7  # the six fans and the hostile post; the own account's post not
        assert len(recall["mention_ids"]) == 5  # the driving mentions, most engaged first
        assert recall["mention_ids"][0] == "x:m51"
        big = next(e for e in raised if e["rule"] == "big")
        assert big["mention_ids"] == ["x:m50"] and "250,000 followers" in big["summary"]
        assert evaluate_rules(store, settings, NOW) == []  # nothing new
        # two hours on, a new (day-aligned) query window still holds the posts: the topic is cooling down
        assert evaluate_rules(store, settings, NOW + timedelta(hours=2)) == []
    cooled = settings_with(db, {"rules": [{**RULES[0], "cooldown_minutes": 60}]})
    with Store(db) as store:
        assert [e["rule"] for e in evaluate_rules(store, cooled, NOW + timedelta(hours=2))] == ["recall"]


def test_each_alert_reaches_each_channel_exactly_once_and_a_failing_one_blocks_nothing(db: Path, hook: Hook) -> None:
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    settings = settings_with(
        db,
        {
            "rules": RULES,
            "channels": [
                {"name": "dead", "url": dead},
                {"name": "team", "url": hook.url},
                {"name": "oncall", "url": hook.url, "min_severity": "critical"},
            ],
        },
    )
    with Store(db) as store:
        evaluate_rules(store, settings, NOW)
        outcomes = deliver(store, settings, NOW)
    by = {(o.event_id.split(":")[0], o.channel): o.status for o in outcomes}
    assert by == {
        ("recall", "dead"): "failed", ("recall", "team"): "sent",
        ("big", "dead"): "failed", ("big", "team"): "sent", ("big", "oncall"): "sent",
    }  # fmt: skip
    assert len(hook.received) == 3
    with Store(db) as store:
        again = deliver(store, settings, NOW)
    assert {(o.channel, o.status) for o in again} == {("dead", "failed")}  # only the failed ones, once more
    assert len(hook.received) == 3
    rows = table_rows(db, "SELECT channel, status, attempts FROM alert_deliveries ORDER BY channel, event_id")
    assert rows == [("dead", "failed", 2), ("dead", "failed", 2), ("oncall", "sent", 1),
                    ("team", "sent", 1), ("team", "sent", 1)]  # fmt: skip


def test_a_failed_delivery_goes_out_at_the_next_evaluation(db: Path, hook: Hook) -> None:
    settings = settings_with(db, {"rules": RULES[:1], "channels": [{"name": "team", "url": hook.url}]})
    hook.fail = True
    with Store(db) as store:
        evaluate_rules(store, settings, NOW)
        assert [o.status for o in deliver(store, settings, NOW)] == ["failed"]
        hook.fail = False
        assert [o.status for o in deliver(store, settings, NOW)] == ["sent"]
        assert deliver(store, settings, NOW) == []
    assert len(hook.received) == 1


def test_the_message_says_what_happened_and_neutralises_what_strangers_wrote(db: Path, hook: Hook) -> None:
    settings = settings_with(db, {"rules": RULES[:1], "channels": [{"name": "team", "url": hook.url}]})
    with Store(db) as store:
        evaluate_rules(store, settings, NOW)
        deliver(store, settings, NOW)
    (message,) = hook.received
    body = message["message"]
    assert message["title"] == "[WARNING] Acme: recall"
    assert body.splitlines()[0].startswith("7 mentions matching 'recall OR lawsuit' in 1 day against")
    assert len(body.splitlines()) == 6  # what happened, then 5 driving mentions
    for danger in ("<!channel>", "@everyone", "<https://", "](", "\x1b"):
        assert danger not in body, danger
    troll = next(line for line in body.splitlines() if line.startswith("- troll"))
    assert troll.endswith("[31m".translate({91: 0xFF3B}))  # its javascript: URL is not linked
    assert "troll (x): acme \u2039!channel\u203a @\u2060everyone" in body
    assert "https://x.example/fan5/status/5" in body  # an http(s) link is kept


def test_safe_text_and_links() -> None:
    assert safe_text("a\nb\tc  @here <@U123>") == "a b c @\u2060here \u2039@U123\u203a"
    assert safe_text("x" * 300).endswith("\u2026") and len(safe_text("x" * 300)) == 200
    assert safe_link("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in ("javascript:alert(1)", "https://a.example/ <b>", "ftp://x.example/", None, "data:text/html,hi"):
        assert safe_link(bad) is None


def test_e_mail_channels_get_escaped_html(db: Path) -> None:
    server = SmtpServer()
    try:
        url = f"mailto://127.0.0.1:{server.port}?from=alerts@acme.example&to=team@acme.example&mode=insecure"
        settings = settings_with(db, {"rules": RULES[:1], "channels": [{"name": "mail", "url": url}]})
        with Store(db) as store:
            evaluate_rules(store, settings, NOW)
            assert [o.status for o in deliver(store, settings, NOW)] == ["sent"]
        (envelope,) = server.inbox.messages
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        html_part = message.get_body(("html",))
        assert html_part is not None and "team@acme.example" in envelope.rcpt_tos
        page = html_part.get_content()
        links = re.findall(r'href="([^"]*)"', page)
        assert links and all(link.startswith("https://x.example/") for link in links)  # no javascript: link
        assert "<!channel>" not in page and "<https://evil" not in page
        assert "<b>troll (x)</b>: acme ‹!channel›" in page
    finally:
        server.stop()


def test_quiet_hours_hold_an_alert_until_they_end(db: Path, hook: Hook) -> None:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    rule = {**RULES[0], "quiet_hours": f"{start}-{end}"}
    settings = settings_with(db, {"rules": [rule], "channels": [{"name": "team", "url": hook.url}]})
    with Store(db) as store:
        evaluate_rules(store, settings, NOW)
        assert [o.status for o in deliver(store, settings, NOW)] == ["held"]
    assert hook.received == []
    awake = settings_with(db, {"rules": [RULES[0]], "channels": [{"name": "team", "url": hook.url}]})
    with Store(db) as store:
        assert [o.status for o in deliver(store, awake, NOW)] == ["sent"]
    assert table_rows(db, "SELECT status, attempts FROM alert_deliveries") == [("sent", 1)]


@pytest.mark.parametrize(
    ("channel", "says"),
    [
        ({"name": "s", "url": "slack://T1/B2/abcdefghijklmnop"}, "carries a token or password"),
        ({"name": "s", "url": "json://user:hunter22@127.0.0.1/x"}, "carries a token or password"),
        ({"name": "s", "url": "ntfy://127.0.0.1/topic?token=tk_abcdef"}, "carries a token or password"),
        ({"name": "s", "url": "json://h/x", "url_env": "X"}, "give url or url_env"),
        ({"name": "s", "url_env": "not a name"}, "environment variable name"),
    ],
)
def test_channel_urls_with_secrets_are_config_errors_that_never_repeat_them(channel: dict, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_with(Path("x.duckdb"), {"channels": [channel]})
    assert says in str(caught.value)
    for secret in ("abcdefghijklmnop", "hunter22", "tk_abcdef"):
        assert secret not in str(caught.value)


def test_rule_settings_are_checked() -> None:
    bad = [
        ({"name": "q", "kind": "query"}, "needs query"),
        ({"name": "i", "kind": "influencer"}, "needs min_followers or top_n"),
        ({"name": "v", "kind": "volume", "topic": "acme"}, "unknown topic 'acme' (did you mean 'Acme'?)"),
        ({"name": "v", "kind": "volume", "quiet_hours": "late"}, "quiet_hours"),
        ({"name": "q", "kind": "query", "query": "recall AND"}, "expected"),
    ]
    for rule, says in bad:
        with pytest.raises(ConfigError) as caught:
            settings_with(Path("x.duckdb"), {"rules": [rule]})
        assert says in str(caught.value), (rule, str(caught.value))


def test_the_commands_list_send_and_test(db: Path, hook: Hook, tmp_path: Path, capsys) -> None:
    config = tmp_path / "listener.toml"
    config.write_text(
        f"""
[organization]
name = "Acme"
brand_terms = ["acme"]
[organization.own_accounts]
x = ["acme"]
[store]
path = "{db.as_posix()}"
[analytics]
detect_language = false
as_of = {(NOW + timedelta(hours=12)).date()}
[[alerts.rules]]
name = "recall"
kind = "query"
query = "recall OR lawsuit"
min_mentions = 5
window_minutes = 2880
[[alerts.channels]]
name = "team"
url_env = "TEAM_HOOK_URL"
""",
        encoding="utf-8",
    )
    code, out, err = run_in_process(capsys, "--config", str(config), "alerts", "test", "team")
    assert code == 1 and "TEAM_HOOK_URL is not set" in out
    code, out, err = run_in_process(capsys, "--config", str(config), "alerts", "test", "nope")
    assert code == 2 and "no alert channel named 'nope' (channels: team)" in err
    import os

    os.environ["TEAM_HOOK_URL"] = hook.url
    try:
        code, out, err = run_in_process(capsys, "--config", str(config), "alerts", "test", "team")
        assert code == 0 and hook.received[-1]["title"] == "[TEST] Acme: listener alerts"
        code, out, err = run_in_process(capsys, "--config", str(config), "alerts", "send", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert [e["rule"] for e in report["raised"]] == ["recall"]
        assert [d["status"] for d in report["deliveries"]] == ["sent"]
        code, out, err = run_in_process(capsys, "--config", str(config), "alerts", "--json")
        (listed,) = json.loads(out)["alerts"]
        assert listed["rule"] == "recall" and listed["deliveries"][0]["status"] == "sent"
        assert str(hook.port) not in out  # the URL came from the environment: never shown
    finally:
        del os.environ["TEAM_HOOK_URL"]


def test_the_scheduler_evaluates_the_rules_after_each_poll(tmp_path: Path, hook: Hook, feed_server) -> None:
    from conftest import Route, rss_feed, write_config

    from listener.core.settings import load_settings
    from listener.ops.scheduler import collect_job

    now = datetime.now(UTC)
    items = [
        {"title": f"Acme recall notice {i}", "link": f"https://news.example/{i}", "guid": f"g{i}",
         "pubDate": (now - timedelta(minutes=5 + i)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
         "description": "acme recall"}
        for i in range(3)
    ]  # fmt: skip
    feed_server.routes["/news.xml"] = Route(body=rss_feed(items))
    extra = f"""
[analytics]
detect_language = false
[[alerts.rules]]
name = "recall"
kind = "query"
query = "recall"
min_mentions = 3
window_minutes = 60
[[alerts.channels]]
name = "team"
url = "{hook.url}"
"""
    settings = load_settings(write_config(tmp_path, [feed_server.url("/news.xml")], extra))
    status, summary = collect_job(settings, "rss")
    assert status == "ok", summary
    assert "alerts: 1 raised, 1 delivered" in summary
    assert hook.received[0]["message"].startswith("3 mentions matching 'recall' in 1 hour")
    status, summary = collect_job(settings, "rss")  # the next poll: nothing new, nothing sent twice
    assert "alerts" not in summary and len(hook.received) == 1
