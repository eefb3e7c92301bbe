"""Platform translation of topic queries (connectors.queries) is never narrower than local matching.

For random queries and random posts: every post the query matches locally (the real SQL matcher over
a real DuckDB store the real loader filled) is matched by at least one of the requests `translate`
emits for the post's platform, evaluated by a model of that platform's search syntax written here:

    X        words, "phrases", implicit AND, OR, ( ), -exclusion, #tag, @handle, from:, lang:
    Reddit   words, "phrases", AND, OR, NOT, ( ), title:, subreddit:, author:

The models parse the emitted text strictly (an unknown or ambiguous construct is a test failure, so
the translation must write valid syntax) and evaluate it on the post the way the platform reads it.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connectors.queries import translate
from connectors.reddit import user_mentions
from listener.core.errors import ConfigError
from listener.core.query import QuerySyntaxError, parse_query
from listener.core.settings import OwnAccounts, settings_from_dict
from listener.ingest.loader import documents_batch, load_batch, prepare_own_accounts
from listener.ingest.topics import rules_from_organization, tag_mentions
from listener.store.connection import Store

# -- posts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    source: str  # x | reddit
    text: str
    author: str
    title: str | None = None
    lang: str | None = None
    community: str | None = None
    mentions: tuple[str, ...] = ()


def _doc(key: str, author_id: str, post: Post) -> str:
    doc: dict[str, object] = {
        "source": post.source,
        "id": key,
        "created_at": "2026-11-20T12:00:00+00:00",
        "author": {"id": author_id, "handle": post.author},
        "text": post.text,
        "url": f"https://example.org/{key}",
    }
    if post.title is not None:
        doc["title"] = post.title
    if post.lang is not None:
        doc["lang"] = post.lang
    if post.community is not None:
        doc["community"] = post.community
    if post.mentions:
        doc["mentions"] = list(post.mentions)
    return json.dumps(doc, ensure_ascii=False)


# Small vocabularies, so that most queries match some posts: case variants, punctuation inside and
# around words, possessives, hashtags, @-mentions (also e-mail-like and instance handles).
COMMON_FRAGMENTS = [
    "acme", "Acme", "ACME", "Acme's", "acme\u2019s", "ACME-branded", "acme,coffee", "(acme)", "acme!",
    "coffee", "Coffee", "coffee!", "anvil", "recall", "Recall.", "cold", "brew", "cold-brew",
    "good", "bad", "wood", "word", "and", "or", "s", "acmeology", "acme_support", "café",
    '"cold brew"', "#acme", "#Acme", "#coffee", "#acme_co", "#acmecoffee", "##acme", "x#acme",
    "#café", "@acme", "@Acme", "@bob", "@acme_co", "@acme-co", "info@acme.com", "@acme.bsky.social",
    "@support@mastodon.social",
]  # fmt: skip
REDDIT_FRAGMENTS = ["u/acme", "/u/bob", "u/acme-co", "u/Jo_e"]
SEPARATORS = [" ", " ", " ", " ", ", ", ". ", " - ", "\n", ""]

X_AUTHORS = ["acme", "AcmeSupport", "bob", "jo_e", "x"]
REDDIT_AUTHORS = ["acme", "AcmeSupport", "bob", "jo_e", "jo-e"]
X_LISTED = ["acme", "Acme", "bob", "acme_co", "support"]
LANGS = ["en", "fr", "fr-CA", "EN", None, None]
SUBREDDITS = ["espresso", "Espresso", "coffee", "acme"]


def _texts(fragments: list[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    def join(parts: list[tuple[str, str]]) -> str:
        return "".join(f + (sep if i < len(parts) - 1 else "") for i, (f, sep) in enumerate(parts))

    part = st.tuples(st.sampled_from(fragments), st.sampled_from(SEPARATORS))
    return st.lists(part, min_size=min_size, max_size=max_size).map(join)


x_posts = st.builds(
    Post,
    source=st.just("x"),
    text=_texts(COMMON_FRAGMENTS, 0, 8),
    author=st.sampled_from(X_AUTHORS),
    lang=st.sampled_from(LANGS),
    mentions=st.lists(st.sampled_from(X_LISTED), max_size=2, unique=True).map(tuple),
)


def _reddit_post(title: str, text: str, author: str, sub: str) -> Post:
    # as the Reddit connector fills them: the u/name references of title and text
    listed = tuple(ref.handle for ref in user_mentions(" ".join(filter(None, (title, text)))))
    return Post("reddit", text, author, title=title, community=f"r/{sub}", mentions=listed)


reddit_posts = st.builds(
    _reddit_post,
    title=_texts(COMMON_FRAGMENTS + REDDIT_FRAGMENTS, 1, 5),
    text=_texts(COMMON_FRAGMENTS + REDDIT_FRAGMENTS, 0, 6),
    author=st.sampled_from(REDDIT_AUTHORS),
    sub=st.sampled_from(SUBREDDITS),
)

# -- queries ------------------------------------------------------------------------------------

PLAIN_WORDS = ["acme", "coffee", "anvil", "recall", "cold", "brew", "good", "bad", "s", "and", "or", "branded",
               "acme_support", "café", "co", "acmecoffee"]  # fmt: skip
WILD_WORDS = ["acm*", "acme*", "*ee", "co?d", "b?d", "go?d", "a*e", "wo?d", "c*", "*acme"]
CASED_WORDS = ["Acme", "ACME", "Coffee", "acme", "Recall"]
RAW_TERMS = ["acme's", "ACME-branded", "cold-brew", "acme\u2019s", "Acme,coffee"]
HASHTAGS = ["#acme", "#Acme", "#coffee", "#acme*", "#ac?e", "#café", "#acme_co"]
AT_MENTIONS = ["@acme", "@Acme", "@bob", "@acme_co", "@acme-co", "@acme.bsky.social", "@support@mastodon.social",
               "@support", "@averyveryverylonghandle"]  # fmt: skip
FIELDS = [
    "author:acme", "author:AcmeSupport", "author:bob", "author:@bob", "author:acme*", "author:jo_e", "author:jo-e",
    "author:x", "source:x", "source:reddit", "source:rss", "lang:en", "lang:fr", "lang:fr-ca", "lang:de",
    "community:r/espresso", "community:espresso", "community:#espresso", "community:r/coffee",
    "community:/r/espresso", "community:coffee", "site:example.org", "site:example.com",
]  # fmt: skip

word = st.one_of(st.sampled_from(PLAIN_WORDS), st.sampled_from(PLAIN_WORDS), st.sampled_from(WILD_WORDS))


@st.composite
def terms(draw: st.DrawFn, title: bool | None = None) -> str:
    """One term: a word, "phrase", {Case} term or raw text, in the whole post or (title:) the title."""
    kind = draw(st.sampled_from(["word", "word", "phrase", "cased", "raw"]))
    if kind == "word":
        body = draw(word)
    elif kind == "phrase":
        body = '"' + " ".join(draw(st.lists(word, min_size=2, max_size=3))) + '"'
    elif kind == "cased":
        words = draw(st.lists(st.one_of(st.sampled_from(CASED_WORDS), word), min_size=1, max_size=2))
        body = "{" + (words[0] if len(words) == 1 else '"' + " ".join(words) + '"') + "}"
    else:
        body = draw(st.sampled_from(RAW_TERMS))
        body = f'"{body}"' if draw(st.booleans()) else body
    in_title = draw(st.integers(0, 4)) == 0 if title is None else title
    return f"title:{body}" if in_title else body


@st.composite
def nears(draw: st.DrawFn) -> str:
    title = draw(st.integers(0, 4)) == 0

    def side() -> str:
        items = draw(st.lists(terms(title=title), min_size=1, max_size=3))
        return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"

    distance = draw(st.integers(1, 5))
    return f"{side()} NEAR/{distance}{'f' if draw(st.booleans()) else ''} {side()}"


@st.composite
def title_groups(draw: st.DrawFn) -> str:
    items = draw(st.lists(terms(title=False), min_size=2, max_size=3))
    return "title:(" + " OR ".join(items) + ")"


leaves = st.one_of(
    terms(),
    terms(),
    terms(),
    st.sampled_from(HASHTAGS),
    st.sampled_from(AT_MENTIONS),
    st.sampled_from(FIELDS),
    nears(),
    title_groups(),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def joined(items: list[str], joiner: str, parens: bool) -> str:
        text = joiner.join(items)
        return f"({text})" if parens else text

    return st.one_of(
        st.builds(joined, st.lists(children, min_size=2, max_size=3), st.sampled_from([" ", " AND "]), st.booleans()),
        st.builds(joined, st.lists(children, min_size=2, max_size=3), st.just(" OR "), st.booleans()),
        children.map(lambda c: f"NOT {c}"),
        st.builds(lambda a, b: f"{a} NOT {b}", children, children),
    )


queries = st.recursive(leaves, _combine, max_leaves=7)

# -- the platform models ------------------------------------------------------------------------------


class ModelSyntaxError(Exception):
    """The emitted query is not valid platform syntax (as this model reads it)."""


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).lower())


def _has_run(tokens: list[str], run: list[str]) -> bool:
    n = len(run)
    return n > 0 and any(tokens[i : i + n] == run for i in range(len(tokens) - n + 1))


def _tagged(text: str, sign: str, value: str) -> bool:
    """`sign value` in the text, the sign at the start or after a non-word character, value a whole word."""
    text = unicodedata.normalize("NFC", text).lower()
    return re.search(rf"(?:^|\W){re.escape(sign)}{re.escape(value.lower())}(?!\w)", text) is not None


@dataclass
class _Reader:
    """Tokens of an emitted query, for the recursive-descent parsers below."""

    tokens: list[str]
    at: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ModelSyntaxError("unexpected end")
        self.at += 1
        return token


def _lex(query: str, prefix_minus: bool) -> list[str]:
    """( ) "phrases" name:"phrases" and bare runs; with prefix_minus a '-' glued to what follows."""
    pattern = r'\s+|[()]|-(?=[^\s)])|[a-z]+:"[^"]*"|"[^"]*"|[^\s()"]+' if prefix_minus else r'\s+|[()]|[a-z]+:"[^"]*"|"[^"]*"|[^\s()"]+'
    tokens, i = [], 0
    for m in re.finditer(pattern, query):
        if m.start() != i:
            raise ModelSyntaxError(f"cannot read {query[i:m.start()]!r} in {query!r}")
        i = m.end()
        if not m.group(0).isspace():
            tokens.append(m.group(0))
    if i != len(query):
        raise ModelSyntaxError(f"cannot read {query[i:]!r} in {query!r}")
    return tokens


def _phrase(token: str) -> list[str]:
    body = token[1:-1] if token.startswith('"') else token
    words = _words(body)
    if not words:
        raise ModelSyntaxError(f"empty phrase {token!r}")
    if not token.startswith('"') and (not re.fullmatch(r"\w+", token) or token in ("OR", "AND", "NOT")):
        raise ModelSyntaxError(f"bare {token!r} is not one word")
    return words


def x_matcher(query: str):  # -> Callable[[Post], bool]
    """X API v2 search: implicit AND binds tighter than OR; -x excludes; #tag @handle from: lang:."""
    reader = _Reader(_lex(query, prefix_minus=True))

    def or_():
        items = [and_()]
        while reader.peek() == "OR":
            reader.take()
            items.append(and_())
        return lambda p: any(i(p) for i in items)

    def and_():
        items = [unary()]
        while reader.peek() not in (None, "OR", ")"):
            items.append(unary())
        return lambda p: all(i(p) for i in items)

    def unary():
        if reader.peek() == "-":
            reader.take()
            inner = primary()
            return lambda p: not inner(p)
        return primary()

    def primary():
        token = reader.take()
        if token == "(":
            node = or_()
            if reader.take() != ")":
                raise ModelSyntaxError(f"no ) in {query!r}")
            return node
        if token in (")", "OR", "-"):
            raise ModelSyntaxError(f"unexpected {token!r} in {query!r}")
        if token.startswith("#"):
            tag = token[1:]
            if not re.fullmatch(r"\w+", tag):
                raise ModelSyntaxError(f"bad hashtag {token!r}")
            return lambda p: _tagged(p.text, "#", tag)
        if token.startswith("@"):
            handle = token[1:]
            if not re.fullmatch(r"[A-Za-z0-9_]{1,15}", handle):
                raise ModelSyntaxError(f"bad X handle {token!r}")
            return lambda p: _tagged(p.text, "@", handle) or handle.lower() in {m.lower() for m in p.mentions}
        if token.startswith("from:"):
            handle = token[5:]
            if not re.fullmatch(r"[A-Za-z0-9_]{1,15}", handle):
                raise ModelSyntaxError(f"bad from: {token!r}")
            return lambda p: p.author.lstrip("@").lower() == handle.lower()
        if token.startswith("lang:"):
            code = token[5:]
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ModelSyntaxError(f"bad lang: {token!r}")
            return lambda p: p.lang is not None and re.split(r"[-_]", p.lang.lower())[0] == code
        if ":" in token and not token.startswith('"'):
            raise ModelSyntaxError(f"unknown X operator {token!r}")
        run = _phrase(token)
        return lambda p: _has_run(_words(p.text), run)

    node = or_()
    if reader.peek() is not None:
        raise ModelSyntaxError(f"trailing {reader.peek()!r} in {query!r}")
    return node


def reddit_matcher(query: str):  # -> Callable[[Post], bool]
    """Reddit (Lucene-like): explicit AND / OR (never mixed unparenthesised), NOT, title: subreddit: author:."""
    reader = _Reader(_lex(query, prefix_minus=False))

    def passages(p: Post) -> list[list[str]]:
        return [_words(p.title or ""), _words(p.text)]

    def expr():
        items = [unary()]
        op = None
        while reader.peek() in ("AND", "OR"):
            this = reader.take()
            if op is not None and this != op:
                raise ModelSyntaxError(f"AND and OR mixed without parentheses in {query!r}")
            op = this
            items.append(unary())
        if reader.peek() not in (None, ")"):
            raise ModelSyntaxError(f"two terms without an operator in {query!r} at {reader.peek()!r}")
        if op == "OR":
            return lambda p: any(i(p) for i in items)
        return lambda p: all(i(p) for i in items)

    def unary():
        if reader.peek() == "NOT":
            reader.take()
            inner = unary()
            return lambda p: not inner(p)
        return primary()

    def primary():
        token = reader.take()
        if token == "(":
            node = expr()
            if reader.take() != ")":
                raise ModelSyntaxError(f"no ) in {query!r}")
            return node
        if token in (")", "AND", "OR", "NOT"):
            raise ModelSyntaxError(f"unexpected {token!r} in {query!r}")
        if token.startswith("title:"):
            run = _phrase(token[6:])
            return lambda p: _has_run(_words(p.title or ""), run)
        if token.startswith("subreddit:"):
            name = token[10:]
            if not re.fullmatch(r"[A-Za-z0-9_]{2,21}", name):
                raise ModelSyntaxError(f"bad subreddit {token!r}")
            return lambda p: (p.community or "").lower() == f"r/{name.lower()}"
        if token.startswith("author:"):
            name = token[7:]
            if not re.fullmatch(r"[A-Za-z0-9_-]{2,21}", name):
                raise ModelSyntaxError(f"bad author {token!r}")
            return lambda p: p.author.lstrip("@").lower() == name.lower()
        if ":" in token and not token.startswith('"'):
            raise ModelSyntaxError(f"unknown Reddit operator {token!r}")
        run = _phrase(token)
        return lambda p: any(_has_run(words, run) for words in passages(p))

    node = expr()
    if reader.peek() is not None:
        raise ModelSyntaxError(f"trailing {reader.peek()!r} in {query!r}")
    return node


MODELS = {"x": x_matcher, "reddit": reddit_matcher}

# -- the local matcher ----------------------------------------------------------------------------------


@dataclass
class Local:
    """A real store; each `run` replaces its posts, tags them with one query, says which matched."""

    store: Store
    counter: itertools.count = field(default_factory=itertools.count)

    def run(self, query: str, posts: list[Post]) -> set[int]:
        org = settings_from_dict({"organization": {"name": "T", "query": query}}).organization
        rules = rules_from_organization(org)
        conn = self.store.conn
        for table in ("mention_topics", "interactions", "mentions", "authors"):
            conn.execute(f"DELETE FROM {table}")
        n = next(self.counter)
        docs = [_doc(f"e{n}p{i}", f"e{n}a{i}", post) for i, post in enumerate(posts)]
        result = load_batch(conn, documents_batch(docs), None, [])
        assert result.errors == [] and result.inserted == len(posts), result
        tag_mentions(conn, rules)
        rows = conn.execute("SELECT split_part(mention_id, ':', 2) FROM mention_topics").fetchall()
        return {int(native.split("p")[1]) for (native,) in rows}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with Store(tmp_path_factory.mktemp("translation") / "t.duckdb") as s:
        prepare_own_accounts(s.conn, OwnAccounts())
        yield Local(s)


def _check_covered(query: str, posts: list[Post], matched: set[int], max_length: int | None) -> None:
    node = parse_query(query)
    for platform, model in MODELS.items():
        translation = translate(node, platform, max_length)
        if not translation.queries:
            assert translation.note, (query, platform)
            continue
        limit = max_length or 512
        predicates = []
        for q in translation.queries:
            assert len(q) <= limit, (query, platform, q)
            predicates.append(model(q))
        for i in sorted(matched):
            post = posts[i]
            if post.source != platform:
                continue
            assert any(pred(post) for pred in predicates), (
                f"\nquery:      {query}\nplatform:   {platform}\ntranslated: {translation.queries}\npost:       {post}"
            )


# -- the property -------------------------------------------------------------------------------------

PROPERTY = hsettings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _parses(query: str) -> bool:
    try:
        parse_query(query)
    except QuerySyntaxError:
        return False
    return True


@PROPERTY
@given(
    query=queries,
    xs=st.lists(x_posts, min_size=10, max_size=20),
    rs=st.lists(reddit_posts, min_size=10, max_size=20),
    max_length=st.sampled_from([None, None, None, 40, 80, 160]),
)
def test_every_local_match_is_asked_for_on_its_platform(
    local: Local, query: str, xs: list[Post], rs: list[Post], max_length: int | None
) -> None:
    assume(_parses(query))
    posts = [*xs, *rs]
    try:
        matched = local.run(query, posts)
    except ConfigError:  # e.g. a regular expression RE2 finds too large: refused at config time
        assume(False)
    _check_covered(query, posts, matched, max_length)
