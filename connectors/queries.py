"""A topic query (listener.core.query) as each platform's search syntax: widened, never narrowed.

A platform is asked with the part of the query it can express; where it cannot
express something exactly, the translation asks for more (a wildcard word is left
out of its phrase, NEAR becomes AND, a case-sensitive term any case) and the local
matcher (listener.core.matcher) decides what is tagged. Under NOT the widening runs
the other way: what cannot be excluded exactly is not excluded. A query longer than
the platform allows is split into several requests whose union holds every match.

    X           words, "phrases", OR, -exclusion, #tag, @handle, from:, lang:   (512 characters)
    Reddit      words, "phrases", AND/OR/NOT, title:, subreddit:, author:         (512 characters)
    Bluesky     words, "phrases", #tag, from:, mentions:, lang:; no OR, no NOT    (300 characters)
    Mastodon    words, "phrases", #tag (search_v2); no OR, no NOT                 (300 characters)
                plus hashtag timelines: the hashtags a query names (`hashtags_of`)
    Hacker News words, "phrases" (Algolia); no OR, no NOT                         (512 characters)
    YouTube     words (commentThreads searchTerms); no OR, no NOT                 (300 characters)
    RSS         no search: every item of every feed is matched locally

On the platforms without OR a query becomes one request per branch of its OR (its
disjunctive form, at most MAX_REQUESTS; past that the widest OR is left out, asking
for more), and exclusions are left to the local matcher.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from listener.core.query import (
    And,
    AtMention,
    FieldMatch,
    Hashtag,
    Near,
    Node,
    Not,
    Or,
    Term,
    parse_query,
    split_words,
)
from listener.core.settings import Organization, Settings, SourceBase
from listener.core.sources import traits_of

log = logging.getLogger(__name__)

MAX_REQUESTS = 10  # per topic and platform: more would spend the search quota on one topic

# -- what a platform understands --------------------------------------------------------


@dataclass(frozen=True)
class Words:
    words: tuple[str, ...]  # lower case, no wildcards; more than one: a phrase


@dataclass(frozen=True)
class Op:
    """A platform operator with a value: #tag, @handle, from:, lang:, title:, subreddit:, author:."""

    name: str
    value: str
    standalone: bool = True  # X: lang: alone is not a query


@dataclass(frozen=True)
class SAnd:
    items: tuple[Search, ...]


@dataclass(frozen=True)
class SOr:
    items: tuple[Search, ...]


@dataclass(frozen=True)
class SNot:
    item: Search


@dataclass(frozen=True)
class Const:
    value: bool  # True: every post (cannot be searched); False: no post of this platform


Search = Words | Op | SAnd | SOr | SNot | Const
TRUE, FALSE = Const(True), Const(False)


@dataclass
class Translation:
    platform: str
    queries: list[str] = field(default_factory=list)  # send each; the union holds every match
    note: str = ""  # why there is no query, or what was widened


# -- translating -------------------------------------------------------------------------

_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
_REDDIT_NAME = re.compile(r"[A-Za-z0-9_-]{2,21}")


@dataclass(frozen=True)
class Platform:
    name: str
    max_length: int
    term: Callable[[Term, bool], Search]
    leaf: Callable[[Hashtag | AtMention | FieldMatch, bool], Search]
    render: Callable[[Search], str]
    and_only: bool = False  # no OR and no exclusion: one request per OR branch, NOT left to the matcher


def _literal_runs(term: Term) -> list[tuple[str, ...]]:
    """The runs of wildcard-free words of a term ("big acme* coffee" -> (big), (coffee))."""
    runs: list[list[str]] = [[]]
    for word in term.words:
        if "*" in word or "?" in word:
            runs.append([])
        else:
            runs[-1].append(word.lower())
    return [tuple(run) for run in runs if run]


def _plain_term(term: Term, positive: bool) -> Search:
    """A term on a platform without wildcards, case or title: wider when positive, narrower under NOT."""
    if positive:
        runs = _literal_runs(term)
        if not runs:
            return TRUE
        return SAnd(tuple(Words(run) for run in runs)) if len(runs) > 1 else Words(runs[0])
    if term.case_sensitive or any("?" in w for w in term.words):
        return FALSE
    # `acme*` holds every post saying "acme": a narrower exclusion
    return Words(tuple(w.replace("*", "").lower() for w in term.words))


def _x_term(term: Term, positive: bool) -> Search:
    if term.title_only:  # posts on X have no title: title:... never matches one
        return FALSE
    return _plain_term(term, positive)


def _x_leaf(leaf: Hashtag | AtMention | FieldMatch, positive: bool) -> Search:
    unknown = TRUE if positive else FALSE
    if isinstance(leaf, Hashtag):
        if "*" not in leaf.tag and "?" not in leaf.tag:
            return Op("#", leaf.tag.lower())
        return unknown
    if isinstance(leaf, AtMention):
        if _X_HANDLE.fullmatch(leaf.handle):
            return Op("@", leaf.handle)
        # "@acme.bsky.social" in a post on X: X reads the mention @acme (not so "@café": é is a letter)
        head = re.match(r"([a-z0-9_]+)[.@-]", leaf.handle)
        return Op("@", head.group(1)) if positive and head and _X_HANDLE.fullmatch(head.group(1)) else unknown
    if leaf.field == "source":
        return Const(leaf.value == "x")
    if leaf.field == "author":
        return Op("from:", leaf.value) if _X_HANDLE.fullmatch(leaf.value) else unknown
    if leaf.field == "lang" and positive:
        return Op("lang:", leaf.value.split("-")[0], standalone=False)
    return unknown  # community, site, an excluded language


def _reddit_term(term: Term, positive: bool) -> Search:
    inner = _plain_term(term, positive)
    if not term.title_only:
        return inner

    def titled(node: Search) -> Search:
        if isinstance(node, Words):
            return Op("title:", " ".join(node.words))
        if isinstance(node, SAnd):
            return SAnd(tuple(titled(i) for i in node.items))
        return node

    return titled(inner)


def _reddit_leaf(leaf: Hashtag | AtMention | FieldMatch, positive: bool) -> Search:
    unknown = TRUE if positive else FALSE
    if isinstance(leaf, Hashtag):  # Reddit's search reads "#acme" as the word acme
        if not positive or "*" in leaf.tag or "?" in leaf.tag:
            return unknown
        return Words((leaf.tag.lower(),))
    if isinstance(leaf, AtMention):
        return Words(tuple(split_words(leaf.handle))) if positive else FALSE
    if leaf.field == "source":
        return Const(leaf.value == "reddit")
    if leaf.field == "author":
        return Op("author:", leaf.value) if _REDDIT_NAME.fullmatch(leaf.value) else unknown
    if leaf.field == "community":
        name = leaf.value.lstrip("/").removeprefix("r/")
        if leaf.value.startswith("#") or not _REDDIT_NAME.fullmatch(name):
            return FALSE  # every Reddit post's community is r/<subreddit>
        return Op("subreddit:", name)
    return unknown  # lang (Reddit gives none), site (a post's URL is its permalink)


_BSKY_HANDLE = re.compile(r"[a-z0-9][a-z0-9.-]*\.[a-z0-9-]+")


def _open_leaf(source: str, ops: dict[str, str]) -> Callable[[Hashtag | AtMention | FieldMatch, bool], Search]:
    """Leaves on a platform without OR or NOT: what it can ask exactly, the words otherwise (wider).

    `ops` names the platform's operators: "#" for hashtags, "mentions:" / "from:" / "lang:"."""

    def leaf(node: Hashtag | AtMention | FieldMatch, positive: bool) -> Search:
        unknown = TRUE if positive else FALSE
        if isinstance(node, FieldMatch) and node.field == "source":
            return Const(node.value == source)
        if not positive:
            return FALSE  # exclusions are the local matcher's
        if isinstance(node, Hashtag):
            if "*" in node.tag or "?" in node.tag:
                return unknown
            return Op("#", node.tag.lower()) if "#" in ops else Words((node.tag.lower(),))
        if isinstance(node, AtMention):
            if "mentions:" in ops and _BSKY_HANDLE.fullmatch(node.handle.lower()):
                return Op("mentions:", node.handle.lower())
            words = tuple(w.lower() for w in split_words(node.handle) if "*" not in w and "?" not in w)
            return Words(words) if words else unknown
        if node.field == "author" and "from:" in ops and _BSKY_HANDLE.fullmatch(node.value.lower()):
            return Op("from:", node.value.lower())
        if node.field == "lang" and "lang:" in ops:
            return Op("lang:", node.value.split("-")[0], standalone=False)
        return unknown  # author names, communities, sites: matched locally

    return leaf


def _open_term(term: Term, positive: bool) -> Search:
    return _plain_term(term, True) if positive else FALSE


def _render_open(node: Search) -> str:
    """One conjunction: words, "phrases" and operators side by side (AND is implied)."""
    if isinstance(node, Words):
        return _quoted(node.words)
    if isinstance(node, Op):
        return f"{node.name}{node.value}"
    if isinstance(node, SAnd):
        return " ".join(_render_open(i) for i in node.items)
    raise ValueError(f"cannot write {node!r} on a platform without OR or NOT")


def _render_plain_words(node: Search) -> str:
    """YouTube's searchTerms: the words only."""
    if isinstance(node, Words):
        return " ".join(node.words)
    if isinstance(node, SAnd):
        return " ".join(_render_plain_words(i) for i in node.items)
    raise ValueError(f"cannot write {node!r} as YouTube search terms")


def _without_not(node: Search) -> Search:
    """Exclusions left out (a wider search); under AND-only platforms the matcher applies them."""
    if isinstance(node, SNot):
        return TRUE
    if isinstance(node, SAnd | SOr):
        return _simplify(type(node)(tuple(_without_not(i) for i in node.items)))
    return node


def _disjuncts(node: Search, limit: int) -> list[Search] | None:
    """The OR branches of `node` in disjunctive form, or None when there would be more than `limit`."""
    if isinstance(node, SOr):
        out: list[Search] = []
        for item in node.items:
            part = _disjuncts(item, limit)
            if part is None or len(out) + len(part) > limit:
                return None
            out += part
        return out
    if isinstance(node, SAnd):
        branches: list[Search] = [TRUE]
        for item in node.items:
            part = _disjuncts(item, limit)
            if part is None or len(branches) * len(part) > limit:
                return None
            branches = [_simplify(SAnd((b, p))) for b in branches for p in part]
        return branches
    return [node]


def _open_requests(search: Search, platform: Platform) -> list[Search]:
    """Requests without OR or NOT whose union holds every match of `search` (wider where needed)."""
    search = _without_not(search)
    while True:
        if search == TRUE or not _has_standalone(search):
            return []
        parts = _disjuncts(search, MAX_REQUESTS)
        if parts is not None:
            fitting: list[Search] = []
            for part in parts:
                while len(platform.render(part)) > platform.max_length and isinstance(part, SAnd):
                    longest = max(part.items, key=lambda i: len(platform.render(i)))
                    part = _simplify(SAnd(tuple(i for i in part.items if i is not longest)))
                if len(platform.render(part)) > platform.max_length or not _has_standalone(part):
                    return []
                fitting.append(part)
            return fitting
        if not isinstance(search, SAnd):
            return []  # a top-level OR of more than MAX_REQUESTS branches: only tagged locally
        # too many branches: leave out the AND's widest OR (a wider search)
        ors = [i for i in search.items if isinstance(i, SOr)]
        widest = max(ors, key=lambda i: len(_disjuncts(i, 10**6) or ()))
        search = _simplify(SAnd(tuple(i for i in search.items if i is not widest)))


def translate_node(node: Node, platform: Platform, positive: bool = True) -> Search:
    if isinstance(node, And):
        return _simplify(SAnd(tuple(translate_node(i, platform, positive) for i in node.items)))
    if isinstance(node, Or):
        items = [translate_node(i, platform, positive) for i in node.items]
        # A branch with no positive term (`coffee OR NOT anvil`) is refused by X and read by
        # Reddit's Lucene as an exclusion of the whole group: ask for more instead (or, under
        # NOT, exclude less by leaving the branch out).
        if any(not isinstance(i, Const) and not _has_standalone(i) for i in items):
            if positive:
                return TRUE
            items = [i for i in items if isinstance(i, Const) or _has_standalone(i)]
        return _simplify(SOr(tuple(items)))
    if isinstance(node, Not):
        return _simplify(SNot(translate_node(node.item, platform, not positive)))
    if isinstance(node, Term):
        return platform.term(node, positive)
    if isinstance(node, Near):
        if not positive:
            return FALSE
        sides = [SOr(tuple(platform.term(t, True) for t in side)) for side in (node.left, node.right)]
        return _simplify(SAnd(tuple(_simplify(s) for s in sides)))
    return platform.leaf(node, positive)


def _simplify(node: Search) -> Search:
    if isinstance(node, SNot):
        if isinstance(node.item, SNot):  # NOT NOT x: neither platform takes a double negation
            return node.item.item
        return Const(not node.item.value) if isinstance(node.item, Const) else node
    if isinstance(node, SAnd | SOr):
        absorbing, neutral = (FALSE, TRUE) if isinstance(node, SAnd) else (TRUE, FALSE)
        items: list[Search] = []
        for item in node.items:
            if item == absorbing:
                return absorbing
            if item == neutral:
                continue
            items.extend(item.items if isinstance(item, SAnd | SOr) and type(item) is type(node) else [item])
        unique = tuple(dict.fromkeys(items))
        if not unique:
            return neutral
        return unique[0] if len(unique) == 1 else type(node)(unique)
    return node


# -- writing -----------------------------------------------------------------------------


def _quoted(words: tuple[str, ...]) -> str:
    text = " ".join(words)
    plain = len(words) == 1 and re.fullmatch(r"\w+", text) and text.upper() not in ("OR", "AND", "NOT")
    return text if plain else '"' + text.replace('"', "") + '"'


def _render_x(node: Search) -> str:
    if isinstance(node, Words):
        return _quoted(node.words)
    if isinstance(node, Op):
        return f"{node.name}{node.value}"
    if isinstance(node, SNot):
        return "-" + _grouped(node.item, _render_x)
    if isinstance(node, SAnd):
        return " ".join(_grouped(i, _render_x) if isinstance(i, SOr) else _render_x(i) for i in node.items)
    if isinstance(node, SOr):
        return " OR ".join(_grouped(i, _render_x) if isinstance(i, SAnd) else _render_x(i) for i in node.items)
    raise ValueError(f"cannot write {node!r}")


def _render_reddit(node: Search) -> str:
    if isinstance(node, Words):
        return _quoted(node.words)
    if isinstance(node, Op):
        value = node.value
        return f"{node.name}{_quoted(tuple(value.split())) if ' ' in value else value}"
    if isinstance(node, SNot):
        return "NOT " + _grouped(node.item, _render_reddit)
    joiner = " AND " if isinstance(node, SAnd) else " OR "
    if isinstance(node, SAnd | SOr):
        return joiner.join(
            _grouped(i, _render_reddit) if isinstance(i, SAnd | SOr) else _render_reddit(i) for i in node.items
        )
    raise ValueError(f"cannot write {node!r}")


def _grouped(node: Search, render: Callable[[Search], str]) -> str:
    text = render(node)
    return f"({text})" if isinstance(node, SAnd | SOr) else text


PLATFORMS: dict[str, Platform] = {
    "x": Platform("x", 512, _x_term, _x_leaf, _render_x),
    "reddit": Platform("reddit", 512, _reddit_term, _reddit_leaf, _render_reddit),
    "bluesky": Platform(
        "bluesky",
        300,
        _open_term,
        _open_leaf("bluesky", {"#": "", "mentions:": "", "from:": "", "lang:": ""}),
        _render_open,
        and_only=True,
    ),
    "mastodon": Platform("mastodon", 300, _open_term, _open_leaf("mastodon", {"#": ""}), _render_open, and_only=True),
    "hackernews": Platform("hackernews", 512, _open_term, _open_leaf("hackernews", {}), _render_open, and_only=True),
    "youtube": Platform("youtube", 300, _open_term, _open_leaf("youtube", {}), _render_plain_words, and_only=True),
}
LOCAL_ONLY = {"rss": "no search: every item of every feed is matched locally"}


def _has_standalone(node: Search, positive: bool = True) -> bool:
    if isinstance(node, Words):
        return positive
    if isinstance(node, Op):
        return positive and node.standalone
    if isinstance(node, SNot):
        return _has_standalone(node.item, not positive)
    if isinstance(node, SAnd | SOr):
        return any(_has_standalone(i, positive) for i in node.items)
    return False


def _matches_nothing_said(node: Search) -> bool:
    """True when the search also matches posts that contain none of its words (`-anvil`)."""
    if isinstance(node, SAnd):
        return all(_matches_nothing_said(i) for i in node.items)
    if isinstance(node, SOr):
        return any(_matches_nothing_said(i) for i in node.items)
    if isinstance(node, SNot):
        return not _matches_nothing_said(node.item)
    return isinstance(node, Const) and node.value


def _split(node: Search, platform: Platform) -> list[Search]:
    """Searches of at most `max_length` characters whose union holds every match of `node`."""
    if len(platform.render(node)) <= platform.max_length:
        return [node]
    if isinstance(node, SOr):
        return _pack(node.items, lambda part: _simplify(SOr(part)), platform)
    if isinstance(node, SAnd):
        ors = [i for i in node.items if isinstance(i, SOr)]
        if ors:  # (a OR b OR c) d -> (a OR b) d, c d
            widest = max(ors, key=lambda i: len(platform.render(i)))
            rest = tuple(i for i in node.items if i is not widest)
            return _pack(widest.items, lambda part: _simplify(SAnd((*rest, _simplify(SOr(part))))), platform)
        # no OR left to split: leaving a condition out widens the search (an exclusion first)
        droppable: list[Search] = [i for i in node.items if isinstance(i, SNot)] or list(node.items)
        longest = max(droppable, key=lambda i: len(platform.render(i)))
        rest_node = _simplify(SAnd(tuple(i for i in node.items if i is not longest)))
        if rest_node == TRUE or not _has_standalone(rest_node):
            return []
        return _split(rest_node, platform)
    return []  # one word or operator longer than the limit


def _pack(items: tuple[Search, ...], build: Callable[[tuple[Search, ...]], Search], platform: Platform) -> list[Search]:
    """As few searches as fit: items added to one search while its text stays within the limit."""
    chunks: list[list[Search]] = [[]]
    for item in items:
        trial = [*chunks[-1], item]
        if chunks[-1] and len(platform.render(build(tuple(trial)))) > platform.max_length:
            chunks.append([item])
        else:
            chunks[-1] = trial
    # each chunk holds fewer of the OR's items than the node: the recursion ends
    searches: list[Search] = []
    for chunk in chunks:
        parts = _split(build(tuple(chunk)), platform)
        if not parts:  # a part that cannot be asked: the others would miss its posts
            return []
        searches += parts
    return searches


def _askable(parts: list[Search]) -> list[Search]:
    """All the parts, or none when one of them would ask for everything or has nothing to search."""
    if any(_matches_nothing_said(p) or not _has_standalone(p) for p in parts):
        return []
    return parts


def translate(node: Node, platform_name: str, max_length: int | None = None) -> Translation:
    """The requests that ask `platform_name` for (at least) every post `node` matches."""
    if platform_name in LOCAL_ONLY:
        return Translation(platform_name, note=LOCAL_ONLY[platform_name])
    platform = PLATFORMS[platform_name]
    if max_length is not None:
        platform = dataclasses.replace(platform, max_length=max_length)
    search = translate_node(node, platform)
    if search == FALSE:
        return Translation(platform_name, note=f"never matches a post from {platform_name}: nothing to ask")
    if search == TRUE or _matches_nothing_said(search) or not _has_standalone(search):
        return Translation(
            platform_name,
            note=f"{platform_name} cannot search for this (it would return everything): only tagged locally",
        )
    if platform.and_only:
        return _open_translation(platform, search, has_not(node))
    parts = _askable(_split(search, platform))
    while len(parts) > MAX_REQUESTS and isinstance(search, SAnd):
        # too many requests for one topic: leave out the condition that splits most, a wider search
        longest = max(search.items, key=lambda i: len(platform.render(i)))
        search = _simplify(SAnd(tuple(i for i in search.items if i is not longest)))
        if search == TRUE or not _has_standalone(search):
            break
        parts = _askable(_split(search, platform))
    if len(parts) > MAX_REQUESTS:
        return Translation(platform_name, note=f"needs more than {MAX_REQUESTS} requests: only tagged locally")
    if not parts:
        return Translation(platform_name, note=f"longer than {platform.max_length} characters even when split")
    queries = list(dict.fromkeys(platform.render(p) for p in parts))
    note = (
        f"split into {len(queries)} requests ({platform.max_length} characters each at most)"
        if len(queries) > 1
        else ""
    )
    return Translation(platform_name, queries, note)


def has_not(node: Node) -> bool:
    if isinstance(node, Not):
        return True
    return isinstance(node, And | Or) and any(has_not(i) for i in node.items)


def _open_translation(platform: Platform, search: Search, excludes: bool) -> Translation:
    parts = _open_requests(search, platform)
    if not parts:
        return Translation(
            platform.name,
            note=f"{platform.name} cannot search for this without OR or NOT "
            f"(within {MAX_REQUESTS} requests of {platform.max_length} characters): only tagged locally",
        )
    queries = list(dict.fromkeys(platform.render(p) for p in parts))
    notes = []
    if len(queries) > 1:
        notes.append(f"one request per OR branch ({len(queries)})")
    if excludes:
        notes.append("exclusions applied locally")
    return Translation(platform.name, queries, "; ".join(notes))


def hashtags_of(node: Node) -> list[str]:
    """The hashtag timelines a query is followed through (Mastodon), lower case, once each.

    Per OR branch of the query: its #tags, or else its first one-word term as a tag (`acme recall`
    -> #acme), so a tag timeline stands for each way a post can match; wildcards and phrases give
    none. A timeline holds only tagged posts: the rest comes from search_v2 where an instance allows it.
    """
    search = _without_not(translate_node(node, PLATFORMS["mastodon"]))
    if isinstance(search, Const):
        return []
    tags: list[str] = []
    for part in _disjuncts(search, MAX_REQUESTS) or [search]:
        items = part.items if isinstance(part, SAnd) else (part,)
        named = [i.value for i in items if isinstance(i, Op) and i.name == "#"]
        words = [i.words[0] for i in items if isinstance(i, Words) and len(i.words) == 1]
        tags += named or words[:1]
    return [t for t in dict.fromkeys(tags) if re.fullmatch(r"\w+", t)]


def topic_hashtags(org: Organization) -> list[str]:
    """Every query topic's hashtags, in topic order, once each (Mastodon's default `hashtags`)."""
    tags: list[str] = []
    for _name, node in searched_topics(org):
        tags += hashtags_of(node)
    return list(dict.fromkeys(tags))


def max_query_length(settings: Settings, platform: str) -> int | None:
    """The source's `max_query_length` setting where it has one (X: 512, 1024 on Pro), else the default."""
    if traits_of(platform) is None:  # a platform whose connector is not registered (yet)
        return None
    value = getattr(settings.sources.section(platform, SourceBase), "max_query_length", None)
    return value if isinstance(value, int) else None


def supported_platforms() -> list[str]:
    return [*PLATFORMS, *LOCAL_ONLY]


def searched_topics(org: Organization) -> list[tuple[str, Node]]:
    """The topics given as queries that the platforms are asked for: brand, competitors, topics."""
    topics = [(org.name, org.query, "organization.query")]
    topics += [(c.name, c.query, f"organization.competitors[{i}].query") for i, c in enumerate(org.competitors)]
    topics += [(t.name, t.query, f"organization.topics[{i}].query") for i, t in enumerate(org.topics) if t.search]
    return [(name, parse_query(query, f"topic {name!r} ({where})")) for name, query, where in topics if query]


def platform_queries(org: Organization, platform: str, max_length: int | None = None) -> list[str]:
    """Every request `platform` gets for the organization's query topics, in topic order, once each."""
    queries: list[str] = []
    for name, node in searched_topics(org):
        translation = translate(node, platform, max_length)
        if translation.note:
            log.info("%s: topic %r: %s", platform, name, translation.note)
        queries.extend(translation.queries)
    return list(dict.fromkeys(queries))
