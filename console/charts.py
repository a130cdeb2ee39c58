"""The Overview's charts: SVG drawn on the server, no JavaScript, nothing fetched from elsewhere.

Every chart is `role="img"` with a <title> and a <desc> that says what it shows, and each
partial under templates/jinja2/console/dashboard/ puts the same figures in a table beside it.
Colour is never the only cue: lines differ in dash and marker shape and carry their name at
their end, stacked bars differ in fill pattern and have a legend with the same swatches, and
every plain bar is labelled with its value. The palette's colours each reach 4.5:1 against
white (WCAG AA for text, more than the 3:1 graphics need; tests/console/test_charts.py).

No `style` attributes (the console's CSP forbids inline styles): presentation attributes
only, and classes the stylesheet (static/css/console.css) knows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import formats
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from markupsafe import Markup, escape

from console.dashboard import Overview, RowsBehind
from console.models import SubscriptionState, UnsubscribeSource
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS

# Dark enough on white for text (4.5:1), distinct in hue.
PALETTE = ("#1f5f8b", "#a34700", "#2e7d32", "#7b1fa2", "#c62828", "#37474f", "#6d4c41")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 2 1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "bar", "star")
PATTERNS = ("solid", "stripes", "dots", "cross", "horizontal", "vertical", "checks")

INK, GRID = "#1a1a1a", "#d0d0d0"
WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 56, 210, 16, 40  # RIGHT: a line's cut name and its rate
LABEL_CHARS = 20  # a line's name at its end is cut to this; the table beside has it whole
CHAR_WIDTH = 6.6  # about an average character of the charts' 12 px sans-serif: room, not layout
BAR_NAME_CHARS = 46  # a bar's name is cut to this; the table beside has it whole

SOURCE_LABELS = {
    UnsubscribeSource.HOSTED_PAGE.value: gettext_lazy("Preference centre"),
    UnsubscribeSource.ONE_CLICK.value: gettext_lazy("One-click unsubscribe"),
    UnsubscribeSource.API.value: gettext_lazy("API"),
    UnsubscribeSource.GPC.value: gettext_lazy("Global Privacy Control"),
    UnsubscribeSource.SMS.value: gettext_lazy("SMS keyword"),
    UnsubscribeSource.SUPPORT.value: gettext_lazy("Support agent"),
    UnsubscribeSource.CONNECTOR.value: gettext_lazy("Connector"),
}
STATE_LABELS = {
    SubscriptionState.ACTIVE.value: gettext_lazy("Active"),
    SubscriptionState.PAUSED.value: gettext_lazy("Paused"),
    SubscriptionState.PENDING.value: gettext_lazy("Pending confirmation"),
    SubscriptionState.UNSUBSCRIBED.value: gettext_lazy("Unsubscribed"),
}


# --- Numbers and dates in the current language ------------------------------------------------


# The language of the render under way (dashboard_render, overview_charts): read once, as the
# thousand numbers of a dashboard each looking it up again cost a fifth of its rendering.
_RENDERING: ContextVar[str | None] = ContextVar("dashboard_language", default=None)


def _current() -> str:
    return _RENDERING.get() or get_language() or settings.LANGUAGE_CODE


def _language() -> str:
    return _current().split("-")[0]


@contextmanager
def _language_fixed() -> Iterator[None]:
    token = _RENDERING.set(get_language() or settings.LANGUAGE_CODE)
    try:
        yield
    finally:
        _RENDERING.reset(token)


@lru_cache(maxsize=4096)
def _date_text(language: str, day: date, format_name: str) -> str:
    return str(formats.date_format(day, format_name))


@lru_cache(maxsize=64)
def _separators(language: str) -> tuple[str, str]:
    """(decimal, thousands) separators of a language's formats (read once: Django's
    number_format looks them up at every call, half of a dashboard's rendering)."""
    return (
        str(formats.get_format("DECIMAL_SEPARATOR", language)),
        str(formats.get_format("THOUSAND_SEPARATOR", language)),
    )


def number(value: float, decimals: int = 0) -> str:
    """A number as the current language writes it, grouped by thousands: 12,345.6 / 12.345,6 /
    12 345,6."""
    decimal, thousands = _separators(_current())
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def percent(rate: float | None) -> str:
    """A share (0 to 1) as a percentage, a dash when there is none: 12.5% / 12,5 % / 12,5 %."""
    if rate is None:
        return "–"
    figure = number(rate * 100, 1)
    return f"{figure}%" if _language() == "en" else f"{figure}\u00a0%"


def day_long(day: date) -> str:
    """20 November 2026 / 20. November 2026 / 20 novembre 2026."""
    language = _language()
    return _date_text(_current(), day, "j F Y" if language == "en" else "DATE_FORMAT")


def day_short(day: date) -> str:
    """An axis tick: 20 Nov / 20.11. / 20/11."""
    text = _date_text(_current(), day, "j M" if _language() == "en" else "SHORT_DATE_FORMAT")
    return text[:6].rstrip("./ ")


def milliseconds(value: int | None) -> str:
    return "–" if value is None else _("%(ms)s ms") % {"ms": number(value)}


def duration(seconds: int | None) -> str:
    """A lag, in the largest whole unit that fits."""
    if seconds is None:
        return "–"
    if seconds < 120:
        return _("%(n)s s") % {"n": number(seconds)}
    if seconds < 7200:
        return _("%(n)s min") % {"n": number(seconds // 60)}
    return _("%(n)s h") % {"n": number(seconds // 3600)}


@dataclass(frozen=True)
class Formats:
    """What the dashboard partials format with, in the language active while they render."""

    number: Callable[..., str] = number
    percent: Callable[[float | None], str] = percent
    day: Callable[[date], str] = day_long
    milliseconds: Callable[[int | None], str] = milliseconds
    duration: Callable[[int | None], str] = duration


# --- Drawing -----------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value) if isinstance(value, int) else str(escape(value))


def _attrs(**attrs: Any) -> str:
    """SVG attributes: a_b becomes a-b, floats keep one decimal, every text is escaped."""
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{_value(value)}"' for name, value in attrs.items()
    )


def _el(tag: str, **attrs: Any) -> str:
    return f"<{tag} {_attrs(**attrs)}/>"


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    r = 3.5
    if kind == "circle":
        return f"<circle {_attrs(cx=f'{x:.1f}', cy=f'{y:.1f}', r=r, fill=colour)}/>"
    if kind == "square":
        return f"<rect {_attrs(x=f'{x - r:.1f}', y=f'{y - r:.1f}', width=2 * r, height=2 * r, fill=colour)}/>"
    shapes = {
        "triangle": [(0, -r - 1), (r + 1, r), (-r - 1, r)],
        "diamond": [(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
        "cross": [(-r, -1.5), (-1.5, -1.5), (-1.5, -r), (1.5, -r), (1.5, -1.5), (r, -1.5),
                  (r, 1.5), (1.5, 1.5), (1.5, r), (-1.5, r), (-1.5, 1.5), (-r, 1.5)],
        "bar": [(-r - 1, -1.5), (r + 1, -1.5), (r + 1, 1.5), (-r - 1, 1.5)],
        "star": [(0, -r - 1), (1.2, -1.2), (r + 1, 0), (1.2, 1.2), (0, r + 1), (-1.2, 1.2),
                 (-r - 1, 0), (-1.2, -1.2)],
    }  # fmt: skip
    points = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in shapes[kind])
    return f"<polygon {_attrs(points=points, fill=colour)}/>"


def _pattern(chart_id: str, index: int) -> tuple[str, str]:
    """(<pattern> definition, fill value) for the index-th series of a stacked chart."""
    colour = PALETTE[index % len(PALETTE)]
    kind = PATTERNS[index % len(PATTERNS)]
    if kind == "solid":
        return "", colour
    pid = f"{chart_id}-p{index}"
    marks = {
        "stripes": '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#ffffff" stroke-width="2"/>',
        "dots": '<circle cx="4" cy="4" r="1.6" fill="#ffffff"/>',
        "cross": '<path d="M0,0 l8,8 M8,0 l-8,8" stroke="#ffffff" stroke-width="1.5"/>',
        "horizontal": '<path d="M0,4 h8" stroke="#ffffff" stroke-width="2"/>',
        "vertical": '<path d="M4,0 v8" stroke="#ffffff" stroke-width="2"/>',
        "checks": '<rect width="4" height="4" fill="#ffffff"/>'
        '<rect x="4" y="4" width="4" height="4" fill="#ffffff"/>',
    }[kind]
    definition = (
        f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">'
        f'<rect width="8" height="8" fill="{colour}"/>{marks}</pattern>'
    )
    return definition, f"url(#{pid})"


def _frame(chart_id: str, height: int, title: str, description: str, body: str, defs: str = "") -> Markup:
    head = (
        f'<svg class="chart" {_attrs(id=chart_id, viewBox=f"0 0 {WIDTH} {height}", role="img")} '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg" '
        'font-family="inherit" font-size="12">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return Markup(head + (f"<defs>{defs}</defs>" if defs else "") + body + "</svg>")  # noqa: S704 - escaped above


def _text(x: float, y: float, text: str, anchor: str = "start", **attrs: Any) -> str:
    return (
        f"<text {_attrs(x=float(x), y=float(y), text_anchor=anchor, fill=INK, **attrs)}>{escape(text)}</text>"
    )


def _ticks(count: int, most: int = 6) -> list[int]:
    if count <= most:
        return list(range(count))
    step = -(-(count - 1) // (most - 1))
    ticks = list(range(0, count, step))
    if ticks[-1] != count - 1:
        ticks[-1] = count - 1
    return ticks


def _nice_ceiling(value: float) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


def line_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[date],
    series: Sequence[Series],
    height: int = 260,
) -> Markup:
    """Shares (0 to 1) over days, one line per series, on a scale of 0 to 100 %."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    step = plot_w / max(1, len(days) - 1)

    def x(i: int) -> float:
        return LEFT + (i * step if len(days) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v)

    parts: list[str] = []
    ends: list[tuple[float, float, str, str, str]] = []
    for share in (0, 0.25, 0.5, 0.75, 1):
        parts.append(_el("line", x1=LEFT, x2=float(LEFT + plot_w), y1=y(share), y2=y(share), stroke=GRID))
        parts.append(_text(LEFT - 6, y(share) + 4, percent(share), "end"))
    for i in _ticks(len(days)):
        parts.append(_text(x(i), height - BOTTOM + 18, day_short(days[i]), "middle"))
    for n, one in enumerate(series):
        colour, dash, marker = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)], MARKERS[n % len(MARKERS)]
        path, pen_down = [], False
        for i, value in enumerate(one.values):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{x(i):.1f},{y(value):.1f}")
            pen_down = True
        if path:
            line = {"d": " ".join(path), "fill": "none", "stroke": colour, "stroke_width": 2}
            if dash:
                line["stroke_dasharray"] = dash
            parts.append(f"<path {_attrs(**line)}/>")
        parts.extend(_marker(marker, x(i), y(v), colour) for i, v in enumerate(one.values) if v is not None)
        last = next(((i, v) for i, v in reversed(list(enumerate(one.values))) if v is not None), None)
        if last is not None:
            name = one.label if len(one.label) <= LABEL_CHARS else one.label[: LABEL_CHARS - 1] + "…"
            ends.append((y(last[1]) + 4, x(last[0]) + 8, f"{name} {percent(last[1])}", marker, colour))
    # Each line's name at its end (no legend to match colours against), pushed apart so that
    # lines ending close together keep readable names; each with the line's marker.
    placed = -1e9
    for label_y, label_x, text, marker, colour in sorted(ends):
        label_y = max(label_y, placed + 14)
        placed = label_y
        parts.append(_marker(marker, label_x + 2, label_y - 4, colour))
        parts.append(_text(label_x + 10, label_y, text))
    return _frame(chart_id, height, title, description, "".join(parts))


def bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    bars: Sequence[tuple[str, float]],
    format_value: Callable[[float], str] = number,
    top: float | None = None,
) -> Markup:
    """Horizontal bars, each named on its left and labelled with its value on its right; the
    longest bar is the largest value, or `top` where the scale is fixed (1 for shares)."""
    row = 26
    height = TOP + row * max(1, len(bars)) + 8
    # Room for the longest name (within bounds: a longer one is cut; the table has it whole).
    fits = min(max((len(label) for label, _ in bars), default=0), BAR_NAME_CHARS)
    label_w = max(120, round(fits * CHAR_WIDTH) + 12)
    values = [format_value(value) for _, value in bars]
    plot_w = WIDTH - label_w - int(max((len(text) for text in values), default=0) * CHAR_WIDTH + 12)
    top = top or max((value for _, value in bars), default=0) or 1
    parts = []
    for n, (label, value) in enumerate(bars):
        y0 = TOP + n * row
        width = plot_w * value / top
        name = label if len(label) <= fits else label[: fits - 1] + "…"
        parts.append(_text(label_w - 8, y0 + 15, name, "end"))
        parts.append(
            f"<rect {_attrs(x=label_w, y=y0 + 3, width=f'{width:.1f}', height=row - 8, fill=PALETTE[0])}/>"
        )
        parts.append(_text(label_w + width + 6, y0 + 15, values[n]))
    return _frame(chart_id, height, title, description, "".join(parts))


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[date],
    stacks: Sequence[Series],
    height: int = 300,
) -> Markup:
    """Counts per day, stacked by series, each series with its own fill pattern and a legend."""
    legend_rows = -(-len(stacks) // 3)
    plot_h = height - TOP - BOTTOM - 22 * legend_rows
    plot_w = WIDTH - LEFT - 24
    totals = [sum(s.values[i] or 0 for s in stacks) for i in range(len(days))]
    top = _nice_ceiling(max(totals, default=0))
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, slot * 0.7)
    defs, fills = [], []
    for n in range(len(stacks)):
        definition, fill = _pattern(chart_id, n)
        defs.append(definition)
        fills.append(fill)
    parts = []
    for share in (0, 0.2, 0.4, 0.6, 0.8, 1):  # whole numbers: every nice ceiling divides by 5
        y = TOP + plot_h * (1 - share)
        parts.append(_el("line", x1=LEFT, x2=float(LEFT + plot_w), y1=float(y), y2=float(y), stroke=GRID))
        parts.append(_text(LEFT - 6, y + 4, number(top * share), "end"))
    for i in range(len(days)):
        base = float(TOP + plot_h)
        for n, one in enumerate(stacks):
            value = one.values[i] or 0
            if not value:
                continue
            h = plot_h * value / top
            base -= h
            x0 = LEFT + i * slot + (slot - bar_w) / 2
            parts.append(
                _el("rect", x=x0, y=base, width=bar_w, height=h, fill=fills[n], stroke=INK, stroke_width=0.5)
            )
    for i in _ticks(len(days)):
        parts.append(_text(LEFT + i * slot + slot / 2, TOP + plot_h + 18, day_short(days[i]), "middle"))
    for n, one in enumerate(stacks):
        lx = LEFT + (n % 3) * (plot_w / 3)
        ly = TOP + plot_h + 34 + (n // 3) * 22
        parts.append(
            _el("rect", x=lx, y=ly - 11, width=14, height=14, fill=fills[n], stroke=INK, stroke_width=0.5)
        )
        parts.append(_text(lx + 20, ly, one.label))
    return _frame(chart_id, height, title, description, "".join(parts), "".join(d for d in defs if d))


# --- The Overview's charts ---------------------------------------------------------------------


def _channel(channel: str) -> str:
    return str(CHANNEL_LABELS.get(channel, channel))


def overview_charts(overview: Overview) -> dict[str, Markup]:
    """Every chart of the Overview, in the language active now."""
    with _language_fixed():
        return _overview_charts(overview)


def _overview_charts(overview: Overview) -> dict[str, Markup]:
    first, last = day_long(overview.start), day_long(overview.end)
    period = _("from %(start)s to %(end)s") % {"start": first, "end": last}
    consent = overview.consent
    rates = line_chart(
        chart_id="chart-optin",
        title=_("Opt-in rate per purpose"),
        description=_(
            "Share of contacts with a decision whose consent is active, per day, %(period)s. %(now)s"
        )
        % {
            "period": period,
            "now": "; ".join(f"{trend.name}: {percent(trend.current.rate)}" for trend in consent)
            or _("No purposes yet."),
        },
        days=overview.days,
        series=[Series(trend.name, [point.rate for point in trend.points]) for trend in consent],
    )
    cells = overview.subscriptions
    topic_channels = bar_chart(
        chart_id="chart-subscriptions",
        title=_("Active subscriptions by topic and channel"),
        description="; ".join(
            f"{cell.topic_name}, {_channel(cell.channel)}: {number(cell.counts['active'])}" for cell in cells
        )
        or _("No subscriptions yet."),
        bars=[(f"{cell.topic_name} · {_channel(cell.channel)}", cell.counts["active"]) for cell in cells],
    )
    cadences = bar_chart(
        chart_id="chart-cadences",
        title=_("Chosen cadences"),
        description="; ".join(
            f"{CADENCE_LABELS.get(share.cadence, share.cadence)}: {number(share.count)}"
            for share in overview.cadences
        )
        or _("No subscriptions yet."),
        bars=[
            (str(CADENCE_LABELS.get(share.cadence, share.cadence)), share.count)
            for share in overview.cadences
        ],
    )
    unsubscribes = overview.unsubscribes
    sources = [source for source in SOURCE_LABELS if unsubscribes.totals.get(source)] or list(SOURCE_LABELS)[
        :1
    ]
    stacked = stacked_bar_chart(
        chart_id="chart-unsubscribes",
        title=_("Unsubscribes by source"),
        description=_("Consents ended by a withdrawal, per day, %(period)s: %(totals)s")
        % {
            "period": period,
            "totals": "; ".join(
                f"{SOURCE_LABELS[s]}: {number(unsubscribes.totals.get(s, 0))}" for s in SOURCE_LABELS
            ),
        },
        days=overview.days,
        stacks=[
            Series(str(SOURCE_LABELS[s]), [row.by_source[s] for row in unsubscribes.days]) for s in sources
        ],
    )
    return {"optin": rates, "subscriptions": topic_channels, "cadences": cadences, "unsubscribes": stacked}


def dashboard_context(overview: Overview) -> dict[str, Any]:
    """What templates/jinja2/console/dashboard/_overview.html (and each partial) renders from."""
    return {
        "overview": overview,
        "charts": overview_charts(overview),
        "fmt": Formats(),
        "labels": {
            "channels": CHANNEL_LABELS,
            "cadences": CADENCE_LABELS,
            "sources": SOURCE_LABELS,
            "states": STATE_LABELS,
        },
    }


def dashboard_render(
    overview: Overview,
    *,
    rows_link: Callable[[RowsBehind], str | None] | None = None,
    request: HttpRequest | None = None,
) -> str:
    """The Overview's partial as HTML, in the language active now. `rows_link` turns the rows
    behind a figure into a URL, or None where the person's role may not see them."""
    with _language_fixed():
        context = {**dashboard_context(overview), "rows_link": rows_link}
        return render_to_string("console/dashboard/_overview.html", context, request=request, using="pages")
