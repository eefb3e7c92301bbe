"""Topic matching: which mentions talk about the brand, a competitor or a tracked term.

Term syntax (config): `acme` a word, `"acme coffee"` a phrase, `acme*` a word
prefix, `-"acme anvil"` / `-anvil` an exclusion. Matching is case-insensitive
and on word boundaries (Unicode letters and digits count as word characters),
and runs as vectorised SQL (RE2) over title and text, the same for every source.
Exclusions are cut out of the text before matching, so "acme anvil" does not
count as Acme while "acme anvil and acme coffee" still does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import duckdb

from listener.core.errors import ConfigError
from listener.core.settings import Organization
from listener.core.terms import split_terms
from listener.store.connection import scalar

_BOUNDARY_BEFORE = r"(?:^|[^\pL\pN_])"
_BOUNDARY_AFTER = r"(?:$|[^\pL\pN_])"


@dataclass(frozen=True)
class TopicRule:
    topic: str
    kind: str  # brand | competitor | term
    include: str  # RE2 pattern
    exclude: str | None


def rules_from_organization(org: Organization) -> list[TopicRule]:
    rules = [_rule(org.name, "brand", org.brand_terms, org.exclude_terms, "organization.brand_terms")]
    for i, comp in enumerate(org.competitors):
        where = f"organization.competitors[{i}].terms"
        rules.append(_rule(comp.name, "competitor", comp.terms, comp.exclude_terms, where))
    for term in org.tracked_terms:
        name = (split_terms([term])[0] or [term])[0]
        rules.append(_rule(name, "term", [term], [], "organization.tracked_terms"))
    return rules


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


def _rule(topic: str, kind: str, terms: list[str], extra_excludes: list[str], where: str) -> TopicRule:
    for term in [*terms, *extra_excludes]:
        _check_term(term, where)
    includes, excludes = split_terms(terms)
    extra_in, extra_out = split_terms(extra_excludes)
    excludes += extra_in + extra_out  # in exclude_terms the '-' is optional
    if not includes:
        raise ConfigError(f"'{where}': needs at least one term that is not an exclusion")
    rule = TopicRule(topic, kind, term_pattern(includes), term_pattern(excludes) if excludes else None)
    _check_patterns(rule, includes + excludes, where)
    return rule


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


def _check_patterns(rule: TopicRule, terms: list[str], where: str) -> None:
    """Compile the rule with the store's own regex engine (RE2) and reject terms that match everything
    or cannot match even their own text."""
    import duckdb

    with duckdb.connect(":memory:") as conn:
        for name, pattern in (("term", rule.include), ("exclusion", rule.exclude)):
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
                    f"'{where}': a {name} of topic {rule.topic!r} cannot be compiled ({str(exc).splitlines()[0][:160]})"
                ) from None
            if hits:
                raise ConfigError(
                    f"'{where}': a {name} of topic {rule.topic!r} matches every mention; "
                    "make each term a whole word or phrase"
                )
        for term in terms:
            literal = " " + unicodedata.normalize("NFC", term.rstrip("*")) + " "  # as texts are matched
            single = term_pattern([term])
            if not scalar(conn, "SELECT regexp_matches(?, ?)", [literal, single]):
                raise ConfigError(
                    f"'{where}': term {term!r} of topic {rule.topic!r} can never match, not even its own text"
                )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def tag_mentions(conn: duckdb.DuckDBPyConnection, rules: list[TopicRule], scope: str | None = None) -> int:
    """Re-tag the mentions whose ids are in table `scope` (all mentions when None).

    Patterns come from config, never from collected text; they are still quoted
    as SQL literals so a quote in a term cannot break the statement.
    """
    where = f"WHERE mention_id IN (SELECT mention_id FROM {scope})" if scope else ""
    conn.execute(f"DELETE FROM mention_topics {where}")
    if not rules:
        return 0
    selects = []
    for rule in rules:
        haystack = "txt"
        if rule.exclude:
            haystack = f"regexp_replace(txt, {_literal(rule.exclude)}, ' ', 'g')"
        selects.append(
            f"SELECT mention_id, {_literal(rule.topic)} AS topic, {_literal(rule.kind)} AS kind "
            f"FROM scoped WHERE regexp_matches({haystack}, {_literal(rule.include)})"
        )
    conn.execute(
        f"""
        INSERT INTO mention_topics (mention_id, topic, kind)
        WITH scoped AS (
            SELECT mention_id, nfc_normalize(concat_ws(' ', title, text)) AS txt FROM mentions {where}
        )
        {" UNION ALL ".join(selects)}
        """
    )
    row = conn.execute(f"SELECT count(*) FROM mention_topics {where}").fetchone()
    return int(row[0]) if row else 0
