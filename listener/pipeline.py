"""collect / analyze / run: the only place that sees connectors, store and analytics.

Per source: fetch a page -> map it -> load records and the advanced cursor in
one transaction. A failing source is recorded in `runs` and never stops the
others; a crash between pages leaves every committed page and its cursor, so
a rerun converges.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from queue import Queue
from threading import Thread
from dataclasses import dataclass, field
from functools import partial
from datetime import date
from typing import Any

import pyarrow as pa

from analytics.metrics import detect_spikes, update_kpis
from analytics import communities, influencers, maturity, shapes
from analytics.language import detect_missing
from analytics.sentiment import mark_supported, score_pending
from analytics.topics import TopicRule, rules_from_organization, tag_mentions
from connectors import REGISTRY
from connectors.base import Connector
from listener.errors import ConfigError, SourceError
from listener.loader import (
    BATCH_SCHEMA,
    LoadResult,
    load_batch,
    prepare_own_accounts,
    resolve_pending_interactions,
)
from listener.models import Mention
from listener.progress import task
from listener.settings import Settings
from listener.store import RunLedger, Store

log = logging.getLogger(__name__)


@dataclass
class CollectReport:
    runs: list[RunLedger] = field(default_factory=list)

    @property
    def failed(self) -> list[RunLedger]:
        return [r for r in self.runs if r.status in ("failed", "partial")]


@dataclass
class AnalyzeReport:
    scored: int = 0
    distinct_texts: int = 0
    resolved_interactions: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    details: dict[str, Any] = field(default_factory=dict)  # each step's own report


def prepare(store: Store, settings: Settings) -> list[TopicRule]:
    """Per-connection setup every writing command needs."""
    prepare_own_accounts(store.conn, settings.organization.own_accounts)
    mark_interrupted_runs(store)
    return rules_from_organization(settings.organization)


def mark_interrupted_runs(store: Store) -> None:
    # We hold the only write lock, so any run still 'running' died mid-way.
    store.conn.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = coalesce(finished_at, now()) "
        "WHERE status = 'running'"
    )


def selected_sources(settings: Settings, only: Iterable[str] | None) -> list[str]:
    names = list(only) if only else settings.sources.enabled()
    for name in names:
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigError(f"unknown source '{name}' (available: {known})")
    return names


def collect(store: Store, settings: Settings, only: Iterable[str] | None = None, command: str = "collect") -> CollectReport:
    rules = prepare(store, settings)
    report = CollectReport()
    for name in selected_sources(settings, only):
        report.runs.append(collect_source(store, settings, name, rules, command))
    return report


def collect_source(store: Store, settings: Settings, name: str, rules: list[TopicRule], command: str) -> RunLedger:
    ledger = store.start_run(name, command)
    started = time.monotonic()
    errors: list[str] = []
    try:
        connector = REGISTRY[name](settings)
        with task(f"collect {name}") as progress:
            for page in connector.fetch(store.cursors(name)):
                _store_page(store, connector, page, ledger, rules)
                if page.error:
                    errors.append(page.error)
                    log.warning("%s: %s", name, page.error)
                progress.advance(note=f"{name}: {ledger.inserted} new, {ledger.updated} updated")
    except SourceError as exc:
        errors.append(str(exc))
        log.error("%s: %s", name, exc)
    except Exception as exc:  # a bug in one source must not stop the others; it is recorded
        errors.append(f"unexpected {type(exc).__name__}: {exc}")
        log.exception("%s: unexpected error", name)
    ledger.error = "; ".join(errors)[:4000] or None
    ledger.status = _status(ledger, errors)
    store.finish_run(ledger)
    log.info(
        "%s: %s in %.1fs: fetched %d, inserted %d, updated %d%s",
        name, ledger.status, time.monotonic() - started, ledger.fetched,
        ledger.inserted, ledger.updated, f", {len(ledger.warnings)} warnings" if ledger.warnings else "",
    )
    return ledger


def _status(ledger: RunLedger, errors: list[str]) -> str:
    if errors:
        return "partial" if (ledger.fetched or ledger.inserted or ledger.updated) else "failed"
    return "warning" if ledger.warnings else "ok"


def _store_page(store: Store, connector: Connector, page, ledger: RunLedger, rules: list[TopicRule]) -> None:
    mentions = connector.map_page(page) if page.payload is not None else []
    ledger.warnings.extend(page.warnings)
    if page.error or (not mentions and not any(page.cursor.values())):
        return  # a failed stream keeps its cursor exactly as it was
    with store.transaction() as conn:
        result = load_batch(conn, mentions_to_batch(mentions), ledger.run_id, rules)
        store.set_cursors(connector.name, {k: v for k, v in page.cursor.items() if v is not None})
    ledger.fetched += len(mentions)
    ledger.inserted += result.inserted
    ledger.updated += result.updated
    ledger.warnings.extend(f"{page.stream}: record {n} rejected: {why}" for n, why in result.errors)


def mentions_to_batch(mentions: list[Mention]) -> pa.Table:
    return pa.table(
        {"line_no": list(range(1, len(mentions) + 1)), "doc": [m.to_json() for m in mentions]},
        schema=BATCH_SCHEMA,
    )


def analyze(store: Store, settings: Settings, retag: bool = False, today: date | None = None,
            rebaseline: bool = False) -> AnalyzeReport:
    """Every analysis step, in data-flow order, each timed and reported."""
    started = time.monotonic()
    rules = prepare(store, settings)
    report = AnalyzeReport()

    def step(name: str, work: Callable[[], Any]) -> Any:
        began = time.monotonic()
        result = work()
        report.steps[name] = round(time.monotonic() - began, 3)
        report.details[name] = result
        log.info("analyze: %s done in %.1fs", name, report.steps[name])
        return result

    if retag:  # every week's topics may change: the weekly analytics start over
        step("topics", lambda: _in_transaction(store, lambda conn: _retag(conn, rules)))
    report.resolved_interactions = step(
        "interactions", lambda: _in_transaction(store, resolve_pending_interactions))
    if settings.analytics.detect_language:
        step("language", lambda: detect_missing(store.conn, settings))
    report.scored, report.distinct_texts = step("sentiment", lambda: _score(store, settings))
    step("supported", lambda: mark_supported(store.conn))
    for name, run in analysis_steps(rebaseline):
        step(name, lambda run=run: run(store.conn, settings, today))
    report.seconds = round(time.monotonic() - started, 3)
    log.info("analyze: scored %d mentions (%d distinct texts), resolved %d interactions in %.1fs",
             report.scored, report.distinct_texts, report.resolved_interactions, report.seconds)
    return report


def analysis_steps(rebaseline: bool = False) -> list[tuple[str, Callable[..., Any]]]:
    """The store-only analytics after sentiment, in the order their inputs appear.

    Maturity comes last: it reads influencers, communities and sentiment for its window.
    """
    return [
        ("influencers", influencers.run),
        ("communities", communities.run),
        ("shapes", shapes.run),
        ("spikes", detect_spikes),
        ("kpis", partial(update_kpis, rebaseline=rebaseline)),
        ("maturity", maturity.run),
    ]


def _retag(conn: Any, rules: list[TopicRule]) -> int:
    tagged = tag_mentions(conn, rules)
    for table in ("influencers", "communities", "community_members", "conversation_shapes"):
        conn.execute(f"DELETE FROM {table}")
    return tagged


def _in_transaction(store: Store, work: Callable[[Any], Any]) -> Any:
    with store.transaction() as conn:
        return work(conn)


def _score(store: Store, settings: Settings) -> tuple[int, int]:
    workers = settings.analytics.sentiment_workers or None
    with task("sentiment") as progress:
        return score_pending(store.conn, workers=workers, on_chunk=lambda n: progress.advance(n),
                             lexicon=settings.analytics.lexicon)


def load_batches(store: Store, settings: Settings, batches: Iterable[pa.Table], run_id: str) -> LoadResult:
    """Bulk path for `listener import`: each batch in its own transaction.

    The file is read one batch ahead in a thread while DuckDB loads the
    previous one, and checkpoints wait until the end (each one rewrites the
    primary-key indexes, which made big imports quadratic).
    """
    rules = prepare(store, settings)
    total = LoadResult()
    with store.deferred_checkpoints(), task("import") as progress:
        for batch in read_ahead(batches):
            with store.transaction() as conn:
                total.add(load_batch(conn, batch, run_id, rules))
            progress.advance(batch.num_rows)
    return total


def read_ahead(items: Iterable[pa.Table], depth: int = 1) -> Iterator[pa.Table]:
    """Iterate in a background thread, `depth` items ahead; errors surface in the caller."""
    queue: Queue[tuple[str, object]] = Queue(maxsize=depth)

    def produce() -> None:
        try:
            for item in items:
                queue.put(("item", item))
            queue.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put(("error", exc))

    Thread(target=produce, name="listener-read-ahead", daemon=True).start()
    while True:
        kind, value = queue.get()
        if kind == "done":
            return
        if kind == "error":
            raise value  # type: ignore[misc]
        yield value  # type: ignore[misc]
