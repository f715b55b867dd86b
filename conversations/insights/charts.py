"""The Insights page's charts as server-rendered SVG: no script, no CDN.

Each function takes the numbers of ``queries`` and a ``link`` callable that
gives the conversation changelist URL of a slice; every bar and cell is an
``<a>`` to it, with a ``<title>`` (the browser's tooltip and the screen
reader's label). Sizes are in SVG units; the page scales them to its width.
"""

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from .fast_html import format_html, format_html_join

WIDTH, HEIGHT = 900, 260
LEFT, BOTTOM, TOP = 56, 36, 12
# Colour-blind-safe (Okabe-Ito), in a fixed order of closing types.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _n(value: float) -> str:
    """A coordinate, to a tenth of a unit."""
    return f"{value:.1f}"


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(label: str, body: SafeString, width: int = WIDTH, height: int = HEIGHT) -> SafeString:
    return format_html(
        '<svg class="insights-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">{}</svg>',
        width,
        height,
        label,
        body,
    )


def _axis(top_value: float, unit: str) -> SafeString:
    """Horizontal grid lines at 0, 1/2 and the top value, labelled."""
    lines = []
    for fraction in (0, 0.5, 1):
        y = HEIGHT - BOTTOM - fraction * (HEIGHT - BOTTOM - TOP)
        lines.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{y}" y2="{y}" class="grid"/>'
                '<text x="{}" y="{y}" class="tick" text-anchor="end">{}</text>',
                LEFT,
                WIDTH,
                LEFT - 4,
                _number(top_value * fraction, unit),
                y=f"{y:.1f}",
            )
        )
    return mark_safe("".join(lines))  # noqa: S308 (each part built by format_html)


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return duration_label(value)
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def duration_label(seconds: float | None) -> str:
    """A duration as people read it: 45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _period_labels(periods: Sequence[date]) -> SafeString:
    """The x-axis labels: at most eight, evenly spaced."""
    if not periods:
        return mark_safe("")
    step = -(-len(periods) // 8)  # at most eight labels
    slot = (WIDTH - LEFT) / len(periods)
    return format_html_join(
        "",
        '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
        (
            (_n(LEFT + slot * (i + 0.5)), HEIGHT - BOTTOM + 16, period.isoformat())
            for i, period in enumerate(periods)
            if i % step == 0
        ),
    )


def stacked_bars(
    periods: Sequence[date],
    series: Sequence[str],
    values: dict[tuple[date, str], int],
    link: Callable[[date, str], str],
    label: str,
) -> SafeString:
    """One bar per period, stacked by series (closing types)."""
    top = max((sum(values.get((p, s), 0) for s in series) for p in periods), default=0) or 1
    slot = (WIDTH - LEFT) / max(len(periods), 1)
    scale = (HEIGHT - BOTTOM - TOP) / top
    bars = []
    for i, period in enumerate(periods):
        y: float = HEIGHT - BOTTOM
        for j, name in enumerate(series):
            count = values.get((period, name), 0)
            if not count:
                continue
            height = count * scale
            y -= height
            bars.append(
                format_html(
                    '<a href="{}" class="bar"><rect x="{}" y="{}" width="{}" '
                    'height="{}" fill="{}"><title>{}: {} {}</title></rect></a>',
                    link(period, name),
                    _n(LEFT + slot * i + slot * 0.1),
                    _n(y),
                    _n(max(slot * 0.8, 1)),
                    _n(height),
                    colour(j),
                    period.isoformat(),
                    count,
                    name,
                )
            )
    body = _axis(top, "") + mark_safe("".join(bars)) + _period_labels(periods)  # noqa: S308
    return _svg(label, body)


def paired_bars(
    periods: Sequence[date],
    medians: Sequence[float | None],
    p90s: Sequence[float | None],
    link: Callable[[date], str],
    label: str,
) -> SafeString:
    """Per period, a median bar and a p90 bar beside it (seconds)."""
    top = max((v for v in (*medians, *p90s) if v is not None), default=0) or 1
    slot = (WIDTH - LEFT) / max(len(periods), 1)
    scale = (HEIGHT - BOTTOM - TOP) / top
    bars = []
    for i, period in enumerate(periods):
        for k, (name, value) in enumerate((("median", medians[i]), ("p90", p90s[i]))):
            if value is None:
                continue
            height = value * scale
            bars.append(
                format_html(
                    '<a href="{}" class="bar"><rect x="{}" y="{}" width="{}" '
                    'height="{}" fill="{}"><title>{}: {} {}</title></rect></a>',
                    link(period),
                    _n(LEFT + slot * i + slot * (0.1 + 0.4 * k)),
                    _n(HEIGHT - BOTTOM - height),
                    _n(max(slot * 0.4, 0.5)),
                    _n(height),
                    colour(k),
                    period.isoformat(),
                    name,
                    duration_label(value),
                )
            )
    body = _axis(top, "s") + mark_safe("".join(bars)) + _period_labels(periods)  # noqa: S308
    return _svg(label, body)


def horizontal_bars(
    rows: Sequence[tuple[str, int, str]], label: str, width: int = WIDTH
) -> SafeString:
    """One bar per (label, count, link), for the bot share."""
    top = max((count for _, count, _ in rows), default=0) or 1
    row_height = 28
    height = row_height * len(rows) + 8
    bars = []
    for i, (name, count, url) in enumerate(rows):
        length = (width - 200) * count / top
        bars.append(
            format_html(
                '<text x="150" y="{}" class="tick" text-anchor="end">{}</text>'
                '<a href="{}" class="bar"><rect x="156" y="{}" width="{}" height="{}" '
                'fill="{}"><title>{}: {}</title></rect></a>'
                '<text x="{}" y="{}" class="tick">{}</text>',
                i * row_height + 22,
                name,
                url,
                i * row_height + 6,
                _n(max(length, 1 if count else 0)),
                row_height - 8,
                colour(i),
                name,
                count,
                _n(160 + length),
                i * row_height + 22,
                count,
            )
        )
    return _svg(label, mark_safe("".join(bars)), width, height)  # noqa: S308


def heat_map(
    cells: dict[tuple[int, int], int], link: Callable[[int, int], str], label: str
) -> SafeString:
    """Seven rows (Monday first) of 24 hours; darker is busier."""
    top = max(cells.values(), default=0) or 1
    size, left, top_margin = 30, 44, 18
    parts: list[Any] = [
        format_html(
            '<text x="{}" y="12" class="tick" text-anchor="middle">{}</text>',
            left + hour * size + size / 2,
            hour,
        )
        for hour in range(0, 24, 3)
    ]
    for weekday in range(1, 8):
        y = top_margin + (weekday - 1) * size
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
                left - 4,
                y + 19,
                WEEKDAYS[weekday - 1],
            )
        )
        for hour in range(24):
            count = cells.get((weekday, hour), 0)
            cell = format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="#0072B2" '
                'fill-opacity="{}" class="cell"><title>{} {}:00: {}</title></rect>',
                left + hour * size,
                y,
                size - 2,
                size - 2,
                f"{0.06 + 0.94 * count / top:.2f}",
                WEEKDAYS[weekday - 1],
                f"{hour:02d}",
                count,
            )
            parts.append(
                format_html('<a href="{}" class="bar">{}</a>', link(weekday, hour), cell)
                if count
                else cell
            )
    return _svg(label, mark_safe("".join(parts)), left + 24 * size, top_margin + 7 * size)  # noqa: S308
