"""The digest built from the full demo store: content, weeks, maturity, --out and preview."""

from __future__ import annotations

import email
import json
import re
import shutil
import time
import tomllib
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import duckdb
import pytest
from digest_helpers import WEEK, audit, run

from listener.core.settings import settings_from_dict
from listener.ops.demo import demo_root
from listener.publish.digest.gather import Week, gather, next_steps
from listener.publish.digest.render import render
from listener.store.connection import Store


@pytest.fixture(scope="module")
def demo(demo_run: tuple[dict, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The session's demo store (story kept on its recorded dates: last week 2026-W47) and a config
    of our own pointing at it (the demo's own listener.toml stays as the demo wrote it)."""
    db = demo_run[1]
    config = tmp_path_factory.mktemp("digest-config") / "listener.toml"
    config.write_text(
        (demo_root() / "demo.toml").read_text(encoding="utf-8")
        + f'\n[store]\npath = "{db.as_posix()}"\n'
        + '[digest]\nrecipients = ["insights@acme.example"]\nsender = "listener@acme.example"\n',
        encoding="utf-8",
    )
    return db, config


def _settings(config: Path):
    return settings_from_dict(tomllib.loads(config.read_text(encoding="utf-8")), config)


def _gather(db: Path, config: Path, week: str = WEEK):
    with Store(db, read_only=True) as store:
        return gather(store.conn, _settings(config), Week.parse(week), now=datetime(2026, 11, 23, 7, tzinfo=UTC))


def test_weeks():
    assert Week.last_complete(date(2026, 11, 23)).label == "2026-W47"  # Monday: last week is complete
    assert Week.last_complete(date(2026, 11, 22)).label == "2026-W46"  # Sunday: this week is not over
    assert Week.last_complete(date(2027, 1, 4)).label == "2026-W53"
    week = Week.parse("2026-W47")
    assert (week.monday, week.sunday) == (date(2026, 11, 16), date(2026, 11, 22))
    for bad in ("2026-47", "2026-W99", "W47", "2026-W47; DROP"):
        with pytest.raises(ValueError):
            Week.parse(bad)


def test_demo_digest_tells_the_week(demo):
    db, config = demo
    started = time.perf_counter()
    digest = _gather(db, config)
    rendered = render(digest)
    assert time.perf_counter() - started < 5
    assert len(digest.influencers) == 5 and [p.rank for p in digest.influencers] == [1, 2, 3, 4, 5]
    assert any(p.is_new for p in digest.influencers) and all(p.sample for p in digest.influencers)
    assert all(p.sample.url.startswith("https://") for p in digest.influencers)
    assert [v.topic for v in digest.voice] == ["Acme", "Globex", "Initech"]
    assert sum(v.share for v in digest.voice) == pytest.approx(1.0)
    with duckdb.connect(str(db), read_only=True) as conn:  # the same numbers as the documented view
        view = dict(
            conn.execute(
                "SELECT topic, share_of_voice FROM share_of_voice WHERE grain = 'week' "
                "AND period_start = DATE '2026-11-16'"
            ).fetchall()
        )
        prev = dict(
            conn.execute(
                "SELECT topic, share_of_voice FROM share_of_voice WHERE grain = 'week' "
                "AND period_start = DATE '2026-11-09'"
            ).fetchall()
        )
    assert {v.topic: v.share for v in digest.voice} == pytest.approx(view)
    assert {v.topic: v.change for v in digest.voice} == pytest.approx({t: view[t] - prev[t] for t in view})
    assert len(digest.sentiment_weeks[0].points) == 8 and len(digest.volume_days[0].points) == 28
    assert digest.alerts and all(date(2026, 11, 16) <= a.day <= date(2026, 11, 22) for a in digest.alerts)
    assert any(a.day == date(2026, 11, 10) for a in digest.spike_days)  # the recall spike is on the chart
    assert [k.name for k in digest.kpis] == ["share_of_voice", "net_sentiment", "engaged_authors", "response_rate"]
    assert all(k.baseline is not None for k in digest.kpis)
    assert len(digest.communities) == 5
    for heading in (
        "The week in numbers",
        "Who mattered",
        "Share of voice",
        "Communities to watch",
        "Alerts of the week",
        "KPIs against the baseline",
        "Engagement maturity",
    ):
        assert heading in rendered.html
    assert [i.filename for i in rendered.images] == ["sentiment.png", "volume.png"]
    page = audit(rendered.html)
    alts = [v for tag, k, v in page.attrs if tag == "img" and k == "alt"]
    assert len(alts) == 2 and all("Acme" in alt for alt in alts)  # readable without images
    assert 3 <= len([line for line in rendered.text.splitlines() if line.startswith("- ")][:5]) <= 5


def test_maturity_level_change_and_next_steps(demo, tmp_path):
    db, config = demo
    copy = tmp_path / "listener.duckdb"
    shutil.copy(db, copy)
    steps = [
        {
            "practice": "respond positively",
            "metric": "response_rate",
            "data": {},
            "text": "12 mentions that ask or complain got no reply <b>within</b> 72 h",
        },
        {"practice": "engage with influencers", "text": "3 of your top 10 influencers were never answered"},
        {"practice": "listen", "text": "a third step"},
        {"text": "a fourth step, not shown"},
    ]
    with Store(copy) as store:
        store.conn.execute("DELETE FROM maturity_assessments")
        store.conn.execute(
            "INSERT INTO maturity_assessments (assessed_at, window_start, window_end, level, level_index, "
            "recommendations) VALUES (now(), DATE '2026-08-17', DATE '2026-11-15', 'Monitor', 1, '[]'), "
            "(now(), DATE '2026-08-26', DATE '2026-11-23', 'Discover', 2, ?), "
            "(now(), DATE '2026-09-01', DATE '2026-11-30', 'Share', 3, '[]')",
            [json.dumps(steps)],
        )
    rendered = render(_gather(copy, config))
    assert "<b>Discover</b> (up from Monitor)" in rendered.html  # the row after the week is not used
    assert (
        "Respond positively: 12 mentions that ask or complain got no reply &lt;b&gt;within&lt;/b&gt; 72 h"
        in rendered.html
    )
    assert "a third step" in rendered.html and "a fourth step" not in rendered.html
    assert "Level 2 of 5: Discover (up from Monitor)" in rendered.text

    with Store(copy) as store:
        store.conn.execute("DELETE FROM maturity_assessments")
    assert "No maturity assessment has been made yet" in render(_gather(copy, config)).html


def test_next_steps_reads_other_shapes():
    assert next_steps('["a", "b", null, "c", "d"]') == ["a", "b", "c"]
    assert next_steps({"steps": [{"action": "x", "why": "y"}]}) == ["x (y)"]
    assert next_steps(None) == [] and next_steps("{}") == []


def test_an_empty_week_still_renders(demo):
    db, config = demo
    digest = _gather(db, config, "2026-W30")
    rendered = render(digest)
    assert digest.influencers == [] and digest.alerts == [] and digest.brand_mentions == 0
    assert "No influencer ranking for this week" in rendered.html and "No spikes this week" in rendered.text


def test_out_writes_eml_and_html_for_review_and_preview_prints_text(demo, tmp_path, capsys):
    db, config = demo
    out = tmp_path / "review"
    assert run("--config", str(config), "digest", "--week", WEEK, "--out", str(out)) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "digest-2026-W47-sentiment.png",
        "digest-2026-W47-volume.png",
        "digest-2026-W47.eml",
        "digest-2026-W47.html",
    ]
    html = (out / "digest-2026-W47.html").read_text(encoding="utf-8")
    assert 'src="digest-2026-W47-sentiment.png"' in html and "cid:" not in html
    msg = email.message_from_bytes((out / "digest-2026-W47.eml").read_bytes(), policy=policy.default)
    assert msg["To"] == "insights@acme.example" and msg.get_body(("plain",)) is not None
    assert len([p for p in msg.walk() if p.get_content_type() == "image/png"]) == 2
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM digests").fetchone()[0] == 0  # --out sends and records nothing

    capsys.readouterr()
    assert run("--config", str(config), "digest", "--week", WEEK) == 0
    text = capsys.readouterr().out
    assert text.startswith("Acme: weekly listening digest 2026-W47") and "WHO MATTERED" in text
    assert run("--config", str(config), "digest", "--week", WEEK, "--json") == 0
    assert json.loads(capsys.readouterr().out)["week"] == WEEK


def test_the_digest_reads_the_store_only():
    """Outputs sit after the store: the digest never imports connectors, the pipeline or analytics."""
    import ast

    root = Path(__file__).resolve().parent.parent / "listener" / "digest"
    imported = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {
        m for m in imported if m.startswith(("connectors", "analytics", "listener.pipeline", "listener.ingest.loader"))
    }


def test_the_headline_and_the_chart_count_the_same_alerts(demo):
    """The week's one alert: cold brew on Tuesday (10 mentions by others, at least
    `min_alert_mentions`); it is a tracked term, so not drawn on the brand/competitor chart;
    headline, chart text and the list agree on that, and it reports the expected range."""
    db, config = demo
    digest = _gather(db, config)
    text = render(digest).text
    with duckdb.connect(str(db), read_only=True) as conn:
        stored = dict(
            conn.execute(
                "SELECT topic, count(*) FROM alerts WHERE day BETWEEN DATE '2026-11-16' "
                "AND DATE '2026-11-22' GROUP BY ALL"
            ).fetchall()
        )
    assert stored == {"cold brew": 1} and digest.alert_count == 1 == len(digest.alerts)
    assert (
        "- 1 spike alert (cold brew 1); the largest: mentions of cold brew on Tue 17 Nov (11 against 0-2 expected)"
        in text
    )
    assert (
        "Marked in red: 0 of the week's 1 spike alert (none on these lines); it is on tracked terms "
        "or negative mentions, listed under the alerts."
    ) in text
    assert text.count("against 0-2 expected\n") == 1  # the one listed under ALERTS OF THE WEEK


def test_the_headline_counts_every_alert_even_beyond_the_list(demo, tmp_path):
    db, config = demo
    copy = tmp_path / "listener.duckdb"
    shutil.copy(db, copy)
    with Store(copy) as store:
        store.conn.execute(
            "INSERT INTO alerts (alert_id, day, kind, topic, observed, baseline, score, mention_ids, "
            "created_at) SELECT 'extra-' || i, DATE '2026-11-16' + (i % 7)::INTEGER, 'negative', "
            "'Globex', 5, 0, 4, '[]', now() FROM range(10) t(i)"
        )
    digest = _gather(copy, config)
    assert len(digest.alerts) == 8 and digest.alert_count == 11  # the list shows 8, the headline counts all
    assert "- 11 spike alerts (Globex 10, cold brew 1); the largest:" in render(digest).text


def test_small_samples_are_marked_not_stated(demo):
    """Globex's scored mentions and the asks behind the response rate are under `min_sample` (30):
    the digest shows them with their n, marked; Acme's share of voice (70+ mentions) is stated plainly."""
    db, config = demo
    digest = _gather(db, config)
    lines = render(digest).text.splitlines()
    assert digest.min_sample == 30
    marked = re.compile(r"\[n=(\d+), under 30: too few to read\]")
    globex = next(line for line in lines if line.startswith("- Globex:"))
    found = marked.search(globex.split("net sentiment")[1])
    assert found and int(found.group(1)) == next(v.scored for v in digest.voice if v.topic == "Globex") < 30
    answered = next(line for line in lines if line.startswith("- Questions and complaints answered"))
    rate = next(k for k in digest.kpis if k.name == "response_rate")
    assert (found := marked.search(answered)) and int(found.group(1)) == rate.n < 30
    share = next(line for line in lines if line.startswith("- Share of voice:"))
    assert "95% CI" in share and "too few" not in share


def test_the_digest_shows_what_each_brands_own_accounts_did(demo):
    """From the `competitor_activity` view: ours first, then each competitor with configured accounts."""
    db, config = demo
    digest = _gather(db, config)
    assert [a.kind for a in digest.activity][:1] == ["own"] and digest.activity[0].owner == "Acme"
    text = render(digest).text
    assert "WHAT THE BRANDS' OWN ACCOUNTS DID" in text and "- Acme (us): " in text
    with duckdb.connect(str(db), read_only=True) as conn:
        owners = {
            r[0]
            for r in conn.execute("SELECT owner FROM competitor_activity WHERE week_start = '2026-11-16'").fetchall()
        }
    assert {a.owner for a in digest.activity} == owners
