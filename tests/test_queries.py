"""The topic query language (docs/queries.md): grammar, every operator and field, run as the real
SQL over a real DuckDB file the real loader filled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_in_process

from listener.core.errors import ConfigError
from listener.core.matcher import share_tests
from listener.core.query import And, Near, Not, Or, QuerySyntaxError, Term, describe, parse_query
from listener.core.settings import OwnAccounts, settings_from_dict
from listener.ingest.loader import documents_batch, load_batch, prepare_own_accounts
from listener.ingest.topics import rules_from_organization, tag_mentions
from listener.store.connection import Store

POSTS: dict[str, dict[str, object]] = {
    "plain": {"text": "Acme makes coffee"},
    "possessive": {"text": "Acme's new roast"},
    "curly": {"text": "Acme\u2019s cold brew"},
    "branded": {"text": "an ACME-branded mug"},
    "hashtag": {"text": "love it #acme"},
    "hashtag_cased": {"text": "so good #AcmeCoffee"},
    "at": {"text": "hey @acme, where is my order?"},
    "email": {"text": "write to info@acme.com for help"},
    "listed": {"text": "thanks for the quick reply!", "mentions": ["Acme"]},
    "listed_instance": {"text": "merci", "mentions": [{"handle": "@support@mastodon.social", "id": "9"}]},
    "substring": {"text": "Acmeology is not us"},
    "prefix": {"text": "acmeapps for everyone"},
    "anvil": {"text": "the Acme anvil gag: a company called Acme?"},
    "anvil_far": {"text": "Acme coffee is great. Unrelated: I dropped an anvil."},
    "phrase": {"text": "Acme, coffee!"},
    "phrase_gap": {"text": "acme fresh coffee"},
    "title_only": {"title": "Acme launches a drink", "text": "nothing to see"},
    "across_title": {"title": "News about acme", "text": "coffee prices rise"},
    "near_1": {"text": "recall of acme bottles"},
    "near_2": {"text": "acme issues a product recall today"},
    "near_3": {"text": "acme said that the bottles face a recall"},
    "lower_and": {"text": "rock and roll"},
    "cased": {"text": "ACME corp"},
    "cased_exact": {"text": "Acme corp"},
    "accent": {"text": "un café noir"},
    "no_accent": {"text": "a cafe racer"},
    "nfd": {"text": "cafe\u0301 au lait"},
    "hindi": {"text": "नमस्ते दुनिया"},
    "greek": {"text": "ΟΔΟΣ κλειστή"},
    "cjk": {"text": "我喜欢 咖啡 today"},
    "wild_q": {"text": "the word is wood"},
    "wild_q2": {"text": "a good word"},
    "underscore": {"text": "see acme_support now"},
    "digits": {"text": "iphone 15 pro"},
    "fr": {"text": "bonjour acme", "lang": "fr"},
    "fr_ca": {"text": "allo acme", "lang": "fr-CA"},
    "espresso": {"text": "acme grinder", "community": "r/Espresso", "source": "reddit"},
    "author": {"text": "a post", "author": {"id": "7", "handle": "AcmeSupport"}},
    "author_instance": {"text": "a toot", "author": {"id": "8", "handle": "acmesupport@fosstodon.org"}},
    "site": {"text": "story", "url": "https://news.example.com/a/1", "source": "rss"},
    "feed": {"text": "a review", "community": "Espresso  Forum", "source": "rss"},
    "site_other": {"text": "story", "url": "https://notexample.com/a/1", "source": "rss"},
    "empty": {"text": ""},
}

# what the word acme matches in POSTS (case, possessives, hyphens, #, @ and e-mail all count)
ACME = set(
    "plain possessive curly branded hashtag at email anvil anvil_far phrase phrase_gap title_only across_title "
    "near_1 near_2 near_3 cased cased_exact fr fr_ca espresso".split()
)

CASES: list[tuple[str, set[str]]] = [
    # words: case-insensitive, whole words, punctuation separates
    ("acme", ACME),
    ("acme*", ACME | {"substring", "prefix", "underscore", "hashtag_cased"}),
    ('"acme coffee"', {"plain_no", "anvil_far", "phrase"} - {"plain_no"}),
    ('"acme s"', {"possessive", "curly"}),
    ("acme's", {"possessive", "curly"}),
    ("ACME-branded", {"branded"}),
    ("wo?d", {"wild_q", "wild_q2"}),
    ("go?d", {"wild_q2", "hashtag_cased"}),
    ("woo?", {"wild_q"}),
    ("w??d", {"wild_q", "wild_q2"}),
    ("*ology", {"substring"}),
    ("acme_support", {"underscore"}),
    ('"iphone 15"', {"digits"}),
    ("café", {"accent", "nfd"}),
    ("cafe\u0301", {"accent", "nfd"}),
    ("नमस्ते", {"hindi"}),  # vowel signs and viramas are part of the word
    ("नम", set()),
    ("cafe", {"no_accent"}),
    ("οδος", {"greek"}),
    ("ΟΔΟΣ", {"greek"}),
    ("咖啡", {"cjk"}),
    # hashtags and @-mentions
    ("#acme", {"hashtag"}),
    ("#acme*", {"hashtag", "hashtag_cased"}),
    ("@acme", {"at", "listed"}),
    ("@support", {"listed_instance"}),
    ("@support@mastodon.social", {"listed_instance"}),
    # case-sensitive
    ("{ACME}", {"cased", "branded"}),
    ("{Acme} corp", {"cased_exact"}),
    # operators
    ("acme NOT anvil", ACME - {"anvil", "anvil_far"}),
    ("coffee AND acme", {"plain", "anvil_far", "phrase", "phrase_gap", "across_title"}),
    ("coffee acme", {"plain", "anvil_far", "phrase", "phrase_gap", "across_title"}),
    ("roll and rock", {"lower_and"}),
    ("wood OR good", {"wild_q", "wild_q2", "hashtag_cased"}),
    ("(wood OR good) NOT word", {"hashtag_cased"}),
    ("mug OR anvil NOT gag", {"branded", "anvil_far"}),
    # NEAR: n - 1 words between at most; NEAR/nf ordered
    ("acme NEAR/1 recall", set()),
    ("recall NEAR/2 acme", {"near_1"}),
    ("acme NEAR/3 recall", {"near_1"}),
    ("acme NEAR/4 recall", {"near_1", "near_2"}),
    ("acme NEAR/6 recall", {"near_1", "near_2"}),
    ("acme NEAR/7 recall", {"near_1", "near_2", "near_3"}),
    ("acme NEAR/3f recall", set()),
    ("acme NEAR/4f recall", {"near_2"}),
    ("recall NEAR/3f acme", {"near_1"}),
    ('"product recall" NEAR/2 acme', set()),
    ('"product recall" NEAR/3 acme', {"near_2"}),
    ('acme NEAR/2f "product recall"', set()),
    ('acme NEAR/3f "product recall"', {"near_2"}),
    ('"product recall" NEAR/3f acme', set()),
    ("acme NEAR/2 (recall OR issues)", {"near_1", "near_2"}),
    ("bott* NEAR/1f recall", set()),
    ("bott* NEAR/4f recall", {"near_3"}),
    ("acme NEAR/5 coffee", {"plain", "anvil_far", "phrase", "phrase_gap"}),  # not across title | text
    # fields
    ("title:acme", {"title_only", "across_title"}),
    ('title:"acme launches"', {"title_only"}),
    ("title:(drink OR prices)", {"title_only"}),
    ("lang:fr", {"fr", "fr_ca"}),
    ("lang:fr-ca acme", {"fr_ca"}),
    ("community:r/espresso", {"espresso"}),
    ("community:espresso", {"espresso"}),
    ("source:reddit", {"espresso"}),
    ('community:"espresso forum"', {"feed"}),
    ("Community:r/Espresso", {"espresso"}),
    ("source:rss NOT site:example.com", {"site_other", "feed"}),
    ("site:example.com", {"site"}),
    ("site:news.example.com", {"site"}),
    ("author:acmesupport", {"author", "author_instance"}),
    ("author:@AcmeSupport", {"author", "author_instance"}),
    ("author:acmesupport@fosstodon.org", {"author_instance"}),
    ("author:acme*", {"author", "author_instance"}),
]


def _doc(key: str, post: dict[str, object]) -> str:
    doc = {
        "source": post.get("source", "x"),
        "id": key,
        "created_at": "2026-11-20T12:00:00+00:00",
        "author": post.get("author", {"id": "1", "handle": "someone"}),
        **{k: v for k, v in post.items() if k not in ("source", "author")},
    }
    return json.dumps(doc, ensure_ascii=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("queries") / "q.duckdb") as s:
        prepare_own_accounts(s.conn, OwnAccounts())
        batch = documents_batch([_doc(key, post) for key, post in POSTS.items()])
        result = load_batch(s.conn, batch, None, [])
        assert result.errors == [] and result.inserted == len(POSTS)
        yield s


def _org(query: str) -> object:
    return settings_from_dict({"organization": {"name": "T", "query": query}}).organization


def matched(store: Store, query: str) -> set[str]:
    tag_mentions(store.conn, rules_from_organization(_org(query)))  # type: ignore[arg-type]
    return {m for (m,) in store.conn.execute("SELECT split_part(mention_id, ':', 2) FROM mention_topics").fetchall()}


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q for q, _ in CASES])
def test_query_matches(store: Store, query: str, expected: set[str]) -> None:
    assert matched(store, query) == expected


def test_not_excludes_the_whole_post_as_the_anvil_gag_needed(store: Store) -> None:
    assert "anvil" not in matched(store, 'acme NOT "acme anvil"')
    assert "anvil" in matched(store, 'acme "acme anvil"')


# -- grammar ----------------------------------------------------------------------------


def test_precedence_or_and_not_near() -> None:
    assert parse_query("a OR b c") == Or((Term(("a",)), And((Term(("b",)), Term(("c",))))))
    assert parse_query("a b OR c") == Or((And((Term(("a",)), Term(("b",)))), Term(("c",))))
    assert parse_query("a NOT b c") == And((Term(("a",)), Not(Term(("b",))), Term(("c",))))
    assert parse_query("a NOT b NEAR/2 c") == And((Term(("a",)), Not(Near((Term(("b",)),), (Term(("c",)),), 2))))
    assert parse_query("(a OR b) c") == And((Or((Term(("a",)), Term(("b",)))), Term(("c",))))
    assert parse_query("a AND b") == parse_query("a b")
    assert parse_query("x and y or z") == And((Term(("x",)), Term(("and",)), Term(("y",)), Term(("or",)), Term(("z",))))
    assert describe(parse_query('a OR b NEAR/3f (c OR "d e")')) == '(a OR b NEAR/3f (c OR "d e"))'


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("acme (coffee", 13, "closing )"),
        ("acme)", 5, "closes nothing"),
        ('acme "cold brew', 6, 'closing "'),
        ("acme NEAR coffee", 6, "distance after NEAR"),
        ("acme NEAR/0 coffee", 6, "NEAR distance from 1"),
        ("a NEAR/2 b NEAR/2 c", 12, "not a second NEAR"),
        ("(a b) NEAR/2 c", 1, "each side of NEAR"),
        ("acme OR", 8, "query ends here"),
        ("acme AND OR b", 10, "a term before OR"),
        ("NOT anvil", 1, "needs some term"),
        ("acme -anvil", 6, "NOT anvil"),
        ("colour:red", 1, "a known field"),
        ("lang:", 6, "a value right after"),
        ("site:example.com/blog", 6, "host name"),
        ("#", 1, "hashtag"),
        ("*", 1, "names nothing"),
        ('""', 1, "words inside the quotes"),
        ("", 1, "query is empty"),
    ],
)
def test_malformed_queries_say_where_and_what(query: str, position: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(query, "topic 'Acme'")
    message = str(caught.value)
    first, shown, caret = message.split("\n")
    assert first.startswith("topic 'Acme': expected ") and expected in first, message
    assert f"at position {position}" in first, message
    assert caret.index("^") - 4 == position - 1, message


def test_a_malformed_query_in_config_is_a_config_error_naming_the_topic(tmp_path: Path) -> None:
    org = settings_from_dict(
        {"organization": {"name": "Acme", "query": "acme", "competitors": [{"name": "Globex", "query": "globex ("}]}}
    ).organization
    with pytest.raises(ConfigError, match=r"topic 'Globex' \(organization.competitors\[0\].query\): expected"):
        rules_from_organization(org)


def test_query_and_terms_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        settings_from_dict({"organization": {"name": "Acme", "query": "acme", "brand_terms": ["acme"]}})


# -- through the commands: config keys, import, query test, retag, detected languages ----------

CONFIG = """
[organization]
name = "Acme"
query = '(acme OR "acme coffee") NOT "acme anvil"'
[[organization.competitors]]
name = "Globex"
query = "globex* NOT tower"
[[organization.topics]]
name = "recalls"
query = '(acme OR globex) NEAR/4 (recall* OR lawsuit)'
[[organization.topics]]
name = "french"
query = "lang:fr (acme OR globex)"
search = false
[store]
path = "store.duckdb"
[analytics]
detect_language = true
"""

IMPORTED = [
    {"id": "1", "text": "Acme issues a product recall", "lang": "en"},
    {"id": "2", "text": "the Acme anvil gag: a company called Acme?", "lang": "en"},
    {"id": "3", "title": "Globex tower opens", "text": "Globexia news", "source": "rss"},
    {"id": "4", "title": "Globex recalls bottles", "text": "a lawsuit is pending", "source": "rss"},
    {
        "id": "5",
        "text": "Le nouveau café d'Acme est vraiment délicieux, je le recommande à tous mes amis",
        "source": "rss",
    },
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_in_process(capsys, *args)


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    config = tmp_path / "listener.toml"
    config.write_text(CONFIG, encoding="utf-8")
    lines = []
    for post in IMPORTED:
        source = post.get("source", "x")
        doc = {"source": source, "created_at": "2026-11-20T10:00:00Z", "author": {"id": "a1", "handle": "ed"}, **post}
        lines.append(json.dumps(doc, ensure_ascii=False))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "import", str(tmp_path / "m.jsonl"))
    assert code == 0, err
    return config


def topics_in(config: Path) -> set[tuple[str, str]]:
    import duckdb

    with duckdb.connect(str(config.parent / "store.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT native_id, topic FROM mention_topics JOIN mentions USING (mention_id)").fetchall()
    return set(rows)


def test_imported_mentions_are_tagged_by_the_configured_queries(imported: Path) -> None:
    assert topics_in(imported) == {
        ("1", "Acme"),
        ("1", "recalls"),
        ("4", "Globex"),
        ("4", "recalls"),
        ("5", "Acme"),
    }


def test_a_language_detected_by_analyze_tags_the_lang_topic(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--config", str(imported), "analyze")
    assert code == 0, err
    assert ("5", "french") in topics_in(imported)
    assert ("1", "french") not in topics_in(imported)


def test_query_test_counts_marks_and_translates(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(imported), "query", "test", "acme NOT anvil")
    assert code == 0, err
    assert "matches 2 of 5 stored mentions" in out
    assert "«Acme» issues a product recall" in out
    assert "x: acme -anvil" in out and "reddit: acme AND NOT anvil" in out
    code, out, _ = run(capsys, "--config", str(imported), "query", "test", "--topic", "Globex", "globex", "--json")
    data = json.loads(out)
    assert (data["matched"], data["tagged_now"], data["added"], data["dropped"]) == (2, 1, 1, 0)
    code, out, _ = run(capsys, "--config", str(imported), "query", "test", "--topic", "recalls", "--limit", "1")
    assert "topic recalls: tagged now 2; this query adds 0, drops 0" in out
    assert out.count("«") == 3  # one sample (Globex recalls bottles ... lawsuit), its three matched words


def test_query_test_refuses_a_malformed_query_with_a_caret(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--config", str(imported), "query", "test", "acme NEAR/2")
    assert code == 2 and out == ""
    assert "expected a term after this (the query ends here) at position 12" in err
    assert err.rstrip().endswith("^")


def test_retag_applies_a_changed_query_to_every_stored_mention(
    imported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    imported.write_text(CONFIG.replace("globex* NOT tower", "globex*"), encoding="utf-8")
    code, _, err = run(capsys, "--config", str(imported), "analyze", "--retag")
    assert code == 0, err
    assert {("3", "Globex"), ("4", "Globex")} <= topics_in(imported)


def test_x_and_reddit_search_the_translated_topic_queries() -> None:
    from connectors.reddit import search_queries
    from connectors.x import default_queries

    settings = settings_from_dict(
        {
            "organization": {
                "name": "Acme",
                "query": '(acme OR "acme coffee") NOT "acme anvil"',
                "competitors": [{"name": "Globex", "terms": ["globex", '-"globex tower"']}],
                "topics": [
                    {"name": "recalls", "query": "acme NEAR/3 recall*"},
                    {"name": "quiet", "query": "acme lawsuit", "search": False},
                ],
            }
        }
    )
    assert default_queries(settings) == [
        'globex -"globex tower"',
        '(acme OR "acme coffee") -"acme anvil"',
        "acme",
    ]
    assert search_queries(settings.organization) == [
        "globex",
        '(acme OR "acme coffee") AND NOT "acme anvil"',
        "acme",
    ]


def test_the_nfc_guard_lists_every_character_nfc_changes_on_its_own() -> None:
    import re
    import unicodedata

    from listener.core.matcher import NFC_GUARD

    listed = {
        cp
        for a, b in re.findall(r"\\x\{([0-9A-F]+)\}(?:-\\x\{([0-9A-F]+)\})?", NFC_GUARD)
        for cp in range(int(a, 16), int(b or a, 16) + 1)
    }
    changed = {
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF
        and not unicodedata.combining(chr(cp))
        and unicodedata.normalize("NFC", chr(cp)) != chr(cp)
    }
    assert changed <= listed


# -- the matcher's shortcuts (gates, ASCII NEAR, mention list apart) never change a result ---------

EDGE_POSTS: dict[str, dict[str, object]] = {
    "emoji_gap": {"text": "acme ☕ recall"},
    "emoji_far": {"text": "acme ☕ one two ☕ recall"},
    "accent_gap": {"text": "acme café recall"},
    "accent_far": {"text": "acme café crème brûlée recall"},
    "mark_gap": {"text": "acme cafe\u0301 recall"},
    "quoted": {"text": "\u201cacme\u201d \u2014 recall\u2026"},
    "title_break": {"title": "news of acme", "text": "recall today"},
    "title_near": {"title": "acme recall", "text": "nothing"},
    "final_sigma": {"text": "ο δρόμος κλειστός"},
    "tag_end": {"text": "hello #acme", "mentions": ["globex"]},
    "listed_only": {"text": "hello", "mentions": ["acme_support"]},
    "long_s": {"text": "cold ſun late"},
    "kelvin": {"text": "\u212aelvin late"},
    "cased_far": {"text": "ACME one two three four five six seven eight nine ten eleven recall"},
    "url_path": {"text": "a story", "url": "https://other.com/umbrella.com"},
    "url_user": {"text": "a story", "url": "https://user@Blog.Umbrella.com:8080/p"},
    "initech": {"text": "Initech grinders"},
}

EDGE_CASES: list[tuple[str, set[str]]] = [
    ("acme NEAR/1 recall", {"emoji_gap", "quoted", "title_near"}),
    ("acme NEAR/2 recall", {"emoji_gap", "quoted", "title_near", "accent_gap", "mark_gap"}),
    ("acme NEAR/3 recall", {"emoji_gap", "quoted", "title_near", "accent_gap", "mark_gap", "emoji_far"}),
    ("acme NEAR/4 recall", {"emoji_gap", "quoted", "title_near", "accent_gap", "mark_gap", "emoji_far", "accent_far"}),
    ("acme NEAR/4f recall", {"emoji_gap", "quoted", "title_near", "accent_gap", "mark_gap", "emoji_far", "accent_far"}),
    ("recall NEAR/4f acme", set()),
    ("title:acme NEAR/2 title:recall", {"title_near"}),
    ("{ACME} NEAR/12 recall", {"cased_far"}),
    ("{ACME} NEAR/11 recall", set()),
    (
        "(acme OR {ACME}) NEAR/13 recall*",
        {"cased_far", "emoji_gap", "quoted", "title_near", "accent_gap", "mark_gap"} | {"emoji_far", "accent_far"},
    ),
    ("κλειστόσ OR {ΚΛΕΙΣΤΟΣ}", {"final_sigma"}),  # accents count: κλειστοσ does not
    ("κλειστοσ", set()),
    ("δρόμος NEAR/2 κλειστός", {"final_sigma"}),
    ("#acme OR @acme OR acme_support", {"tag_end"}),
    ("@acme_support OR #acme_support", {"listed_only"}),
    ("site:umbrella.com", {"url_user"}),
    ("{Initech} OR initech*", {"initech"}),
    ("(initech* OR {Initech}) NOT grinders", set()),
    ("sun NEAR/2 late", set()),
    ("kelvin NEAR/2 late", {"kelvin"}),  # lower() reads the Kelvin sign as k
]


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(tmp_path_factory.mktemp("edges") / "e.duckdb") as s:
        prepare_own_accounts(s.conn, OwnAccounts())
        batch = documents_batch([_doc(key, post) for key, post in {**POSTS, **EDGE_POSTS}.items()])
        result = load_batch(s.conn, batch, None, [])
        assert result.errors == [] and result.inserted == len(POSTS) + len(EDGE_POSTS)
        yield s


@pytest.mark.parametrize(("query", "expected"), EDGE_CASES, ids=[q for q, _ in EDGE_CASES])
def test_edge_cases_of_the_fast_paths(edge_store: Store, query: str, expected: set[str]) -> None:
    assert matched(edge_store, query) - set(POSTS) == expected


SHORTCUT_QUERIES = [q for q, _ in CASES + EDGE_CASES] + [
    '(acme OR #acme* OR @acme OR "acme coffee") NOT "acme anvil"',
    '({ACME} OR "acme coffee" OR sun) NEAR/11 late',
    '(ſun OR "cold brew") NEAR/6f ({ACME} OR initech* OR x_y)',
    "({Acme} OR acme*) NEAR/3 (recall OR {Recall})",
    "(café OR cafe\u0301 OR cafe) NEAR/2 (noir OR lait OR racer)",
    "title:(acme OR {Acme}) OR #acme",
    "(@acme OR @support OR acme) (coffee OR recall)",
    '"umbrella corp*" OR {UMBRELLA} OR site:umbrella.com OR lang:fr',  # a gate for some alternatives
    '{AcmeApp} OR ("acme app" NEAR/4 (crash* OR outage))',  # one term a side: its words gate the OR
    '"oat milk" OR oatmilk OR (oat NEAR/2 lat*e) OR source:reddit',
]


def test_the_shortcuts_agree_with_the_plain_conditions(edge_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gates, the ASCII NEAR and the longer prefilters are only faster: turned off, every query
    tags the same posts."""
    from listener.core import matcher

    fast = {q: matched(edge_store, q) for q in SHORTCUT_QUERIES}
    monkeypatch.setattr(matcher._Compiler, "gate", lambda self, alternatives: None)
    monkeypatch.setattr(matcher, "_MAX_ASCII_NEAR", 0)
    monkeypatch.setattr(matcher, "_MIN_GATE", 10_000)  # prefilters: the longest run only
    plain = {q: matched(edge_store, q) for q in SHORTCUT_QUERIES}
    assert {q: hits for q, hits in fast.items() if hits != plain[q]} == {}


def test_lower_maps_code_point_by_code_point_and_makes_no_final_sigma() -> None:
    """What the gates (a {Cased} literal folded is in l) and fold_sql (no replace() without a ς) rely on."""
    import duckdb

    with duckdb.connect() as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE length(lower(chr(i::INT))) <> 1),
                      list(i) FILTER (WHERE contains(lower(chr(i::INT)), 'ς'))
               FROM range(1, 1114112) t(i) WHERE i < 55296 OR i > 57343"""
        ).fetchone()
    assert row == (0, [0x3C2])


def test_the_wide_word_class_is_every_word_character_outside_ascii() -> None:
    import duckdb

    from listener.core.matcher import _WIDE_WORD, literal

    with duckdb.connect() as conn:
        wrong = conn.execute(
            f"""SELECT count(*) FROM (SELECT i, chr(i::INT) AS ch FROM range(1, 1114112) t(i)
                                      WHERE i < 55296 OR i > 57343)
                WHERE regexp_matches(ch, {literal(_WIDE_WORD)}) <> (i >= 128 AND regexp_matches(ch, '[\\pL\\pM\\pN_]'))"""
        ).fetchone()
    assert wrong == (0,)


def test_tests_shared_by_topics_tag_as_each_topic_alone(edge_store: Store) -> None:
    """tag_mentions makes a substring test that several conditions make once per row (a column):
    all the queries as topics of one organisation tag what each tags alone."""
    alone = {q: matched(edge_store, q) for q in SHORTCUT_QUERIES}
    topics = [{"name": f"q{i}", "query": q} for i, q in enumerate(SHORTCUT_QUERIES)]
    org = settings_from_dict({"organization": {"name": "T", "query": "acme", "topics": topics}}).organization
    rules = rules_from_organization(org)
    assert len(share_tests([rule.condition for rule in rules])[1]) > 10
    tag_mentions(edge_store.conn, rules)
    rows = edge_store.conn.execute("SELECT topic, split_part(mention_id, ':', 2) FROM mention_topics").fetchall()
    together = {q: {m for topic, m in rows if topic == f"q{i}"} for i, q in enumerate(SHORTCUT_QUERIES)}
    assert {q: hits for q, hits in together.items() if hits != alone[q]} == {}


def test_share_tests_reads_literals_as_one_token() -> None:
    """A regular expression's text that looks like a test is not one; a test made once stays in place."""
    quoted = "regexp_matches(l, 'contains(l, ''acme'')')"
    conditions, shared = share_tests(
        [f"(contains(l, 'acme') AND {quoted})", "contains(l, 'acme') OR contains(c, 'it''s')", "contains(h, 'x')"]
    )
    assert shared == {"shared_1": "contains(l, 'acme')"}
    assert conditions == [f"(shared_1 AND {quoted})", "shared_1 OR contains(c, 'it''s')", "contains(h, 'x')"]
