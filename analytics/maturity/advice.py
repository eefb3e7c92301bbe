"""Beyond the ladder: organizational model, path, data limits and data-filled next steps.

Reads the temp tables staged by `analytics.maturity.signals`. Next steps come
from the engagement practices (enter the conversation, provide relevant
content, add value to communities, engage with influencers, respond
positively) and name the data behind them: which mentions, which people,
which communities. Rules: docs/maturity.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import duckdb

from analytics.definitions import engagement, is_placeholder
from analytics.maturity.signals import (
    ANSWER,
    IDEAS_REGEX,
    TOP_INFLUENCERS,
    Window,
    brand_communities_sql,
    top_influencers_sql,
)
from listener.core.settings import Settings

MAX_URLS = 10
# Organizational model (docs/maturity.md): shares of own posts per account.
CENTRAL_SHARE = 0.8  # one account writes this much: centralised
HUB_SHARE = 0.4  # the busiest account writes this much among 3+: hub and spoke
MULTI_HUB_SHARE = 0.25  # accounts each writing this much are hubs; 2+ hubs among 4+ accounts: multiple hubs
HOLISTIC_ACCOUNTS = 5  # many accounts, evenly spread, linked to each other, everyone answering: holistic
HOLISTIC_LINKED = 0.5
# Path: mostly answers, mostly to complaints and questions: a help desk in public.
REACTIVE_REPLY_SHARE = 0.7
REACTIVE_ASKING_SHARE = 0.5


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _row(conn: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return _rows(conn, sql, params)[0]


NOT_ENOUGH = "not enough data"


def org_model(conn: duckdb.DuckDBPyConnection, min_own_posts: int = 20) -> dict[str, Any]:
    """How own activity and answers spread over own accounts (`min_own_posts` own posts at least)."""
    m = _row(
        conn,
        f"""
        WITH per AS (SELECT author_id, count(*) AS posts, count(*) FILTER ({ANSWER}) AS answers
                     FROM mat_posts WHERE own GROUP BY author_id),
        linked AS (SELECT src AS a FROM mat_edges WHERE src_own AND dst_own
                   UNION SELECT dst FROM mat_edges WHERE src_own AND dst_own)
        SELECT count(*) AS accounts, coalesce(sum(posts), 0) AS posts,
               max(posts) / nullif(sum(posts), 0) AS top_share,
               max(answers) / nullif(sum(answers), 0) AS top_answer_share,
               count(*) FILTER (posts >= {MULTI_HUB_SHARE} * (SELECT sum(posts) FROM per)) AS hubs,
               count(*) FILTER (answers > 0) AS answering_accounts,
               (SELECT count(*) FROM linked) / nullif(count(*), 0) AS linked_share
        FROM per
    """,
    )
    measures = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items()}
    n, top = m["accounts"], m["top_share"] or 0.0
    if n == 0:
        model, reason = "unknown", "no own account posted in the window"
    elif m["posts"] < min_own_posts:
        model, reason = NOT_ENOUGH, f"{m['posts']} own posts in the window, {min_own_posts} needed to tell"
    elif n == 1 or top >= CENTRAL_SHARE:
        model, reason = "centralised", f"one account writes {top:.0%} of {m['posts']} own posts"
    elif n >= 4 and m["hubs"] >= 2:
        model, reason = "multiple hub and spoke", f"{m['hubs']} hub accounts (each >= {MULTI_HUB_SHARE:.0%}) among {n}"
    elif n >= 3 and top >= HUB_SHARE:
        model, reason = "hub and spoke", f"one hub writes {top:.0%} of the posts of {n} accounts"
    elif (
        n >= HOLISTIC_ACCOUNTS
        and (m["linked_share"] or 0) >= HOLISTIC_LINKED
        and m["answering_accounts"] >= HOLISTIC_ACCOUNTS
    ):
        model, reason = (
            "holistic",
            (
                f"{n} accounts, evenly spread (top {top:.0%}), {m['linked_share']:.0%} "
                "linked to each other, all answering"
            ),
        )
    else:
        model, reason = "decentralised", f"{n} accounts, no central one (top {top:.0%}), little linking"
    return {"model": model, "reason": reason, "measures": measures}


def path(
    conn: duckdb.DuckDBPyConnection, values: dict[str, Any], limits: dict[str, float], min_own_posts: int = 20
) -> dict[str, Any]:
    """Reactive (a help desk in public) or proactive (original content, community participation),
    from `min_own_posts` own posts at least."""
    m = _row(
        conn,
        f"""
        SELECT count(*) FILTER (own) AS own_posts, count(*) FILTER (own AND original) AS original_posts,
               count(*) FILTER ({ANSWER}) AS answers,
               count(*) FILTER ({ANSWER} AND parent_id IN (SELECT mention_id FROM mat_asks)) AS answers_to_asking,
               count(*) FILTER (own AND community IS NOT NULL AND original) AS community_posts
        FROM mat_posts
    """,
    )
    reply_share = m["answers"] / m["own_posts"] if m["own_posts"] else None
    asking_share = m["answers_to_asking"] / m["answers"] if m["answers"] else None
    measures = {
        **m,
        "reply_share": _r(reply_share),
        "asking_share_of_answers": _r(asking_share),
        "original_posts_per_week": _r(values.get("original_posts_per_week")),
    }
    if not m["own_posts"]:
        return {"path": "unknown", "reason": "no own posts in the window", "measures": measures}
    if m["own_posts"] < min_own_posts:
        reason = f"{m['own_posts']} own posts in the window, {min_own_posts} needed to tell"
        return {"path": NOT_ENOUGH, "reason": reason, "measures": measures}
    if (reply_share or 0) >= REACTIVE_REPLY_SHARE and (asking_share or 0) >= REACTIVE_ASKING_SHARE:
        return {
            "path": "reactive",
            "measures": measures,
            "reason": f"{reply_share:.0%} of own posts are answers, {asking_share:.0%} of them to questions "
            f"and complaints; {m['original_posts']} original posts",
        }
    return {
        "path": "proactive",
        "measures": measures,
        "reason": f"{m['original_posts']} original posts, {reply_share:.0%} of own posts are answers",
    }


def _r(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def data_limits(
    conn: duckdb.DuckDBPyConnection, settings: Settings, values: dict[str, Any], rungs: list[dict[str, Any]], level: int
) -> list[str]:
    """Why the data cannot support a higher rung, in plain words."""
    limits = []
    configured = bool(settings.organization.own_accounts.by_source())
    known = _row(conn, "SELECT count(*) AS n FROM authors WHERE is_own")["n"]
    if not configured and not known:
        limits.append(
            "no own accounts: [organization.own_accounts] is empty, so the organization's own posts "
            "cannot be observed and the level stops at Discover at most"
        )
    elif not values.get("own_accounts_active"):
        limits.append(
            "own accounts are configured but none posted in the window (are their posts collected?); "
            "the level stops at Discover at most"
        )
    if not values.get("brand_mentions"):
        limits.append("no brand mentions by others in the window: nothing shows that listening is live")
    if level < len(rungs):
        rung = rungs[level]
        limits.append(f"{rung['rung']} not reached: {rung['reason']}")
    return limits


def next_steps(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    window: Window,
    rungs: list[dict[str, Any]],
    level: int,
    values: dict[str, Any],
) -> list[dict[str, Any]]:
    """Recommendations for each failing metric of the next rung (at the top: unanswered mentions, if any)."""
    if level >= len(rungs):
        failing = ["response_rate"]
    else:
        failing = [r["metric"] for r in rungs[level]["metrics"] if not r["pass"]]
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    ctx = _Ctx(conn, settings, window, values)
    for metric in failing:
        step = ADVICE.get(metric, lambda c: None)(ctx)
        if step and step["text"] not in seen:
            seen.add(step["text"])
            steps.append({"metric": metric, **step})
    return steps


class _Ctx:
    def __init__(
        self, conn: duckdb.DuckDBPyConnection, settings: Settings, window: Window, values: dict[str, Any]
    ) -> None:
        self.conn, self.settings, self.window, self.values = conn, settings, window, values
        self.p = window.params()


def _step(practice: str, text: str, **data: Any) -> dict[str, Any]:
    return {"practice": practice, "text": text, "data": data}


def _urls(rows: list[dict[str, Any]]) -> list[str]:
    return [r["url"] or r["mention_id"] for r in rows][:MAX_URLS]


def _no_mentions(c: _Ctx) -> dict[str, Any]:
    return _step(
        "listen",
        f"No brand mentions by others between {c.window.start} and {c.window.end}: enable a "
        "source in the config (X, Reddit, RSS) or load history with `listener import FILE`",
    )


def _failing_sources(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        """
        SELECT source, count(*) AS runs, min(started_at)::DATE AS since, arg_max(error, started_at) AS last_error
        FROM runs WHERE started_at >= $start AND started_at < $cut AND status <> 'running'
        GROUP BY source HAVING bool_and(status IN ('failed', 'interrupted')) ORDER BY source
    """,
        {"start": c.p["start"], "cut": c.p["cut"]},
    )
    text = "; ".join(
        f"{r['source']} failed on all {r['runs']} runs since {r['since']} (last error: "
        f"{(r['last_error'] or 'unknown')[:200]})"
        for r in rows
    )
    return _step("listen", text + ": fix it (see `listener status`)", sources=rows)


def _history(c: _Ctx) -> dict[str, Any]:
    n = c.values.get("history_weeks") or 0
    return _step(
        "listen",
        f"Only {n} week(s) of brand mentions in the window: keep listening for a few more "
        "weeks, or import earlier history with `listener import FILE`",
        weeks=n,
    )


def _channels(c: _Ctx) -> dict[str, Any]:
    rows = _rows(c.conn, "SELECT DISTINCT source, community FROM mat_posts WHERE NOT own ORDER BY ALL")
    heard = ", ".join(f"{r['source']}{'/' + r['community'] if r['community'] else ''}" for r in rows) or "nowhere"
    return _step(
        "listen",
        f"Everything heard comes from one channel ({heard}): add another source or the "
        "communities (subreddits, feeds) where your market talks",
        channels=rows,
    )


def _competitors(c: _Ctx) -> dict[str, Any]:
    names = [comp.name for comp in c.settings.organization.competitors]
    if not names:
        return _step(
            "listen",
            "No competitors are tracked: add [[organization.competitors]] with their names "
            "and terms, so share of voice has something to compare with",
        )
    return _step(
        "listen",
        f"Competitors {', '.join(names)} were not mentioned in the window: check their terms",
        competitors=names,
    )


def _analyze(c: _Ctx) -> dict[str, Any]:
    return _step(
        "listen",
        f"Influencers, communities or sentiment are missing for the window: run "
        f"`listener analyze --as-of {c.window.end}`",
    )


def _own_accounts(c: _Ctx) -> dict[str, Any]:
    own = c.settings.organization.own_accounts
    listed = [f"{source}: {', '.join(handles)}" for source, handles in own.by_source().items()]
    if not listed:
        return _step(
            "provide relevant content",
            "No own accounts are configured: list the organization's "
            "accounts under [organization.own_accounts] and collect their posts",
        )
    return _step(
        "provide relevant content",
        f"Your accounts ({'; '.join(listed)}) posted nothing in the window: "
        "publish your own perspective, and make sure their posts are collected",
        accounts=listed,
    )


def _originals(c: _Ctx) -> dict[str, Any]:
    m = _row(
        c.conn,
        """
        SELECT count(*) FILTER (own AND original) AS posts, count(DISTINCT week) FILTER (own AND original) AS weeks,
               count(DISTINCT week) AS observed FROM mat_posts""",
    )
    terms = _rows(
        c.conn,
        """
        SELECT t.topic, count(*) AS mentions FROM mat_posts p JOIN mention_topics t USING (mention_id)
        WHERE NOT p.own AND t.kind = 'term' GROUP BY t.topic ORDER BY mentions DESC, t.topic LIMIT 3""",
    )
    about = f"; people here talk about {', '.join(t['topic'] for t in terms)}" if terms else ""
    return _step(
        "provide relevant content",
        f"Your accounts published {m['posts']} original posts, in {m['weeks']} of {m['observed']} weeks "
        f"observed: publish every week{about}",
        posts=m["posts"],
        weeks_active=m["weeks"],
        weeks_observed=m["observed"],
        topics=terms,
    )


_UNANSWERED = """
    SELECT a.mention_id, a.url, a.negative, a.created_at FROM mat_asks a WHERE a.minutes IS NULL AND NOT a.handled
    ORDER BY a.negative DESC, a.created_at DESC"""


def _unanswered(c: _Ctx) -> dict[str, Any] | None:
    rows = _rows(c.conn, _UNANSWERED)
    if not rows:
        return None
    week = [r for r in rows if r["created_at"] >= c.p["cut"] - timedelta(days=7)]
    negative = sum(r["negative"] for r in week)
    return _step(
        "respond positively",
        f"{len(week)} mentions that ask or complain in the last 7 days got no reply within 72 h "
        f"({negative} negative); {len(rows)} in the whole window (`listener inbox` lists who waits)",
        count_week=len(week),
        negative_week=negative,
        count_window=len(rows),
        urls=_urls(week or rows),
    )


def _answer_more(c: _Ctx) -> dict[str, Any]:
    m = _row(c.conn, f"SELECT count(*) FILTER (own) AS posts, count(*) FILTER ({ANSWER}) AS answers FROM mat_posts")
    rows = _rows(c.conn, _UNANSWERED)
    return _step(
        "enter the conversation",
        f"{m['answers']} of your {m['posts']} posts answer anyone, {c.values.get('people_answered', 0)} "
        f"people answered; {len(rows)} mentions that ask or complain got no reply within 72 h: "
        "start with them",
        answers=m["answers"],
        posts=m["posts"],
        unanswered=len(rows),
        urls=_urls(rows),
    )


def _influencers(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        f"""
        WITH top AS ({top_influencers_sql()})
        SELECT t.author_id, a.handle, a.source, round(t.score, 3) AS score,
               EXISTS (SELECT 1 FROM interactions i JOIN authors o ON o.author_id = i.from_author_id AND o.is_own
                       WHERE i.to_author_id = t.author_id AND i.kind <> 'repost' AND i.created_at < $cut) AS answered
        FROM top t LEFT JOIN authors a USING (author_id) ORDER BY t.score DESC, t.author_id
    """,
        {"first": c.p["first"], "last": c.p["last"], "cut": c.p["cut"]},
    )
    never = [r for r in rows if not r["answered"]]
    names = ", ".join(f"@{r['handle'] or r['author_id']} ({r['source']})" for r in never[:MAX_URLS])
    return _step(
        "engage with influencers",
        f"{len(never)} of your top {len(rows) or TOP_INFLUENCERS} influencers have never been answered: "
        f"{names or 'none ranked yet'}",
        never_answered=never,
    )


def _communities(c: _Ctx) -> dict[str, Any] | None:
    rows = _rows(
        c.conn,
        f"""
        WITH d AS ({brand_communities_sql()}),
        observed AS (SELECT count(DISTINCT week) AS weeks FROM mat_posts)
        SELECT d.source, d.community, d.brand_mentions, d.weeks, observed.weeks AS observed_weeks
        FROM d, observed
        WHERE NOT EXISTS (SELECT 1 FROM mentions m WHERE m.is_own AND m.source = d.source
                          AND m.community = d.community AND m.created_at < $cut)
        ORDER BY d.brand_mentions DESC, d.community
    """,
        {"cut": c.p["cut"]},
    )
    if not rows:
        return None
    parts = [
        f"{r['community']} discusses you {'weekly' if r['weeks'] * 2 >= r['observed_weeks'] else 'often'} "
        f"({r['brand_mentions']} mentions in {r['weeks']} of {r['observed_weeks']} weeks); you never posted there"
        for r in rows[:5]
    ]
    return _step("add value to communities", "; ".join(parts), communities=rows)


def _follow_ups(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        """
        SELECT q.mention_id, q.url FROM mat_posts q
        WHERE NOT q.own AND coalesce(q.parent_own, false)
          AND NOT EXISTS (SELECT 1 FROM mat_posts r WHERE r.own AND r.parent_id = q.mention_id)
        ORDER BY q.created_at DESC""",
    )
    if not rows:
        return _step(
            "enter the conversation",
            "Nobody replied to your answers in the window: end answers with a "
            "question so the conversation goes on; three turns with the same person is a conversation",
            count=0,
        )
    return _step(
        "enter the conversation",
        f"{len(rows)} replies to your posts got no follow-up: keep the thread going; three turns with the "
        "same person is a conversation",
        count=len(rows),
        urls=_urls(rows),
    )


def _amplify(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        f"""
        SELECT p.mention_id, p.url FROM mat_posts p JOIN sentiment s USING (mention_id) JOIN mentions m USING (mention_id)
        WHERE NOT p.own AND p.brand AND s.label = 'positive' AND NOT {is_placeholder("p.author_id")}
        ORDER BY {engagement("m")} DESC, p.created_at DESC""",
    )
    return _step(
        "provide relevant content",
        f"Share your customers' content: {len(rows)} positive brand mentions in the window could be "
        f"reposted or quoted ({c.values.get('customer_amplifications', 0)} so far)",
        count=len(rows),
        urls=_urls(rows),
    )


def _recurring(c: _Ctx) -> dict[str, Any]:
    n = _row(c.conn, f"SELECT count(DISTINCT parent_author) AS n FROM mat_posts WHERE {ANSWER}")["n"]
    return _step(
        "respond positively",
        f"{c.values.get('recurring_interlocutors', 0)} of the {n} people you answered came back in another "
        "week: follow up on what they raised, so they return",
        answered=n,
    )


def _peers(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        f"""
        SELECT a.handle, a.source, count(*) AS posts FROM mat_posts p JOIN authors a USING (author_id)
        WHERE NOT p.own AND NOT {is_placeholder("p.author_id")}
          AND p.thread IN (SELECT thread FROM mat_posts WHERE own)
        GROUP BY ALL ORDER BY posts DESC, a.handle LIMIT 5""",
    )
    names = ", ".join(f"@{r['handle']}" for r in rows)
    return _step(
        "add value to communities",
        f"Customers answered each other {c.values.get('peer_to_peer_replies', 0)} times in your threads: "
        f"invite your most active participants to help others{' (' + names + ')' if names else ''}",
        participants=rows,
    )


def _feedback(c: _Ctx) -> dict[str, Any]:
    rows = _rows(
        c.conn,
        f"""
        SELECT mention_id, url FROM mat_posts
        WHERE NOT own AND regexp_matches(body, '{IDEAS_REGEX}')
          AND thread NOT IN (SELECT thread FROM mat_posts WHERE own)
        ORDER BY created_at DESC""",
    )
    if not rows:
        return _step(
            "enter the conversation",
            "Nobody shared ideas or feedback with you in the window: ask for "
            "them in your own posts (what should we make next?) and answer the ones you get",
            count=0,
        )
    return _step(
        "enter the conversation",
        f"{len(rows)} posts in the window share ideas or feedback in threads you took no part in: "
        "join them, and ask for ideas in your own posts",
        count=len(rows),
        urls=_urls(rows),
    )


ADVICE: dict[str, Callable[[_Ctx], dict[str, Any] | None]] = {
    "brand_mentions": _no_mentions,
    "failing_sources": _failing_sources,
    "history_weeks": _history,
    "channels": _channels,
    "competitor_mentions": _competitors,
    "influencers_ranked": _analyze,
    "communities_found": _analyze,
    "sentiment_coverage": _analyze,
    "own_accounts_active": _own_accounts,
    "original_posts_per_week": _originals,
    "active_weeks_share": _originals,
    "reply_share": _answer_more,
    "own_replies_per_week": _answer_more,
    "people_answered": _answer_more,
    "response_rate": _unanswered,
    "median_response_minutes": _unanswered,
    "top_influencers_answered": _influencers,
    "community_presence": _communities,
    "multi_turn_threads": _follow_ups,
    "customer_amplifications": _amplify,
    "recurring_interlocutors": _recurring,
    "peer_to_peer_replies": _peers,
    "feedback_threads": _feedback,
}
