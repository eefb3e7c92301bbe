"""A topic query's syntax tree -> one DuckDB SQL condition that tags a whole batch at once.

Every mention is read once into a few columns (`tag_input`, built by `input_columns`);
each query becomes a boolean expression over them:

    l     title, U+0001, text, in lower case (the final sigma read as sigma)
    c     the same, case kept ({Acme})
    lt    the title only, lower case (title:), ct case kept
    r     l plus ' @handle' for each handle in the post's mention list (#tag, @handle)
    handle, src, lng, comm, host   author handle, source, language, community, URL host

A word is a run of letters (with their combining marks), digits and `_`. A term is a
substring test on the word's longest literal run, which rules out almost every row,
and an RE2 expression with word boundaries on the rows left: no word split of the
text, no Python per row. Between the words of a phrase or NEAR anything but a word
character and U+0001 may stand, so neither runs from the title into the text. Query
words go through DuckDB's own lower() and word split, so both sides agree in every script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from listener.core.query import And, AtMention, FieldMatch, Hashtag, Near, Node, Not, Or, Term

_WORD = r"[\pL\pM\pN_]"
_NOT_WORD = r"[^\pL\pM\pN_]"
_BEFORE = rf"(?:^|{_NOT_WORD})"
_AFTER = rf"(?:$|{_NOT_WORD})"
_GAP = r"[^\pL\pM\pN_\x{1}]+"  # between two words of one passage


def fold_sql(value: str) -> str:
    """SQL: `value` in lower case, the final sigma read as sigma (ΟΔΟΣ, οδος and οδοσ are one word)."""
    return f"replace(lower({value}), '\u03c2', '\u03c3')"


# The characters NFC changes on their own (NFC(c) != c, not combining marks; Unicode of Python's
# unicodedata, checked by tests/test_queries.py). With the marks and the Hangul jamo, a text that
# has none of them is NFC already.
_NFC_SINGLETONS = (
    r"\x{374}\x{37E}\x{387}\x{958}-\x{95F}\x{9DC}-\x{9DD}\x{9DF}\x{A33}\x{A36}\x{A59}-\x{A5B}"
    r"\x{A5E}\x{B5C}-\x{B5D}\x{F43}\x{F4D}\x{F52}\x{F57}\x{F5C}\x{F69}\x{F73}\x{F75}-\x{F76}"
    r"\x{F78}\x{F81}\x{F93}\x{F9D}\x{FA2}\x{FA7}\x{FAC}\x{FB9}\x{1F71}\x{1F73}\x{1F75}\x{1F77}"
    r"\x{1F79}\x{1F7B}\x{1F7D}\x{1FBB}\x{1FBE}\x{1FC9}\x{1FCB}\x{1FD3}\x{1FDB}\x{1FE3}\x{1FEB}"
    r"\x{1FEE}-\x{1FEF}\x{1FF9}\x{1FFB}\x{1FFD}\x{2000}-\x{2001}\x{2126}\x{212A}-\x{212B}"
    r"\x{2329}-\x{232A}\x{2ADC}\x{F900}-\x{FA0D}\x{FA10}\x{FA12}\x{FA15}-\x{FA1E}\x{FA20}"
    r"\x{FA22}\x{FA25}-\x{FA26}\x{FA2A}-\x{FA6D}\x{FA70}-\x{FAD9}\x{FB1D}\x{FB1F}"
    r"\x{FB2A}-\x{FB36}\x{FB38}-\x{FB3C}\x{FB3E}\x{FB40}-\x{FB41}\x{FB43}-\x{FB44}"
    r"\x{FB46}-\x{FB4E}\x{1D15E}-\x{1D164}\x{1D1BB}-\x{1D1C0}\x{2F800}-\x{2FA1D}"
)
NFC_GUARD = r"[\pM\x{1100}-\x{11FF}" + "".join(_NFC_SINGLETONS) + "]"


def nfc_sql(value: str) -> str:
    """SQL: `value` in Unicode NFC. nfc_normalize() costs a pass as dear as the tagging; ASCII and
    text without a mark, a jamo or a singleton (nearly all text) is NFC already and skips it."""
    return (
        f"CASE WHEN strlen({value}) = length({value}) OR NOT regexp_matches({value}, {literal(NFC_GUARD)}) "
        f"THEN {value} ELSE nfc_normalize({value}) END"
    )


FOLDED_SQL = fold_sql("concat(t, chr(1), x)")


def input_columns(needs: set[str]) -> dict[str, str]:
    """The `tag_input` columns the compiled queries read, as SQL over `mentions m` (title `t`, text `x`,
    NFC, never NULL, and `folded`, FOLDED_SQL of them), `authors a` and `listed` (the @-handles)."""
    columns = {
        "l": "folded",
        "c": "concat(t, chr(1), x)",
        "lt": fold_sql("t"),
        "ct": "t",
        "r": "folded || coalesce(listed.handles, '')",
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
            f"SELECT list_transform(?::VARCHAR[], w -> regexp_replace({value}, '[^\\pL\\pM\\pN_*?]+', ' ', 'g'))",
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
        name = ("c" if case_sensitive else "l") + ("t" if term.title_only else "")
        return self.use(name)

    def term_words(self, term: Term) -> tuple[str, ...]:
        return self.normaliser.words(term.words, lower=not term.case_sensitive)

    def term(self, term: Term) -> str:
        column = self.column_for(term, term.case_sensitive)
        words = self.term_words(term)
        if not words:  # only marks or symbols once lowered: nothing a text can contain as a word
            return "false"
        pattern = _BEFORE + _phrase_pattern(words) + _AFTER
        return f"({self.prefilter(column, words)} AND regexp_matches({column}, {literal(pattern)}))"

    def prefilter(self, column: str, words: tuple[str, ...]) -> str:
        """A substring every match contains (the longest literal run): a fast test that rules out
        the rows the regular expression then need not read."""
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
                body = " ".join(_word_pattern(w, _SPLIT_WORD) for w in words)
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
        # Counted in the word string `' w1 w2 '` of the rows both sides can be in: a counted repeat
        # of Unicode classes over the raw text would be too large a program for RE2 at NEAR/100.
        between = f"(?: {_SPLIT_WORD}+){{0,{near.distance - 1}}}" if near.distance > 1 else ""
        forward = f"{left}{between} {right}"
        either = forward if near.ordered else f"(?:{forward}|{right}{between} {left})"
        return f"({left_check} AND {right_check} AND regexp_matches({_split_words(column)}, {literal(f' {either} ')}))"

    # -- hashtags, mentions, fields ----------------------------------------------------------

    def tagged(self, sign: str, value: str, wildcards: bool) -> str:
        column = self.use("r")
        if wildcards:
            body = "".join(f"{_WORD}*" if c == "*" else _WORD if c == "?" else re.escape(c) for c in value)
        else:
            body = re.escape(value)
        pattern = f"{_BEFORE}{re.escape(sign)}{body}{_AFTER}"
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


_SPLIT_WORD = "[^ \\x{1}]"  # in the word string of _split_words: one character of a word


def _split_words(column: str) -> str:
    """SQL: `column` as ' w1 w2 ... ', words split by single spaces, the title/text break kept."""
    marked = f"replace({column}, chr(1), ' ' || chr(1) || ' ')"
    return f"(' ' || regexp_replace({marked}, '[^\\pL\\pM\\pN_\\x{{1}}]+', ' ', 'g') || ' ')"


def _word_pattern(word: str, char: str = _WORD) -> str:
    """One query word (word characters and the wildcards) as RE2; `char` stands for a word character."""
    return "".join(f"{char}*" if c == "*" else char if c == "?" else c for c in word)


def _phrase_pattern(words: tuple[str, ...]) -> str:
    return _GAP.join(_word_pattern(w) for w in words)


def tag_input_sql(
    needs: set[str], where: str = "", listed_scope: str = "", relation: str = "mentions", keys: str = "mention_id"
) -> str:
    """SELECT `keys` and the columns `needs` names, for the rows of `relation` (default: every mention)
    that `where` selects; `listed_scope` restricts the interactions table the same way
    (`AND mention_id IN ...`). `relation` has mention_id, author_id, source, lang, community, url,
    title and text (analytics.sentiment.topics passes clauses of mentions)."""
    joins = ""
    if "handle" in needs:
        joins += " LEFT JOIN authors a ON a.author_id = m.author_id"
    if "r" in needs:
        joins += f"""
            LEFT JOIN (
                SELECT mention_id, string_agg(' @' || target_handle, '') AS handles
                FROM interactions
                WHERE kind = 'mention' AND target_handle IS NOT NULL {listed_scope}
                GROUP BY mention_id
            ) listed ON listed.mention_id = m.mention_id"""
    columns = "".join(f", {sql} AS {name}" for name, sql in input_columns(needs).items())
    folded = f", {FOLDED_SQL} AS folded" if needs & {"l", "r"} else ""
    return f"""
        SELECT {", ".join("m." + k.strip() for k in keys.split(","))} {columns}
        FROM (
            SELECT *{folded} FROM (
                SELECT {keys}, author_id, source, lang, community, url,
                       {nfc_sql("coalesce(title, '')")} AS t, {nfc_sql("coalesce(text, '')")} AS x
                FROM {relation} {where}
            )
        ) m {joins}
        """
