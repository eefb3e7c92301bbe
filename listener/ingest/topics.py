"""Topic matching: which mentions talk about the brand, a competitor or a tracked topic.

A topic is a query (docs/queries.md; parsed by listener.core.query, compiled to SQL by
listener.core.matcher) or one of the older term lists: `acme` a word, `"acme coffee"`
a phrase, `acme*` a word prefix, `-"acme anvil"` / `-anvil` an exclusion, matched
case-insensitively on word boundaries, with exclusions cut out of the text before
matching (so "acme anvil" does not count as Acme while "acme anvil and acme coffee"
still does). Either way every topic is one SQL condition over `tag_input`, and a batch
is tagged by one statement, the same for every source.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import duckdb

from listener.core.errors import ConfigError
from listener.core.matcher import Normaliser, compile_query, input_columns, literal, share_tests, tag_input_sql
from listener.core.query import Node, parse_query
from listener.core.settings import Organization
from listener.core.terms import split_terms
from listener.store.connection import scalar

_BOUNDARY_BEFORE = r"(?:^|[^\pL\pN_])"
_BOUNDARY_AFTER = r"(?:$|[^\pL\pN_])"


@dataclass(frozen=True)
class TopicRule:
    topic: str
    kind: str  # brand | competitor | term
    condition: str  # SQL over tag_input
    needs: frozenset[str]  # the tag_input columns it reads
    query: Node | None = None  # None for a term list
    search: bool = True  # the platforms are asked for it


def rules_from_organization(org: Organization) -> list[TopicRule]:
    """One rule per topic, in config order; a malformed query or term is a ConfigError naming it."""
    with duckdb.connect(":memory:") as conn:
        normaliser = Normaliser(conn)
        rules = [
            _query_rule(org.name, "brand", org.query, "organization.query", normaliser)
            if org.query is not None
            else _rule(conn, org.name, "brand", org.brand_terms, org.exclude_terms, "organization.brand_terms")
        ]
        for i, comp in enumerate(org.competitors):
            if comp.query is not None:
                where = f"organization.competitors[{i}].query"
                rules.append(_query_rule(comp.name, "competitor", comp.query, where, normaliser))
            else:
                where = f"organization.competitors[{i}].terms"
                rules.append(_rule(conn, comp.name, "competitor", comp.terms, comp.exclude_terms, where))
        for term in org.tracked_terms:
            name = (split_terms([term])[0] or [term])[0]
            rules.append(_rule(conn, name, "term", [term], [], "organization.tracked_terms"))
        for i, topic in enumerate(org.topics):
            where = f"organization.topics[{i}].query"
            rules.append(_query_rule(topic.name, "term", topic.query, where, normaliser, search=topic.search))
        for rule in rules:
            _check_compiles(conn, rule)
    return rules


def _query_rule(
    topic: str, kind: str, query: str, where: str, normaliser: Normaliser, search: bool = True, label: str = ""
) -> TopicRule:
    node = parse_query(query, label or f"topic {topic!r} ({where})")
    compiled = compile_query(node, normaliser)
    return TopicRule(topic, kind, compiled.sql, frozenset(compiled.needs), node, search)


def _check_compiles(conn: duckdb.DuckDBPyConnection, rule: TopicRule) -> None:
    """RE2 refuses some patterns (too large): say so at config time, not in the nightly run."""
    columns = ", ".join(f"NULL::VARCHAR AS {name}" for name in input_columns(set(_ALL_COLUMNS)))
    try:
        conn.execute(f"SELECT count(*) FROM (SELECT {columns}) WHERE {rule.condition}").fetchall()
    except duckdb.Error as exc:
        raise ConfigError(
            f"topic {rule.topic!r}: its query cannot be compiled ({str(exc).splitlines()[0][:160]}); "
            "use fewer wildcards or a smaller NEAR distance"
        ) from None


_ALL_COLUMNS = ("l", "c", "lt", "ct", "r", "h", "handle", "src", "lng", "comm", "host", "u", "txt")


def uses_language(rules: list[TopicRule]) -> bool:
    """Whether a rule reads the language (lang:), which `analyze` may fill in after loading."""
    return any("lng" in rule.needs for rule in rules)


def term_pattern(phrases: list[str]) -> str:
    alternatives = "|".join(_phrase_regex(p) for p in phrases)
    return f"(?i){_BOUNDARY_BEFORE}(?:{alternatives}){_BOUNDARY_AFTER}"


def _phrase_regex(phrase: str) -> str:
    prefix = phrase.endswith("*")
    words = unicodedata.normalize("NFC", phrase.rstrip("*")).split()  # texts are NFC-normalized too
    body = r"\s+".join(_escape(w) for w in words)
    return body + (r"[\pL\pN_]*" if prefix else "")


_APOSTROPHES = "'\u2019\u2018\u02bc"  # Macy's and Macy’s are the same name
_APOSTROPHE_CLASS = "[" + "".join(f"\\x{{{ord(c):X}}}" for c in _APOSTROPHES) + "]"


def _escape(word: str) -> str:
    """Letters, digits and _ as themselves; anything else as RE2's \\x{hex}, valid for any code point."""
    return "".join(
        _APOSTROPHE_CLASS if ch in _APOSTROPHES else ch if ch.isalnum() or ch == "_" else f"\\x{{{ord(ch):X}}}"
        for ch in word
    )


def _rule(
    conn: duckdb.DuckDBPyConnection, topic: str, kind: str, terms: list[str], extra_excludes: list[str], where: str
) -> TopicRule:
    for term in [*terms, *extra_excludes]:
        _check_term(term, where)
    includes, excludes = split_terms(terms)
    extra_in, extra_out = split_terms(extra_excludes)
    excludes += extra_in + extra_out  # in exclude_terms the '-' is optional
    if not includes:
        raise ConfigError(f"'{where}': needs at least one term that is not an exclusion")
    include, exclude = term_pattern(includes), term_pattern(excludes) if excludes else None
    _check_patterns(conn, topic, include, exclude, includes + excludes, where)
    haystack = "txt" if exclude is None else f"regexp_replace(txt, {literal(exclude)}, ' ', 'g')"
    return TopicRule(topic, kind, f"regexp_matches({haystack}, {literal(include)})", frozenset({"txt"}))


def _check_term(term: str, where: str) -> None:
    """A term must name something: not empty, not only wildcards, quotes or a minus sign."""
    core = term.strip().removeprefix("-").strip().strip('"').strip().rstrip("*").strip()
    if not core:
        raise ConfigError(
            f"'{where}': term {term!r} matches every mention or none; "
            'give a word or phrase such as "acme" or "acme coffee"'
        )


# Texts that mention nothing: a pattern that matches one of them matches (almost) every mention.
_NEUTRAL_TEXTS = ("", " ", ".", "zzqxj vvkw 0")


def _check_patterns(
    conn: duckdb.DuckDBPyConnection, topic: str, include: str, exclude: str | None, terms: list[str], where: str
) -> None:
    """Compile the rule with the store's own regex engine (RE2) and reject terms that match everything
    or cannot match even their own text."""
    for name, pattern in (("term", include), ("exclusion", exclude)):
        if pattern is None:
            continue
        try:
            hits = scalar(
                conn,
                "SELECT bool_or(regexp_matches(t, ?)) FROM unnest(?::VARCHAR[]) u(t)",
                [pattern, list(_NEUTRAL_TEXTS)],
            )
        except duckdb.Error as exc:
            raise ConfigError(
                f"'{where}': a {name} of topic {topic!r} cannot be compiled ({str(exc).splitlines()[0][:160]})"
            ) from None
        if hits:
            raise ConfigError(
                f"'{where}': a {name} of topic {topic!r} matches every mention; make each term a whole word or phrase"
            )
    for term in terms:
        literal = " " + unicodedata.normalize("NFC", term.rstrip("*")) + " "  # as texts are matched
        single = term_pattern([term])
        if not scalar(conn, "SELECT regexp_matches(?, ?)", [literal, single]):
            raise ConfigError(f"'{where}': term {term!r} of topic {topic!r} can never match, not even its own text")


def tagging_sql(rules: list[TopicRule], inputs: str) -> str:
    """SELECT mention_id, topic, kind: one row per rule a row of `inputs` (tag_input's columns) satisfies.

    One pass: each row is read once, every condition evaluated on it, and what it matches
    unnested. (A temp table of the inputs, scanned once per rule, was read by one thread
    only inside the caller's transaction, and each scan re-read every row.) A substring test
    that several conditions make is made once per row (`share_tests`).
    """
    conditions, shared = share_tests([rule.condition for rule in rules])
    columns = "".join(f", {test} AS {name}" for name, test in shared.items())
    hits = ", ".join(f"CASE WHEN {condition} THEN {i} END" for i, condition in enumerate(conditions, 1))
    topics = ", ".join(f"({i}, {literal(rule.topic)}, {literal(rule.kind)})" for i, rule in enumerate(rules, 1))
    return f"""
        SELECT h.mention_id, r.topic, r.kind
        FROM (
            SELECT mention_id, unnest(list_filter([{hits}], i -> i IS NOT NULL)) AS i
            FROM (SELECT *{columns} FROM ({inputs}))
        ) h
        JOIN (VALUES {topics}) r(i, topic, kind) USING (i)
        """


def tag_mentions(conn: duckdb.DuckDBPyConnection, rules: list[TopicRule], scope: str | None = None) -> int:
    """Re-tag the mentions whose ids are in table `scope` (all mentions when None).

    Conditions come from config, never from collected text, and every value in them is
    quoted as an SQL literal, so a quote in a term cannot break the statement.
    """
    where = f"WHERE mention_id IN (SELECT mention_id FROM {scope})" if scope else ""
    conn.execute(f"DELETE FROM mention_topics {where}")
    if not rules:
        return 0
    needs = set().union(*(rule.needs for rule in rules))
    inputs = tag_input_sql(needs, where, where.replace("WHERE", "AND", 1))
    conn.execute(f"INSERT INTO mention_topics (mention_id, topic, kind) {tagging_sql(rules, inputs)}")
    row = conn.execute(f"SELECT count(*) FROM mention_topics {where}").fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class QueryTrial:
    """`listener query test`: what a query matches among the stored mentions."""

    stored: int  # mentions looked at (since the date given)
    matched: int
    samples: list[dict[str, object]]  # newest first
    tagged_now: int | None = None  # the topic's current tags among them (with --topic)
    added: int | None = None  # matched but not tagged now
    dropped: int | None = None  # tagged now but not matched


def try_query(
    conn: duckdb.DuckDBPyConnection, rule: TopicRule, since: object = None, limit: int = 10, compare: bool = False
) -> QueryTrial:
    """Run one rule over the store read-only (no temp table: a read-only connection can do it)."""
    where = "WHERE created_at >= ?::TIMESTAMPTZ" if since is not None else ""
    params = [since] if since is not None else []
    inputs = tag_input_sql(set(rule.needs), where)
    hits = f"SELECT mention_id FROM ({inputs}) WHERE {rule.condition}"
    stored = scalar(conn, f"SELECT count(*) FROM mentions {where}", [since] if since is not None else [])
    matched = scalar(conn, f"SELECT count(*) FROM ({hits})", params)
    rows = conn.execute(
        f"""
        SELECT m.mention_id, m.source, m.created_at, a.handle, m.title, m.text, m.url
        FROM mentions m LEFT JOIN authors a ON a.author_id = m.author_id
        WHERE m.mention_id IN ({hits})
        ORDER BY m.created_at DESC, m.mention_id LIMIT {int(limit)}
        """,
        params,
    ).fetchall()
    keys = ("mention_id", "source", "created_at", "author", "title", "text", "url")
    samples = [dict(zip(keys, row, strict=True)) for row in rows]
    if not compare:
        return QueryTrial(int(stored), int(matched), samples)
    tagged = f"""SELECT t.mention_id FROM mention_topics t JOIN mentions m USING (mention_id)
                 WHERE t.topic = {literal(rule.topic)} {where.replace("WHERE", "AND")}"""
    tagged_params = [since] if since is not None else []
    tagged_now = scalar(conn, f"SELECT count(*) FROM ({tagged})", tagged_params)
    added = scalar(conn, f"SELECT count(*) FROM ({hits} EXCEPT {tagged})", params + tagged_params)
    dropped = scalar(conn, f"SELECT count(*) FROM ({tagged} EXCEPT {hits})", tagged_params + params)
    return QueryTrial(int(stored), int(matched), samples, int(tagged_now), int(added), int(dropped))


def trial_rule(topic: str | None, query: str, kind: str = "term") -> TopicRule:
    """A rule for a query typed on the command line (a QuerySyntaxError names `topic`, if any)."""
    label = f"query for topic {topic!r}" if topic else "query"
    with duckdb.connect(":memory:") as conn:
        rule = _query_rule(topic or "query", kind, query, "query", Normaliser(conn), label=label)
        _check_compiles(conn, rule)
    return rule
