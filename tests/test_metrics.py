"""Spike alerts, KPIs against a baseline, and the analyst views, on real DuckDB stores.

Bulk synthetic series go in with plain INSERTs (one Arrow table per batch);
the response-time case goes through the real loader so interactions are derived
exactly as in production. Sentiment rows are written by SQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from analytics.metrics.kpis import KPI_SQL, update_kpis
from analytics.metrics.spikes import detect_spikes
from analytics.metrics.views import VIEWS, create_views
from listener.core.errors import ConfigError
from listener.core.models import AuthorRef, Mention, Metrics
from listener.core.settings import KPI_NAMES, Settings, settings_from_dict
from listener.ingest.loader import load_batch
from listener.pipeline import mentions_to_batch, prepare
from listener.store.connection import Store

START = date(2024, 1, 1)  # a Monday
ORG = {
    "name": "Acme",
    "brand_terms": ["acme"],
    "competitors": [{"name": "Globex", "terms": ["globex"]}],
    "own_accounts": {"x": ["acme"]},
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "analytics-metrics.md"


def make_settings(**analytics: object) -> Settings:
    return settings_from_dict({"organization": ORG, "analytics": analytics})


@dataclass
class Row:
    """One synthetic mention with its topic and sentiment."""

    mention_id: str
    topic: str
    kind: str
    created_at: datetime
    label: str | None = "neutral"
    supported: bool = True
    likes: int = 0
    is_own: bool = False
    author_id: str = "x:someone"


def insert_rows(conn: duckdb.DuckDBPyConnection, rows: list[Row]) -> None:
    """Bulk INSERT mentions, mention_topics and sentiment for synthetic rows."""
    table = pa.table(
        {
            "mention_id": [r.mention_id for r in rows],
            "topic": [r.topic for r in rows],
            "kind": [r.kind for r in rows],
            "label": [r.label for r in rows],
            "supported": [r.supported for r in rows],
            "likes": [r.likes for r in rows],
            "is_own": [r.is_own for r in rows],
            "author_id": [r.author_id for r in rows],
            "created_at": pa.array([r.created_at for r in rows], pa.timestamp("us", tz="UTC")),
        }
    )
    conn.register("rows_in", table)
    conn.execute(
        "INSERT INTO mentions (mention_id, source, native_id, author_id, text, created_at, collected_at, "
        "updated_at, like_count, is_own) SELECT DISTINCT mention_id, 'x', mention_id, author_id, 'synthetic', "
        "created_at, created_at, created_at, likes, is_own FROM rows_in"
    )
    conn.execute("INSERT INTO mention_topics (mention_id, topic, kind) SELECT mention_id, topic, kind FROM rows_in")
    conn.execute(
        "INSERT INTO sentiment (mention_id, compound, pos, neu, neg, label, scorer, scored_at, supported) "
        "SELECT DISTINCT mention_id, CASE label WHEN 'negative' THEN -0.6 WHEN 'positive' THEN 0.6 ELSE 0 END, "
        "0, 1, 0, label, 'test', now(), supported FROM rows_in WHERE label IS NOT NULL"
    )
    conn.unregister("rows_in")


def at(day: int, minute: int = 0) -> datetime:
    return datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(days=day, minutes=minute)


# -- spikes: a synthetic benchmark ---------------------------------------------

DAYS = 120
SPIKE_DAYS = [20, 33, 45, 58, 70, 84, 97, 110]  # several fall on weekends
SPIKE_SIZES = [1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0]  # extra mentions, x the day's expected volume
CRISES = {1, 3, 5, 7}  # these spikes are complaints: their extra mentions are negative
SPIKED_TOPICS = [
    ("Acme", "brand"),
    ("Globex", "competitor"),
    ("cold brew", "term"),
    ("Initech", "competitor"),
    ("espresso", "term"),
    ("Umbrella", "competitor"),
]
FLAT_TOPICS = [("grinder", "term"), ("Hooli", "competitor")]


def synthetic_rows(rng: np.random.Generator, topic: str, kind: str, base: float, spiked: bool) -> list[Row]:
    """Negative-binomial daily counts (CV ~27%), weekends at 55%, 12% negative, 5% non-English."""
    rows = []
    for day in range(DAYS):
        mu = base * (0.55 if (START + timedelta(days=day)).weekday() >= 5 else 1.0)
        normal = int(rng.negative_binomial(20, 20 / (20 + mu)))
        spike = SPIKE_DAYS.index(day) if spiked and day in SPIKE_DAYS else None
        extra = int(round(SPIKE_SIZES[spike] * mu)) if spike is not None else 0
        for j in range(normal + extra):
            negative = (spike in CRISES) if j >= normal else rng.random() < 0.12
            rows.append(
                Row(
                    f"x:{topic}-{day}-{j}",
                    topic,
                    kind,
                    at(day, (j * 7) % 1440),
                    "negative" if negative else "positive",
                    rng.random() > 0.05,
                    likes=j % 13,
                )
            )
    return rows


def expected_alerts() -> set[tuple[str, str, int]]:
    truth = set()
    for topic, _ in SPIKED_TOPICS:
        truth |= {("volume", topic, d) for d in SPIKE_DAYS}
        truth |= {("negative", topic, SPIKE_DAYS[i]) for i in CRISES}
    return truth


@pytest.fixture(scope="module")
def spiky_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("spikes") / "s.duckdb")
    rng = np.random.default_rng(7)
    rows = [r for t, k in SPIKED_TOPICS for r in synthetic_rows(rng, t, k, 40, True)]
    rows += [r for t, k in FLAT_TOPICS for r in synthetic_rows(rng, t, k, 30, False)]
    insert_rows(store.conn, rows)
    yield store
    store.close()


def test_spikes_are_found_with_high_precision_and_recall(spiky_store: Store) -> None:
    report = detect_spikes(spiky_store, make_settings(), today=START + timedelta(days=DAYS - 1))
    found = {
        (k, t, (d - START).days)
        for k, t, d in spiky_store.conn.execute("SELECT kind, topic, day FROM alerts").fetchall()
    }
    truth = expected_alerts()
    hits = found & truth
    precision, recall = len(hits) / max(len(found), 1), len(hits) / len(truth)
    print(
        f"\nspikes: {len(truth)} injected ({len(SPIKED_TOPICS)} topics x {len(SPIKE_DAYS)} volume + "
        f"{len(CRISES)} negative), {len(found)} alerts, precision {precision:.3f}, recall {recall:.3f}; "
        f"missed {sorted(truth - found)}; false {sorted(found - truth)}"
    )
    assert precision >= 0.8 and recall >= 0.8
    assert report["alerts"] == len(found) and report["raised"] == len(found)
    assert report["series"] == 2 * (len(SPIKED_TOPICS) + len(FLAT_TOPICS))


def test_alert_evidence_is_the_most_engaged_mentions_of_that_kind(spiky_store: Store) -> None:
    # Its own detection (a rerun converges): on parallel workers the test above may run elsewhere.
    detect_spikes(spiky_store, make_settings(), today=START + timedelta(days=DAYS - 1))
    conn = spiky_store.conn
    alert_id, ids = conn.execute(
        "SELECT alert_id, mention_ids FROM alerts WHERE kind = 'negative' ORDER BY observed DESC LIMIT 1"
    ).fetchall()[0]
    ids = json.loads(ids)
    assert re.fullmatch(r"negative:[^:]+:\d{4}-\d{2}-\d{2}", alert_id)
    assert len(ids) == 50
    rows = conn.execute(
        "SELECT m.mention_id, m.like_count, s.label FROM mentions m JOIN sentiment s USING (mention_id) "
        "WHERE m.mention_id IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    ).fetchall()
    likes = {mid: likes for mid, likes, _ in rows}
    assert {label for _, _, label in rows} == {"negative"}
    assert [likes[i] for i in ids] == sorted(likes.values(), reverse=True)


def test_spike_rerun_converges(spiky_store: Store) -> None:
    conn, today = spiky_store.conn, START + timedelta(days=DAYS - 1)
    detect_spikes(spiky_store, make_settings(), today=today)
    before = conn.execute("SELECT * FROM alerts ORDER BY alert_id").fetchall()
    report = detect_spikes(spiky_store, make_settings(), today=today)
    assert (report["raised"], report["updated"], report["cleared"]) == (0, 0, 0)
    assert conn.execute("SELECT * FROM alerts ORDER BY alert_id").fetchall() == before


def test_no_alerts_on_a_flat_or_sparse_series(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        rows = [Row(f"x:f{d}-{j}", "Acme", "brand", at(d, j)) for d in range(60) for j in range(20)]
        # a rarely mentioned term: 0 most days, 2-4 on a few (below the count floor)
        rows += [
            Row(f"x:s{d}-{j}", "grinder", "term", at(d, j), "negative") for d in (30, 45, 59) for j in range(2 + d % 3)
        ]
        insert_rows(store.conn, rows)
        report = detect_spikes(store, make_settings(), today=START + timedelta(days=59))
        assert report["alerts"] == 0
        assert store.conn.execute("SELECT count(*) FROM alerts").fetchall()[0][0] == 0


def test_alert_is_cleared_when_its_mentions_go_away(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as store:
        rows = [Row(f"x:f{d}-{j}", "Acme", "brand", at(d, j)) for d in range(40) for j in range(10)]
        rows += [Row(f"x:spike-{j}", "Acme", "brand", at(35, j)) for j in range(60)]
        insert_rows(store.conn, rows)
        settings, today = make_settings(), START + timedelta(days=39)
        assert detect_spikes(store, settings, today=today)["raised"] == 1
        assert store.conn.execute("SELECT alert_id, observed FROM alerts").fetchall() == [
            ("volume:Acme:2024-02-05", 70.0)
        ]
        store.conn.execute("DELETE FROM mention_topics WHERE mention_id LIKE 'x:spike-%'")
        assert detect_spikes(store, settings, today=today)["cleared"] == 1
        assert store.conn.execute("SELECT count(*) FROM alerts").fetchall()[0][0] == 0


# -- views ----------------------------------------------------------------------


def view_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "v.duckdb")
    rows = [
        Row(
            f"x:a{d}-{j}",
            "Acme",
            "brand",
            at(d, j * 10),
            "positive" if j % 3 else "negative",
            author_id=f"x:u{j % 4}",
            likes=j,
        )
        for d in range(10)
        for j in range(3 + d % 4)
    ]
    rows += [
        Row(f"x:g{d}-{j}", "Globex", "competitor", at(d, j * 10), "neutral", author_id=f"x:v{j}")
        for d in range(0, 10, 2)
        for j in range(5)
    ]
    rows += [Row("x:both", "Acme", "brand", at(3)), Row("x:both", "Globex", "competitor", at(3))]
    rows += [Row(f"x:own{d}", "Acme", "brand", at(d), "positive", is_own=True, likes=1000) for d in range(10)]
    rows += [Row(f"x:fr{d}", "Acme", "brand", at(d), "negative", supported=False) for d in range(10)]
    insert_rows(store.conn, rows)
    create_views(store.conn)
    return store


def test_share_of_voice_shares_sum_to_one_per_period(tmp_path: Path) -> None:
    with view_store(tmp_path) as store:
        sums = store.conn.execute(
            "SELECT grain, period_start, sum(share_of_voice), sum(share_of_authors), sum(share_of_engagement) "
            "FROM share_of_voice GROUP BY ALL"
        ).fetchall()
        assert {g for g, *_ in sums} == {"day", "week"}
        for _, _, *shares in sums:
            assert shares == pytest.approx([1.0, 1.0, 1.0])
        # own posts are not voice: 2024-01-02 has 4 Acme mentions by others, 1 non-English, no Globex
        day2 = store.conn.execute(
            "SELECT topic, mentions, share_of_voice FROM share_of_voice WHERE grain = 'day' "
            "AND period_start = DATE '2024-01-02' ORDER BY topic"
        ).fetchall()
        assert day2 == [("Acme", 5, 1.0), ("Globex", 0, 0.0)]


def test_daily_sentiment_counts_unsupported_but_leaves_them_out_of_averages(tmp_path: Path) -> None:
    with view_store(tmp_path) as store:
        row = store.conn.execute(
            "SELECT mentions, scored, unsupported, positive, neutral, negative, avg_compound, net_sentiment "
            "FROM daily_sentiment WHERE day = DATE '2024-01-01' AND topic = 'Acme'"
        ).fetchall()[0]
        # 3 English mentions (1 negative, 2 positive) + 1 French negative; own post excluded
        assert row[:6] == (4, 3, 1, 2, 0, 1)
        assert row[6] == pytest.approx((0.6 + 0.6 - 0.6) / 3)
        assert row[7] == pytest.approx(1 / 3)


def test_every_view_column_is_documented_with_its_type(tmp_path: Path) -> None:
    documented = documented_views()
    with view_store(tmp_path) as store:
        for name in VIEWS:
            actual = [
                (c, "TIMESTAMPTZ" if t == "TIMESTAMP WITH TIME ZONE" else t)
                for c, t in store.conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                    "ORDER BY ordinal_position",
                    [name],
                ).fetchall()
            ]
            assert documented.get(name) == actual, name


def documented_views() -> dict[str, list[tuple[str, str]]]:
    """The same table format as docs/schema.md (`### name` then `| column | TYPE |` rows)."""
    views: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if heading := re.match(r"^### (\w+)\s*$", line):
            current = heading.group(1)
            views[current] = []
        elif current and (row := re.match(r"^\| (\w+) \| ([A-Z]+) \|", line)):
            views[current].append((row.group(1), row.group(2)))
    return views


# -- KPIs -------------------------------------------------------------------------


def test_every_kpi_name_has_a_definition() -> None:
    assert set(KPI_SQL) == set(KPI_NAMES)


def weekly_rows(first: int, days: int, tag: str, per_day: int = 4) -> list[Row]:
    """Per day: `per_day` Acme mentions (one negative) and 2 Globex mentions."""
    rows = []
    for d in range(first, first + days):
        rows += [
            Row(
                f"x:{tag}a{d}-{j}", "Acme", "brand", at(d, j), "negative" if j == 0 else "positive", author_id=f"x:p{j}"
            )
            for j in range(per_day)
        ]
        rows += [Row(f"x:{tag}g{d}-{j}", "Globex", "competitor", at(d, j)) for j in range(2)]
    return rows


def test_baseline_is_recorded_once_and_values_are_measured_against_it(tmp_path: Path) -> None:
    kpis = ["share_of_voice", "net_sentiment", "mentions", "engaged_authors"]
    settings = make_settings(kpis=kpis)
    with Store(tmp_path / "k.duckdb") as store:
        conn = store.conn
        insert_rows(conn, weekly_rows(0, 20, "a"))
        early = update_kpis(store, settings, today=START + timedelta(days=20))
        assert early["baseline_status"].startswith("pending")  # 28 days have not passed yet
        assert conn.execute("SELECT count(*) FROM kpi_baselines").fetchall()[0][0] == 0
        insert_rows(conn, weekly_rows(20, 30, "b", per_day=6))
        report = update_kpis(store, settings, today=START + timedelta(days=50))
        assert report["recorded"] == sorted(kpis)
        baseline = dict(conn.execute("SELECT kpi, value FROM kpi_baselines").fetchall())
        # first 28 days: 20 days x 4 + 8 days x 6 Acme mentions; Acme share = 128 / (128 + 56)
        assert baseline["mentions"] == 128
        assert baseline["share_of_voice"] == pytest.approx(128 / 184)
        assert baseline["net_sentiment"] == pytest.approx((128 - 2 * 28) / 128)
        assert baseline["engaged_authors"] == 6
        assert conn.execute("SELECT DISTINCT period_start, period_end FROM kpi_baselines").fetchall() == [
            (START, START + timedelta(days=27))
        ]
        values = conn.execute("SELECT kpi, period_start, value, baseline, change FROM kpi_values").fetchall()
        assert len(values) == 4 * 8  # ISO weeks from 2024-01-01 to the week of 2024-02-20
        for kpi, _, value, base, change in values:
            assert base == baseline[kpi] and change == pytest.approx(value - base)
        assert (
            conn.execute(
                "SELECT value FROM kpi_values WHERE kpi = 'mentions' AND period_start = DATE '2024-01-22'"
            ).fetchall()[0][0]
            == 6 * 7
        )

        recorded = conn.execute("SELECT * FROM kpi_baselines ORDER BY kpi").fetchall()
        insert_rows(conn, weekly_rows(0, 5, "late"))  # late data inside the baseline period
        again = update_kpis(store, settings, today=START + timedelta(days=57))
        assert again["recorded"] == [] and again["baseline_status"] == "kept"
        assert conn.execute("SELECT * FROM kpi_baselines ORDER BY kpi").fetchall() == recorded


def test_a_changed_baseline_period_needs_an_explicit_rebaseline(tmp_path: Path) -> None:
    kpis = ["mentions", "share_of_voice"]
    with Store(tmp_path / "k.duckdb") as store:
        conn = store.conn
        insert_rows(conn, weekly_rows(0, 50, "a"))
        today = START + timedelta(days=50)
        update_kpis(store, make_settings(kpis=kpis), today=today)
        moved = make_settings(kpis=kpis, baseline={"start": "2024-01-08", "end": "2024-01-21"})
        with pytest.raises(ConfigError, match="rebaseline"):
            update_kpis(store, moved, today=today)
        assert conn.execute("SELECT DISTINCT period_start FROM kpi_baselines").fetchall() == [(START,)]
        report = update_kpis(store, moved, today=today, rebaseline=True)
        assert report["recorded"] == sorted(kpis)
        assert conn.execute(
            "SELECT kpi, period_start, period_end, value FROM kpi_baselines ORDER BY kpi"
        ).fetchall() == [
            ("mentions", date(2024, 1, 8), date(2024, 1, 21), 56.0),
            ("share_of_voice", date(2024, 1, 8), date(2024, 1, 21), pytest.approx(4 / 6)),
        ]
        assert conn.execute("SELECT DISTINCT baseline FROM kpi_values WHERE kpi = 'mentions'").fetchall() == [(56.0,)]


def post(native: str, handle: str, minutes: int, text: str, parent: str | None = None, lang: str = "en") -> Mention:
    return Mention(
        source="x",
        id=native,
        created_at=datetime(2024, 3, 4, 10, tzinfo=UTC) + timedelta(minutes=minutes),
        author=AuthorRef(id=f"id-{handle}", handle=handle),
        text=text,
        parent_id=parent,
        lang=lang,
        metrics=Metrics(likes=3),
    )


def test_response_rate_and_median_response_time(tmp_path: Path) -> None:
    settings = make_settings(kpis=["response_rate", "median_response_minutes", "engaged_authors", "engagement"])
    with Store(tmp_path / "r.duckdb") as store:
        rules = prepare(store, settings)
        mentions = [
            post("c1", "bob", 0, "acme broke my grinder, terrible service"),  # a complaint
            post("r1", "acme", 30, "So sorry Bob, we are on it", parent="c1"),  # answered in 30 minutes
            post("q1", "carol", 60, "does acme ship to Canada?"),  # a question
            post("r2", "acme", 60 + 73 * 60, "Yes we do!", parent="q1"),  # too late: not a response
            post("p1", "dave", 90, "acme makes lovely coffee"),  # praise: nothing to answer
            post("f1", "eve", 120, "acme c'est nul", lang="fr"),  # non-English: no sentiment verdict
        ]
        store.write_transaction(lambda conn: load_batch(conn, mentions_to_batch(mentions), "test-run", rules), "test")
        labels = {
            "x:c1": ("negative", True),
            "x:q1": ("neutral", True),
            "x:p1": ("positive", True),
            "x:f1": ("negative", False),
            "x:r1": ("positive", True),
            "x:r2": ("positive", True),
        }
        for mid, (label, supported) in labels.items():
            store.conn.execute(
                "INSERT INTO sentiment (mention_id, compound, pos, neu, neg, label, scorer, scored_at, "
                "supported) VALUES (?, 0, 0, 1, 0, ?, 'test', now(), ?)",
                [mid, label, supported],
            )
        update_kpis(store, settings, today=date(2024, 3, 20))
        week = dict(
            store.conn.execute("SELECT kpi, value FROM kpi_values WHERE period_start = DATE '2024-03-04'").fetchall()
        )
        assert week["response_rate"] == 0.5
        assert week["median_response_minutes"] == 30.0
        assert week["engaged_authors"] == 4  # bob, carol, dave, eve
        assert week["engagement"] == 6  # likes on the two own replies
