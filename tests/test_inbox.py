"""The response inbox and analysts' sentiment labels, through the CLI, on real DuckDB stores:
listing, done/dismiss/assign/reopen, their effect on the response-rate KPI and the maturity
measures, and `listener sentiment set/unset/evaluate` winning in views, KPIs and spikes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import run_in_process, table_rows

from listener import pipeline
from listener.core.models import AuthorRef, Mention, Metrics
from listener.core.settings import load_settings
from listener.ingest.loader import load_batch
from listener.store.connection import Store

START = datetime(2026, 10, 5, 9, tzinfo=UTC)  # a Monday; the story runs three weeks
AS_OF = date(2026, 10, 30)

CONFIG = """
[organization]
name = "Acme"
query = "acme"
own_accounts = {{ x = ["acme"] }}

[store]
path = "{db}"

[analytics]
detect_language = false
as_of = "{as_of}"
"""


def post(i: int, author: str, text: str, day: int, followers: int = 100, **extra) -> Mention:
    return Mention(
        source=extra.pop("source", "x"),
        id=f"p{i}",
        created_at=START + timedelta(days=day, minutes=i),
        author=AuthorRef(id=author, handle=author, followers=followers),
        text=text,
        url=f"https://x.example/{author}/status/{i}",
        lang="en",
        metrics=Metrics(likes=1),
        **extra,
    )


def story() -> list[Mention]:
    return [
        post(1, "bigvoice", "acme where is my order?", day=1, followers=90_000),
        post(2, "smallfan", "does acme ship to Norway?", day=2, followers=50),
        post(3, "angry", "acme support is awful, terrible, the worst", day=3, followers=400),
        post(4, "happy", "acme coffee is great, love it", day=3, followers=300),  # neither asks nor complains
        post(5, "curious", "is acme open on sundays?", day=4, followers=200),
        post(6, "acme", "@curious yes, 9 to 5!", day=4, parent_id="p5"),  # own answer
        post(7, "spammer", "acme? buy followers at spam.example", day=5, followers=10),
        post(8, "late", "acme, why no reply to my mail?", day=6, followers=80, source="reddit"),
        post(9, "acme", "Our autumn menu is here", day=6),  # own, not asking
        post(10, "otherbrand", "where can I buy globex?", day=6, followers=5000),  # not about the brand
    ]


@pytest.fixture
def store_config(tmp_path: Path) -> Path:
    db = tmp_path / "listener.duckdb"
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG.format(db=db.as_posix(), as_of=AS_OF.isoformat()), encoding="utf-8")
    settings = load_settings(config)
    with Store(db) as store:
        rules = pipeline.prepare(store, settings)
        batch = pipeline.mentions_to_batch(story())
        store.write_transaction(lambda conn: load_batch(conn, batch, "test", rules), "test")
        pipeline.analyze(store, settings)
    return config


def cli(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, dict]:
    code, out, err = run_in_process(capsys, "--config", str(config), *args, "--json")
    assert not err or code, err
    return code, json.loads(out) if out.strip() else {}


def listed(capsys, config: Path, *args: str) -> list[str]:
    code, report = cli(capsys, config, "inbox", *args)
    assert code == 0
    return [m["mention_id"] for m in report["mentions"]]


def maturity(capsys, config: Path) -> dict:
    code, report = cli(capsys, config, "maturity")
    assert code == 0
    participate = next(r for r in report["rungs"] if r["rung"] == "Participate")
    return {**{m["metric"]: m["value"] for m in participate["metrics"]}, **report["inbox"]}


def test_the_inbox_lists_who_waits_most_influential_first(capsys, store_config: Path) -> None:
    # p5 has an own reply, p4 neither asks nor complains, p9 is ours, p10 is not about the brand
    ids = listed(capsys, store_config)
    assert ids[0] == "x:p1"  # 90,000 followers
    assert set(ids) == {"x:p1", "x:p2", "x:p3", "x:p7", "reddit:p8"}
    assert listed(capsys, store_config, "--source", "reddit") == ["reddit:p8"]
    assert listed(capsys, store_config, "--limit", "2") == ids[:2]
    assert listed(capsys, store_config, "--since", "2026-10-09") == [i for i in ids if i in ("x:p7", "reddit:p8")]
    code, report = cli(capsys, store_config, "inbox")
    first = report["mentions"][0]
    assert first["url"] == "https://x.example/bigvoice/status/1" and first["question"] and first["followers"] == 90_000
    complaint = next(m for m in report["mentions"] if m["mention_id"] == "x:p3")
    assert complaint["complaint"] and not complaint["question"]
    assert report["summary"] == {
        "waiting": 5,
        "assigned": 0,
        "answered": 1,
        "handled_off_platform": 0,
        "dismissed": 0,
        "dismissed_by_reason": {},
    }
    code, out, _ = run_in_process(capsys, "--config", str(store_config), "inbox")
    assert code == 0 and "5 waiting" in out and "@bigvoice, 90,000 followers" in out and "question" in out


def test_done_dismiss_assign_and_reopen(capsys, store_config: Path) -> None:
    code, report = cli(capsys, store_config, "inbox", "assign", "x:p2", "x:p3", "--to", "dana")
    assert code == 0 and [c["now"] for c in report["changed"]] == ["assigned", "assigned"]
    assert set(listed(capsys, store_config, "--assignee", "Dana")) == {"x:p2", "x:p3"}
    assert "x:p2" in listed(capsys, store_config)  # assigned mentions still wait

    assert cli(capsys, store_config, "inbox", "done", "x:p2", "--note", "called back")[0] == 0
    assert cli(capsys, store_config, "inbox", "dismiss", "x:p7", "--reason", "spam")[0] == 0
    ids = listed(capsys, store_config)
    assert "x:p2" not in ids and "x:p7" not in ids and "x:p3" in ids
    state = table_rows(
        Path(load_settings(store_config).store.path),
        "SELECT mention_id, state, reason, assignee, note FROM inbox_state ORDER BY mention_id",
    )
    assert state == [
        ("x:p2", "done", None, "dana", "called back"),  # done keeps who handled it
        ("x:p3", "assigned", None, "dana", None),
        ("x:p7", "dismissed", "spam", None, None),
    ]
    _, report = cli(capsys, store_config, "inbox")
    assert report["summary"]["handled_off_platform"] == 1 and report["summary"]["dismissed_by_reason"] == {"spam": 1}

    assert cli(capsys, store_config, "inbox", "reopen", "x:p7")[0] == 0
    assert "x:p7" in listed(capsys, store_config)


def test_bad_ids_and_missing_options_are_usage_errors_that_change_nothing(capsys, store_config: Path) -> None:
    code, out, err = run_in_process(capsys, "--config", str(store_config), "inbox", "done", "x:p1", "x:nope")
    assert code == 2 and "x:nope" in err and "Traceback" not in err
    code, _, err = run_in_process(capsys, "--config", str(store_config), "inbox", "dismiss", "x:p1")
    assert code == 2 and "--reason" in err
    code, _, err = run_in_process(
        capsys, "--config", str(store_config), "inbox", "dismiss", "x:p1", "--reason", "boring"
    )
    assert code == 2
    code, _, err = run_in_process(capsys, "--config", str(store_config), "inbox", "assign", "x:p1")
    assert code == 2 and "--to" in err
    assert table_rows(Path(load_settings(store_config).store.path), "SELECT count(*) FROM inbox_state") == [(0,)]
    assert "x:p1" in listed(capsys, store_config)


def test_hostile_text_is_one_plain_line(capsys, tmp_path: Path, store_config: Path) -> None:
    settings = load_settings(store_config)
    hostile = post(20, "troll\x1b[2J", "acme?\x1b[31m red\r\nFAKE LINE\u202e evil", day=7)
    hostile = dataclasses.replace(hostile, url="javascript:alert(1)")
    with Store(Path(settings.store.path)) as store:
        rules = pipeline.prepare(store, settings)
        batch = pipeline.mentions_to_batch([hostile])
        store.write_transaction(lambda conn: load_batch(conn, batch, "test", rules), "test")
    code, out, _ = run_in_process(capsys, "--config", str(store_config), "inbox")
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out and "javascript:" not in out
    line = next(ln for ln in out.splitlines() if "FAKE LINE" in ln)
    assert "red FAKE LINE" in line


def test_dismissed_leave_the_response_measures_and_done_is_handled_off_platform(capsys, store_config: Path) -> None:
    before = maturity(capsys, store_config)
    # asking brand mentions by others, 72 h over: p1, p2, p3, p5 (answered), p7, p8
    assert before["response_rate"] == pytest.approx(1 / 6, abs=1e-3)
    assert before["handled_off_platform"] == 0 and before["dismissed"] == 0

    cli(capsys, store_config, "inbox", "dismiss", "x:p7", "reddit:p8", "--reason", "not-relevant")
    cli(capsys, store_config, "inbox", "done", "x:p2")
    after = maturity(capsys, store_config)
    assert after["response_rate"] == pytest.approx(1 / 4, abs=1e-3)  # done without a reply is not an answer
    assert after["handled_off_platform"] == 1 and after["dismissed"] == 2
    code, out, _ = run_in_process(capsys, "--config", str(store_config), "maturity")
    assert "1 asking mentions marked done without an own reply" in out

    # the KPI says the same after the next analyze
    settings = load_settings(store_config)
    db = Path(settings.store.path)
    with Store(db) as store:
        pipeline.analyze(store, settings)
    rows = table_rows(db, "SELECT sum(n), sum(value * n) FROM kpi_values WHERE kpi = 'response_rate' AND n > 0")
    assert rows[0][0] == 4 and rows[0][1] == pytest.approx(1.0)


def test_sentiment_labels_set_by_analysts_win_and_can_be_evaluated(capsys, store_config: Path) -> None:
    db = Path(load_settings(store_config).store.path)
    (label,) = table_rows(db, "SELECT label FROM sentiment WHERE mention_id = 'x:p4'")[0]
    assert label == "positive"
    negative = "SELECT sum(negative), sum(positive) FROM daily_sentiment WHERE topic = 'Acme'"
    ((negatives, positives),) = table_rows(db, negative)
    code, report = cli(capsys, store_config, "sentiment", "set", "x:p4", "negative", "--note", "sarcasm")
    assert code == 0 and report["posts_changed"] == 1
    assert table_rows(db, "SELECT label, model_label FROM sentiment WHERE mention_id = 'x:p4'") == [
        ("negative", "positive")
    ]
    assert table_rows(db, "SELECT label FROM topic_sentiment WHERE mention_id = 'x:p4'") == [("negative",)]
    # now a complaint: the inbox lists it, the views count it negative
    assert "x:p4" in listed(capsys, store_config)
    assert table_rows(db, negative) == [(negatives + 1, positives - 1)]

    # a new score of the text keeps the analyst's label
    with Store(db) as store:
        store.write_transaction(lambda conn: conn.execute("DELETE FROM sentiment WHERE mention_id = 'x:p4'"), "t")
        pipeline.analyze(store, load_settings(store_config))
    assert table_rows(db, "SELECT label, model_label FROM sentiment WHERE mention_id = 'x:p4'") == [
        ("negative", "positive")
    ]

    code, report = cli(capsys, store_config, "sentiment", "set", "x:p1", "x:p3", "negative")
    code, report = cli(capsys, store_config, "sentiment", "evaluate")
    assert code == 0 and report["rows"] == 3 and report["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    code, report = cli(capsys, store_config, "sentiment", "overrides")
    assert {(o["mention_id"], o["label"]) for o in report["overrides"]} == {
        ("x:p4", "negative"),
        ("x:p1", "negative"),
        ("x:p3", "negative"),
    }

    assert cli(capsys, store_config, "sentiment", "unset", "x:p4")[0] == 0
    assert table_rows(db, "SELECT label FROM sentiment WHERE mention_id = 'x:p4'") == [("positive",)]
    assert table_rows(db, "SELECT label FROM topic_sentiment WHERE mention_id = 'x:p4'") == [("positive",)]

    code, _, err = run_in_process(capsys, "--config", str(store_config), "sentiment", "set", "x:zzz", "negative")
    assert code == 2 and "x:zzz" in err
    code, _, err = run_in_process(
        capsys, "--config", str(store_config), "sentiment", "set", "x:p4", "positive", "--topic", "Globex"
    )
    assert code == 2 and "not tagged" in err


def test_a_topic_label_overrides_only_that_topic(capsys, tmp_path: Path) -> None:
    db = tmp_path / "listener.duckdb"
    config = tmp_path / "listener.toml"
    config.write_text(
        CONFIG.format(db=db.as_posix(), as_of=AS_OF.isoformat())
        + '\n[[organization.competitors]]\nname = "Globex"\nquery = "globex"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    with Store(db) as store:
        rules = pipeline.prepare(store, settings)
        batch = pipeline.mentions_to_batch([post(1, "duo", "acme is awful. globex is wonderful", day=1)])
        store.write_transaction(lambda conn: load_batch(conn, batch, "test", rules), "test")
        pipeline.analyze(store, settings)
    labels = "SELECT topic, label FROM topic_sentiment ORDER BY topic"
    assert table_rows(db, labels) == [("Acme", "negative"), ("Globex", "positive")]
    assert cli(capsys, config, "sentiment", "set", "x:p1", "neutral", "--topic", "Globex")[0] == 0
    assert table_rows(db, labels) == [("Acme", "negative"), ("Globex", "neutral")]
    assert cli(capsys, config, "sentiment", "set", "x:p1", "positive")[0] == 0  # the post's: the topic's own wins
    assert table_rows(db, labels) == [("Acme", "positive"), ("Globex", "neutral")]
