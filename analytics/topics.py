"""Topic matching: which mentions talk about the brand, a competitor or a tracked term.

Term syntax (config): `acme` a word, `"acme coffee"` a phrase, `acme*` a word
prefix, `-"acme anvil"` / `-anvil` an exclusion. Matching is case-insensitive
and on word boundaries (Unicode letters and digits count as word characters),
and runs as vectorised SQL (RE2) over title and text, the same for every source.
Exclusions are cut out of the text before matching, so "acme anvil" does not
count as Acme while "acme anvil and acme coffee" still does.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from listener.errors import ConfigError
from listener.terms import split_terms
from listener.settings import Organization

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
    words = phrase.rstrip("*").split()
    body = r"\s+".join(_escape(w) for w in words)
    return body + (r"[\pL\pN_]*" if prefix else "")


def _escape(word: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "\\" + ch for ch in word)


def _rule(topic: str, kind: str, terms: list[str], extra_excludes: list[str], where: str) -> TopicRule:
    includes, excludes = split_terms(terms)
    extra_in, extra_out = split_terms(extra_excludes)
    excludes += extra_in + extra_out  # in exclude_terms the '-' is optional
    if not includes:
        raise ConfigError(f"'{where}': needs at least one term that is not an exclusion")
    return TopicRule(topic, kind, term_pattern(includes), term_pattern(excludes) if excludes else None)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def tag_mentions(
    conn: duckdb.DuckDBPyConnection, rules: list[TopicRule], scope: str | None = None
) -> int:
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
            SELECT mention_id, concat_ws(' ', title, text) AS txt FROM mentions {where}
        )
        {' UNION ALL '.join(selects)}
        """
    )
    row = conn.execute(f"SELECT count(*) FROM mention_topics {where}").fetchone()
    return int(row[0]) if row else 0
