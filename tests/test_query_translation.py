"""Platform translation of topic queries (connectors.queries) is never narrower than local matching.

For random queries and random posts, every post a query matches locally (the real SQL matcher,
tag_mentions, over a real DuckDB store the real loader filled) is matched by at least one of the
requests `translate` emits for the post's platform, as a MODEL of that platform's search reads them:

    X        words, "phrases", implicit AND (tighter than OR), OR, ( ), -x, #tag, @handle, from:, lang:
    Reddit   words, "phrases", AND, OR, NOT, ( ), title:word / title:"phrase", subreddit:, author:
    Bluesky  words, "phrases", #tag, mentions:, from:, lang:, side by side (AND); no OR, NOT or ( )
    Mastodon words, "phrases", #tag (AND)       Hacker News  words, "phrases" in title or text (AND)
    YouTube  words (AND)

The models parse the emitted text strictly: anything the platform does not define (`--x`, `NOT NOT x`,
AND and OR mixed without parentheses in Lucene, a request without a positive standalone term) is a
failure, so the translation must also write valid requests. Each request must fit `max_length`.
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, assume, given
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

PLATFORMS = ("x", "reddit", "bluesky", "mastodon", "hackernews", "youtube")
CLOSED_PLATFORMS = PLATFORMS[:2]  # OR and NOT: one request unless a length limit splits it
OPEN_PLATFORMS = PLATFORMS[2:]  # no OR, no NOT: one request per OR branch
DEFAULT_MAX_LENGTH = {"x": 512, "reddit": 512, "bluesky": 300, "mastodon": 300, "hackernews": 512, "youtube": 300}

# -- posts --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    source: str  # x | reddit
    text: str
    author: str = "someone"
    title: str | None = None
    lang: str | None = None
    community: str | None = None
    mentions: tuple[str, ...] = ()  # handles, as the connector lists them


def _doc(key: str, author_id: str, post: Post) -> str:
    """The canonical JSON document the loader reads (docs/import-format.md)."""
    doc: dict[str, object] = {
        "source": post.source,
        "id": key,
        "created_at": "2026-11-20T12:00:00+00:00",
        "author": {"id": author_id, "handle": post.author},
        "text": post.text,
        "url": f"https://example.org/{key}",
    }
    optional = {"title": post.title, "lang": post.lang, "community": post.community}
    doc.update({k: v for k, v in optional.items() if v is not None})
    if post.mentions:
        doc["mentions"] = list(post.mentions)
    return json.dumps(doc, ensure_ascii=False)


# Small vocabularies, so that most queries match some posts: case variants, punctuation inside and
# around words, possessives, hashtags, @-mentions (also e-mail-like and instance handles).
FRAGMENTS = [
    "acme", "Acme", "ACME", "Acme's", "acme\u2019s", "ACME-branded", "acme,coffee", "(acme)", "acme!",
    "coffee", "Coffee", "coffee!", "anvil", "recall", "Recall.", "cold", "brew", "cold-brew",
    "good", "bad", "wood", "word", "and", "or", "s", "acmeology", "acme_support", "café",
    '"cold brew"', "#acme", "#Acme", "#coffee", "#acme_co", "#acmecoffee", "##acme", "x#acme",
    "#café", "@acme", "@Acme", "@bob", "@acme_co", "@acme-co", "info@acme.com", "@acme.bsky.social",
    "@support@mastodon.social", "@café",
]  # fmt: skip
FRAGMENTS += ["acme", "Acme", "coffee", "recall", "cold", "brew", "#acme", "@acme"]  # twice as often
REDDIT_FRAGMENTS = ["u/acme", "/u/bob", "u/acme-co", "u/Jo_e"]  # the connector lists these as mentions
SEPARATORS = [" "] * 5 + [", ", ". ", " - ", "\n", "_", ""]
X_PIECES = [f + s for f in FRAGMENTS for s in SEPARATORS]
REDDIT_PIECES = [f + s for f in FRAGMENTS + REDDIT_FRAGMENTS for s in SEPARATORS]

X_AUTHORS = ["acme", "AcmeSupport", "bob", "jo_e", "x"]
REDDIT_AUTHORS = ["acme", "AcmeSupport", "bob", "jo_e", "jo-e"]
X_LISTED = ["acme", "Acme", "bob", "acme_co", "support"]  # X mentions are X usernames
LANGS = ["en", "fr", "fr-CA", "EN", None, None]
SUBREDDITS = ["espresso", "Espresso", "coffee", "acme"]


def _text(pieces: list[str], min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), min_size=min_size, max_size=max_size).map(lambda p: "".join(p).strip())


x_posts = st.builds(
    Post,
    source=st.just("x"),
    text=_text(X_PIECES, 0, 10),
    author=st.sampled_from(X_AUTHORS),
    lang=st.sampled_from(LANGS),
    mentions=st.lists(st.sampled_from(X_LISTED), max_size=2, unique=True).map(tuple),
)


def reddit_post(title: str, text: str, author: str = "someone", sub: str = "espresso") -> Post:
    """A Reddit post as the connector maps it: community r/<sub>, mentions the u/name of title and text."""
    listed = tuple(ref.handle for ref in user_mentions(" ".join(filter(None, (title, text)))))
    return Post("reddit", text, author, title=title, community=f"r/{sub}", mentions=listed)


OPEN_AUTHORS = ["acme.bsky.social", "bob.bsky.social", "acme", "bob", "jo_e"]
OPEN_LISTED = ["acme.bsky.social", "support@mastodon.social", "bob.bsky.social", "acme"]
open_posts = st.builds(
    Post,
    source=st.sampled_from(OPEN_PLATFORMS),
    text=_text(X_PIECES, 0, 10),
    author=st.sampled_from(OPEN_AUTHORS),
    lang=st.sampled_from(LANGS),
    mentions=st.lists(st.sampled_from(OPEN_LISTED), max_size=2, unique=True).map(tuple),
)

reddit_posts = st.builds(
    reddit_post,
    title=_text(REDDIT_PIECES, 1, 5),
    text=_text(REDDIT_PIECES, 0, 6),
    author=st.sampled_from(REDDIT_AUTHORS),
    sub=st.sampled_from(SUBREDDITS),
)

# -- queries --------------------------------------------------------------------------------------------

PLAIN_WORDS = ["acme", "coffee", "anvil", "recall", "cold", "brew", "good", "bad", "s", "and", "or", "branded",
               "acme_support", "café", "co", "acmecoffee"]  # fmt: skip
WILD_WORDS = ["acm*", "acme*", "*ee", "co?d", "b?d", "go?d", "a*e", "wo?d", "c*", "*acme"]
CASED_WORDS = ["Acme", "ACME", "Coffee", "acme", "Recall"]
RAW_TERMS = ["acme's", "ACME-branded", "cold-brew", "acme\u2019s", "Acme,coffee"]  # phrases of their words
HASHTAGS = ["#acme", "#Acme", "#coffee", "#acme*", "#ac?e", "#café", "#acme_co"]
AT_MENTIONS = ["@acme", "@Acme", "@bob", "@acme_co", "@acme-co", "@acme.bsky.social", "@support@mastodon.social",
               "@support", "@averyveryverylonghandle", "@café", "@jo_e"]  # fmt: skip
FIELDS = [
    ["author:acme", "author:AcmeSupport", "author:bob", "author:@bob", "author:acme*", "author:jo_e", "author:jo-e",
     "author:x", "author:a?me"],
    ["source:x", "source:reddit", "source:rss"],
    ["lang:en", "lang:fr", "lang:fr-ca", "lang:de"],
    ["community:r/espresso", "community:espresso", "community:#espresso", "community:r/coffee",
     "community:/r/espresso", "community:coffee", "community:r/Acme"],
    ["site:example.org", "site:example.com"],
]  # fmt: skip

word = st.one_of(*[st.sampled_from(PLAIN_WORDS)] * 3, st.sampled_from(WILD_WORDS))


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
    in_title = draw(st.integers(0, 5)) == 0 if title is None else title
    return f"title:{body}" if in_title else body


@st.composite
def nears(draw: st.DrawFn) -> str:
    """a NEAR/n b or NEAR/nf, each side a term or an OR of terms, both in the title or neither."""
    title = draw(st.integers(0, 4)) == 0

    def side() -> str:
        items = draw(st.lists(terms(title=title), min_size=1, max_size=3))
        return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"

    distance = draw(st.integers(1, 5))
    return f"{side()} NEAR/{distance}{'f' if draw(st.booleans()) else ''} {side()}"


title_groups = st.lists(terms(title=False), min_size=2, max_size=3).map(lambda t: "title:(" + " OR ".join(t) + ")")

leaves = st.one_of(
    terms(),
    terms(),
    terms(),
    terms(),
    st.sampled_from(HASHTAGS),
    st.sampled_from(AT_MENTIONS),
    st.sampled_from(FIELDS[0]),  # author:
    st.sampled_from([f for group in FIELDS[1:] for f in group]),
    nears(),
    title_groups,
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """AND (implied or written), OR, NOT, with or without parentheses: the parser's precedence decides."""

    def joined(items: list[str], joiner: str, parens: bool) -> str:
        text = joiner.join(items)
        return f"({text})" if parens else text

    ands = st.builds(joined, st.lists(children, min_size=2, max_size=3), st.sampled_from([" ", " AND "]), st.booleans())
    ors = st.builds(joined, st.lists(children, min_size=2, max_size=3), st.just(" OR "), st.booleans())
    return st.one_of(
        ands,
        ors,
        ors,
        st.builds(lambda a, b: f"{a} NOT {b}", children, children),
        children.map(lambda c: f"NOT {c}"),  # alone refused; inside an AND an exclusion, twice: NOT NOT
    )


queries = st.recursive(leaves, _combine, max_leaves=6)

# -- the platform models -------------------------------------------------------------------------------------


class ModelSyntaxError(Exception):
    """The emitted request is not valid platform syntax (as the model reads it)."""


Match = Callable[[Post], bool]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).lower())


def _has_run(tokens: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(tokens[i : i + n] == run for i in range(len(tokens) - n + 1))


def _tagged(text: str, sign: str, value: str) -> bool:
    """`sign value` in the text: the sign at the start or after a non-word character, value a whole word."""
    text = unicodedata.normalize("NFC", text).lower()
    return re.search(rf"(?:^|\W){re.escape(sign)}{re.escape(value.lower())}(?!\w)", text) is not None


def _lex(query: str, minus: bool) -> list[str]:
    """( ) "phrases" name:"phrases" bare runs, and with `minus` a '-' glued to what follows it."""
    glued = r"-(?=[^\s)])|" if minus else ""
    pattern = re.compile(rf'\s+|[()]|{glued}[a-z]+:"[^"]*"|"[^"]*"|[^\s()"]+')
    tokens, at = [], 0
    while at < len(query):
        m = pattern.match(query, at)
        if m is None:
            raise ModelSyntaxError(f"cannot read {query[at:]!r} in {query!r}")
        if not m.group(0).isspace():
            tokens.append(m.group(0))
        at = m.end()
    return tokens


def _run(token: str, query: str) -> list[str]:
    """The words of a "phrase" or of one bare word (which must be one word and no operator)."""
    if not token.startswith('"') and (not re.fullmatch(r"\w+", token) or token in ("OR", "AND", "NOT")):
        raise ModelSyntaxError(f"{token!r} in {query!r} is not one word")
    words = _words(token.strip('"'))
    if not words:
        raise ModelSyntaxError(f"empty phrase {token!r} in {query!r}")
    return words


class _Parser:
    """Recursive descent over one request; `positive_standalone` records whether some non-negated
    term or standalone operator occurs (a request without one is refused or returns nothing)."""

    def __init__(self, query: str, minus: bool) -> None:
        self.query, self.tokens, self.at = query, _lex(query, minus), 0
        self.positive_standalone = False

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ModelSyntaxError(f"{self.query!r} ends too early")
        self.at += 1
        return token

    def fail(self, what: str) -> ModelSyntaxError:
        return ModelSyntaxError(f"{what} in {self.query!r} (token {self.at})")

    def done(self, node: Match) -> Match:
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        if not self.positive_standalone:
            raise self.fail("no non-negated standalone term")
        return node

    def group(self, inner: Callable[[bool], Match], negated: bool) -> Match:
        node = inner(negated)
        if self.take() != ")":
            raise self.fail("no closing )")
        return node


class _XParser(_Parser):
    """X API v2: `a b` AND, binding tighter than OR; `-` before a term or a ( group ), once."""

    def or_(self, negated: bool) -> Match:
        items = [self.and_(negated)]
        while self.peek() == "OR":
            self.take()
            items.append(self.and_(negated))
        return items[0] if len(items) == 1 else lambda p: any(i(p) for i in items)

    def and_(self, negated: bool) -> Match:
        items = [self.unary(negated)]
        while self.peek() not in (None, "OR", ")"):
            items.append(self.unary(negated))
        return items[0] if len(items) == 1 else lambda p: all(i(p) for i in items)

    def unary(self, negated: bool) -> Match:
        if self.peek() == "-":
            self.take()
            if self.peek() == "-":
                raise self.fail("'-' before '-' (X negates a term or a group, not a negation)")
            inner = self.primary(not negated)
            return lambda p: not inner(p)
        return self.primary(negated)

    def primary(self, negated: bool) -> Match:
        token = self.take()
        if token == "(":
            return self.group(self.or_, negated)
        if token in (")", "OR", "-"):
            raise self.fail(f"unexpected {token!r}")
        standalone = True
        match: Match
        if token.startswith("#"):
            tag = token[1:]
            if not re.fullmatch(r"\w+", tag):
                raise self.fail(f"bad hashtag {token!r}")
            match = lambda p: _tagged(p.text, "#", tag)  # noqa: E731
        elif token.startswith("@"):
            handle = token[1:].lower()
            if not re.fullmatch(r"[a-z0-9_]{1,15}", handle):
                raise self.fail(f"bad X handle {token!r}")
            match = lambda p: _tagged(p.text, "@", handle) or handle in {m.lower() for m in p.mentions}  # noqa: E731
        elif token.startswith("from:"):
            handle = token[5:].lower()
            if not re.fullmatch(r"[a-z0-9_]{1,15}", handle):
                raise self.fail(f"bad from: {token!r}")
            match = lambda p: p.author.lstrip("@").lower() == handle  # noqa: E731
        elif token.startswith("lang:"):
            code, standalone = token[5:], False  # X: lang: alone is not a query
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise self.fail(f"bad lang: {token!r}")
            match = lambda p: p.lang is not None and re.split(r"[-_]", p.lang.lower())[0] == code  # noqa: E731
        elif ":" in token and not token.startswith('"'):
            raise self.fail(f"operator {token!r} (not one the translation may use)")
        else:
            run = _run(token, self.query)
            match = lambda p: _has_run(_words(p.text), run)  # noqa: E731
        self.positive_standalone |= standalone and not negated
        return match


class _RedditParser(_Parser):
    """Lucene-like: AND / OR written out and never mixed without parentheses; NOT before a term or group."""

    def expr(self, negated: bool) -> Match:
        items, op = [self.unary(negated)], None
        while self.peek() in ("AND", "OR"):
            this = self.take()
            if op not in (None, this):
                raise self.fail("AND and OR mixed without parentheses")
            op = this
            items.append(self.unary(negated))
        if self.peek() not in (None, ")"):
            raise self.fail(f"{self.peek()!r} without AND / OR before it")
        if op == "OR":
            return lambda p: any(i(p) for i in items)
        return items[0] if len(items) == 1 else lambda p: all(i(p) for i in items)

    def unary(self, negated: bool) -> Match:
        if self.peek() == "NOT":
            self.take()
            if self.peek() == "NOT":
                raise self.fail("NOT NOT (Lucene takes one modifier per clause)")
            inner = self.primary(not negated)
            return lambda p: not inner(p)
        return self.primary(negated)

    def primary(self, negated: bool) -> Match:
        token = self.take()
        if token == "(":
            return self.group(self.expr, negated)
        if token in (")", "AND", "OR", "NOT"):
            raise self.fail(f"unexpected {token!r}")
        match: Match
        if token.startswith("title:"):
            run = _run(token[6:], self.query)
            match = lambda p: _has_run(_words(p.title or ""), run)  # noqa: E731
        elif token.startswith("subreddit:"):
            name = token[10:].lower()
            if not re.fullmatch(r"[a-z0-9_]{2,21}", name):
                raise self.fail(f"bad subreddit {token!r}")
            match = lambda p: (p.community or "").lower() == f"r/{name}"  # noqa: E731
        elif token.startswith("author:"):
            name = token[7:].lower()
            if not re.fullmatch(r"[a-z0-9_-]{2,21}", name):
                raise self.fail(f"bad author {token!r}")
            match = lambda p: p.author.lstrip("@").lower() == name  # noqa: E731
        elif ":" in token and not token.startswith('"'):
            raise self.fail(f"operator {token!r} (not one the translation may use)")
        else:
            run = _run(token, self.query)
            # title and text are two passages: a phrase does not run from one into the other
            match = lambda p: _has_run(_words(p.title or ""), run) or _has_run(_words(p.text), run)  # noqa: E731
        self.positive_standalone |= not negated
        return match


def x_model(query: str) -> Match:
    parser = _XParser(query, minus=True)
    return parser.done(parser.or_(False))


def reddit_model(query: str) -> Match:
    parser = _RedditParser(query, minus=False)
    return parser.done(parser.expr(False))


class _OpenParser(_Parser):
    """Bluesky, Mastodon, Hacker News, YouTube: terms side by side, all required; no OR, NOT or groups.

    `ops` are the operators the platform defines; `titled`: a post's title is searched as well."""

    def __init__(self, query: str, ops: tuple[str, ...], phrases: bool, titled: bool) -> None:
        super().__init__(query, minus=False)
        self.ops, self.phrases, self.titled = ops, phrases, titled

    def conjunction(self) -> Match:
        items = []
        while self.peek() is not None:
            items.append(self.primary())
        return lambda p: all(i(p) for i in items)

    def primary(self) -> Match:
        token = self.take()
        if token in ("(", ")", "OR", "AND", "NOT") or token.startswith("-"):
            raise self.fail(f"{token!r} (this platform has no OR, NOT or groups)")
        standalone = True
        match: Match
        name = token.split(":", 1)[0] + ":" if ":" in token and not token.startswith('"') else ""
        if token.startswith("#") and "#" in self.ops:
            tag = token[1:]
            if not re.fullmatch(r"\w+", tag):
                raise self.fail(f"bad hashtag {token!r}")
            match = lambda p: _tagged(p.text, "#", tag)  # noqa: E731
        elif name in ("mentions:", "from:") and name in self.ops:
            handle = token[len(name) :]
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*\.[a-z0-9-]+", handle):
                raise self.fail(f"bad handle {token!r}")
            if name == "from:":
                match = lambda p: p.author.lower() == handle  # noqa: E731
            else:
                match = lambda p: handle in {m.lower() for m in p.mentions} or _tagged(p.text, "@", handle)  # noqa: E731
        elif name == "lang:" and name in self.ops:
            code, standalone = token[5:], False
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise self.fail(f"bad lang: {token!r}")
            match = lambda p: p.lang is not None and re.split(r"[-_]", p.lang.lower())[0] == code  # noqa: E731
        elif name or token.startswith("#") or token.startswith("@"):
            raise self.fail(f"operator {token!r} (not one this platform defines)")
        elif token.startswith('"') and not self.phrases:
            raise self.fail(f"phrase {token!r} (this platform takes words)")
        else:
            run = _run(token, self.query)
            # a mention is written in the post there: its words are searched as text
            titled = self.titled

            def match(p: Post) -> bool:
                return _has_run(_words(_with_mentions(p)), run) or (titled and _has_run(_words(p.title or ""), run))

        self.positive_standalone |= standalone
        return match


def _with_mentions(post: Post) -> str:
    return " ".join([post.text, *(f"@{m}" for m in post.mentions)])


def open_model(ops: tuple[str, ...], phrases: bool = True, titled: bool = False) -> Callable[[str], Match]:
    def model(query: str) -> Match:
        parser = _OpenParser(query, ops, phrases, titled)
        return parser.done(parser.conjunction())

    return model


MODELS: dict[str, Callable[[str], Match]] = {
    "x": x_model,
    "reddit": reddit_model,
    "bluesky": open_model(("#", "mentions:", "from:", "lang:")),
    "mastodon": open_model(("#",)),
    "hackernews": open_model((), titled=True),
    "youtube": open_model((), phrases=False),
}

# -- the local matcher -------------------------------------------------------------------------------------


@dataclass
class Local:
    """A real store; `run` replaces its posts by a new batch, tags it with some queries (one topic each,
    one tag_mentions call) and says which posts (by index) each query matched."""

    store: Store
    counter: Iterator[int] = field(default_factory=itertools.count)

    def run(self, queries: list[str], posts: list[Post]) -> list[set[int]]:
        first, *others = queries
        topics = [{"name": f"q{i}", "query": q} for i, q in enumerate(others, 1)]
        org = settings_from_dict({"organization": {"name": "q0", "query": first, "topics": topics}}).organization
        rules = rules_from_organization(org)
        conn = self.store.conn
        for table in ("mention_topics", "interactions", "mentions", "authors"):
            conn.execute(f"DELETE FROM {table}")
        n = next(self.counter)  # fresh ids too: nothing of an earlier example can leak in
        docs = [_doc(f"e{n}p{i}", f"e{n}a{i}", post) for i, post in enumerate(posts)]
        result = load_batch(conn, documents_batch(docs), None, [])
        assert result.errors == [] and result.inserted == len(posts), result
        tag_mentions(conn, rules)
        matched: list[set[int]] = [set() for _ in queries]
        for topic, native in conn.execute(
            "SELECT topic, split_part(mention_id, ':', 2) FROM mention_topics"
        ).fetchall():
            matched[int(topic[1:])].add(int(native.split("p")[1]))
        return matched


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with Store(tmp_path_factory.mktemp("translation") / "t.duckdb") as s:
        prepare_own_accounts(s.conn, OwnAccounts())
        yield Local(s)


def check_covered(query: str, posts: list[Post], matched: set[int], max_length: int | None = None) -> None:
    """Each platform's requests are valid, fit the limit, and together match every post matched locally."""
    node = parse_query(query)
    for platform in PLATFORMS:
        translation = translate(node, platform, max_length)
        if not translation.queries:  # the platform is not asked: it must say why, and say it right
            assert translation.note, (query, platform)
            if translation.note.startswith("never matches"):
                missed = [posts[i] for i in sorted(matched) if posts[i].source == platform]
                assert not missed, f"query {query!r}: {platform} says {translation.note!r}, yet matched {missed[0]}"
            continue
        models = []
        for request in translation.queries:
            assert len(request) <= (max_length or DEFAULT_MAX_LENGTH[platform]), (query, platform, request)
            try:
                models.append(MODELS[platform](request))
            except ModelSyntaxError as exc:
                raise AssertionError(f"query {query!r} on {platform}: invalid request: {exc}") from None
        for i in sorted(matched):
            post = posts[i]
            if post.source == platform:
                assert any(model(post) for model in models), (
                    f"\n  query:      {query}\n  platform:   {platform}"
                    f"\n  requests:   {translation.queries}\n  post:       {post}"
                )


def _parses(query: str) -> bool:
    try:
        parse_query(query)
    except QuerySyntaxError:  # e.g. `NOT x`: matches posts that say none of its terms
        return False
    return True


# -- the property -----------------------------------------------------------------------------------------------

PROPERTY = hsettings(
    max_examples=40,  # each example checks up to 10 queries (about 4 accepted on average) on 24-50 posts
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: every call loads a store (~0.4 s), so shrinking would take minutes; the failure
    # message names the query, its requests and the one post none of them matches.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@PROPERTY
@given(
    drawn=st.lists(queries, min_size=4, max_size=10),
    xs=st.lists(x_posts, min_size=12, max_size=25),
    rs=st.lists(reddit_posts, min_size=12, max_size=25),
    os=st.lists(open_posts, min_size=12, max_size=25),
    max_length=st.sampled_from([None, None, None, 40, 80, 160]),
)
def test_every_local_match_is_asked_for_on_its_platform(
    local: Local, drawn: list[str], xs: list[Post], rs: list[Post], os: list[Post], max_length: int | None
) -> None:
    accepted = [q for q in dict.fromkeys(drawn) if _parses(q)]
    assume(accepted)
    posts = [*xs, *rs, *os]
    try:
        matched = local.run(accepted, posts)
    except ConfigError:  # a regular expression RE2 finds too large: refused at config time
        assume(False)
    for query, hits in zip(accepted, matched, strict=True):
        check_covered(query, posts, hits, max_length)


# -- examples ----------------------------------------------------------------------------------------------------


def _requests(query: str, platform: str, max_length: int | None = None) -> list[str]:
    return translate(parse_query(query), platform, max_length).queries


@pytest.mark.parametrize(
    ("query", "x", "reddit"),
    [
        ("acme NOT anvil", "acme -anvil", "acme AND NOT anvil"),
        ('"acme coffee" OR #acme', '"acme coffee" OR #acme', '"acme coffee" OR acme'),
        ("acme's", '"acme s"', '"acme s"'),
        ("acme NEAR/3 (recall OR lawsuit)", "acme (recall OR lawsuit)", "acme AND (recall OR lawsuit)"),  # NEAR: AND
        ("{Acme} coffee*", "acme", "acme"),  # any case; a wildcard word left out
        ("author:bob lang:fr acme", "from:bob lang:fr acme", "author:bob AND acme"),
        ("@acme (coffee OR recall) NOT (anvil OR gag)", "@acme (coffee OR recall) -(anvil OR gag)",
         "acme AND (coffee OR recall) AND NOT (anvil OR gag)"),
    ],
)  # fmt: skip
def test_translations_read_as_each_platform_writes_them(query: str, x: str, reddit: str) -> None:
    assert _requests(query, "x") == [x]
    assert _requests(query, "reddit") == [reddit]


def test_reddit_gets_its_own_fields() -> None:
    assert _requests("community:r/espresso title:grinder", "reddit") == ["subreddit:espresso AND title:grinder"]
    assert _requests('title:"acme launches" OR #acme', "reddit") == ['title:"acme launches" OR acme']


@pytest.mark.parametrize(
    ("query", "platform"),
    [
        ("title:acme", "x"),  # posts on X have no title
        ("community:r/espresso title:grinder", "x"),
        ("source:reddit acme", "x"),
        ("lang:fr", "x"),  # lang: alone is not a query on X
        ("acme*", "x"),  # every post would do
        ("wo?d OR #acme*", "reddit"),
        ("site:example.com", "x"),
        ("lang:fr", "reddit"),
        ("community:#espresso acme", "reddit"),  # a Reddit post's community is always r/<name>
        ("acme NEAR/2 coffee* NOT recall", "rss"),
    ],
)
def test_what_a_platform_cannot_express_is_not_asked(query: str, platform: str) -> None:
    translation = translate(parse_query(query), platform)
    assert translation.queries == [] and translation.note


BRANDS = [f"brand{i:02d}" for i in range(60)]


@pytest.mark.parametrize(("count", "max_length"), [(60, None), (20, 100), (12, 60)])
def test_a_long_or_is_split_into_requests_within_the_limit_that_still_find_every_match(
    local: Local, count: int, max_length: int | None
) -> None:
    words = BRANDS[:count]
    query = f"({' OR '.join(words)}) NOT anvil"
    posts = [Post("x", f"love {w}!", lang="fr") for w in words] + [Post("x", f"{words[-1]} anvil")]
    posts += [reddit_post(f"About {w}", "some text") for w in words] + [reddit_post(words[0], "an anvil")]
    (matched,) = local.run([query], posts)
    assert len(matched) == 2 * count
    for platform in CLOSED_PLATFORMS:
        requests = _requests(query, platform, max_length)
        assert len(requests) > 1, requests
        assert all(len(r) <= (max_length or DEFAULT_MAX_LENGTH[platform]) for r in requests), requests
        models = [MODELS[platform](r) for r in requests]
        assert not any(m(posts[-1 if platform == "reddit" else count]) for m in models)  # each keeps NOT anvil
    check_covered(query, posts, matched, max_length)


# Where the translation is exact, the models must agree with the local matcher post for post: they are
# fair readings of the platforms, not looser ones that would let a narrow translation pass.
EXACT_POSTS = [
    Post("x", "Acme makes coffee", lang="fr-CA"),
    Post("x", "Acme's new roast #acme", author="bob"),
    Post("x", "an ACME-branded mug, @acme!", lang="en"),
    Post("x", "thanks for the reply", mentions=("Acme",)),
    Post("x", "x#acme and info@acme.com and #acme_co", author="Bob", lang="fr"),
    Post("x", "the acme anvil gag", mentions=("acme_co",)),
    Post("x", "cold brew, coffee: recall"),
    Post("x", "Acme coffee, hot", author="jo_e", lang="en"),
    reddit_post("Acme launches", "cold brew coffee", author="jo-e"),
    reddit_post("news about acme", "coffee prices rise", sub="Coffee"),
    reddit_post("hi u/acme", "#acme anvil", author="bob", sub="Espresso"),
    reddit_post("acme", "coffee", sub="espresso"),  # a phrase does not run from the title into the text
    reddit_post("Acme coffee recall", "is it safe? my acme-branded mug", sub="espresso"),
    reddit_post("grinder", "Acme's recall of coffee", author="AcmeSupport"),
]
EXACT_QUERIES = [  # (query, the platforms whose translation of it is exact)
    ("acme", CLOSED_PLATFORMS), ('"acme coffee"', CLOSED_PLATFORMS), ("acme's", CLOSED_PLATFORMS), ("ACME-branded", CLOSED_PLATFORMS),
    ("acme NOT anvil", CLOSED_PLATFORMS), ("author:bob", CLOSED_PLATFORMS), ('(acme OR coffee) NOT (anvil OR "acme coffee")', CLOSED_PLATFORMS),
    ("#acme", ("x",)), ("@acme", ("x",)), ("@acme_co", ("x",)), ("(coffee OR recall) NOT #acme", ("x",)),
    ("lang:fr acme", ("x",)), ("acme lang:en", ("x",)), ("acme NOT @acme", ("x",)),
    ("title:acme", ("reddit",)), ('title:"acme launches" OR recall', ("reddit",)), ("community:r/espresso acme", ("reddit",)),
    ("acme NOT community:espresso", ("reddit",)), ("author:jo-e OR author:AcmeSupport", ("reddit",)),
]  # fmt: skip


def test_the_models_agree_with_the_local_matcher_where_the_translation_is_exact(local: Local) -> None:
    queries = [q for q, _ in EXACT_QUERIES]
    for (query, exact_on), matched in zip(EXACT_QUERIES, local.run(queries, EXACT_POSTS), strict=True):
        for platform in exact_on:
            (request,) = _requests(query, platform)
            model = MODELS[platform](request)
            model_hits = {i for i, p in enumerate(EXACT_POSTS) if p.source == platform and model(p)}
            local_hits = {i for i in matched if EXACT_POSTS[i].source == platform}
            assert local_hits, (query, platform)  # the example says something
            assert model_hits == local_hits, (query, platform, request)


def test_the_models_refuse_what_the_platforms_do_not_define() -> None:
    for bad in ["--acme", "acme -", "lang:fr", "lang:fr -acme", "(acme", "acme OR", "title:acme", "acme-co"]:
        with pytest.raises(ModelSyntaxError):
            x_model(bad)
    for bad in ["NOT NOT acme", "acme coffee", "a AND b OR c", "NOT acme", "lang:fr", "acme AND"]:
        with pytest.raises(ModelSyntaxError):
            reddit_model(bad)


# -- bugs found by the property (connectors/queries.py), one minimal example each: these fail until fixed --------


def test_a_double_negation_is_written_as_valid_syntax(local: Local) -> None:
    # X gets `acme --coffee` and Reddit `acme AND NOT NOT coffee`: _simplify keeps SNot(SNot(x)), which
    # neither platform defines (Lucene takes one modifier per clause). NOT NOT coffee is coffee.
    query = "acme NOT (NOT coffee)"
    posts = [Post("x", "acme coffee"), reddit_post("acme", "coffee")]
    (matched,) = local.run([query], posts)
    assert matched == {0, 1}
    check_covered(query, posts, matched)


def test_a_community_written_with_a_leading_slash_is_asked_on_reddit(local: Local) -> None:
    # The matcher reads community:/r/espresso as r/espresso (removeprefix("/")); the Reddit translation
    # does not, finds no valid subreddit name and says "never matches a post from reddit".
    query = "acme community:/r/espresso"
    posts = [reddit_post("acme grinder", "", sub="espresso")]
    (matched,) = local.run([query], posts)
    assert matched == {0}
    check_covered(query, posts, matched)


def test_a_mention_with_a_non_ascii_handle_is_not_cut_to_its_ascii_head_on_x(local: Local) -> None:
    # @café becomes @caf on X, but "@café" in a text is no mention of @caf (the é continues the word;
    # X's own parser refuses a mention followed by a Latin letter), so the post is never returned.
    query = "@café"
    posts = [Post("x", "merci @café")]
    (matched,) = local.run([query], posts)
    assert matched == {0}
    check_covered(query, posts, matched)


def test_splitting_never_drops_an_alternative_that_does_not_fit(local: Local) -> None:
    # With max_length 30 the X and Reddit requests are ["anvil"]: _pack keeps the chunks _split could
    # write and silently drops the one it could not (here a 38-character phrase), so the union of the
    # requests no longer holds every match; the translation should ask nothing (and say so) instead.
    query = '"acme coffee cold brew good bad recall" OR anvil'
    posts = [
        Post("x", "acme coffee cold brew good bad recall"),
        reddit_post("acme coffee cold brew good bad recall", ""),
    ]
    (matched,) = local.run([query], posts)
    assert matched == {0, 1}
    check_covered(query, posts, matched, max_length=30)


def test_each_split_request_keeps_a_standalone_term_on_x(local: Local) -> None:
    # Split into "lang:fr acme" and "lang:fr -anvil": the second has no positive standalone term, which
    # X refuses (lang: cannot stand alone, nor can exclusions); the whole query passes _has_standalone,
    # its parts are never checked. The French post without acme is then found by no valid request.
    query = "(acme OR NOT anvil) lang:fr"
    posts = [Post("x", "bonjour", lang="fr")]
    (matched,) = local.run([query], posts)
    assert matched == {0}
    check_covered(query, posts, matched, max_length=20)


@pytest.mark.parametrize(
    ("query", "bluesky", "hackernews"),
    [
        ("acme NOT anvil", ["acme"], ["acme"]),  # exclusions are the local matcher's there
        ('(acme OR "acme coffee") recall', ["acme recall", '"acme coffee" recall'],
         ["acme recall", '"acme coffee" recall']),
        ("#acme OR @acme.bsky.social OR author:bob.bsky.social", ["#acme", "mentions:acme.bsky.social",
         "from:bob.bsky.social"], []),  # author:... on Hacker News: every post would do
        ("acme lang:fr", ["acme lang:fr"], ["acme"]),
        ("(a OR b OR c OR d) (e OR f OR g)", ["e", "f", "g"], ["e", "f", "g"]),  # 12 branches: the widest OR left out
    ],
)  # fmt: skip
def test_platforms_without_or_get_one_request_per_branch(query: str, bluesky: list[str], hackernews: list[str]) -> None:
    assert _requests(query, "bluesky") == bluesky
    assert _requests(query, "hackernews") == hackernews


def test_mastodon_follows_a_hashtag_per_branch() -> None:
    from connectors.queries import hashtags_of

    assert hashtags_of(parse_query("acme NOT anvil")) == ["acme"]
    assert hashtags_of(parse_query("(acme OR initech OR #globex) recall")) == ["acme", "initech", "globex"]
    assert hashtags_of(parse_query('"acme coffee" OR acme*')) == []  # phrases and wildcards name no tag
    assert hashtags_of(parse_query("source:x acme")) == []
