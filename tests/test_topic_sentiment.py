"""Sentiment per topic within a post (`topic_sentiment`), on a real store the real commands fill."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import run_in_process

LABELLED = Path(__file__).parent / "data" / "multibrand_sentiment.jsonl"
CONFIG = """
[organization]
name = "Zephyr"
query = "zephyr"
[[organization.competitors]]
name = "Brewtopia"
query = "brewtopia"
[store]
path = "store.duckdb"
"""


def _import(tmp_path: Path, capsys: pytest.CaptureFixture[str], texts: list[str]) -> Path:
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG, encoding="utf-8")
    docs = [
        {
            "source": "x",
            "id": str(i),
            "created_at": "2026-11-20T10:00:00Z",
            "author": {"id": str(i), "handle": f"user{i}"},
            "text": text,
            "lang": "en",
        }
        for i, text in enumerate(texts)
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    for args in (("import", str(tmp_path / "m.jsonl")), ("analyze",)):
        code, _, err = run_in_process(capsys, "--config", str(config), *args)
        assert code == 0, err
    return config


def rows(config: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_contrastive_post_credits_each_brand_with_its_own_clause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _import(
        tmp_path,
        capsys,
        [
            "Brewtopia is awful but Zephyr is wonderful",
            "I love Zephyr and Brewtopia, both great",
            "Zephyr was smooth and delicious; Brewtopia was sour and disappointing",
        ],
    )
    got = {
        (m, t): (label, method)
        for m, t, label, method in rows(config, "SELECT mention_id, topic, label, method FROM topic_sentiment")
    }
    assert got == {
        ("x:0", "Brewtopia"): ("negative", "clauses"),
        ("x:0", "Zephyr"): ("positive", "clauses"),
        ("x:1", "Brewtopia"): ("positive", "post"),  # one clause names both: the post's score for each
        ("x:1", "Zephyr"): ("positive", "post"),
        ("x:2", "Brewtopia"): ("negative", "clauses"),
        ("x:2", "Zephyr"): ("positive", "clauses"),
    }
    # the whole post keeps its one score; the views read the topic's
    assert rows(config, "SELECT label FROM sentiment WHERE mention_id = 'x:0'") == [("positive",)]
    daily = dict(rows(config, "SELECT topic, net_sentiment FROM daily_sentiment"))
    assert daily["Zephyr"] == pytest.approx(1.0)
    assert daily["Brewtopia"] == pytest.approx(-1 / 3)


def test_a_rerun_recomputes_nothing_and_a_retag_starts_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _import(tmp_path, capsys, ["Brewtopia is awful but Zephyr is wonderful"])
    code, out, err = run_in_process(capsys, "--config", str(config), "analyze", "--json")
    assert code == 0, err
    assert json.loads(out)["details"]["topic_sentiment"]["pairs"] == 0
    code, out, err = run_in_process(capsys, "--config", str(config), "analyze", "--retag", "--json")
    assert code == 0, err
    assert json.loads(out)["details"]["topic_sentiment"]["pairs"] == 2


def test_on_a_labelled_multi_brand_set_per_topic_beats_the_whole_post(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    config = _import(tmp_path, capsys, [s["text"] for s in sample])
    topic = {(m, t): label for m, t, label in rows(config, "SELECT mention_id, topic, label FROM topic_sentiment")}
    post = dict(rows(config, "SELECT mention_id, label FROM sentiment"))
    pairs = [(f"x:{i}", brand, label) for i, s in enumerate(sample) for brand, label in s["labels"].items()]
    per_topic = sum(topic[(m, b)] == label for m, b, label in pairs) / len(pairs)
    whole_post = sum(post[m] == label for m, _, label in pairs) / len(pairs)
    print(f"per-topic accuracy {per_topic:.2f} against whole-post {whole_post:.2f} on {len(pairs)} pairs")
    assert len(pairs) == 60
    assert per_topic >= 0.75
    assert per_topic >= whole_post + 0.25
