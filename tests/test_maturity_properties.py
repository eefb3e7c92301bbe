"""Properties of the maturity ladder (hypothesis), on analyzed scenario stores copied per example.

- answering mentions that had no own reply never lowers the level;
- without any own activity the level is never above Discover (nor above what it was).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from conftest import FIXTURES
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

sys.path.insert(0, str(FIXTURES / "maturity"))
from orgs import add_records, analyzed, assess, copy_of  # noqa: E402

from listener.store.connection import Store  # noqa: E402

BASES = ["discover", "share", "one_reply_a_month", "participate"]
FAST = hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _unanswered(settings) -> list[tuple[str, str, datetime, str | None]]:
    """Brand mentions by others without an own reply: (native id, source, created_at, community)."""
    with Store(settings.store_path, read_only=True) as store:
        return store.conn.execute("""
            SELECT m.native_id, m.source, m.created_at, m.community FROM mentions m
            WHERE NOT m.is_own AND m.mention_id IN (SELECT mention_id FROM mention_topics WHERE kind = 'brand')
              AND NOT EXISTS (SELECT 1 FROM mentions r WHERE r.is_own AND r.parent_id = m.mention_id)
            ORDER BY m.mention_id""").fetchall()


def _reply(target: tuple, delay_hours: float, n: int) -> dict:
    native, source, created, community = target
    handle = "acme" if source == "x" else "acme_official"
    rec = {
        "source": source,
        "id": f"own-reply-{n}",
        "created_at": (created + timedelta(hours=delay_hours)).isoformat(),
        "text": "Thanks for reaching out, we are on it",
        "author": {"handle": handle},
        "parent_id": native,
    }
    if community:
        rec["community"] = community
    return rec


@FAST
@given(
    base=st.sampled_from(BASES),
    picks=st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 200)), min_size=1, max_size=25),
)
def test_answering_unanswered_mentions_never_lowers_the_level(base: str, picks: list[tuple[int, float]]) -> None:
    original = analyzed(base)
    before = assess(original)
    targets = _unanswered(original)
    with tempfile.TemporaryDirectory() as folder:
        settings = copy_of(original, Path(folder))
        chosen = {i % len(targets): delay for i, delay in picks}
        add_records(settings, [_reply(targets[i], delay, i) for i, delay in chosen.items()])
        after = assess(settings)
    assert after["level_index"] >= before["level_index"], (before["level"], after["level"])


@FAST
@given(base=st.sampled_from(BASES + ["cocreate", "help_desk"]), extra_replies=st.integers(0, 10))
def test_without_own_activity_the_level_is_at_most_discover(base: str, extra_replies: int) -> None:
    original = analyzed(base)
    with tempfile.TemporaryDirectory() as folder:
        settings = copy_of(original, Path(folder))
        targets = _unanswered(settings)
        if extra_replies and targets:
            add_records(settings, [_reply(targets[i % len(targets)], 1, i) for i in range(extra_replies)])
        with_own = assess(settings)
        with Store(settings.store_path) as store:
            store.conn.execute(
                "DELETE FROM interactions WHERE from_author_id IN (SELECT author_id FROM authors WHERE is_own)"
            )
            store.conn.execute("DELETE FROM mentions WHERE is_own")
        without = assess(settings)
    assert without["level_index"] <= min(2, with_own["level_index"])
    assert without["org_model"]["model"] == "unknown" and without["path"]["path"] == "unknown"
