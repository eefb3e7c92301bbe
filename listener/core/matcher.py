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
from collections import Counter
from dataclasses import dataclass, field

import duckdb

from listener.core.query import And, AtMention, FieldMatch, Hashtag, Near, Node, Not, Or, Term

_WORD = r"[\pL\pM\pN_]"
_NOT_WORD = r"[^\pL\pM\pN_]"
_BEFORE = rf"(?:^|{_NOT_WORD})"
_AFTER = rf"(?:$|{_NOT_WORD})"
_GAP = r"[^\pL\pM\pN_\x{1}]+"  # between two words of one passage


def fold_sql(value: str) -> str:
    """SQL: `value` in lower case, the final sigma read as sigma (ΟΔΟΣ, οδος and οδοσ are one word).

    lower() maps code point by code point and gives a final sigma only for a final sigma, so a
    value without one skips the replace() (a pass as dear as lower() itself)."""
    return (
        f"CASE WHEN contains({value}, '\u03c2') THEN replace(lower({value}), '\u03c2', '\u03c3') "
        f"ELSE lower({value}) END"
    )


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


FOLDED_SQL = fold_sql("tx")  # tx: concat(t, chr(1), x)
_HOST = r"regexp_extract({}, '^[a-z][a-z0-9+.\-]*://(?:[^/?#@]*@)?([^/?#:]+)', 1)"


def input_columns(needs: set[str]) -> dict[str, str]:
    """The `tag_input` columns the compiled queries read, as SQL over `mentions m` (title `t`, text `x`,
    NFC, never NULL, `tx` = concat(t, chr(1), x) and `folded`, FOLDED_SQL of them), `authors a` and
    `listed` (the @-handles)."""
    columns = {
        "l": "folded",
        "c": "tx",
        "lt": fold_sql("t"),
        "ct": "t",
        "r": "folded || coalesce(listed.handles, '')",  # l and h in one (read by nothing compiled now)
        "h": "coalesce(listed.handles, '')",  # ' @handle' for each handle in the post's mention list
        "handle": "lower(ltrim(a.handle, '@'))",
        "src": "lower(m.source)",
        "lng": "lower(replace(m.lang, '_', '-'))",
        "comm": r"lower(regexp_replace(trim(m.community), '\s+', ' ', 'g'))",
        "host": _HOST.format("lower(m.url)"),  # read by nothing compiled now: site: reads u
        "u": "lower(m.url)",
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
        row = self.conn.execute(f"SELECT {fold_sql('v')} FROM (SELECT ?::VARCHAR AS v)", [text]).fetchone()
        assert row is not None
        return str(row[0])


def compile_query(node: Node, normaliser: Normaliser) -> Compiled:
    """The SQL condition that is true exactly for the mentions `node` matches."""
    compiled = Compiled("")
    compiled.sql = _Compiler(normaliser, compiled.needs).node(node)
    return compiled


_MIN_GATE = 3  # characters: a shorter common substring is in nearly every text


class _Compiler:
    def __init__(self, normaliser: Normaliser, needs: set[str]) -> None:
        self.normaliser = normaliser
        self.needs = needs
        self.words: dict[tuple[tuple[str, ...], bool], tuple[str, ...]] = {}
        self.folded: dict[str, str] = {}

    def use(self, column: str) -> str:
        self.needs.add(column)
        return column

    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(i) for i in node.items) + ")"
        if isinstance(node, Or):
            return self.either(node.items)
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

    def either(self, items: tuple[Node, ...]) -> str:
        """An OR, the alternatives that need something in the text behind the gate they share (when
        every alternative does, the whole OR; else, as in `"umbrella corp*" OR {UMBRELLA} OR
        site:umbrella.com`, the others are tested on their own)."""
        needles = [self.needles(i) for i in items]
        gate = self.gate([n for n in needles if n])
        if gate is None:
            return "(" + " OR ".join(self.node(i) for i in items) + ")"
        gated = " OR ".join(self.node(i) for i, n in zip(items, needles, strict=True) if n)
        rest = [self.node(i) for i, n in zip(items, needles, strict=True) if not n]
        behind = f"({self.contains(*gate)} AND ({gated}))"
        return "(" + " OR ".join([behind, *rest]) + ")" if rest else behind

    # -- words ---------------------------------------------------------------------------

    def column_for(self, term: Term | Near, case_sensitive: bool) -> str:
        name = ("c" if case_sensitive else "l") + ("t" if term.title_only else "")
        return self.use(name)

    def term_words(self, term: Term) -> tuple[str, ...]:
        key = (term.words, not term.case_sensitive)
        if key not in self.words:
            self.words[key] = self.normaliser.words(term.words, lower=not term.case_sensitive)
        return self.words[key]

    # -- gates: a substring that every alternative of an OR needs, tested once before them -----

    def needles(self, node: Node) -> list[tuple[str, str]]:
        """(column, substring) pairs that all hold wherever `node` does. Columns: l, c, lt, ct
        and r (l or h: the text or the mention list)."""
        if isinstance(node, Term):
            column = ("c" if node.case_sensitive else "l") + ("t" if node.title_only else "")
            return [(column, run) for run in _runs(self.term_words(node))]
        if isinstance(node, Hashtag | AtMention):
            sign, value = ("#", node.tag) if isinstance(node, Hashtag) else ("@", node.handle)
            return [("r", sign + re.split(r"[*?]", self.normaliser.lower(value))[0])]
        if isinstance(node, And):
            return [needle for item in node.items for needle in self.needles(item)]
        if isinstance(node, Or):
            gate = self.gate([self.needles(i) for i in node.items])
            return [gate] if gate else []
        if isinstance(node, Near):
            # with a {Case} term, the others are read with RE2's case folding (?i:), which finds more
            # than lower() does (ſ for s, the Kelvin sign for k): only what its tests read is needed
            cased = any(t.case_sensitive for t in (*node.left, *node.right))
            needed: list[tuple[str, str]] = []
            for side in (node.left, node.right):
                options = [self.needles(t)[:1] if cased else self.needles(t) for t in side]
                if len(options) == 1:  # one term: all it needs (an OR of them needs their gate)
                    needed += options[0]
                elif gate := self.gate(options):
                    needed.append(gate)
            return needed
        return []  # NOT: nothing is needed; fields: not in the text

    def gate(self, alternatives: list[list[tuple[str, str]]]) -> tuple[str, str] | None:
        """The longest substring (of at least _MIN_GATE characters) that each alternative needs in
        one column they all lie in: lt is inside l, ct inside c, l inside r, and a substring of c
        (or ct) folded is a substring of l (lower() maps code point by code point)."""
        if len(alternatives) < 2 or not all(alternatives):
            return None
        columns = {column for needles in alternatives for column, _ in needles}
        if columns <= {"lt"} or columns <= {"ct"}:
            target = columns.pop()
        elif columns <= {"c", "ct"}:
            target = "c"
        else:
            target = "r" if "r" in columns else "l"
        lifted = [
            {self.fold(run) if column[0] == "c" and target[0] != "c" else run for column, run in needles}
            for needles in alternatives
        ]
        first = sorted(lifted[0], key=lambda run: (-len(run), run))  # the same SQL in every process
        for size in range(max(map(len, first)), _MIN_GATE - 1, -1):
            for run in first:
                for start in range(len(run) - size + 1):
                    piece = run[start : start + size]
                    if all(any(piece in other for other in runs) for runs in lifted[1:]):
                        return target, piece
        return None

    def fold(self, text: str) -> str:
        if text not in self.folded:
            self.folded[text] = self.normaliser.lower(text)
        return self.folded[text]

    def contains(self, column: str, piece: str) -> str:
        if column == "r":
            return f"(contains({self.use('l')}, {literal(piece)}) OR contains({self.use('h')}, {literal(piece)}))"
        return f"contains({self.use(column)}, {literal(piece)})"

    def term(self, term: Term) -> str:
        column = self.column_for(term, term.case_sensitive)
        words = self.term_words(term)
        if not words:  # only marks or symbols once lowered: nothing a text can contain as a word
            return "false"
        pattern = _BEFORE + _phrase_pattern(words) + _AFTER
        return f"({self.prefilter(column, words)} AND regexp_matches({column}, {literal(pattern)}))"

    def prefilter(self, column: str, words: tuple[str, ...], longest_only: bool = False) -> str:
        """Substrings every match contains (its literal runs, longest first; those under _MIN_GATE
        characters only when there is nothing longer): fast tests that rule out the rows the
        regular expression then need not read. `longest_only`: the longest run alone (see near)."""
        runs = _runs(words)
        runs = runs[:1] if longest_only else [run for run in runs if len(run) >= _MIN_GATE] or runs[:1]
        tests = [f"contains({column}, {literal(run)})" for run in runs]
        return tests[0] if len(tests) == 1 else "(" + " AND ".join(tests) + ")" if tests else "true"

    def near(self, near: Near) -> str:
        case_sensitive = any(t.case_sensitive for t in (*near.left, *near.right))
        column = self.column_for(near, case_sensitive)

        def side(terms: tuple[Term, ...], char: str, gap: str) -> tuple[str, str]:
            patterns, checks = [], []
            for term in terms:
                words = self.term_words(term)
                if not words:
                    continue
                body = gap.join(_word_pattern(w, char) for w in words)
                insensitive = case_sensitive and not term.case_sensitive
                patterns.append(f"(?i:{body})" if insensitive else body)
                check_column = self.column_for(term, term.case_sensitive) if case_sensitive else column
                checks.append(self.prefilter(check_column, words, longest_only=case_sensitive))
            if not patterns:
                return "", "false"
            return "(?:" + "|".join(patterns) + ")", "(" + " OR ".join(checks) + ")"

        def either(char: str, gap: str) -> str:
            (left, _), (right, _) = side(near.left, char, gap), side(near.right, char, gap)
            between = f"(?:{gap}{char}+){{0,{near.distance - 1}}}" if near.distance > 1 else ""
            forward = f"{left}{between}{gap}{right}"
            return forward if near.ordered else f"(?:{forward}|{right}{between}{gap}{left})"

        (left, left_check), (right, right_check) = side(near.left, _SPLIT_WORD, " "), side(near.right, _SPLIT_WORD, " ")
        if not left or not right:
            return "false"
        if right_check.count("contains(") < left_check.count("contains("):  # the side with fewer tests first
            left_check, right_check = right_check, left_check
        # Counted in the word string `' w1 w2 '` of the rows both sides can be in: a counted repeat
        # of Unicode classes over the raw text would be too large a program for RE2 (NEAR/5 already).
        # A text whose only word characters are ASCII (most, even with emoji or curly quotes) is
        # read as it is, with ASCII classes: a small program, and no word string to build.
        words = either(_SPLIT_WORD, " ")
        split = f"regexp_matches({_split_words(column)}, {literal(f' {words} ')})"
        if near.distance > _MAX_ASCII_NEAR:
            return f"({left_check} AND {right_check} AND {split})"
        raw = f"{_ASCII_BEFORE}{either(_ASCII_WORD, _ASCII_GAP)}{_ASCII_AFTER}"
        ascii_words = f"(strlen({column}) = length({column}) OR NOT regexp_matches({column}, {literal(_WIDE_WORD)}))"
        return (
            f"({left_check} AND {right_check} AND "
            f"CASE WHEN {ascii_words} THEN regexp_matches({column}, {literal(raw)}) ELSE {split} END)"
        )

    # -- hashtags, mentions, fields ----------------------------------------------------------

    def tagged(self, sign: str, value: str, wildcards: bool) -> str:
        """In the text or the mention list (h): a match in `l || h` is one in either, as h is empty
        or starts with a space."""
        if wildcards:
            body = "".join(f"{_WORD}*" if c == "*" else _WORD if c == "?" else re.escape(c) for c in value)
        else:
            body = re.escape(value)
        pattern = f"{_BEFORE}{re.escape(sign)}{body}{_AFTER}"
        head = re.split(r"[*?]", value)[0]
        text, listed = (
            f"(contains({self.use(column)}, {literal(sign + head)}) AND regexp_matches({column}, {literal(pattern)}))"
            for column in ("l", "h")
        )
        return f"({text} OR {listed})"

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
        # the host is read from the URL only where the URL holds the name: most rows skip the regex.
        # '.' || host ends with '.name' exactly when the host is the name or one of its subdomains.
        url = self.use("u")
        host = _HOST.format(url)
        return f"(contains({url}, {literal(value)}) AND ends_with('.' || {host}, {literal('.' + value)}))"


_SPLIT_WORD = "[^ \\x{1}]"  # in the word string of _split_words: one character of a word

# NEAR over a text whose word characters are all ASCII: the same words, read with ASCII classes
_WIDE_WORD = r"[^\x00-\x7F\PL]|[^\x00-\x7F\PM]|[^\x00-\x7F\PN]"  # a word character outside ASCII
_ASCII_WORD = "[A-Za-z0-9_]"
_ASCII_GAP = "[^A-Za-z0-9_\\x{1}]+"
_ASCII_BEFORE = "(?:^|[^A-Za-z0-9_])"
_ASCII_AFTER = "(?:$|[^A-Za-z0-9_])"
_MAX_ASCII_NEAR = 10  # a wider NEAR is counted in the word string only (RE2's program grows with it)


# A run of characters between words (not U+0001) that is not already one space: a single space, by
# far the most common run, is left where it is, and the replacement has a third of the matches to make.
_NOT_ONE_SPACE = r" ?[^\pL\pM\pN_\x{1} ][^\pL\pM\pN_\x{1}]*| {2}[^\pL\pM\pN_\x{1}]*"


def _split_words(column: str) -> str:
    """SQL: `column` as ' w1 w2 ... ', words split by single spaces, the title/text break kept."""
    marked = f"replace({column}, chr(1), ' ' || chr(1) || ' ')"
    return f"(' ' || regexp_replace({marked}, {literal(_NOT_ONE_SPACE)}, ' ', 'g') || ' ')"


def _runs(words: tuple[str, ...]) -> list[str]:
    """The literal runs of query words (between wildcards), distinct, longest first."""
    runs = [run for w in words for run in re.split(r"[*?]+", w) if run]
    return sorted(dict.fromkeys(runs), key=len, reverse=True)


def _word_pattern(word: str, char: str = _WORD) -> str:
    """One query word (word characters and the wildcards) as RE2; `char` stands for a word character."""
    return "".join(f"{char}*" if c == "*" else char if c == "?" else c for c in word)


def _phrase_pattern(words: tuple[str, ...]) -> str:
    return _GAP.join(_word_pattern(w) for w in words)


# A quoted literal (one token, so that the text of a regular expression is never read as SQL) or a
# substring test `contains(column, 'piece')`, as the compiler writes them.
_LITERAL_OR_TEST = re.compile(r"'(?:[^']|'')*'|contains\(\w+, '(?:[^']|'')*'\)")


def _tests(condition: str) -> list[str]:
    """The substring tests in a compiled condition, in order."""
    return [m.group(0) for m in _LITERAL_OR_TEST.finditer(condition) if m.group(0)[0] != "'"]


def share_tests(conditions: list[str]) -> tuple[list[str], dict[str, str]]:
    """The conditions with each substring test they make more than once (in one or several of them)
    read from a column instead, and those columns: {name: test}.

    DuckDB shares no subexpression inside CASE, AND or OR, so `contains(l, 'acme')` in five topics
    reads each text five times; as a column of the input it reads it once. A test made only once is
    left where it is: behind its gate it runs on the few rows the gate lets through."""
    counts = Counter(test for condition in conditions for test in _tests(condition))
    names = {test: f"shared_{i}" for i, test in enumerate((t for t, n in counts.items() if n > 1), 1)}

    def read(match: re.Match[str]) -> str:
        return names.get(match.group(0), match.group(0))

    shared = [_LITERAL_OR_TEST.sub(read, condition) for condition in conditions] if names else conditions
    return shared, {name: test for test, name in names.items()}


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
    if needs & {"r", "h"}:
        joins += f"""
            LEFT JOIN (
                SELECT mention_id, string_agg(' @' || target_handle, '') AS handles
                FROM interactions
                WHERE kind = 'mention' AND target_handle IS NOT NULL {listed_scope}
                GROUP BY mention_id
            ) listed ON listed.mention_id = m.mention_id"""
    columns = "".join(f", {sql} AS {name}" for name, sql in input_columns(needs).items())
    folded = f", {FOLDED_SQL} AS folded" if needs & {"l", "r"} else ""
    joined = ", concat(t, chr(1), x) AS tx" if needs & {"l", "r", "c"} else ""
    return f"""
        SELECT {", ".join("m." + k.strip() for k in keys.split(","))} {columns}
        FROM (
            SELECT *{folded} FROM (
                SELECT *{joined} FROM (
                    SELECT {keys}, author_id, source, lang, community, url,
                           {nfc_sql("coalesce(title, '')")} AS t, {nfc_sql("coalesce(text, '')")} AS x
                    FROM {relation} {where}
                )
            )
        ) m {joins}
        """
