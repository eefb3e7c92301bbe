"""Sample sizes and 95 % intervals (docs/analytics-metrics.md#sample-sizes): the SQL against values
computed by hand here, and the views of a real store against the same formulas."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import duckdb
import pytest
from conftest import run_in_process

from analytics.definitions import T975, Z95, net_interval_sql, t975_sql, t_interval_sql, wilson_sql


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, written out from its textbook form."""
    p, z = k / n, Z95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def t_mean(values: list[float], lo: float = -1.0, hi: float = 1.0) -> tuple[float, float]:
    n, mean, sd = len(values), statistics.fmean(values), statistics.stdev(values)
    half = T975[n - 2] * sd / math.sqrt(n)  # n - 1 degrees of freedom, n <= 31 here
    return max(lo, mean - half), min(hi, mean + half)


def one(sql: str) -> tuple:
    return duckdb.connect().execute(sql).fetchone()


@pytest.mark.parametrize("k, n", [(7, 20), (0, 12), (12, 12), (1, 1), (33, 70), (450, 1000)])
def test_wilson_matches_the_formula(k: int, n: int) -> None:
    low, high = one(f"SELECT {wilson_sql(str(k), str(n), 'low')}, {wilson_sql(str(k), str(n), 'high')}")
    assert (low, high) == pytest.approx(wilson(k, n), abs=1e-12)
    if (k, n) == (7, 20):  # the published value (Wilson 1927; e.g. statsmodels proportion_confint)
        assert (low, high) == pytest.approx((0.1812, 0.5671), abs=5e-5)


def test_wilson_of_no_observation_is_null() -> None:
    assert one(f"SELECT {wilson_sql('0', '0', 'low')}, {wilson_sql('0', '0', 'high')}") == (None, None)


@pytest.mark.parametrize(
    "df, expected", [(1, 12.706), (9, 2.262), (30, 2.042), (40, 2.021), (120, 1.980), (1000, 1.962)]
)
def test_t_quantiles(df: int, expected: float) -> None:
    assert one(f"SELECT {t975_sql(str(df))}")[0] == pytest.approx(expected, abs=1.5e-3)


def test_net_sentiment_interval_is_the_t_interval_of_plus_one_zero_minus_one() -> None:
    positive, negative, neutral = 6, 2, 2
    values = [1.0] * positive + [-1.0] * negative + [0.0] * neutral
    got = one(
        f"SELECT {net_interval_sql(str(positive), str(negative), '10', 'low')}, "
        f"{net_interval_sql(str(positive), str(negative), '10', 'high')}"
    )
    assert got == pytest.approx(t_mean(values), abs=1e-9)
    assert one(f"SELECT {net_interval_sql('1', '0', '1', 'low')}") == (None,)  # one value: no interval


def test_a_mean_interval_is_clamped_to_the_scale() -> None:
    values = [0.9, 0.95, 0.99]
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    high = one(f"SELECT {t_interval_sql(str(mean), str(sd), '3', 'high')}")[0]
    assert high == 1.0 and t_mean(values)[1] == 1.0


CONFIG = """
[organization]
name = "Acme"
query = "acme"
[[organization.competitors]]
name = "Globex"
query = "globex"
[store]
path = "store.duckdb"
[analytics]
detect_language = false
"""


def acme_sentiment(conn: duckdb.DuckDBPyConnection, column: str) -> list:
    """Each Acme mention's `label` or `compound` about Acme, as the views read it."""
    return [
        r[0]
        for r in conn.execute(
            f"SELECT coalesce(ts.{column}, s.{column}) FROM mention_topics t JOIN sentiment s USING (mention_id) "
            "LEFT JOIN topic_sentiment ts ON ts.mention_id = t.mention_id AND ts.topic = t.topic "
            "WHERE t.topic = 'Acme'"
        ).fetchall()
    ]


def test_the_views_carry_n_and_the_intervals_of_their_rates(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    texts = [  # distinct wordings: near copies would count once
        "I love acme, wonderful coffee",
        "Great beans from acme this morning",
        "acme makes the best espresso in town",
        "So happy with my new acme grinder",
        "Brilliant service at the acme shop today",
        "acme cold brew is excellent",
        "acme is awful and terrible, I want a refund",
        "Horrible acme delivery, the box was crushed",
        "The acme store opens at nine",
        "acme has a shop on Main Street",
        "globex opened a shop",
        "globex released a kettle",
        "A globex ad on the radio",
        "globex prices went up",
        "Saw a globex truck downtown",
    ]
    docs = [
        {
            "source": "x",
            "id": str(i),
            "created_at": "2026-09-08T10:00:00Z",
            "author": {"id": f"a{i}", "handle": f"a{i}"},
            "text": text,
            "lang": "en",
        }
        for i, text in enumerate(texts)
    ]
    (tmp_path / "listener.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    for args in (("import", str(tmp_path / "m.jsonl")), ("analyze", "--as-of", "2026-09-13")):
        code, _, err = run_in_process(capsys, "--config", str(tmp_path / "listener.toml"), *args)
        assert code == 0, err
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as conn:
        sov = conn.execute(
            "SELECT mentions, n, ci_low, ci_high, net_sentiment, net_sentiment_n, net_sentiment_ci_low, "
            "net_sentiment_ci_high FROM share_of_voice WHERE grain = 'week' AND topic = 'Acme'"
        ).fetchone()
        labels = acme_sentiment(conn, "label")
        daily = conn.execute(
            "SELECT n, ci_low, ci_high, avg_compound, avg_compound_ci_low, avg_compound_ci_high "
            "FROM daily_sentiment WHERE topic = 'Acme'"
        ).fetchone()
        compounds = acme_sentiment(conn, "compound")
    assert sov[:2] == (10, 15) and sov[2:4] == pytest.approx(wilson(10, 15), abs=1e-9)
    values = [{"positive": 1.0, "negative": -1.0}.get(label, 0.0) for label in labels]
    assert sov[5] == 10 and sov[4] == pytest.approx(statistics.fmean(values))
    assert sov[6:8] == pytest.approx(t_mean(values), abs=1e-9)
    assert daily[0] == 10 and daily[1:3] == pytest.approx(t_mean(values), abs=1e-9)
    assert daily[3] == pytest.approx(statistics.fmean(compounds))
    assert daily[4:6] == pytest.approx(t_mean(compounds), abs=1e-9)
