"""The topic query language: text -> syntax tree (docs/queries.md).

    acme OR "acme coffee" NOT anvil          words, phrases, whole-post exclusion
    {Acme} NEAR/3 (recall OR lawsuit*)       case-sensitive term, proximity, wildcards
    #acme  @acme  author:acme  title:"new"   hashtags, @-mentions, fields

Precedence, loosest first: OR, AND (also implied between adjacent items), NOT,
NEAR/n. Operators are upper case; `and`/`or`/`not` in lower case are words. A
word is a run of Unicode letters, digits and underscores, so a term such as
`acme's` or `ACME-branded` is a phrase of its words. The tree is compiled twice,
in other layers: to DuckDB SQL for tagging (listener.core.matcher) and to each
platform's search syntax (connectors.queries). Both read the words from here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from listener.core.errors import ConfigError

MAX_NEAR = 100  # words; a wider window is a co-occurrence in practice, so write AND
MAX_QUERY_CHARS = 10_000

FIELDS = ("author", "source", "lang", "community", "site", "title")
Field = Literal["author", "source", "lang", "community", "site"]


def is_word_char(ch: str) -> bool:
    """A letter (with its combining marks: Indic vowel signs, accents), a digit or `_`."""
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def split_words(text: str, wildcards: bool = True) -> list[str]:
    """Runs of word characters (and, in queries, the wildcards `*` and `?`)."""
    words, current = [], []
    for ch in text:
        if is_word_char(ch) or (wildcards and ch in "*?"):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


# -- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """Words in a row (one word, or a phrase), in the post's title and text, or its title only.

    A word may hold `*` (any run of word characters) and `?` (exactly one character).
    """

    words: tuple[str, ...]
    case_sensitive: bool = False
    title_only: bool = False


@dataclass(frozen=True)
class Hashtag:
    tag: str  # one word, without '#'; may hold wildcards


@dataclass(frozen=True)
class AtMention:
    handle: str  # without '@', lower case; its words are joined by '.', '-', '@' as written


@dataclass(frozen=True)
class FieldMatch:
    field: Field
    value: str  # normalised (see _field_value); author may hold wildcards


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Near:
    """Some occurrence of a `left` term and of a `right` term with at most `distance - 1` words
    between them; `ordered`: left first."""

    left: tuple[Term, ...]
    right: tuple[Term, ...]
    distance: int
    ordered: bool = False
    title_only: bool = False


Node = Term | Hashtag | AtMention | FieldMatch | And | Or | Not | Near
Leaf = Term | Hashtag | AtMention | FieldMatch | Near


class QuerySyntaxError(ConfigError):
    """A malformed query: what was expected, where, with a caret under the spot."""

    def __init__(self, query: str, position: int, expected: str, where: str = "query") -> None:
        self.query, self.position, self.expected = query, position, expected
        line = query.replace("\n", " ").replace("\t", " ")
        start = max(0, position - 60)
        shown = line[start : position + 60]
        caret = " " * (position - start) + "^"
        super().__init__(f"{where}: expected {expected} at position {position + 1}\n    {shown}\n    {caret}")


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) OR AND NOT NEAR TERM PHRASE CASED HASH AT FIELD END
    text: str
    pos: int
    distance: int = 0
    ordered: bool = False
    field: str = ""
    value_kind: str = ""  # for FIELD: TERM | PHRASE | GROUP


_NEAR = re.compile(r"NEAR(?:/(\d+)(f?))?(?=$|[\s()\"])")
_OPERATOR = re.compile(r"(OR|AND|NOT)(?=$|[\s()\"{#@])")
_BARE = re.compile(r"[^\s()\"{}]+")
_FIELD = re.compile(r"([A-Za-z]+):")


class _Lexer:
    def __init__(self, query: str, where: str) -> None:
        self.query, self.where = query, where

    def error(self, pos: int, expected: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.query, pos, expected, self.where)

    def tokens(self) -> list[_Token]:
        q, i, out = self.query, 0, []
        while i < len(q):
            ch = q[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                out.append(_Token(ch, ch, i))
                i += 1
            elif ch == '"':
                end = q.find('"', i + 1)
                if end < 0:
                    raise self.error(i, 'a closing " for this phrase')
                out.append(_Token("PHRASE", q[i + 1 : end], i))
                i = end + 1
            elif ch == "{":
                end = q.find("}", i + 1)
                if end < 0:
                    raise self.error(i, "a closing } for this case-sensitive term")
                out.append(_Token("CASED", q[i + 1 : end].strip().strip('"'), i))
                i = end + 1
            elif ch == "}":
                raise self.error(i, "a term (this } closes nothing)")
            elif m := _NEAR.match(q, i):
                if m.group(1) is None:
                    raise self.error(i, "a distance after NEAR, such as NEAR/3 or NEAR/3f")
                out.append(_Token("NEAR", m.group(0), i, distance=int(m.group(1)), ordered=bool(m.group(2))))
                i = m.end()
            elif m := _OPERATOR.match(q, i):
                out.append(_Token(m.group(1), m.group(1), i))
                i = m.end()
            elif (m := _FIELD.match(q, i)) and i + len(m.group(0)) <= len(q):
                i = self._field(m, out)
            else:
                m = _BARE.match(q, i)
                assert m is not None  # any other character starts a bare run
                kind = {"#": "HASH", "@": "AT"}.get(ch, "TERM")
                out.append(_Token(kind, m.group(0), i))
                i = m.end()
        out.append(_Token("END", "", len(q)))
        return out

    def _field(self, m: re.Match[str], out: list[_Token]) -> int:
        q, start = self.query, m.start()
        name = m.group(1).lower()
        if name not in FIELDS:
            raise self.error(
                start,
                f"a known field ({', '.join(f + ':' for f in FIELDS)}), not '{m.group(1)}:'; "
                f'quote it ("{_BARE.match(q, start).group(0)}") to search the words',  # type: ignore[union-attr]
            )
        i = m.end()
        if i >= len(q) or q[i].isspace() or q[i] == ")":
            raise self.error(i, f"a value right after '{name}:'")
        if q[i] == '"':
            end = q.find('"', i + 1)
            if end < 0:
                raise self.error(i, 'a closing " for this phrase')
            out.append(_Token("FIELD", q[i + 1 : end], start, field=name, value_kind="PHRASE"))
            return end + 1
        if q[i] == "{":
            end = q.find("}", i + 1)
            if end < 0:
                raise self.error(i, "a closing } for this case-sensitive term")
            out.append(_Token("FIELD", q[i + 1 : end].strip().strip('"'), start, field=name, value_kind="CASED"))
            return end + 1
        if q[i] == "(":
            out.append(_Token("FIELD", "", start, field=name, value_kind="GROUP"))
            return i  # the group's tokens follow; the parser reads them in this field
        value = _BARE.match(q, i)
        if value is None:
            raise self.error(i, f"a value right after '{name}:'")
        out.append(_Token("FIELD", value.group(0), start, field=name, value_kind="TERM"))
        return value.end()


class _Parser:
    def __init__(self, query: str, where: str) -> None:
        self.query, self.where = query, where
        self.lexer = _Lexer(query, where)
        self.tokens = self.lexer.tokens()
        self.at = 0
        self.field: str | None = None  # inside `title:( ... )`

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def error(self, pos: int, expected: str) -> QuerySyntaxError:
        return self.lexer.error(pos, expected)

    def parse(self) -> Node:
        if self.token.kind == "END":
            raise self.error(0, "a term (the query is empty)")
        node = self.or_()
        if self.token.kind == ")":
            raise self.error(self.token.pos, "a term or operator (this ) closes nothing)")
        if self.token.kind != "END":
            raise self.error(self.token.pos, "the end of the query")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.token.kind == "OR":
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.token.kind not in ("OR", ")", "END"):
            if self.token.kind == "AND":
                self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        if self.token.kind == "NOT":
            self.take()
            return Not(self.not_())
        return self.near()

    def near(self) -> Node:
        start = self.token.pos
        left = self.primary()
        if self.token.kind != "NEAR":
            return left
        op = self.take()
        if not 1 <= op.distance <= MAX_NEAR:
            raise self.error(op.pos, f"a NEAR distance from 1 to {MAX_NEAR}")
        right_pos = self.token.pos
        right = self.primary()
        if self.token.kind == "NEAR":
            raise self.error(
                self.token.pos,
                "AND, OR or the end here, not a second NEAR (NEAR joins two terms; combine NEARs with AND/OR)",
            )
        sides = self.near_side(left, start), self.near_side(right, right_pos)
        in_title = {term.title_only for side in sides for term in side}
        if len(in_title) > 1:
            raise self.error(start, "both sides of NEAR in the title, or both in the whole post")
        return Near(*sides, op.distance, op.ordered, title_only=in_title == {True})

    def near_side(self, node: Node, pos: int) -> tuple[Term, ...]:
        if isinstance(node, Term):
            return (node,)
        if isinstance(node, Or) and all(isinstance(i, Term) for i in node.items):
            return tuple(i for i in node.items if isinstance(i, Term))
        raise self.error(pos, "a word, phrase or parenthesised OR of them on each side of NEAR")

    def primary(self) -> Node:
        token = self.token
        if token.kind == "(":
            self.take()
            if self.token.kind == ")":
                raise self.error(self.token.pos, "a term inside the parentheses")
            node = self.or_()
            if self.token.kind != ")":
                raise self.error(self.token.pos, f"a closing ) (the ( at position {token.pos + 1} is still open)")
            self.take()
            return node
        if token.kind in ("TERM", "PHRASE", "CASED"):
            self.take()
            return self.term(token, token.kind == "CASED", title_only=self.field == "title")
        if token.kind in ("HASH", "AT"):
            self.take()
            return self.tag(token)
        if token.kind == "FIELD":
            self.take()
            return self.field_node(token)
        if token.kind == "END":
            raise self.error(token.pos, "a term after this (the query ends here)")
        if token.kind == ")":
            raise self.error(token.pos, "a term before this )")
        raise self.error(token.pos, f"a term before {token.text}")

    def term(self, token: _Token, case_sensitive: bool, title_only: bool) -> Term:
        text = unicodedata.normalize("NFC", token.text)
        if token.kind == "TERM" and text.startswith("-") and len(text) > 1:
            raise self.error(token.pos, f"NOT {text[1:]} to exclude it (a leading - is not an operator here)")
        words = tuple(split_words(text))
        if not words or all(not w.strip("*?") for w in words):
            what = "a word or phrase" if words or token.kind != "PHRASE" else "words inside the quotes"
            raise self.error(token.pos, f"{what}, not {token.text!r} (it names nothing)")
        if any(not w.strip("*?") for w in words):
            raise self.error(token.pos, "letters or digits in each word (a lone * or ? matches any word)")
        return Term(words, case_sensitive=case_sensitive, title_only=title_only)

    def tag(self, token: _Token) -> Node:
        if self.field is not None:
            raise self.error(token.pos, f"words or phrases inside {self.field}:( ), not a hashtag or @-mention")
        body = unicodedata.normalize("NFC", token.text[1:])
        if token.kind == "HASH":
            if split_words(body) != [body] or not body.strip("*?"):
                raise self.error(token.pos, "a hashtag of one word after # (letters, digits, _)")
            return Hashtag(body)
        handle = body.lower()
        if not all(part and all(map(is_word_char, part)) for part in re.split(r"[.@-]", handle)):
            raise self.error(token.pos, "a handle after @ (letters, digits, _, joined by . - @)")
        return AtMention(handle)

    def field_node(self, token: _Token) -> Node:
        if token.value_kind == "GROUP":
            if self.field is not None:
                raise self.error(token.pos, "words or phrases inside a field's parentheses, not another field")
            self.field = token.field
            try:
                return self.primary()
            finally:
                self.field = None
        if self.field is not None:
            raise self.error(token.pos, "words or phrases inside a field's parentheses, not another field")
        if token.field == "title":
            kind = {"CASED": "CASED", "PHRASE": "PHRASE"}.get(token.value_kind, "TERM")
            value = _Token(kind, token.text, token.pos + len("title:"))
            return self.term(value, kind == "CASED", title_only=True)
        if token.value_kind == "CASED":
            raise self.error(token.pos, f"a plain value after '{token.field}:' (it is never case-sensitive)")
        return FieldMatch(token.field, self.field_value(token))  # type: ignore[arg-type]

    def field_value(self, token: _Token) -> str:
        value = unicodedata.normalize("NFC", token.text).strip()
        pos = token.pos + len(token.field) + 1
        name = token.field
        if name == "author":
            value = value.removeprefix("@").lower()
            ok = re.fullmatch(r"[\w*?]*\w[\w*?]*(?:[.@-][\w*?]+)*", value)
            need = "a handle (letters, digits, _, joined by . - @; wildcards allowed)"
        elif name == "source":
            value = value.lower()
            ok = re.fullmatch(r"[a-z][a-z0-9_-]*", value)
            need = "a source name such as x, reddit or rss"
        elif name == "lang":
            value = value.lower().replace("_", "-")
            ok = re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*", value)
            need = "a language code such as en, fr or pt-br"
        elif name == "community":
            value = " ".join(value.lower().split())  # a feed name may have spaces: community:"Espresso Forum"
            ok = re.search(r"\w", value)
            need = "a community such as r/espresso, a feed name or #tag"
        else:  # site
            value = re.sub(r"^[a-z][a-z0-9+.-]*://", "", value.lower()).rstrip("/").removeprefix(".")
            ok = re.fullmatch(r"[\w-]+(?:\.[\w-]+)*", value)
            need = "a host name such as example.com (no path)"
        if not ok:
            raise self.error(pos, f"{need} after '{name}:'")
        return value


def parse_query(query: str, where: str = "query") -> Node:
    """The syntax tree of `query`; a QuerySyntaxError (a ConfigError, exit 2) says what and where.

    A query must name something a post says: one that also matches posts containing
    none of its terms (`NOT anvil`, `acme OR NOT anvil`) is refused.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(query, MAX_QUERY_CHARS, f"a query of at most {MAX_QUERY_CHARS} characters", where)
    node = _Parser(query, where).parse()
    if evaluate_without_leaves(node):
        raise QuerySyntaxError(
            query,
            0,
            "a query that needs some term to match (this one also matches posts that say none "
            "of its terms; write e.g. acme NOT anvil)",
            where,
        )
    return node


def evaluate_without_leaves(node: Node) -> bool:
    """The query's value for a post where no term, tag, mention or field matches."""
    if isinstance(node, And):
        return all(evaluate_without_leaves(i) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate_without_leaves(i) for i in node.items)
    if isinstance(node, Not):
        return not evaluate_without_leaves(node.item)
    return False


def leaves(node: Node) -> list[Leaf]:
    """Every leaf of the tree, left to right (a Near counts as one leaf)."""
    if isinstance(node, And | Or):
        return [leaf for item in node.items for leaf in leaves(item)]
    if isinstance(node, Not):
        return leaves(node.item)
    return [node]


def describe(node: Node) -> str:
    """The query written back, fully parenthesised (for logs, `listener query test` and tests)."""
    if isinstance(node, Term):
        body = " ".join(node.words)
        body = f'"{body}"' if len(node.words) > 1 else body
        body = "{" + body + "}" if node.case_sensitive else body
        return f"title:{body}" if node.title_only else body
    if isinstance(node, Hashtag):
        return f"#{node.tag}"
    if isinstance(node, AtMention):
        return f"@{node.handle}"
    if isinstance(node, FieldMatch):
        return f"{node.field}:{node.value}"
    if isinstance(node, Near):

        def side(terms: tuple[Term, ...]) -> str:
            return describe(terms[0]) if len(terms) == 1 else "(" + " OR ".join(map(describe, terms)) + ")"

        return f"{side(node.left)} NEAR/{node.distance}{'f' if node.ordered else ''} {side(node.right)}"
    if isinstance(node, Not):
        return f"NOT {describe(node.item)}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(describe(i) for i in node.items) + ")"


def positive_leaves(node: Node, positive: bool = True) -> list[Leaf]:
    """The leaves that make a post match (not those under an odd number of NOTs)."""
    if isinstance(node, And | Or):
        return [leaf for item in node.items for leaf in positive_leaves(item, positive)]
    if isinstance(node, Not):
        return positive_leaves(node.item, not positive)
    return [node] if positive else []


def _python_word(word: str) -> str:
    return "".join(r"\w*" if c == "*" else r"\w" if c == "?" else re.escape(c) for c in word)


def _python_pattern(term: Term) -> str:
    return r"(?<!\w)" + r"[^\w]+".join(_python_word(w) for w in term.words) + r"(?!\w)"


def mark_matches(text: str, node: Node, before: str = "\u00ab", after: str = "\u00bb") -> str:
    """`text` with what the query's positive terms match marked «like this» (for people reading samples;
    tagging itself is SQL, listener.core.matcher)."""
    patterns: list[tuple[str, bool]] = []
    for leaf in positive_leaves(node):
        terms = [*leaf.left, *leaf.right] if isinstance(leaf, Near) else [leaf] if isinstance(leaf, Term) else []
        patterns += [(_python_pattern(t), t.case_sensitive) for t in terms]
        if isinstance(leaf, Hashtag):
            patterns.append((r"(?<!\w)#" + _python_word(leaf.tag) + r"(?!\w)", False))
        if isinstance(leaf, AtMention):
            patterns.append((r"(?<!\w)@" + re.escape(leaf.handle) + r"(?!\w)", False))
    spans: list[tuple[int, int]] = []
    for pattern, cased in patterns:
        flags = 0 if cased else re.IGNORECASE
        spans += [m.span() for m in re.finditer(pattern, text, flags) if m.end() > m.start()]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out += [text[at:start], before, text[start:end], after]
        at = end
    return "".join([*out, text[at:]])
