"""Issue 11, property: random canonical records (any Unicode, any date, any type in any field) go
through `import` and `analyze`; analyze always completes and every good record is kept."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from listener import pipeline
from listener.core.models import CANONICAL_FIELDS
from listener.core.settings import settings_from_dict
from listener.ingest.importer import read_batches
from listener.store.connection import Store

FIELDS = CANONICAL_FIELDS  # the one canonical field list
NOW = datetime.now(UTC)

anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "infinity",
            "-infinity",
            "9999-12-31T23:59:59Z",
            "0001-01-01",
            "10000-01-01T00:00:00Z",
            "2026-11-20T09:00:00+25:00",
            "0044-03-15 (BC) 00:00:00",
            "",
            "null",
            "NaN",
            "1e3",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
clean_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@st.composite
def good_record(draw: Any, n: int) -> dict[str, Any]:
    created = NOW - timedelta(seconds=draw(st.integers(0, 3 * 365 * 86400)))
    record: dict[str, Any] = {
        "source": draw(st.sampled_from(["x", "reddit", "rss", "bluesky"])),
        "id": f"good-{n}",
        "created_at": created.isoformat(),
        "text": draw(clean_text) + draw(st.sampled_from(["", " acme", " Globex ☕", " ACME-branded!"])),
        "author": {"id": str(draw(st.integers(0, 20)))},
    }
    if draw(st.booleans()):
        record["parent_id"] = f"good-{draw(st.integers(0, max(n - 1, 0)))}"
    if draw(st.booleans()):
        record["mentions"] = draw(st.lists(st.sampled_from(["acme", "globex", "@bob", "carol"]), max_size=3))
    if draw(st.booleans()):
        record["metrics"] = {"likes": draw(st.integers(0, 10**6)), "reposts": draw(st.integers(0, 1000))}
    return record


@st.composite
def hostile_record(draw: Any) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(anything)  # not even an object
    keys = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=len(FIELDS)))
    return {key: draw(anything) for key in keys}


@st.composite
def mixed_file(draw: Any) -> tuple[list[str], set[str]]:
    goods = [draw(good_record(n)) for n in range(draw(st.integers(1, 12)))]
    bads = draw(st.lists(hostile_record(), max_size=15))
    lines = [json.dumps(r) for r in goods] + [json.dumps(r, allow_nan=True) for r in bads]
    order = draw(st.permutations(range(len(lines))))
    return [lines[i] for i in order], {f"{r['source']}:{r['id']}" for r in goods}


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mixed_file())
def test_random_records_never_stop_analyze_and_good_ones_are_kept(case: tuple[list[str], set[str]]) -> None:
    lines, good_ids = case
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "in.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        settings = settings_from_dict(
            {
                "organization": {
                    "name": "Acme",
                    "brand_terms": ["acme"],
                    "competitors": [{"name": "Globex", "terms": ["globex"]}],
                },
                "store": {"path": str(root / "listener.duckdb")},
                "analytics": {"sentiment_workers": 1},
            }
        )
        with Store(settings.store_path) as store:
            pipeline.load_batches(store, settings, read_batches(path, "jsonl"), "prop")
            pipeline.analyze(store, settings)
            kept = {mid for (mid,) in store.conn.execute("SELECT mention_id FROM mentions").fetchall()}
            scored = store.conn.execute(
                "SELECT count(*) FROM mentions ANTI JOIN sentiment USING (mention_id)"
            ).fetchone()
    assert good_ids <= kept
    assert scored == (0,)
