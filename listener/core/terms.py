"""Brand and competitor terms as written in config: one term per entry.

`acme` a word, `"acme coffee"` a phrase, `acme*` a prefix, `-"acme anvil"` an
exclusion. Topic matching (analytics) and connector queries (X, Reddit) both
read terms through here, so they agree on what a term means.
"""

from __future__ import annotations


def split_terms(terms: list[str]) -> tuple[list[str], list[str]]:
    """Split config terms into (includes, excludes): one term per entry, quotes optional."""
    includes: list[str] = []
    excludes: list[str] = []
    for term in terms:
        phrase = term.strip()
        negated = phrase.startswith("-")
        phrase = phrase.removeprefix("-").strip()
        if len(phrase) >= 2 and phrase[0] == phrase[-1] == '"':
            phrase = phrase[1:-1].strip()
        if phrase:
            (excludes if negated else includes).append(phrase)
    return includes, excludes


def query_terms(includes: list[str], excludes: list[str], prefix_star: bool = False) -> str:
    """A boolean search query most networks accept: (a OR "b c") -"d"."""

    def quoted(term: str) -> str:
        term = term if prefix_star else term.rstrip("*")
        return f'"{term}"' if " " in term else term

    unique = list(dict.fromkeys(quoted(t) for t in includes))
    query = " OR ".join(unique)
    query = f"({query})" if len(unique) > 1 else query
    return " ".join([query, *(f"-{quoted(t)}" for t in excludes)]).strip()
