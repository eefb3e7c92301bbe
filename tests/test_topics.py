"""Topic matching rules, run as the real SQL over a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from listener.core.settings import settings_from_dict
from listener.core.terms import split_terms
from listener.ingest.topics import rules_from_organization, tag_mentions
from listener.store.connection import Store


def _org(**overrides):
    org = {
        "name": "Acme",
        "brand_terms": ["acme", '"acme coffee"', "acmeapp*"],
        "exclude_terms": ['"acme anvil"'],
        "tracked_terms": ['"cold brew"', "c++"],
        "competitors": [{"name": "Globex", "terms": ["globex", '-"globex tower"']}],
    }
    org.update(overrides)
    return settings_from_dict({"organization": org}).organization


TEXTS = {
    "plain": ("Acme makes coffee", {"Acme"}),
    "upper": ("ACME!!!", {"Acme"}),
    "substring": ("Acmeology is not us", set()),
    "prefix": ("try acmeapps today", {"Acme"}),
    "excluded": ("an acme anvil falls", set()),
    "excluded_but_also": ("acme anvil, then real Acme coffee", {"Acme"}),
    "phrase_spacing": ("acme    coffee", {"Acme"}),
    "competitor_excluded": ("the Globex tower is tall", set()),
    "competitor": ("globex's new roast", {"Globex"}),
    "unicode_boundary": ("éacme", set()),
    "hashtag": ("#acme rules", {"Acme"}),
    "term_phrase": ("Cold Brew season", {"cold brew"}),
    "term_symbol": ("I write c++ code", {"c++"}),
    "term_symbol_inside": ("abc++def", set()),
    "quote_in_text": ("it's Acme's 'best' -- globex", {"Acme", "Globex"}),
}


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "t.duckdb") as s:
        for key, (text, _) in TEXTS.items():
            s.conn.execute(
                "INSERT INTO mentions (mention_id, source, native_id, text, created_at, collected_at, "
                "updated_at) VALUES (?, 'x', ?, ?, now(), now(), now())",
                [key, key, text],
            )
        yield s


def test_rules_tag_word_boundaries_phrases_prefixes_and_exclusions(store):
    tag_mentions(store.conn, rules_from_organization(_org()))
    rows = store.conn.execute("SELECT mention_id, topic FROM mention_topics").fetchall()
    got = {key: {t for m, t in rows if m == key} for key in TEXTS}
    assert got == {key: expected for key, (_, expected) in TEXTS.items()}


def test_retag_replaces_previous_topics(store):
    tag_mentions(store.conn, rules_from_organization(_org()))
    tag_mentions(store.conn, rules_from_organization(_org(brand_terms=["makes"])))
    assert store.conn.execute("SELECT mention_id FROM mention_topics WHERE topic = 'Acme'").fetchall() == [("plain",)]


def test_split_terms_handles_quotes_and_apostrophes():
    assert split_terms(['"acme coffee"', "-anvil", "mcdonald's", ' -"a b" ']) == (
        ["acme coffee", "mcdonald's"],
        ["anvil", "a b"],
    )
