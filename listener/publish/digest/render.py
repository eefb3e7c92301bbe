"""A gathered digest -> subject, HTML (inline CSS), plain text and PNG charts.

Safety rules, because most of what is shown was written by strangers:
- Jinja2 autoescapes every value in the HTML template; nothing is marked safe.
- Stranger text goes through `clean`: control characters (CR/LF included) and
  bidi overrides are removed, whitespace collapsed, length capped, so a name
  cannot fake a line in the text part or flip the layout around it.
- Links go through `safe_url`: only absolute http(s) URLs survive; anything
  else (javascript:, data:, relative, malformed) is dropped and shown as text.
- Charts are drawn from numbers and config names only.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from listener.core.sources import source_label, source_labels
from listener.publish.digest.gather import Digest, Series

TEMPLATES = Path(__file__).resolve().parent / "templates"
BRAND_COLOUR = "#0f766e"
OTHER_COLOURS = ("#9ca3af", "#c2410c", "#6d28d9", "#a16207", "#1d4ed8")
_NOT_IN_URLS = set('"<>\\^`{|}')  # RFC 3986 excludes them; browsers would re-encode, we drop the link
_BIDI_AND_CONTROL = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Image:
    cid: str  # without angle brackets
    filename: str
    data: bytes
    alt: str


@dataclass(frozen=True)
class Rendered:
    week: str
    subject: str
    html: str
    text: str
    images: tuple[Image, ...]


def render(digest: Digest, charts: bool = True) -> Rendered:
    images = _charts(digest) if charts else ()
    context = {"d": digest, "story": story(digest), "images": {i.filename.split(".")[0]: i for i in images}}
    return Rendered(
        week=digest.week.label,
        subject=subject(digest),
        html=_env(html=True).get_template("digest.html.j2").render(context),
        text=_env(html=False).get_template("digest.txt.j2").render(context),
        images=images,
    )


def subject(digest: Digest) -> str:
    """From config and dates only; one line whatever the organization's name holds."""
    week = digest.week
    return clean(
        f"{digest.organization}: weekly listening digest {week.label} ({week.monday:%d %b} to {week.sunday:%d %b %Y})",
        200,
    )


# -- text helpers (also Jinja filters) ---------------------------------------
def clean(value: Any, limit: int = 200) -> str:
    """One line of at most `limit` characters: no control or bidi-override characters."""
    if value is None:
        return ""
    text = _BIDI_AND_CONTROL.sub("", str(value)[: limit * 4])
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def safe_url(value: Any) -> str | None:
    """The URL if it is an absolute http(s) URL without spaces or control characters, else None."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    url = value.strip()
    if any(ch.isspace() or ch in _NOT_IN_URLS or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def num(value: Any) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    return f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"


def compact(value: Any) -> str:
    if value is None:
        return "n/a"
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:,.0f}"


def pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.0f}%"


def pts(value: Any) -> str:
    """A change of a share, in percentage points."""
    return "n/a" if value is None else f"{100 * float(value):+.0f} pts"


def signed(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):+.{digits}f}"


def change_pct(now: float, before: float) -> str:
    return "new" if not before else f"{100 * (now - before) / before:+.0f}%"


def plural(count: Any, word: str) -> str:
    return f"{num(count)} {word}{'' if count == 1 else 's'}"


def day(value: date) -> str:
    return f"{value:%a %d %b}"


RATE_KPIS = ("share_of_voice", "response_rate", "net_sentiment", "median_response_minutes")


def sampled(text: str, n: Any, min_sample: int) -> str:
    """A rate or average as it may be read: plain from `min_sample` observations, marked below."""
    if n is None or int(n) >= min_sample:
        return text
    return f"{text} [n={int(n)}, under {min_sample}: too few to read]"


def interval(low: Any, high: Any, as_pct: bool = False) -> str:
    """'95 % CI 31-44%': the interval of a rate, or '' when there is none."""
    if low is None or high is None:
        return ""
    if as_pct:
        return f"95% CI {100 * float(low):.0f}-{100 * float(high):.0f}%"
    return f"95% CI {float(low):+.2f} to {float(high):+.2f}"


def kpi_figure(kpi: Any, min_sample: int) -> str:
    """A KPI's value with its sample and interval, marked when the sample is small."""
    text = kpi_value(kpi.name, kpi.value)
    if kpi.name not in RATE_KPIS or kpi.value is None:
        return text
    ci = interval(kpi.ci_low, kpi.ci_high, as_pct=kpi.name != "net_sentiment")
    if kpi.n is not None and int(kpi.n) >= min_sample:
        return f"{text} ({', '.join(part for part in (ci, f'n={int(kpi.n)}') if part)})"
    return sampled(text, kpi.n, min_sample)


def expected(alert: Any) -> str:
    """'0-3 expected' (the expected range), or the expected level when no range is known."""
    if alert.expected_low is not None and alert.expected_high is not None:
        return f"{num(round(alert.expected_low))}-{num(round(alert.expected_high))} expected"
    return f"{num(alert.baseline)} expected"


def kpi_value(name: str, value: Any) -> str:
    if value is None:
        return "pending"
    if name in ("share_of_voice", "response_rate"):
        return pct(value)
    if name == "net_sentiment":
        return signed(value)
    if name == "median_response_minutes":
        return f"{float(value):,.0f} min"
    return num(value)


def kpi_change(name: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if name in ("share_of_voice", "response_rate"):
        return pts(value)
    if name == "net_sentiment":
        return signed(value)
    return f"{float(value):+,.0f}"


KPI_LABELS = {
    "share_of_voice": "Share of voice",
    "net_sentiment": "Net sentiment",
    "mentions": "Brand mentions",
    "engaged_authors": "Engaged people",
    "engagement": "Engagement on our posts",
    "response_rate": "Questions and complaints answered (72 h)",
    "median_response_minutes": "Median time to answer",
}


def story(digest: Digest) -> list[str]:
    """The three to five numbers of the week, each as one sentence."""
    org, lines = clean(digest.organization, 80), []
    lines.append(
        f"{num(digest.brand_mentions)} mentions of {org} by others "
        f"({num(digest.prev_brand_mentions)} the week before, "
        f"{change_pct(digest.brand_mentions, digest.prev_brand_mentions)})."
    )
    brand = digest.brand
    if brand and brand.share is not None and len(digest.voice) > 1:
        rivals = [v for v in digest.voice if v.kind == "competitor" and v.share is not None]
        leader = max(rivals, key=lambda v: v.share or 0.0, default=None)
        versus = f"; {clean(leader.topic, 60)} had {pct(leader.share)}" if leader else ""
        share = sampled(pct(brand.share), brand.share_n, digest.min_sample)
        lines.append(f"{share} share of voice ({pts(brand.change)} on the week before){versus}.")
    net, prev = digest.brand_net_sentiment
    if net is not None:
        now_n, prev_n = digest.brand_scored
        before = "no scored mentions" if prev is None else sampled(signed(prev), prev_n, digest.min_sample)
        lines.append(
            f"Net sentiment toward {org} {sampled(signed(net), now_n, digest.min_sample)} ({before} the week before)."
        )
    if digest.alerts:
        top, total = digest.alerts[0], max(digest.alert_count, len(digest.alerts))
        lines.append(
            f"{total} spike alert{'s' if total != 1 else ''} ({alert_breakdown(digest)}); the largest: "
            f"{'negative mentions of' if top.kind == 'negative' else 'mentions of'} {clean(top.topic, 60)} "
            f"on {day(top.day)} ({num(top.observed)} against {expected(top)})."
        )
    if digest.coordinated:
        largest = digest.coordinated[0]
        lines.append(
            f"{plural(digest.coordinated_count, 'coordinated-amplification group')}; the largest: {coordination(largest)}."
        )
    new = [p for p in digest.influencers if p.is_new]
    if digest.influencers:
        lines.append(
            f"Most influential voice: {clean(digest.influencers[0].name, 60)} "
            f"({source_label(digest.influencers[0].network)})"
            f"{f'; {len(new)} new in the top {len(digest.influencers)}' if new else ''}."
        )
    return lines[:5]


def coordination(group: Any) -> str:
    """'5 accounts posted the same text within 42 s (about Acme): @a, @b, ...' for one group."""
    what = {"text": "posted the same text", "link": "posted the same link", "repost": "reposted the same post"}.get(
        group.kind, f"posted the same {group.kind}"
    )
    about = f" (about {', '.join(clean(t, 40) for t in group.topics)})" if group.topics else ""
    who = ", ".join(clean(h, 40) for h in group.handles)
    more = f" and {group.accounts - len(group.handles)} more" if group.accounts > len(group.handles) else ""
    return (
        f"{group.accounts} accounts {what} within {group.seconds:.0f} s on {day(group.first_at.date())}"
        f"{about}: {who}{more}"
    )


def alert_breakdown(digest: Digest, shown: int = 3) -> str:
    """'cold brew 3, Initech 1': the week's alerts per topic, most first."""
    parts = [f"{clean(topic, 40)} {count}" for topic, count in digest.alert_topics[:shown]]
    rest = sum(count for _, count in digest.alert_topics[shown:])
    return ", ".join(parts + ([f"other topics {rest}"] if rest else []))


def _env(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        clean=clean, safe_url=safe_url, num=num, compact=compact, pct=pct, pts=pts, signed=signed, day=day
    )
    env.globals.update(plural=plural)
    env.globals.update(
        kpi_value=kpi_value,
        kpi_figure=kpi_figure,
        sampled=sampled,
        expected=expected,
        coordination=coordination,
        kpi_change=kpi_change,
        KPI_LABELS=KPI_LABELS,
        SOURCE_LABELS=source_labels(),
        change_pct=change_pct,
    )  # from the source registry
    return env


# -- charts --------------------------------------------------------------------
def _charts(digest: Digest) -> tuple[Image, ...]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    return (
        Image("sentiment@listener.digest", "sentiment.png", _sentiment_png(digest), _sentiment_alt(digest)),
        Image("volume@listener.digest", "volume.png", _volume_png(digest), _volume_alt(digest)),
    )


def _label(text: str) -> str:
    return clean(text, 40).replace("$", r"\$")  # matplotlib reads $...$ as maths


def _style(index: int, series: Series) -> dict[str, Any]:
    if series.kind == "brand":
        return {"color": BRAND_COLOUR, "linewidth": 2.4, "zorder": 3}
    return {"color": OTHER_COLOURS[index % len(OTHER_COLOURS)], "linewidth": 1.3, "zorder": 2}


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 2.7), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=10, color="#111827")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors="#374151")
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    return fig, ax


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
    return buffer.getvalue()


def _sentiment_png(digest: Digest) -> bytes:
    fig, ax = _figure("Net sentiment per week, -1 to +1 (highlighted: this week)")
    for i, series in enumerate(digest.sentiment_weeks):
        xs = [d + timedelta(days=3) for d, v in series.points if v is not None]  # mid-week
        ys = [v for _, v in series.points if v is not None]
        ax.plot(xs, ys, marker="o", markersize=3, label=_label(series.topic), **_style(i, series))
    ax.axhline(0, color="#6b7280", linewidth=0.8)
    ax.axvspan(digest.week.monday, digest.week.sunday + timedelta(days=1), color="#fef3c7", zorder=0)
    ax.set_ylim(-1.05, 1.05)
    _dates(ax, weekly=True)
    _legend(ax, digest.sentiment_weeks)
    return _png(fig)


def _volume_png(digest: Digest) -> bytes:
    fig, ax = _figure("Mentions per day (red: spikes; highlighted: this week)")
    by_topic = {s.topic: s for s in digest.volume_days}
    for i, series in enumerate(digest.volume_days):
        ax.plot(
            [d for d, _ in series.points],
            [v for _, v in series.points],
            label=_label(series.topic),
            **_style(i, series),
        )
    for alert in digest.spike_days:
        values = dict(by_topic[alert.topic].points) if alert.topic in by_topic else {}
        if alert.day in values:
            ax.plot(
                [alert.day], [values[alert.day]], marker="o", markersize=7, color="#dc2626", zorder=4, linestyle="none"
            )
    ax.axvspan(digest.week.monday, digest.week.sunday + timedelta(days=1), color="#fef3c7", zorder=0)
    ax.set_ylim(bottom=0)
    _dates(ax, weekly=False)
    _legend(ax, digest.volume_days)
    return _png(fig)


def _dates(ax: Any, weekly: bool) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, interval=1 if weekly else 1))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))


def _legend(ax: Any, series: list[Series]) -> None:
    if series:
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(5, len(series)))


def _sentiment_alt(digest: Digest) -> str:
    parts = []
    for series in digest.sentiment_weeks[:4]:
        values = ", ".join("n/a" if v is None else f"{v:+.2f}" for _, v in series.points[-4:])
        parts.append(f"{clean(series.topic, 40)}: {values}")
    return clean("Net sentiment of the last four weeks. " + "; ".join(parts), 600)


def _volume_alt(digest: Digest) -> str:
    parts = []
    for series in digest.volume_days[:4]:
        week = [v or 0 for d, v in series.points if digest.week.monday <= d <= digest.week.sunday]
        parts.append(f"{clean(series.topic, 40)}: {num(sum(week))} this week, peak {num(max(week, default=0))}")
    spikes = [a for a in digest.spike_days if a.day >= digest.week.monday]
    total = max(digest.alert_count, len(spikes))
    if not total:
        marked = "No spike alerts this week."
    else:
        lines = sorted({clean(a.topic, 40) for a in spikes})
        marked = (
            f"Marked in red: {len(spikes)} of the week's {total} spike alert{'s' if total != 1 else ''} "
            f"({'volume of ' + ', '.join(lines) if spikes else 'none on these lines'})"
        )
        rest = total - len(spikes)
        if rest:
            if spikes:
                others = f"the other {rest} {'is' if rest == 1 else 'are'}"
            else:
                others = "it is" if rest == 1 else "they are"
            marked += f"; {others} on tracked terms or negative mentions, listed under the alerts"
        marked += "."
    return clean("Mentions per day over four weeks. " + "; ".join(parts) + ". " + marked, 600)
