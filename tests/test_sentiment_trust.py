"""Trust in sentiment: evaluate a labelled sample; domain lexicon overrides and re-scoring."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import SHARED, run_cli, shared_missing, write_config
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from analytics.sentiment.score import score_pending, scorer_label
from analytics.sentiment.vader import PARALLEL_MIN_TEXTS, FastVader, score_texts
from listener.store.connection import Store

GROUND_TRUTH = SHARED / "sentiment"
ROWS = [
    ("I love this coffee, it is wonderful", 3.5),
    ("This is the worst service ever, awful", -3.2),
    ("The shop opens at nine", 0.0),
    ("Pretty good but a bit pricey", 1.2),
    ("Terrible, I hate it", -3.8),
    ("Great taste and friendly staff!", 3.0),
]


def _csv(path: Path, header: list[str], rows: list[tuple[object, ...]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_evaluate_numeric_csv_reports_r_f1_and_bad_lines(tmp_path: Path):
    path = _csv(
        tmp_path / "sample.csv",
        ["id", "body", "stars"],
        [(i, text, rating) for i, (text, rating) in enumerate(ROWS)]
        + [(90, "no rating here", ""), (91, "rated in words", "great")],
    )
    result = run_cli("sentiment", "evaluate", str(path), "--text-column", "body", "--label-column", "stars")
    assert result.returncode == 0, result.stderr
    assert "line 8: empty label" in result.stdout and "line 9: label 'great' is not a number" in result.stdout
    assert "Pearson r (rating vs compound): 0.9" in result.stdout and "macro-F1: 1.000" in result.stdout
    report = json.loads(
        run_cli("sentiment", "evaluate", str(path), "--text-column", "body", "--label-column", "stars", "--json").stdout
    )
    assert report["rows"] == 6 and report["rejected"] == 2 and report["scale"] == [-4.0, 4.0]
    assert report["confusion"] == [[2, 0, 0], [0, 1, 0], [0, 0, 3]] and report["scorer"] == "vader 3.3.2"


def test_evaluate_categorical_tsv(tmp_path: Path):
    labels = ["Positive", "neg", "0", "pos", "-1", "POSITIVE"]
    path = _csv(
        tmp_path / "sample.tsv", ["text", "label"], [(t, lab) for (t, _), lab in zip(ROWS, labels)], delimiter="\t"
    )
    report = json.loads(run_cli("sentiment", "evaluate", str(path), "--json").stdout)
    assert report["layout"] == "tsv" and report["labels"] == "categorical" and report["pearson_r"] is None
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0


def test_evaluate_exit_codes(tmp_path: Path):
    missing = run_cli("sentiment", "evaluate", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    path = _csv(tmp_path / "s.csv", ["text", "label"], [("good", "positive")])
    no_column = run_cli("sentiment", "evaluate", str(path), "--label-column", "stars")
    assert no_column.returncode == 2 and "no column 'stars'" in no_column.stderr
    unusable = _csv(tmp_path / "bad.csv", ["text", "label"], [("good", "maybe"), ("", "positive")])
    result = run_cli("sentiment", "evaluate", str(unusable))
    assert result.returncode == 1 and "line 2:" in result.stdout and "line 3: empty text" in result.stdout


@pytest.mark.skipif(not GROUND_TRUTH.is_dir(), reason=shared_missing("sentiment/ (VADER's human-rated ground truth)"))
def test_evaluate_reproduces_figures_on_vader_ground_truth():
    result = run_cli("sentiment", "evaluate", str(GROUND_TRUTH / "amazonReviewSnippets_GroundTruth.txt"), "--json")
    report = json.loads(result.stdout)
    assert report["layout"] == "ground-truth" and report["rows"] == 3708 and report["rejected"] == 0
    assert report["pearson_r"] == pytest.approx(0.590, abs=0.005)
    assert report["macro_f1"] == pytest.approx(0.533, abs=0.005)
    text = run_cli("sentiment", "evaluate", str(GROUND_TRUTH / "movieReviewSnippets_GroundTruth.txt")).stdout
    assert "Pearson r (rating vs compound): 0.427" in text and "macro-F1: 0.408" in text


def test_empty_overrides_keep_exact_vader_and_overrides_change_scores():
    stock = SentimentIntensityAnalyzer()
    text = "That trick was sick, so sick!!"
    want = stock.polarity_scores(text)
    assert FastVader({}).polarity_scores(text) == want
    assert score_texts([text], lexicon={}) == [(want["compound"], want["pos"], want["neu"], want["neg"])]
    skate = FastVader({"Sick": 2.0}).polarity_scores(text)
    assert want["compound"] < 0 < skate["compound"]
    stock.lexicon["sick"] = 2.0  # the same override written into VADER's own lexicon
    assert skate == stock.polarity_scores(text)
    assert scorer_label() == "vader 3.3.2"
    assert scorer_label({"sick": 2.0}) == scorer_label({"SICK ": 2}) != scorer_label({"sick": 1.5})
    assert scorer_label({"sick": 2.0}).startswith("vader 3.3.2+lexicon:") and len(scorer_label({"a": 1})) == 28
    with pytest.raises(ValueError, match="single words"):
        scorer_label({"not bad": 2.0})


def test_pool_path_passes_overrides_to_workers():
    texts = [f"sick kickflip #{i}" for i in range(PARALLEL_MIN_TEXTS + 500)]
    pooled = score_texts(texts, workers=2, chunk_size=5000, lexicon={"sick": 2.0})
    assert pooled == score_texts(texts, workers=1, lexicon={"sick": 2.0})
    assert pooled[0][0] > 0


def test_changed_overrides_rescore_on_next_analyze(tmp_path: Path):
    with Store(tmp_path / "listener.duckdb") as store:
        conn = store.conn
        for i, text in enumerate(["that ramp is sick", "sick board, love it", "nothing to see"]):
            conn.execute(
                "INSERT INTO mentions (mention_id, source, native_id, text, created_at, collected_at, "
                "updated_at) VALUES (?, 'x', ?, ?, now(), now(), now())",
                [f"x:{i}", str(i), text],
            )
        assert score_pending(store, workers=1) == (3, 3)
        plain = dict(conn.execute("SELECT mention_id, compound FROM sentiment").fetchall())
        assert score_pending(store, workers=1) == (0, 0)
        assert score_pending(store, workers=1, lexicon={"sick": 2.0}) == (3, 3)
        rows = conn.execute("SELECT mention_id, compound, scorer FROM sentiment ORDER BY 1").fetchall()
        assert {scorer for _, _, scorer in rows} == {scorer_label({"sick": 2.0})}
        assert rows[0][1] > 0 > plain["x:0"] and rows[2][1] == plain["x:2"]
        assert score_pending(store, workers=1, lexicon={"sick": 2.0}) == (0, 0)
        assert score_pending(store, workers=1) == (3, 3)  # overrides removed: back to plain VADER
        assert dict(conn.execute("SELECT mention_id, compound FROM sentiment").fetchall()) == plain


def test_evaluate_uses_config_lexicon(tmp_path: Path):
    config = write_config(tmp_path, extra="[analytics]\nlexicon = { sick = 2.0 }\n")
    path = _csv(tmp_path / "s.csv", ["text", "label"], [("that ramp is sick", "positive")])
    report = json.loads(run_cli("--config", str(config), "sentiment", "evaluate", str(path), "--json").stdout)
    assert report["scorer"] == scorer_label({"sick": 2.0}) and report["accuracy"] == 1.0
