"""The scheduler daemon behind `listener schedule`: jobs built from config, a heartbeat, a clean stop.

Jobs (APScheduler 3.x, one BackgroundScheduler, one worker thread):
  collect:<source>  every `[sources.<name>] poll_interval_minutes` (jitter, max_instances=1,
                    coalesce, misfire grace), first run at start-up;
  analyze           `[schedule] analyze_cron` (default "15 3 * * *") in `[schedule] timezone`:
                    `listener analyze`, then the analysts' snapshot, as `listener run` does;
  digest            `[schedule] digest_cron` (default "30 6 * * 1"): `listener digest --send`.

The jobs call the same pipeline functions as the commands (`pipeline.analyze_and_publish`,
`pipeline.send_digest`); `[schedule]` is `settings.schedule` (listener.core.settings.Schedule),
whose cron expressions and time zone are checked here, when the scheduler is built.

Collect jobs fetch into the spool without holding the store and load each
page in a short transaction (`listener.store.gate`), so the file is free between
writes. The executor has a single worker: DuckDB allows one writer per file,
and two jobs in one process would share one database instance. A job that
finds the store held by another process past `[store] lock_timeout_seconds`
is logged as `busy` (its pages wait in the spool) and runs again at its next tick.

SIGTERM/SIGINT: no new job starts; a running collect job finishes the page in
hand (spooled and, when the store is free, loaded) and stops; the daemon exits 0.
A second signal exits at once (130): spooled pages stay and load next time.

The heartbeat is a JSON file, replaced atomically (temp file + os.replace)
every `heartbeat_seconds` and after each job; `is_fresh` (`listener schedule
--check`) is what a container healthcheck calls.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from listener import pipeline
from listener.core.errors import ConfigError, StoreBusyError, StoreMissingError
from listener.core.settings import Schedule, Settings, SourceBase
from listener.publish.digest.gather import Week
from listener.store.faults import describe
from listener.store.gate import StoreGate

log = logging.getLogger(__name__)

HEARTBEAT_NAME = "scheduler-heartbeat.json"
FOLLOW_RESTART_SECONDS = 60  # a follower that returned (time limit, lost link) starts again this soon
STALE_AFTER_BEATS = 3  # --check fails when the last tick is older than this many heartbeat intervals


def schedule_zone(schedule: Schedule) -> ZoneInfo:
    try:
        return ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"'schedule.timezone': unknown time zone (got {schedule.timezone!r})") from None


def cron_trigger(schedule: Schedule, key: str) -> CronTrigger:
    """`[schedule] <key>` (a crontab line) as a trigger in `[schedule] timezone`; ConfigError naming the key."""
    expression = getattr(schedule, key)
    try:
        values = expression.split()
        if len(values) != 5:
            raise ValueError(f"wrong number of fields; got {len(values)}, expected 5")
        minute, hour, day, month, dow = values
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_day_of_week(dow),
            timezone=schedule_zone(schedule),
        )
    except ValueError as exc:
        raise ConfigError(f"'schedule.{key}': not a cron expression (got {expression!r}): {exc}") from None


def check_schedule(schedule: Schedule) -> None:
    """Both cron expressions and the time zone: the settings model checks `[schedule]`'s keys and
    numbers, these only `listener schedule` reads, so a typo here never stops the other commands."""
    cron_trigger(schedule, "analyze_cron")
    cron_trigger(schedule, "digest_cron")


def heartbeat_path(settings: Settings) -> Path:
    """`[schedule] heartbeat_file` (relative to the config file), else scheduler-heartbeat.json next to the store."""
    configured = settings.schedule.heartbeat_file
    if configured is None:
        return settings.store_path.parent / HEARTBEAT_NAME
    path = configured.expanduser()
    if not path.is_absolute() and settings.config_path is not None:
        path = settings.config_path.resolve().parent / path
    return path


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_day_of_week(field: str) -> str:
    """Standard crontab day-of-week (0 or 7 = Sunday, 1 = Monday) to APScheduler 3 names.

    APScheduler 3's own `CronTrigger.from_crontab` counts 0 = Monday, so "30 6 * * 1" would fire on
    Tuesdays; numbers are therefore expanded to day names here. Names ("mon-fri") pass through.
    """
    parts = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        if any(ch.isalpha() for ch in base):
            parts.append(part)
            continue
        if base in ("*", "?"):
            first, last = 0, 6
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(base)
            last = 6 if step_text else first
        step = int(step_text) if step_text else 1
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step >= 1):
            raise ValueError(f"bad day-of-week {part!r} (0-7, 0 and 7 = Sunday)")
        days = sorted({day % 7 for day in range(first, last + 1, step)})
        parts.append(",".join(_DAY_NAMES[day] for day in days))
    if base in ("*", "?") and not step_text and len(parts) == 1:
        return "*"
    return ",".join(parts)


@dataclass
class JobState:
    last_started: str | None = None
    last_finished: str | None = None
    last_status: str | None = None  # ok | warning | partial | failed | busy | skipped | error
    last_seconds: float | None = None
    last_summary: str | None = None
    runs: int = 0
    next_run: str | None = None


# --- the jobs: each opens the store for its own run only ---------------------------------------


def collect_job(settings: Settings, name: str, should_stop: Callable[[], bool] | None = None) -> tuple[str, str]:
    """Fetch into the spool without the store lock; load it whenever the store is free."""
    gate = StoreGate(settings.store, settings.store.lock_timeout_seconds)
    report = pipeline.collect(gate, settings, [name], command="schedule", should_stop=should_stop)
    if not report.runs:
        return "skipped", "stop requested before it started"
    run = report.runs[0]
    summary = f"fetched {run.fetched}, inserted {run.inserted}, updated {run.updated}"
    if run.error:
        summary += f"; error: {run.error[:300]}"
    if report.busy:
        return "busy", (
            f"{summary}; {report.spool.get('pages')} pages wait in the spool and load at the next tick: {report.busy}"
        )
    return run.status, summary + _alerts_summary(pipeline.evaluate_alerts(gate, settings))


def _alerts_summary(report: pipeline.AlertReport) -> str:
    """Alerts go out within one poll interval of the data: the rules run after every poll."""
    if report.error:
        return f"; alerts not evaluated: {report.error[:200]}"
    sent = sum(1 for o in report.deliveries if o.status == "sent")
    failed = sum(1 for o in report.deliveries if o.status == "failed")
    if not report.raised and not report.deliveries:
        return ""
    return f"; alerts: {len(report.raised)} raised, {sent} delivered" + (f", {failed} failed" if failed else "")


def follow_job(settings: Settings, name: str, stop: threading.Event) -> tuple[str, str]:
    """A source's live follower (Bluesky's Jetstream) until its time limit or SIGTERM, then the alert rules.

    Restarted a minute after it returns; it resumes from its last stored cursor."""
    gate = StoreGate(settings.store, settings.store.lock_timeout_seconds)
    try:
        run = pipeline.follow(gate, settings, name, stop)
    except StoreBusyError as exc:
        return "busy", f"the followed pages wait in the spool and load at the next tick: {exc}"
    if run is None:
        return "skipped", "no follower configured"
    summary = f"followed: fetched {run.fetched}, inserted {run.inserted}, updated {run.updated}"
    if run.error:
        summary += f"; error: {run.error[:300]}"
    return run.status, summary + _alerts_summary(pipeline.evaluate_alerts(gate, settings))


def analyze_job(settings: Settings) -> tuple[str, str]:
    """`listener analyze`, then the analysts' snapshot: what `listener run` does after collecting."""
    gate = StoreGate(settings.store, settings.store.lock_timeout_seconds)
    published = pipeline.analyze_and_publish(gate, settings)
    alerts = _alerts_summary(pipeline.evaluate_alerts(gate, settings))  # the spike rules see the new spikes
    report = published.analysis
    summary = (
        f"scored {report.scored} mentions, resolved {report.resolved_interactions} interactions, "
        f"maturity {(report.details.get('maturity') or {}).get('level')}"
    )
    if published.snapshot_error is not None:
        return "failed", f"{summary}; snapshot not refreshed: {published.snapshot_error}{alerts}"
    return "ok", f"{summary}; snapshot refreshed{alerts}"


def digest_job(settings: Settings) -> tuple[str, str]:
    """`listener digest --send` for the last complete week."""
    week = Week.last_complete(settings.today())
    recipients = pipeline.recipient_addresses(settings.digest.recipients, "digest.recipients")
    if not recipients:
        return "skipped", "no [digest] recipients configured"
    try:
        outcomes = pipeline.send_digest(settings, week, recipients)
    except StoreMissingError:
        return "skipped", f"{settings.store_path}: no store yet"
    counts = {s: sum(o.status == s for o in outcomes) for s in ("sent", "skipped", "failed")}
    summary = f"{week.label}: sent {counts['sent']}, already sent {counts['skipped']}, failed {counts['failed']}"
    return ("failed" if counts["failed"] else "ok"), summary


# --- the daemon --------------------------------------------------------------------------------


@dataclass
class Daemon:
    settings: Settings
    scheduler: BackgroundScheduler
    heartbeat_path: Path
    jobs: dict[str, JobState] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: str = field(default_factory=lambda: _iso(_now()))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: int = 0  # jobs inside their body right now (never above 1: one worker)
    max_seen_running: int = 0

    def wrap(self, job_id: str, work: Callable[[], tuple[str, str]]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set():  # queued before the signal: do not start it now
                log.info("%s: not started, shutting down", job_id)
                return
            state = self.jobs[job_id]
            with self._lock:
                self._running += 1
                self.max_seen_running = max(self.max_seen_running, self._running)
            began = time.monotonic()
            state.last_started = _iso(_now())
            log.info("%s: started", job_id)
            try:
                status, summary = work()
            except StoreBusyError as exc:
                status, summary = "busy", f"{exc} (retrying at the next tick)"
            except ConfigError as exc:
                status, summary = "error", f"config error: {exc}"
            except Exception as exc:  # a failing job must never stop the daemon; it is logged and retried
                known = describe(exc, self.settings.store_path)
                if known is None:
                    log.exception("%s: unexpected error", job_id)
                    status, summary = "error", f"unexpected {type(exc).__name__}: {exc}"
                else:  # a damaged store, a full disk: one line, and the next tick tries again
                    status, summary = "error", str(known)
            finally:
                with self._lock:
                    self._running -= 1
            seconds = time.monotonic() - began
            if status == "skipped" and self.stopping.is_set():
                # Shutdown caught it before its work began: the last real outcome stays on record.
                log.info("%s: %s", job_id, summary)
                return
            state.last_finished, state.last_status = _iso(_now()), status
            state.last_seconds, state.last_summary = round(seconds, 3), summary
            state.runs += 1
            level = logging.INFO if status in ("ok", "warning", "skipped") else logging.WARNING
            log.log(level, "%s: %s in %.1fs: %s", job_id, status, seconds, summary)
            self.write_heartbeat(refresh_next_runs=False)

        return run

    def write_heartbeat(self, refresh_next_runs: bool = True) -> dict[str, Any]:
        # Job threads pass refresh_next_runs=False: scheduler.shutdown() holds the job store lock
        # while it waits for the running job, so get_jobs() from that job would deadlock.
        if refresh_next_runs:
            for job in self.scheduler.get_jobs():
                if job.id in self.jobs:
                    nxt = getattr(job, "next_run_time", None)
                    self.jobs[job.id].next_run = _iso(nxt) if nxt else None
        data = {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "tick_at": _iso(_now()),
            "heartbeat_seconds": self.settings.schedule.heartbeat_seconds,
            "stopping": self.stopping.is_set(),
            "jobs": {job_id: vars(state) for job_id, state in self.jobs.items()},
        }
        with self._lock:
            write_json_atomic(self.heartbeat_path, data)
        return data

    def start(self) -> None:
        self.scheduler.start()
        self.write_heartbeat()
        for job in self.scheduler.get_jobs():
            log.info("scheduled %s: %s, next run %s", job.id, job.trigger, job.next_run_time)

    def stop(self, wait: bool = True) -> None:
        """No new job starts; wait for the running one to finish and commit."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.write_heartbeat()

    def run_forever(self) -> None:
        """Start, beat until `stopping` is set (by a signal or another thread), then stop cleanly."""
        self.start()
        while not self.stopping.wait(self.settings.schedule.heartbeat_seconds):
            self.write_heartbeat()
        log.info("stopping: no new jobs; waiting for the running job to finish")
        self.stop(wait=True)
        log.info("stopped")


def build_scheduler(
    settings: Settings,
    interval_override_seconds: float | None = None,
    heartbeat_file: Path | None = None,
    run_at_start: bool = True,
) -> Daemon:
    """The daemon with every job from `settings.schedule` and the enabled sources, not started.

    `interval_override_seconds` replaces every source's poll interval (short runs,
    smoke tests); `heartbeat_file` replaces `heartbeat_path(settings)` (`--heartbeat-file`);
    `run_at_start` runs each collect job once at start-up.
    """
    schedule = settings.schedule
    check_schedule(schedule)
    zone = schedule_zone(schedule)
    scheduler = BackgroundScheduler(
        # followers run for an hour at a time: their own thread, so polls and the nightly jobs go on
        executors={"default": ThreadPoolExecutor(max_workers=1), "follow": ThreadPoolExecutor(max_workers=2)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": schedule.misfire_grace_seconds},
        timezone=zone,
    )
    daemon = Daemon(settings, scheduler, heartbeat_file or heartbeat_path(settings))
    now = datetime.now(zone)
    for name in pipeline.selected_sources(settings, None):
        minutes = settings.sources.section(name, SourceBase).poll_interval_minutes
        seconds = interval_override_seconds if interval_override_seconds is not None else minutes * 60
        jitter = min(schedule.jitter_seconds, int(seconds / 4)) or None  # never jitter past a quarter interval
        _add(
            daemon,
            f"collect:{name}",
            functools.partial(collect_job, settings, name, daemon.stopping.is_set),
            IntervalTrigger(seconds=seconds, jitter=jitter, timezone=zone),
            now if run_at_start else None,
        )
    for name in pipeline.followers(settings):
        _add(
            daemon,
            f"follow:{name}",
            functools.partial(follow_job, settings, name, daemon.stopping),
            IntervalTrigger(seconds=FOLLOW_RESTART_SECONDS, timezone=zone),
            now if run_at_start else None,
            executor="follow",
        )
    _add(daemon, "analyze", lambda: analyze_job(settings), cron_trigger(schedule, "analyze_cron"), None)
    _add(daemon, "digest", lambda: digest_job(settings), cron_trigger(schedule, "digest_cron"), None)

    def missed(event: JobExecutionEvent) -> None:
        why = "still running" if event.code == EVENT_JOB_MAX_INSTANCES else "missed its time"
        log.warning("%s: skipped this tick (%s)", event.job_id, why)

    scheduler.add_listener(missed, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    return daemon


def _add(
    daemon: Daemon,
    job_id: str,
    work: Callable[[], tuple[str, str]],
    trigger: Any,
    first: datetime | None,
    executor: str = "default",
) -> None:
    daemon.jobs[job_id] = JobState()
    extra = {"next_run_time": first} if first is not None else {}
    daemon.scheduler.add_job(
        daemon.wrap(job_id, work), trigger, id=job_id, name=job_id, replace_existing=True, executor=executor, **extra
    )


def run_daemon(daemon: Daemon) -> int:
    """Run until SIGTERM/SIGINT; exit code 0 after a clean stop."""

    def on_signal(signum: int, frame: object) -> None:
        if daemon.stopping.is_set():
            log.warning("second %s: exiting now (committed pages are kept)", signal.Signals(signum).name)
            os._exit(130)
        log.info("%s received: finishing the running job, then exiting", signal.Signals(signum).name)
        daemon.stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        daemon.run_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# --- heartbeat file ----------------------------------------------------------------------------


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_heartbeat(path: Path, now: datetime | None = None) -> tuple[bool, str]:
    """(fresh, one line): fresh when the last tick is younger than 3 heartbeat intervals and not stopped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tick = datetime.fromisoformat(data["tick_at"])
        interval = float(data.get("heartbeat_seconds") or 30)
    except FileNotFoundError:
        return False, f"{path}: no heartbeat (is `listener schedule` running?)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"{path}: unreadable heartbeat: {exc}"
    age = ((now or _now()) - tick).total_seconds()
    limit = STALE_AFTER_BEATS * interval
    if data.get("stopping"):
        return False, f"{path}: scheduler pid {data.get('pid')} is stopping or stopped (last tick {age:.0f}s ago)"
    if age > limit:
        return False, f"{path}: stale: last tick {age:.0f}s ago (limit {limit:.0f}s), pid {data.get('pid')}"
    failing = [j for j, s in (data.get("jobs") or {}).items() if s.get("last_status") in ("failed", "error")]
    note = f"; last run failed: {', '.join(failing)}" if failing else ""
    return True, f"{path}: fresh: last tick {age:.0f}s ago, pid {data.get('pid')}{note}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


__all__ = [
    "Daemon",
    "build_scheduler",
    "run_daemon",
    "check_schedule",
    "check_heartbeat",
    "heartbeat_path",
    "write_json_atomic",
    "collect_job",
    "analyze_job",
    "digest_job",
]
