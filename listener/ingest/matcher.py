"""A topic query's syntax tree -> one DuckDB SQL condition that tags a whole batch at once.

Every mention is read once into a few normalised columns (`tag_input`, built by
`input_columns`); each query becomes a boolean expression over them:

    w     ' title words | text words ', lower case; a word is a run of letters, digits and _
          and one space separates two words, so a phrase is `contains(w, ' acme coffee ')`
          and `acme*` is `contains(w, ' acme')`; '|' keeps phrases and NEAR inside one part
    cw    the same, case kept ({Acme})
    tw    the title's words only (title:), ctw case kept
    r     title and text in lower case plus ' @handle' for each listed mention (#tag, @handle)
    handle, src, lng, comm, host   author handle, source, language, community, URL host

Words, phrases and prefixes are plain substring tests; `?`, inner wildcards, hashtags,
mentions and NEAR are RE2 expressions behind a substring pre-filter, so the regular
expression runs only on the few rows that can match. Query words go through the same
lower() and word split as the text, by DuckDB itself, so both sides agree on every script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from listener.core.query import And, AtMention, FieldMatch, Hashtag, Near, Node, Not, Or, Term

_WORD = r"[\pL\pN_]"
_NOT_WORD = r"[^\pL\pN_]"
_GAP_WORD = r"[^ |]"  # inside w/cw every character but ' ' and '|' belongs to a word


def fold_sql(value: str) -> str:
    """SQL: `value` in lower case, the final sigma read as sigma (ΟΔΟΣ, οδος and οδοσ are one word)."""
    return f"replace(lower({value}), '\u03c2', '\u03c3')"


def words_sql(value: str) -> str:
    """SQL: the words of `value` (an SQL expression), separated by single spaces."""
    return f"regexp_replace({value}, '{_NOT_WORD}+', ' ', 'g')"


def input_columns(needs: set[str]) -> dict[str, str]:
    """The `tag_input` columns the compiled queries read, as SQL over `mentions m` (title `t`, text `x`
    NFC-normalised), `authors a` and `listed` (the mention's @-handles)."""
    columns = {
        "w": f"' ' || {words_sql(fold_sql('t'))} || ' | ' || {words_sql(fold_sql('x'))} || ' '",
        "cw": f"' ' || {words_sql('t')} || ' | ' || {words_sql('x')} || ' '",
        "tw": f"' ' || {words_sql(fold_sql('t'))} || ' '",
        "ctw": f"' ' || {words_sql('t')} || ' '",
        "r": fold_sql("concat_ws(' ', t, x)") + " || coalesce(listed.handles, '')",
        "handle": "lower(ltrim(a.handle, '@'))",
        "src": "lower(m.source)",
        "lng": "lower(replace(m.lang, '_', '-'))",
        "comm": r"lower(regexp_replace(trim(m.community), '\s+', ' ', 'g'))",
        "host": r"regexp_extract(lower(m.url), '^[a-z][a-z0-9+.\-]*://(?:[^/?#@]*@)?([^/?#:]+)', 1)",
        "txt": "concat_ws(' ', nullif(t, ''), nullif(x, ''))",  # the term lists' matching (topics.py)
    }
    return {name: sql for name, sql in columns.items() if name in needs}


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Compiled:
    sql: str  # a boolean SQL expression over tag_input's columns
    needs: set[str] = field(default_factory=set)


class Normaliser:
    """Query words as the text is read: DuckDB's lower() and word split, one round trip per query."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def words(self, words: tuple[str, ...], lower: bool) -> tuple[str, ...]:
        value = fold_sql("w") if lower else "w"
        rows = self.conn.execute(
            f"SELECT list_transform(?::VARCHAR[], w -> regexp_replace({value}, '[^\\pL\\pN_*?]+', ' ', 'g'))",
            [list(words)],
        ).fetchone()
        assert rows is not None
        return tuple(part for word in rows[0] for part in word.split() if part)

    def lower(self, text: str) -> str:
        row = self.conn.execute(f"SELECT {fold_sql('?')}", [text]).fetchone()
        assert row is not None
        return str(row[0])


def compile_query(node: Node, normaliser: Normaliser) -> Compiled:
    """The SQL condition that is true exactly for the mentions `node` matches."""
    compiled = Compiled("")
    compiled.sql = _Compiler(normaliser, compiled.needs).node(node)
    return compiled


class _Compiler:
    def __init__(self, normaliser: Normaliser, needs: set[str]) -> None:
        self.normaliser = normaliser
        self.needs = needs

    def use(self, column: str) -> str:
        self.needs.add(column)
        return column

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(i) for i in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT coalesce({self.node(node.item)}, false))"
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, Near):
            return self.near(node)
        if isinstance(node, Hashtag):
            return self.tagged("#", self.normaliser.lower(node.tag), wildcards=True)
        if isinstance(node, AtMention):
            return self.tagged("@", self.normaliser.lower(node.handle), wildcards=False)
        return self.field(node)

    # -- words ---------------------------------------------------------------------------

    def column_for(self, term: Term | Near, case_sensitive: bool) -> str:
        name = ("c" if case_sensitive else "") + ("tw" if term.title_only else "w")
        return self.use(name)

    def term_words(self, term: Term) -> tuple[str, ...]:
        return self.normaliser.words(term.words, lower=not term.case_sensitive)

    def term(self, term: Term) -> str:
        column = self.column_for(term, term.case_sensitive)
        words = self.term_words(term)
        if not words:  # only marks or symbols once lowered: nothing a text can contain as a word
            return "false"
        body = " ".join(words)
        if "?" not in body and "*" not in body.rstrip("*"):
            # no wildcard, or only the last word's trailing '*': a substring test
            closing = "" if body.endswith("*") else " "
            return f"contains({column}, {literal(' ' + body.rstrip('*') + closing)})"
        pattern = " " + " ".join(_word_pattern(w) for w in words) + " "
        return f"({self.prefilter(column, words)} AND regexp_matches({column}, {literal(pattern)}))"

    def prefilter(self, column: str, words: tuple[str, ...]) -> str:
        """A substring every match contains (the longest literal run), true when there is none."""
        runs = [run for w in words for run in re.split(r"[*?]+", w) if run]
        longest = max(runs, key=len, default="")
        return f"contains({column}, {literal(longest)})" if longest else "true"

    def near(self, near: Near) -> str:
        case_sensitive = any(t.case_sensitive for t in (*near.left, *near.right))
        column = self.column_for(near, case_sensitive)

        def side(terms: tuple[Term, ...]) -> tuple[str, str]:
            patterns, checks = [], []
            for term in terms:
                words = self.term_words(term)
                if not words:
                    continue
                body = " ".join(_word_pattern(w) for w in words)
                insensitive = case_sensitive and not term.case_sensitive
                patterns.append(f"(?i:{body})" if insensitive else body)
                check_column = self.column_for(term, term.case_sensitive) if case_sensitive else column
                checks.append(self.prefilter(check_column, words))
            if not patterns:
                return "", "false"
            return "(?:" + "|".join(patterns) + ")", "(" + " OR ".join(checks) + ")"

        (left, left_check), (right, right_check) = side(near.left), side(near.right)
        if not left or not right:
            return "false"
        gap = f"(?: {_GAP_WORD}+){{0,{near.distance - 1}}}" if near.distance > 1 else ""
        forward = f"{left}{gap} {right}"
        pattern = f" {forward} " if near.ordered else f" (?:{forward}|{right}{gap} {left}) "
        return f"({left_check} AND {right_check} AND regexp_matches({column}, {literal(pattern)}))"

    # -- hashtags, mentions, fields ----------------------------------------------------------

    def tagged(self, sign: str, value: str, wildcards: bool) -> str:
        column = self.use("r")
        if wildcards:
            body = "".join(f"{_WORD}*" if c == "*" else _WORD if c == "?" else re.escape(c) for c in value)
        else:
            body = re.escape(value)
        pattern = f"(?:^|{_NOT_WORD}){re.escape(sign)}{body}(?:$|{_NOT_WORD})"
        head = re.split(r"[*?]", value)[0]
        return f"(contains({column}, {literal(sign + head)}) AND regexp_matches({column}, {literal(pattern)}))"

    def field(self, match: FieldMatch) -> str:
        value = match.value
        if match.field == "author":
            column = self.use("handle")
            if "*" in value or "?" in value:
                body = "".join("[^@]*" if c == "*" else "[^@]" if c == "?" else re.escape(c) for c in value)
                suffix = "" if "@" in value else "(?:@.*)?"
                return f"coalesce(regexp_full_match({column}, {literal(body + suffix)}), false)"
            exact = f"{column} = {literal(value)}"
            # `author:user` also finds user@instance (Mastodon accounts are written with their server)
            return exact if "@" in value else f"({exact} OR starts_with({column}, {literal(value + '@')}))"
        if match.field == "source":
            return f"{self.use('src')} = {literal(value)}"
        if match.field == "lang":
            column = self.use("lng")
            return f"({column} = {literal(value)} OR starts_with({column}, {literal(value + '-')}))"
        if match.field == "community":
            column = self.use("comm")
            value = value.removeprefix("/")
            if value.startswith(("r/", "#")) or "/" in value:
                return f"{column} = {literal(value)}"
            forms = [value, "r/" + value, "#" + value]  # a bare name: subreddit, hashtag or feed name
            return f"{column} IN ({', '.join(literal(f) for f in forms)})"
        column = self.use("host")
        return f"({column} = {literal(value)} OR ends_with({column}, {literal('.' + value)}))"


def _word_pattern(word: str) -> str:
    """One query word (letters, digits, _ and the wildcards) as RE2 over w/cw."""
    return "".join(f"{_GAP_WORD}*" if c == "*" else _GAP_WORD if c == "?" else c for c in word)
