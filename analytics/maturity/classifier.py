"""Where the organization stands on the engagement ladder, with the evidence and the next steps.

    Monitor -> Discover -> Share -> Participate -> Co-create

Every rung is a handful of named metrics (`METRICS`), each measured in SQL over
a trailing window (`[maturity] window_days`, default 90) ending on the
assessment date (`analytics.maturity.signals`), compared with a threshold
(defaults below, overridable in `[maturity.thresholds]`). A rung passes when
all its metrics pass; the level is the highest rung that passes together with
every rung below it, so a data-poor organization is never over-rated: it
lands on the lowest rung its data supports, and the failing rung says why.
Beyond the ladder: the organizational model and the path (reactive or
proactive), and next steps for the gap to the next rung
(`analytics.maturity.advice`). Rules and reasoning: docs/maturity.md.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from analytics.maturity import advice as maturity_advice
from analytics.maturity import signals as maturity_signals
from analytics.maturity.signals import window_ending
from listener.core.errors import ConfigError
from listener.core.settings import Settings
from listener.store.connection import Claim, Store

RUNGS = ("Monitor", "Discover", "Share", "Participate", "Co-create")
NO_LEVEL = "None"


@dataclass(frozen=True)
class Metric:
    name: str
    rung: str
    default: float
    op: str  # ">=" or "<="
    meaning: str
    ratio: bool = False  # a share in 0..1 (thresholds outside that range are config errors)
    optional: bool = False  # None means "does not apply here" (passes), not "missing"


METRICS: tuple[Metric, ...] = (
    Metric("brand_mentions", "Monitor", 1, ">=", "brand mentions by others created in the window"),
    Metric("failing_sources", "Monitor", 0, "<=", "sources whose every run in the window failed"),
    Metric("history_weeks", "Discover", 4, ">=", "ISO weeks of the window with brand mentions by others"),
    Metric("channels", "Discover", 2, ">=", "distinct source/community pairs heard from"),
    Metric("competitor_mentions", "Discover", 1, ">=", "competitor mentions by others in the window"),
    Metric("influencers_ranked", "Discover", 1, ">=", "authors ranked in the window's weekly influencers"),
    Metric("communities_found", "Discover", 1, ">=", "communities found in the window's weeks"),
    Metric("sentiment_coverage", "Discover", 0.8, ">=", "share of brand mentions with a sentiment score", ratio=True),
    Metric("own_accounts_active", "Share", 1, ">=", "own accounts that posted in the window"),
    Metric("original_posts_per_week", "Share", 1.0, ">=", "own original posts (not replies, reposts, quotes) per week"),
    Metric("active_weeks_share", "Share", 0.5, ">=", "share of observed weeks with an own original post", ratio=True),
    Metric("reply_share", "Participate", 0.2, ">=", "share of own posts that answer someone else", ratio=True),
    Metric("own_replies_per_week", "Participate", 1.0, ">=", "own answers to others per week"),
    Metric(
        "response_rate",
        "Participate",
        0.5,
        ">=",
        "share of brand mentions that ask or complain answered within 72 h",
        ratio=True,
        optional=True,
    ),
    Metric(
        "median_response_minutes",
        "Participate",
        1440,
        "<=",
        "median minutes to the first own reply over asking mentions (unanswered = never)",
        optional=True,
    ),
    Metric("people_answered", "Participate", 5, ">=", "distinct people an own account answered"),
    Metric(
        "top_influencers_answered",
        "Participate",
        1,
        ">=",
        "of the window's top 10 influencers, how many an own account replied to, quoted or mentioned",
    ),
    Metric(
        "community_presence",
        "Participate",
        0.5,
        ">=",
        "share of communities discussing the brand (3+ mentions) where an own account posted",
        ratio=True,
        optional=True,
    ),
    Metric("multi_turn_threads", "Co-create", 3, ">=", "threads where the org and one person exchanged 3+ turns"),
    Metric("customer_amplifications", "Co-create", 3, ">=", "own reposts and quotes of other people's posts"),
    Metric(
        "recurring_interlocutors",
        "Co-create",
        3,
        ">=",
        "people the org answered who came back to talk in 2+ different weeks",
    ),
    Metric("peer_to_peer_replies", "Co-create", 3, ">=", "customers answering other customers in the org's threads"),
    Metric("feedback_threads", "Co-create", 2, ">=", "threads the org takes part in that discuss ideas or feedback"),
)
BY_NAME = {m.name: m for m in METRICS}


def validate_thresholds(settings: Settings) -> None:
    """`[maturity.thresholds]` may only name known metrics, with sensible values."""
    for name, value in settings.maturity.thresholds.items():
        metric = BY_NAME.get(name)
        if metric is None:
            close = difflib.get_close_matches(name, list(BY_NAME), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(BY_NAME)}"
            raise ConfigError(f"'maturity.thresholds.{name}': unknown maturity metric{hint}")
        if not math.isfinite(value) or value < 0 or (metric.ratio and value > 1):
            bound = "between 0 and 1" if metric.ratio else "0 or more"
            raise ConfigError(f"'maturity.thresholds.{name}': must be {bound} (got {value})")


def thresholds(settings: Settings) -> dict[str, float]:
    validate_thresholds(settings)
    return {m.name: float(settings.maturity.thresholds.get(m.name, m.default)) for m in METRICS}


def judge(metric: Metric, value: Any, threshold: float) -> tuple[bool, float, str | None]:
    """(pass, progress 0..1, note) of one metric."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if metric.optional:
            return True, 1.0, "not applicable: nothing to measure in the window"
        return False, 0.0, "no data"
    value = float(value)
    if metric.op == ">=":
        ok = value >= threshold
        progress = 1.0 if ok else (value / threshold if threshold > 0 else 0.0)
    else:
        ok = value <= threshold
        progress = 1.0 if ok else (threshold / value if math.isfinite(value) and value > 0 else 0.0)
    return ok, round(max(0.0, min(progress, 1.0)), 3), None


def _shown(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 3)
    return value


def evaluate(values: dict[str, Any], limits: dict[str, float]) -> list[dict[str, Any]]:
    """Per rung: each metric judged, the rung's pass, score and (when it fails) the reason."""
    rungs = []
    for index, rung in enumerate(RUNGS, start=1):
        rows = []
        for metric in (m for m in METRICS if m.rung == rung):
            ok, progress, note = judge(metric, values.get(metric.name), limits[metric.name])
            value = values.get(metric.name)
            if metric.name == "median_response_minutes" and value is not None and not math.isfinite(value):
                note = "never: most asking mentions got no reply"
            rows.append(
                {
                    "metric": metric.name,
                    "value": _shown(value),
                    "op": metric.op,
                    "threshold": limits[metric.name],
                    "pass": ok,
                    "progress": progress,
                    "meaning": metric.meaning,
                    **({"note": note} if note else {}),
                }
            )
        failed = [r for r in rows if not r["pass"]]
        rungs.append(
            {
                "rung": rung,
                "index": index,
                "pass": not failed,
                "score": round(sum(r["progress"] for r in rows) / len(rows), 3),
                "reason": "; ".join(_failure(r) for r in failed) or None,
                "metrics": rows,
            }
        )
    return rungs


def _failure(row: dict[str, Any]) -> str:
    shown = "none" if row["value"] is None else row["value"]
    return f"{row['metric']} is {shown} (needs {row['op']} {row['threshold']:g})"


def level_of(rungs: list[dict[str, Any]]) -> int:
    """The highest rung that passes with every rung below it (0: not even Monitor)."""
    level = 0
    for rung in rungs:
        if not rung["pass"]:
            break
        level = rung["index"]
    return level


def assess(conn: duckdb.DuckDBPyConnection, settings: Settings, as_of: date | None = None) -> dict[str, Any]:
    """A fresh assessment for the window ending `as_of` (UTC date, default today); nothing is written."""
    limits = thresholds(settings)
    window = window_ending(as_of or datetime.now(UTC).date(), settings.maturity.window_days)
    try:
        maturity_signals.stage(conn, window)
        values = maturity_signals.measure(conn, window)
        rungs = evaluate(values, limits)
        level = level_of(rungs)
        limits_found = maturity_advice.data_limits(conn, settings, values, rungs, level)
        min_own = settings.analytics.min_own_posts
        org_model = maturity_advice.org_model(conn, min_own)
        path = maturity_advice.path(conn, values, limits, min_own)
        steps = maturity_advice.next_steps(conn, settings, window, rungs, level, values)
    finally:
        maturity_signals.drop(conn)
    return {
        "assessed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "window_days": settings.maturity.window_days,
        "level": RUNGS[level - 1] if level else NO_LEVEL,
        "level_index": level,
        "next_rung": RUNGS[level] if level < len(RUNGS) else None,
        "scores": {r["rung"]: r["score"] for r in rungs},
        "rungs": rungs,
        "limits": limits_found,
        "org_model": org_model,
        "path": path,
        "recommendations": steps,
        # the inbox's decisions behind the response measures (listener inbox)
        "inbox": {
            "asking": values.get("asking"),
            "handled_off_platform": values.get("handled_off_platform"),
            "dismissed": values.get("dismissed"),
        },
    }


def record(conn: duckdb.DuckDBPyConnection, assessment: dict[str, Any]) -> None:
    """One row in `maturity_assessments` (inside the caller's write transaction); evidence holds the
    rungs, the model and path measures, the limits."""
    evidence = {
        "rungs": assessment["rungs"],
        "org_model": assessment["org_model"],
        "path": assessment["path"],
        "limits": assessment["limits"],
        "inbox": assessment["inbox"],
    }
    conn.execute(
        "INSERT INTO maturity_assessments (assessed_at, window_start, window_end, level, level_index, scores, "
        "evidence, org_model, path, recommendations) VALUES (now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            assessment["window_start"],
            assessment["window_end"],
            assessment["level"],
            assessment["level_index"],
            json.dumps(assessment["scores"]),
            json.dumps(evidence, default=str),
            assessment["org_model"]["model"],
            assessment["path"]["path"],
            json.dumps(assessment["recommendations"], default=str),
        ],
    )


def run(store: Store, settings: Settings, today: date | None = None) -> dict[str, Any]:
    """The `listener analyze` step: assess the window ending `today` and record it."""
    assessment = assess(store.conn, settings, today)
    store.write_transaction(lambda conn: record(conn, assessment), "maturity", claim=Claim.ANALYSIS)
    return {
        "level": assessment["level"],
        "level_index": assessment["level_index"],
        "window_end": assessment["window_end"],
        "scores": assessment["scores"],
        "org_model": assessment["org_model"]["model"],
        "path": assessment["path"]["path"],
    }


def report_lines(a: dict[str, Any]) -> list[str]:
    """The plain-text report of `listener maturity`."""
    lines = [
        f"maturity: {a['level']} (level {a['level_index']} of 5), window {a['window_start']} .. {a['window_end']}",
        f"organizational model: {a['org_model']['model']} ({a['org_model']['reason']})",
        f"path: {a['path']['path']} ({a['path']['reason']})",
    ]
    lines += [f"limit: {text}" for text in a["limits"]]
    for rung in a["rungs"]:
        verdict = "pass" if rung["pass"] else "FAIL"
        lines += [
            "",
            f"{rung['index']}. {rung['rung']}: {verdict}, score {rung['score']:.2f}",
            f"   {'metric':<26} {'value':>10}  {'threshold':>11}  pass",
        ]
        for row in rung["metrics"]:
            value = "none" if row["value"] is None else f"{row['value']:g}"
            mark = "yes" if row["pass"] else "NO"
            note = f"  ({row['note']})" if row.get("note") else ""
            lines.append(f"   {row['metric']:<26} {value:>10}  {row['op']} {row['threshold']:>8g}  {mark}{note}")
    inbox = a.get("inbox") or {}
    if inbox.get("handled_off_platform") or inbox.get("dismissed"):
        lines += [
            "",
            f"inbox: {inbox.get('handled_off_platform') or 0} asking mentions marked done without an own reply "
            "(handled off-platform: not counted as answered); "
            f"{inbox.get('dismissed') or 0} brand mentions dismissed (not counted as asking)",
        ]
    lines += ["", f"next steps{' toward ' + a['next_rung'] if a['next_rung'] else ''}:"]
    if not a["recommendations"]:
        lines.append("  none: every rung passes; keep the practices that got you here")
    for step in a["recommendations"]:
        lines.append(f"  - [{step['practice']}] {step['text']}")
        lines += [f"      {url}" for url in step.get("data", {}).get("urls", [])[:10]]
    return lines
