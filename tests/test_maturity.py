"""The maturity classifier: five organizations, one per rung, through the real CLI; edge cases in-process.

Scenario data: tests/fixtures/maturity/orgs.py (canonical-format mention records).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FIXTURES, built_once, run_cli, table_rows

sys.path.insert(0, str(FIXTURES / "maturity"))
import orgs  # noqa: E402
from orgs import AS_OF, FIRST_MONDAY, analyzed, assess, metric, write_org_config  # noqa: E402

from analytics.maturity.classifier import METRICS, validate_thresholds  # noqa: E402
from listener.core.errors import ConfigError  # noqa: E402
from listener.core.settings import Maturity  # noqa: E402

SCENARIOS = {
    "Monitor": orgs.monitor_org,
    "Discover": orgs.discover_org,
    "Share": orgs.share_org,
    "Participate": orgs.participate_org,
    "Co-create": orgs.cocreate_org,
}
# Per rung: metrics that must show (value, pass) in the evidence.
EXPECTED = {
    "Monitor": {"brand_mentions": (3, True), "history_weeks": (1, False), "channels": (1, False)},
    "Discover": {
        "history_weeks": (8, True),
        "channels": (2, True),
        "competitor_mentions": (16, True),
        "own_accounts_active": (0, False),
        "original_posts_per_week": (0.0, False),
    },
    "Share": {
        "original_posts_per_week": (2.0, True),
        "active_weeks_share": (1.0, True),
        "reply_share": (0.0, False),
        "people_answered": (0, False),
    },
    "Participate": {
        "people_answered": (11, True),
        "community_presence": (1.0, True),
        "median_response_minutes": (120, True),
        "multi_turn_threads": (0, False),
        "customer_amplifications": (0, False),
    },
    "Co-create": {
        "multi_turn_threads": (3, True),
        "customer_amplifications": (3, True),
        "peer_to_peer_replies": (3, True),
        "feedback_threads": (4, True),
    },
}


def _build_scenarios(root: Path) -> None:
    """Each organization imported, analyzed and assessed through the CLI, in a folder of its own."""

    def flow(rung: str) -> None:
        tmp = root / rung.lower()
        cfg = str(write_org_config(tmp))
        file = SCENARIOS[rung]().write(tmp / "mentions.jsonl")
        steps = [
            run_cli("--config", cfg, "import", str(file)),
            run_cli("--config", cfg, "analyze", "--as-of", str(AS_OF)),
        ]
        steps.append(run_cli("--config", cfg, "maturity", "--json", "--as-of", str(AS_OF)))
        for step in steps:
            assert step.returncode == 0, step.stderr
        (tmp / "maturity.json").write_text(steps[-1].stdout, encoding="utf-8")

    for rung in SCENARIOS:  # made here, not in the threads (two threads making one parent lose each other's)
        (root / rung.lower()).mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(flow, SCENARIOS))


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The five organizations, built once per test session (`built_once`); this worker's copies."""
    _, root = built_once(tmp_path_factory, "maturity-scenarios", _build_scenarios)
    return {
        rung: {
            "cfg": str(root / rung.lower() / "listener.toml"),
            "db": root / rung.lower() / "listener.duckdb",
            "json": json.loads((root / rung.lower() / "maturity.json").read_text(encoding="utf-8")),
        }
        for rung in SCENARIOS
    }


@pytest.mark.parametrize("rung", list(SCENARIOS))
def test_each_organization_lands_on_its_rung_with_the_evidence(scenarios: dict, rung: str) -> None:
    result = scenarios[rung]["json"]
    index = list(SCENARIOS).index(rung) + 1
    assert (result["level"], result["level_index"]) == (rung, index)
    assert [r["pass"] for r in result["rungs"]][:index] == [True] * index
    if index < 5:
        assert not result["rungs"][index]["pass"] and result["rungs"][index]["reason"]
        assert result["next_rung"] == list(SCENARIOS)[index] and result["recommendations"]
    for name, (value, passed) in EXPECTED[rung].items():
        row = metric(result, name)
        assert (row["value"], row["pass"]) == (pytest.approx(value, abs=0.01), passed), row
    assert set(result["scores"]) == set(SCENARIOS) and all(0 <= s <= 1 for s in result["scores"].values())
    assert (result["window_start"], result["window_end"]) == (str(AS_OF - timedelta(days=89)), str(AS_OF))
    # `listener analyze --as-of` recorded the same assessment
    stored = table_rows(
        scenarios[rung]["db"],
        "SELECT level, level_index, window_end, scores->>'$.Monitor', json_array_length(recommendations) "
        "FROM maturity_assessments",
    )
    assert stored == [(rung, index, AS_OF, str(result["scores"]["Monitor"]), len(result["recommendations"]))]


def test_next_steps_are_filled_with_data(scenarios: dict) -> None:
    steps = {s["metric"]: s for s in scenarios["Share"]["json"]["recommendations"]}
    assert "r/espresso discusses you weekly" in steps["community_presence"]["text"]
    assert "never posted there" in steps["community_presence"]["text"]
    assert steps["top_influencers_answered"]["text"].startswith(
        "10 of your top 10 influencers have never been answered"
    )
    unanswered = steps["response_rate"]
    assert unanswered["practice"] == "respond positively" and unanswered["data"]["urls"]
    assert all(u.startswith("https://") for u in unanswered["data"]["urls"])
    cocreate = {s["metric"] for s in scenarios["Participate"]["json"]["recommendations"]}
    assert {"multi_turn_threads", "customer_amplifications", "peer_to_peer_replies"} <= cocreate


def test_text_report_shows_level_evidence_table_and_next_steps(scenarios: dict) -> None:
    out = run_cli("--config", scenarios["Share"]["cfg"], "maturity", "--as-of", str(AS_OF))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("maturity: Share (level 3 of 5)")
    assert "4. Participate: FAIL" in text and "reply_share" in text and "threshold" in text
    assert "next steps toward Participate:" in text and "https://" in text
    # 16 own posts in the window: too few to name a model or a path (min_own_posts = 20)
    assert "organizational model: not enough data (16 own posts in the window, 20 needed to tell)" in text
    assert "path: not enough data" in text


def test_the_model_and_path_need_min_own_posts() -> None:
    settings = analyzed("share")
    assert assess(settings)["org_model"]["model"] == "not enough data"
    fewer = settings.model_copy(update={"analytics": settings.analytics.model_copy(update={"min_own_posts": 16})})
    result = assess(fewer)
    assert result["org_model"]["model"] == "centralised" and result["path"]["path"] == "proactive"


def test_as_of_uses_only_data_up_to_that_day_and_record_stores_it(scenarios: dict) -> None:
    first_week_end = FIRST_MONDAY + timedelta(days=6)
    cfg, db = scenarios["Co-create"]["cfg"], scenarios["Co-create"]["db"]
    out = run_cli("--config", cfg, "maturity", "--json", "--record", "--as-of", str(first_week_end))
    assert out.returncode == 0, out.stderr
    early = json.loads(out.stdout)
    assert early["window_end"] == str(first_week_end)
    assert metric(early, "history_weeks")["value"] == 1 and early["level"] == "Monitor"
    assert any("Discover not reached" in limit for limit in early["limits"])
    rows = table_rows(db, "SELECT level, window_end FROM maturity_assessments ORDER BY window_end")
    assert rows == [("Monitor", first_week_end), ("Co-create", AS_OF)]


# -- edge cases, in-process --------------------------------------------------------------------


def test_no_own_accounts_stays_at_discover_with_the_reason() -> None:
    result = assess(analyzed("discover", own=False))
    assert result["level"] == "Discover"
    assert any("no own accounts" in limit for limit in result["limits"])
    assert result["org_model"]["model"] == "unknown" and result["path"]["path"] == "unknown"
    assert "No own accounts are configured" in result["recommendations"][0]["text"]


def test_broadcaster_with_huge_volume_and_no_replies_stays_at_share() -> None:
    result = assess(analyzed("broadcaster"))
    assert result["level"] == "Share"
    assert metric(result, "original_posts_per_week")["value"] == pytest.approx(140)
    assert metric(result, "reply_share")["value"] == 0 and not metric(result, "reply_share")["pass"]
    assert result["path"]["path"] == "proactive" and result["org_model"]["model"] == "centralised"


def test_one_reply_a_month_is_not_participate() -> None:
    result = assess(analyzed("one_reply_a_month"))
    assert result["level"] == "Share"
    assert metric(result, "own_replies_per_week")["value"] < 1 and not metric(result, "own_replies_per_week")["pass"]
    assert not metric(result, "people_answered")["pass"]


def test_help_desk_that_never_posts_is_reactive() -> None:
    result = assess(analyzed("help_desk"))
    assert result["path"]["path"] == "reactive"
    assert result["path"]["measures"]["reply_share"] == 1.0
    assert result["level"] == "Discover"  # the ladder: no original content, no Share, whatever the answers
    assert metric(result, "response_rate")["pass"] and metric(result, "people_answered")["pass"]
    assert "original posts" in result["recommendations"][0]["text"]


def test_empty_store_is_not_even_monitor(tmp_path: Path) -> None:
    result = assess(orgs.build_store(tmp_path, orgs.Org(), analyze=False))
    assert (result["level"], result["level_index"]) == ("None", 0)
    assert result["next_rung"] == "Monitor" and "No brand mentions" in result["recommendations"][0]["text"]


def test_a_source_failing_the_whole_window_fails_monitor(tmp_path: Path) -> None:
    from listener.store.connection import Store

    settings = orgs.build_store(tmp_path, orgs.monitor_org(), analyze=False)
    with Store(settings.store_path) as store:
        for days, status in ((40, "failed"), (2, "failed"), (10, "ok")):
            source = "reddit" if status == "ok" else "x"
            store.conn.execute(
                "INSERT INTO runs (run_id, source, command, started_at, status, error) "
                "VALUES (?, ?, 'run', ?, ?, 'HTTP 401 from X')",
                [f"r{days}", source, f"{AS_OF - timedelta(days=days)} 03:15:00+00", status],
            )
    result = assess(settings)
    assert metric(result, "failing_sources")["value"] == 1 and result["level"] == "None"
    assert "x failed on all 2 runs" in result["recommendations"][0]["text"]


def test_thresholds_can_be_changed_in_config() -> None:
    settings = analyzed("participate")
    strict = settings.model_copy(update={"maturity": Maturity(thresholds={"people_answered": 50})})
    result = assess(strict)
    assert result["level"] == "Share"
    assert metric(result, "people_answered")["threshold"] == 50
    lenient = settings.model_copy(
        update={"maturity": Maturity(thresholds={m.name: 0 for m in METRICS if m.rung == "Co-create"})}
    )
    assert assess(lenient)["level"] == "Co-create"


def test_unknown_or_out_of_range_thresholds_are_config_errors(tmp_path: Path) -> None:
    settings = analyzed("share")
    with pytest.raises(ConfigError, match="'maturity.thresholds.reply_shar'.*did you mean 'reply_share'"):
        validate_thresholds(settings.model_copy(update={"maturity": Maturity(thresholds={"reply_shar": 0.1})}))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        validate_thresholds(settings.model_copy(update={"maturity": Maturity(thresholds={"reply_share": 2})}))
    cfg = write_org_config(tmp_path, extra="[maturity.thresholds]\npeeple_answered = 3\n")
    out = run_cli("--config", str(cfg), "maturity")
    assert out.returncode == 2 and "peeple_answered" in out.stderr and "people_answered" in out.stderr
