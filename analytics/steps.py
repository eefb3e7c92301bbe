"""The analysis steps, in data-flow order: what `listener analyze` runs after the store's upkeep.

Each step has a name (its key in `listener analyze --json`), the function that
runs it and the tables it writes. A step recomputes what it writes, in write
transactions of its own that claim `Claim.ANALYSIS`, so a rerun, a unit of work
re-run after a lost DuckLake conflict, or two workers analyzing at once all
converge on the same tables. Maturity comes last: it reads influencers,
communities and sentiment for its window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb

from analytics.conversation.roles import update_roles
from analytics.language import detect_missing
from analytics.maturity import classifier as maturity
from analytics.metrics.kpis import update_kpis
from analytics.metrics.spikes import detect_spikes
from analytics.sentiment.score import mark_supported, score_pending
from analytics.sentiment.topics import TopicCondition, score_topics
from listener.core.progress import task
from listener.core.settings import Settings
from listener.store.connection import Store


@dataclass(frozen=True)
class StepRun:
    """What every step is given besides the store."""

    settings: Settings
    today: date | None = None  # (UTC) ends rolling windows, KPI weeks, spike days, the maturity window
    rebaseline: bool = False  # re-record the KPI baselines (`listener analyze --rebaseline`)
    topics: tuple[TopicCondition, ...] = ()  # the compiled topics (listener.ingest.topics), for per-topic sentiment


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[Store, StepRun], Any]  # returns the step's report
    writes: tuple[str, ...]  # the tables it writes (for `mentions`, only the detected language)
    # It recomputes only the weeks whose mentions changed since; retagging changes every week's
    # topics without changing a mention, so a retag empties these tables first.
    restarts_on_retag: bool = False
    wanted: Callable[[Settings], bool] = lambda settings: True


def _language(store: Store, run: StepRun) -> dict[str, Any]:
    return detect_missing(store, run.settings)


def _sentiment(store: Store, run: StepRun) -> tuple[int, int]:
    workers = run.settings.analytics.sentiment_workers or None
    with task("sentiment") as progress:
        return score_pending(
            store, workers=workers, on_chunk=lambda n: progress.advance(n), lexicon=run.settings.analytics.lexicon
        )


def _supported(store: Store, run: StepRun) -> int:
    return mark_supported(store)


def _topic_sentiment(store: Store, run: StepRun) -> dict[str, Any]:
    return score_topics(store, run.topics, lexicon=run.settings.analytics.lexicon)


def _roles(store: Store, run: StepRun) -> dict[str, Any]:
    return update_roles(store, run.settings)


# The graph steps import igraph (without its plotting backends: analytics/network/igraph_quiet.py) and
# datasketch (which pulls in scipy: about 0.5 s) when they run, not when the pipeline is imported:
# `collect`, `import` and the scheduler's start never pay it.


def _duplicates(store: Store, run: StepRun) -> dict[str, Any]:
    from analytics.conversation.duplicates import update_duplicates

    return update_duplicates(store, run.settings)


def _coordinated(store: Store, run: StepRun) -> dict[str, Any]:
    from analytics.conversation.coordinated import update_coordinated

    return update_coordinated(store, run.settings)


def _influencers(store: Store, run: StepRun) -> dict[str, Any]:
    from analytics.network import influencers

    return influencers.run(store, run.settings, run.today)


def _communities(store: Store, run: StepRun) -> dict[str, Any]:
    from analytics.network import communities

    return communities.run(store, run.settings, run.today)


def _shapes(store: Store, run: StepRun) -> dict[str, Any]:
    from analytics.network import shapes

    return shapes.run(store, run.settings, run.today)


def _spikes(store: Store, run: StepRun) -> dict[str, Any]:
    return detect_spikes(store, run.settings, run.today)


def _kpis(store: Store, run: StepRun) -> dict[str, Any]:
    return update_kpis(store, run.settings, run.today, rebaseline=run.rebaseline)


def _maturity(store: Store, run: StepRun) -> dict[str, Any]:
    return maturity.run(store, run.settings, run.today)


STEPS: tuple[Step, ...] = (
    Step("language", _language, ("mentions",), wanted=lambda settings: settings.analytics.detect_language),
    Step("sentiment", _sentiment, ("sentiment",)),
    Step("supported", _supported, ("sentiment",)),  # after language: a language found later flips the flag
    # after sentiment: a pair whose post is one clause takes the post's score; a retag starts it over
    Step("topic_sentiment", _topic_sentiment, ("topic_sentiment",), restarts_on_retag=True),
    # who a mention is from, then its copies: every "by others" measure below reads both
    Step("roles", _roles, ("mention_roles",)),
    Step("duplicates", _duplicates, ("duplicate_clusters", "step_state")),
    # before influencers, whose scores it dampens; raises `coordinated` alerts
    Step("coordinated", _coordinated, ("coordinated_groups", "alerts")),
    Step("influencers", _influencers, ("influencers",), restarts_on_retag=True),
    Step("communities", _communities, ("communities", "community_members"), restarts_on_retag=True),
    Step("shapes", _shapes, ("conversation_shapes",), restarts_on_retag=True),
    Step("spikes", _spikes, ("alerts",)),
    Step("kpis", _kpis, ("kpi_baselines", "kpi_values")),
    Step("maturity", _maturity, ("maturity_assessments",)),
)


def steps_for(settings: Settings) -> list[Step]:
    """The steps these settings ask for, in order."""
    return [step for step in STEPS if step.wanted(settings)]


def tables_restarted_by_retag() -> tuple[str, ...]:
    return tuple(table for step in STEPS if step.restarts_on_retag for table in step.writes)


def restart_after_retag(conn: duckdb.DuckDBPyConnection) -> None:
    """Inside the retag's write transaction: empty the tables of the steps that recompute by week."""
    for table in tables_restarted_by_retag():
        conn.execute(f"DELETE FROM {table}")
