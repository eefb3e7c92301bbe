"""collect / analyze / run / digest: the only place that sees connectors, store and analytics.

Per source: fetch a page -> map it -> load records and the advanced cursor in
one transaction. A failing source is recorded in `runs` and never stops the
others; a crash between pages leaves every committed page and its cursor, so
a rerun converges.

`run`, `analyze_and_publish` and `send_digest` are the whole of `listener run`,
the scheduler's nightly analyze and `listener digest --send`: the CLI and the
scheduler daemon both call them, so the two paths cannot drift apart.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from queue import Queue
from threading import Event, Thread
from typing import Any

import duckdb
import pyarrow as pa

from analytics.alerting import evaluate_rules
from analytics.network.period_cache import keeping_periods
from analytics.repair import repair_stored_values
from analytics.steps import StepRun, restart_after_retag, steps_for
from connectors import FOLLOWERS, REGISTRY
from connectors.base import Connector, RawPage
from listener.core.errors import ConfigError, SourceError, StoreBusyError, StoreMissingError
from listener.core.models import EARLIEST_CREATED_AT, Mention, created_at_in_range
from listener.core.progress import task
from listener.core.redact import mask
from listener.core.settings import Settings
from listener.ingest.loader import (
    MERGE_BYTES,
    MERGE_ROWS,
    LoadResult,
    discard_staged,
    documents_batch,
    merge_staged,
    prepare_own_accounts,
    resolve_pending_interactions,
    stage_batch,
)
from listener.ingest.segments import close_dead_runs, load_segment, prune_segment_ledger
from listener.ingest.spool import SourceBusy, Spool
from listener.ingest.topics import TopicRule, rules_from_organization, tag_mentions, uses_language
from listener.publish.alerts import Outcome as AlertOutcome
from listener.publish.alerts import deliver as deliver_alerts
from listener.publish.digest.gather import Week, gather
from listener.publish.digest.render import Rendered, render
from listener.publish.digest.send import Outcome, address, deliver, smtp_password
from listener.publish.snapshot import default_snapshot_dir, publish_snapshot
from listener.store.connection import Claim, Store
from listener.store.faults import describe, disk_problem
from listener.store.gate import StoreAccess, StoreGate, access_for
from listener.store.ledger import RunLedger, add_to_run, finish_run, new_run_id, utc_now

log = logging.getLogger(__name__)


@dataclass
class CollectReport:
    runs: list[RunLedger] = field(default_factory=list)
    busy: str | None = None  # the store stayed locked past the limit: fetched pages wait in the spool
    spool: dict[str, Any] = field(default_factory=dict)  # what is still waiting, when anything is

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
    return rules_from_organization(settings.organization)


def selected_sources(settings: Settings, only: Iterable[str] | None) -> list[str]:
    names = list(only) if only else settings.sources.enabled()
    for name in names:
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise ConfigError(f"unknown source '{name}' (available: {known})")
    return names


# --- collect: fetch into the spool, load it in short transactions ------------------------------


def collect(
    target: Store | StoreAccess,
    settings: Settings,
    only: Iterable[str] | None = None,
    command: str = "collect",
    should_stop: Callable[[], bool] | None = None,
) -> CollectReport:
    """Fetch every selected source into the spool, loading pages whenever the store is free.

    Leftovers of an earlier run are loaded first. When the store stays locked
    past `[store] lock_timeout_seconds`, the fetched pages stay in the spool
    (`report.busy` says so) and the next run loads them.
    """
    access = access_for(target)
    spool = Spool(settings.spool_dir)
    rules = rules_from_organization(settings.organization)
    names = selected_sources(settings, only)
    report = CollectReport()
    live: dict[str, RunLedger] = {}
    drain(access, spool, settings, rules, live, wait=False)
    for name in names:
        if should_stop and should_stop():
            log.info("stop requested: %s not collected this time", name)
            break
        ledger = collect_source(access, spool, settings, name, rules, command, live, should_stop)
        report.runs.append(ledger)
    try:
        drain(access, spool, settings, rules, live, wait=True)
    except StoreBusyError as exc:
        report.busy = str(exc)
    waiting = spool.summary()
    if waiting.pages or waiting.runs:
        report.spool = waiting.as_dict()
    if report.busy:
        log.error(
            "store busy: %d pages (%d mentions) wait in %s; the next run loads them. %s",
            waiting.pages,
            waiting.mentions,
            waiting.directory,
            report.busy,
        )
    return report


def followers(settings: Settings) -> list[str]:
    """Enabled sources whose settings ask for a live follower (Bluesky's Jetstream)."""
    return [name for name in selected_sources(settings, None) if name in FOLLOWERS]


def follow(access: StoreAccess, settings: Settings, name: str, stop: Event) -> RunLedger | None:
    """The scheduler's live job: `name`'s follower until `stop` or its time limit, loaded as it goes.

    It runs under a lock of its own (`<name>-follow`) beside the source's polls, with the source's
    ledger and spool; its cursor keys are its own, so a restart resumes where the last page ended."""
    connector = FOLLOWERS[name](settings, stop)
    if connector is None:
        return None
    spool = Spool(settings.spool_dir)
    rules = rules_from_organization(settings.organization)
    live: dict[str, RunLedger] = {}
    ledger = collect_source(
        access, spool, settings, name, rules, "follow", live, stop.is_set, connector, lock=f"{name}-follow"
    )
    drain(access, spool, settings, rules, live, wait=True)
    return ledger


def collect_source(
    access: StoreAccess,
    spool: Spool,
    settings: Settings,
    name: str,
    rules: list[TopicRule],
    command: str,
    live: dict[str, RunLedger] | None = None,
    should_stop: Callable[[], bool] | None = None,
    connector: Connector | None = None,
    lock: str | None = None,
) -> RunLedger:
    """One source: fetch page by page into the spool, then spool the end of the run.

    `connector` instead of the registry's (the scheduler's Jetstream follower for `bluesky`), under
    its own `lock`, so a long follow and the source's polls run side by side; both keep the
    source's ledger, spool and cursors (each its own cursor keys)."""
    ledger = RunLedger(run_id=new_run_id(name), source=name, command=command)
    live = live if live is not None else {}
    started = time.monotonic()
    try:
        with spool.source_lock(lock or name):
            live[ledger.run_id] = ledger
            found, answered = _fetch_into_spool(
                access, spool, settings, name, rules, ledger, live, should_stop, connector
            )
            errors = [mask(e) for e in found]
            ledger.error = "; ".join(errors)[:4000] or None
            ledger.status = _status(ledger, errors, answered)
            ledger.finished_at = utc_now()
            try:
                spool.append_run_end(ledger.as_record())
            except OSError as exc:  # the spool's disk is full: record the run in the store directly
                ledger.error = "; ".join(filter(None, [ledger.error, str(disk_problem(exc, spool.root))]))
                ledger.status = "failed" if not ledger.fetched else "partial"
                record_run_directly(access, ledger)
    except SourceBusy as exc:
        ledger.status, ledger.error = "skipped", str(exc)
        log.warning("%s: skipped: %s", name, exc)
        return ledger
    log.info(
        "%s: %s in %.1fs: fetched %d, inserted %d, updated %d%s",
        name,
        ledger.status,
        time.monotonic() - started,
        ledger.fetched,
        ledger.inserted,
        ledger.updated,
        f", {len(ledger.warnings)} warnings" if ledger.warnings else "",
    )
    return ledger


def _fetch_into_spool(
    access: StoreAccess,
    spool: Spool,
    settings: Settings,
    name: str,
    rules: list[TopicRule],
    ledger: RunLedger,
    live: dict[str, RunLedger],
    should_stop: Callable[[], bool] | None,
    given: Connector | None = None,
) -> tuple[list[str], int]:
    """Fetch and spool every page; returns (errors, pages answered without error).

    A page answered without error counts even when it holds nothing new (an RSS
    304, an empty search): that stream works, so errors elsewhere make the run
    `partial`, not `failed`.
    """
    errors: list[str] = []
    answered = 0
    connector: Connector | None = None
    try:
        connector = given or REGISTRY[name](settings)
        # Where this source stopped: the store's cursors, moved on by pages still in the spool.
        cursors = {**access.cursors(name), **spool.pending_cursors(name)}
        with task(f"collect {name}") as progress:
            for page in connector.fetch(cursors):
                _spool_page(spool, connector, page, ledger)
                if page.error:
                    errors.append(page.error)
                    log.warning("%s: %s", name, page.error)
                else:
                    answered += 1
                drain(access, spool, settings, rules, live, wait=False)
                progress.advance(note=f"{name}: {ledger.fetched} fetched, {ledger.inserted} new")
                if should_stop and should_stop():
                    log.info("%s: stop requested; stopping after this page", name)
                    break
    except (SourceError, StoreBusyError) as exc:
        errors.append(str(exc))
        log.error("%s: %s", name, exc)
    except (OSError, duckdb.Error) as exc:  # disk full, read-only folder, damaged store: say so in one line
        problem = describe(exc, settings.store_path)
        if problem is None:
            raise
        errors.append(str(problem))
        log.error("%s: %s", name, problem)
    except Exception as exc:  # a bug in one source must not stop the others; it is recorded
        errors.append(f"unexpected {type(exc).__name__}: {exc}")
        log.exception("%s: unexpected error", name)
    ledger.usage = _usage_of(connector)
    return errors, answered


def _usage_of(connector: Connector | None) -> dict[str, Any] | None:
    """What the run spent of a metered budget, for connectors that have one (`usage()`: YouTube's
    quota units); a connector's odd answer is no usage, never a failed run."""
    report = getattr(connector, "usage", None)
    try:
        usage = report() if callable(report) else None
    except Exception:  # noqa: BLE001 - a report about the run must not fail the run
        log.warning("%s: could not report its usage", getattr(connector, "name", "?"))
        return None
    return usage if isinstance(usage, dict) and usage else None


def record_run_directly(access: StoreAccess, ledger: RunLedger) -> None:
    """Best effort when the spool cannot take the run's end: write its row straight to the store.
    If that fails too, the next command marks the run interrupted with what it committed."""
    try:
        with access.writer(wait=False) as store:
            if store is None:
                return
            finish_run(store, ledger)
    except (OSError, duckdb.Error, StoreBusyError) as exc:
        log.error("%s: the run could not be recorded either: %s", ledger.source, describe(exc, None) or exc)


def _status(ledger: RunLedger, errors: list[str], answered: int = 0) -> str:
    """failed: nothing worked; partial: some streams failed, others answered (new items or not)."""
    if errors:
        return "partial" if ledger.fetched or answered else "failed"
    return "warning" if ledger.warnings else "ok"


def _spool_page(spool: Spool, connector: Connector, page: RawPage, ledger: RunLedger) -> None:
    mentions = connector.map_page(page) if page.payload is not None else []
    mentions, fixes = sane_mentions(mentions, page.stream)
    warnings = [mask(w) for w in page.warnings + fixes]
    ledger.warnings.extend(warnings)
    ledger.page_warnings.extend(warnings)
    if page.error or (not mentions and not any(page.cursor.values())):
        return  # a failed stream keeps its cursor exactly as it was
    spool.append_page(
        source=connector.name,
        run_id=ledger.run_id,
        command=ledger.command,
        stream=page.stream,
        documents=[m.to_json() for m in mentions],
        cursor=page.cursor,
        started_at=ledger.started_at,
    )
    ledger.fetched += len(mentions)


def sane_mentions(mentions: list[Mention], stream: str, now: datetime | None = None) -> tuple[list[Mention], list[str]]:
    """Collected posts with an absurd time get the fetch time; each fix is a warning.

    A platform (or a hostile feed) may say a post is from year 9999 or 0001; stored as is, that one
    value used to stop every later analysis. Imports reject such rows instead, and the loader
    cuts oversized texts for both paths.
    """
    now = now or datetime.now(UTC)
    fixed, warnings = [], []
    for mention in mentions:
        if isinstance(mention.created_at, datetime) and created_at_in_range(mention.created_at, now):
            fixed.append(mention)
            continue
        fixed.append(replace(mention, created_at=now))
        warnings.append(
            f"{stream}: item {mention.id}: time {_shown_time(mention.created_at)} is outside "
            f"{EARLIEST_CREATED_AT.date()} .. now + 1 day; stored with the fetch time instead"
        )
    return fixed, warnings


def _shown_time(value: datetime) -> str:
    try:
        return value.isoformat()
    except (ValueError, OverflowError):
        return repr(value)


def drain(
    access: StoreAccess,
    spool: Spool,
    settings: Settings,
    rules: list[TopicRule],
    live: dict[str, RunLedger] | None = None,
    wait: bool = True,
) -> int:
    """Load every waiting spool segment, each in its own transaction; returns how many.

    With `wait=False` a busy store is left alone (the segments wait); with
    `wait=True` StoreBusyError says the wait ran out.
    """
    if not spool.pending():
        return 0
    with access.writer(wait=wait, brief=not wait) as store:
        if store is None:
            return 0
        prepare_own_accounts(store.conn, settings.organization.own_accounts)
        loaded = 0
        for segment in spool.pending():  # listed again: another process may have loaded some
            loaded += load_segment(store, spool, segment, rules, live or {})
        if wait:  # once per run, not between pages
            prune_segment_ledger(store)
            close_dead_runs(store, spool)
        return loaded


def mentions_to_batch(mentions: list[Mention]) -> pa.Table:
    return documents_batch([m.to_json() for m in mentions])


def analyze(
    store: Store, settings: Settings, retag: bool = False, today: date | None = None, rebaseline: bool = False
) -> AnalyzeReport:
    """The store's upkeep, then every step of `analytics.steps`, in data-flow order, each timed and reported.

    Upkeep: repair stored values that would stop the analysis, retag (when asked) and resolve
    interactions whose target arrived late. `today` (UTC) ends the rolling windows, KPI weeks,
    spike days and the maturity window; default `[analytics] as_of`, else the real date.
    """
    started = time.monotonic()
    today = today or settings.analytics.as_of
    rules = prepare(store, settings)
    report = AnalyzeReport()

    def step(name: str, work: Callable[[], Any]) -> Any:
        began = time.monotonic()
        result = work()
        report.steps[name] = round(time.monotonic() - began, 3)
        report.details[name] = result
        log.info("analyze: %s done in %.1fs", name, report.steps[name])
        return result

    close_dead_runs(store, Spool(settings.spool_dir))
    step("repair", lambda: store.write_transaction(repair_stored_values, "analyze: repair", claim=Claim.ANALYSIS))
    if retag:  # every week's topics may change: the weekly analytics start over
        step(
            "topics",
            lambda: store.write_transaction(lambda conn: _retag(conn, rules), "analyze: topics", claim=Claim.ANALYSIS),
        )
    report.resolved_interactions = step(
        "interactions",
        lambda: store.write_transaction(resolve_pending_interactions, "analyze: interactions", claim=Claim.ANALYSIS),
    )
    given = StepRun(settings, today, rebaseline, topics=tuple(rules))
    lang_topics = uses_language(rules)
    with keeping_periods(store):  # each period's graph built once for the graph steps
        for analysis in steps_for(settings):
            if analysis.name == "language" and lang_topics:
                store.conn.execute(
                    "CREATE OR REPLACE TEMP TABLE lang_unknown AS SELECT mention_id FROM mentions WHERE lang IS NULL"
                )
            step(analysis.name, functools.partial(analysis.run, store, given))
            if analysis.name == "language" and lang_topics:
                step(
                    "topics by language",
                    lambda: store.write_transaction(
                        lambda conn: _retag_detected_languages(conn, rules), "analyze: topics", claim=Claim.ANALYSIS
                    ),
                )
    report.scored, report.distinct_texts = report.details["sentiment"]
    report.seconds = round(time.monotonic() - started, 3)
    log.info(
        "analyze: scored %d mentions (%d distinct texts), resolved %d interactions in %.1fs",
        report.scored,
        report.distinct_texts,
        report.resolved_interactions,
        report.seconds,
    )
    return report


def _retag_detected_languages(conn: duckdb.DuckDBPyConnection, rules: list[TopicRule]) -> int:
    """A topic with lang: was decided at load time without the language `analyze` found since:
    re-tag the mentions whose language was just detected. They are new since the last analyze,
    so the weekly steps read their weeks anyway."""
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE lang_filled AS
           SELECT mention_id FROM lang_unknown JOIN mentions USING (mention_id) WHERE mentions.lang IS NOT NULL"""
    )
    tagged = tag_mentions(conn, rules, scope="lang_filled")
    conn.execute("DROP TABLE lang_filled")
    conn.execute("DROP TABLE lang_unknown")
    return tagged


def _retag(conn: duckdb.DuckDBPyConnection, rules: list[TopicRule]) -> int:
    tagged = tag_mentions(conn, rules)
    restart_after_retag(conn)
    return tagged


def load_batches(
    store: Store, settings: Settings, batches: Iterable[pa.Table], run_id: str, merge_rows: int = MERGE_ROWS
) -> LoadResult:
    """Bulk path for `listener import`: batches staged as they are read, merged in large transactions.

    The file is read one batch ahead in a thread while DuckDB stages the previous one, in
    bounded memory (`Store.bulk_load`); the staged rows are merged and committed, with their
    counts in the run's row, whenever they reach `merge_rows` rows or `MERGE_BYTES` (see
    `stage_batch`: a large merge is written once, and reads the store's tables once).
    """
    rules = prepare(store, settings)
    total = LoadResult()
    pending, pending_bytes = LoadResult(), 0

    def merge() -> None:
        nonlocal pending, pending_bytes
        merged = store.write_transaction(
            functools.partial(_merge_counted, received=pending.received, run_id=run_id, rules=rules),
            "import",
            claim=Claim.LOADS,
        )
        pending.inserted, pending.updated = merged.inserted, merged.updated
        total.add(pending)
        pending, pending_bytes = LoadResult(), 0

    try:
        with store.bulk_load(), task("import") as progress:
            for batch in read_ahead(batches):
                pending.add(stage_batch(store.conn, batch, run_id))
                pending_bytes += batch.nbytes
                if pending.received >= merge_rows or pending_bytes >= MERGE_BYTES:
                    merge()
                progress.advance(batch.num_rows)
            if pending.received:
                merge()
    finally:
        discard_staged(store.conn)
    return total


def _merge_counted(conn: Any, received: int, run_id: str, rules: list[TopicRule]) -> LoadResult:
    """The staged rows and their counts in the run's `runs` row, committed together: if the import
    dies later, the row says exactly what was kept."""
    result = merge_staged(conn, rules)
    add_to_run(conn, run_id, received, result.inserted, result.updated)
    return result


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
        yield value


# --- run, analyze and publish, send the digest: what the CLI and the scheduler both call ------


@dataclass
class PublishReport:
    """An analysis and the refresh of the analysts' snapshot after it."""

    analysis: AnalyzeReport
    snapshot: dict[str, Any]  # SnapshotResult.as_dict(), or {"error": why} when it was not refreshed

    @property
    def snapshot_error(self) -> str | None:
        return self.snapshot.get("error")


@dataclass
class AlertReport:
    """Alert rules evaluated and what was delivered (listener/publish/alerts.py)."""

    raised: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[AlertOutcome] = field(default_factory=list)
    error: str | None = None  # the store could not be read or written; the next evaluation catches up

    def merge(self, other: AlertReport) -> AlertReport:
        return AlertReport(self.raised + other.raised, self.deliveries + other.deliveries, other.error or self.error)

    def as_dict(self) -> dict[str, Any]:
        return {
            "raised": self.raised,
            "deliveries": [vars(o) for o in self.deliveries],
            "error": self.error,
        }


def evaluate_alerts(access: StoreAccess, settings: Settings, now: datetime | None = None) -> AlertReport:
    """Raise what the alert rules see now, then deliver what waits; the store is held only for the writes."""
    if not settings.alerts.rules and not settings.alerts.channels:
        return AlertReport()
    try:
        with access.writer() as store:
            assert store is not None
            raised = evaluate_rules(store, settings, now)
        return AlertReport(raised, deliver_alerts(access, settings))
    except (duckdb.Error, StoreBusyError, OSError) as exc:
        log.error("alerts not evaluated: %s", mask(str(exc)))
        return AlertReport(error=mask(str(exc)))


@dataclass
class RunReport:
    """`listener run`: what was collected, then (unless the store stayed busy) the analysis and snapshot."""

    collected: CollectReport
    published: PublishReport | None = None  # None: the store stayed busy, nothing was analyzed
    alerts: AlertReport = field(default_factory=AlertReport)

    @property
    def busy(self) -> str | None:
        return self.collected.busy

    @property
    def failed(self) -> bool:
        """A source failed or the snapshot could not be refreshed (what was collected is committed)."""
        return bool(self.collected.failed) or (self.published is not None and self.published.snapshot_error is not None)


def run(gate: StoreGate, settings: Settings, only: Iterable[str] | None = None) -> RunReport:
    """Collect the selected sources, then analyze and refresh the snapshot.

    When the store stays locked past `[store] lock_timeout_seconds` the fetched pages wait in
    the spool and nothing is analyzed (`report.busy`): analyzing without them would publish
    stale numbers, and the next run loads them.
    """
    collected = collect(gate, settings, only, command="run")
    if collected.busy:
        return RunReport(collected)
    # rules on the fresh mentions go out before the analysis; spike rules after it
    alerts = evaluate_alerts(gate, settings)
    published = analyze_and_publish(gate, settings)
    return RunReport(collected, published, alerts.merge(evaluate_alerts(gate, settings)))


def analyze_and_publish(
    gate: StoreGate, settings: Settings, retag: bool = False, rebaseline: bool = False, today: date | None = None
) -> PublishReport:
    """Every analysis, then the analysts' snapshot, in one hold of the store.

    `listener run` and the scheduler's nightly analyze; `listener analyze` alone leaves the
    snapshot as it is (`listener snapshot` publishes one on demand).
    """
    with gate.writer() as store:
        assert store is not None  # writer() waits, or raises StoreBusyError
        analysis = analyze(store, settings, retag=retag, rebaseline=rebaseline, today=today)
        return PublishReport(analysis, refresh_snapshot(store, settings))


def refresh_snapshot(store: Store, settings: Settings) -> dict[str, Any]:
    """Refresh the analysts' read-only copy; a failure is logged and returned, the analysis stays committed."""
    try:
        return publish_snapshot(store.conn, default_snapshot_dir(settings)).as_dict()
    except (OSError, ValueError, duckdb.Error, StoreBusyError) as exc:
        log.error("snapshot not refreshed: %s", exc)
        return {"error": str(exc)}


def recipient_addresses(values: Iterable[str], key: str) -> list[str]:
    """Each address checked (ConfigError naming `key`) and listed once, in the order given."""
    found: list[str] = []
    for value in values:
        addr = address(value, key)
        if addr not in found:
            found.append(addr)
    return found


def render_digest(gate: StoreGate, settings: Settings, week: Week) -> Rendered:
    """The digest of `week`, read from the store, which is closed again before anything is sent."""
    if not settings.has_store:
        raise StoreMissingError(f"{settings.store_path}: no store yet; run `listener run` first")
    with gate.reader() as store:
        return render(gather(store.conn, settings, week))


def send_digest(settings: Settings, week: Week, recipients: list[str], force: bool = False) -> list[Outcome]:
    """`listener digest --send` and the weekly job: e-mail `week` to each recipient not yet sent it.

    A missing SMTP password fails before the store is read; each (week, recipient) is recorded
    in `digests`, so a failed send goes out on the next call and a sent one never twice
    (unless `force`).
    """
    smtp_password(settings.digest.smtp)
    gate = StoreGate(settings.store, settings.store.lock_timeout_seconds)
    rendered = render_digest(gate, settings, week)
    return deliver(gate, rendered, settings.digest, recipients, force=force)
