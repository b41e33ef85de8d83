"""Inline SVG charts, built from numbers only.

These are the only strings the reports mark safe: every value interpolated here is a number
(coerced with ``float``/``int``) or a constant of this module, never text from a mailbox or
the CRM. Email clients that strip SVG (Gmail does) lose the picture but not the information:
the tables beside each chart carry the same numbers as text.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup

# Level colours; the key comes from the database, so look it up with a default.
LEVEL_COLOURS = {"high": "#c4320a", "medium": "#dc8a0e", "low": "#8a94a6"}
NEUTRAL = "#8a94a6"
AXIS = "#d5d9e0"
LABEL = "#667085"
CURRENT = "#1d3b6e"


def _n(value: float) -> str:
    """A coordinate: finite, two decimals at most, no trailing zeros."""
    x = float(value)
    if not math.isfinite(x):
        x = 0.0
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _axis(value: int) -> str:
    """An axis label that fits the 28 px margin: 950, 9.5k, 95k, 1.2M."""
    if value < 1_000:
        return str(value)
    if value < 10_000:
        return f"{value / 1_000:.1f}k".replace(".0k", "k")
    if value < 999_500:
        return f"{value / 1_000:.0f}k"
    return f"{value / 1_000_000:.1f}M".replace(".0M", "M")


def sparkline(values: Sequence[float], level: str | None = None, *, width: int = 104,
              height: int = 26) -> Markup:
    """A small line of weekly values (oldest first) with the last point marked."""
    vals = tuple(max(0.0, x) if math.isfinite(x) else 0.0 for x in map(float, values))
    return _sparkline(vals, level if level in LEVEL_COLOURS else None, width, height)


# Digests draw one sparkline per row, and many pairs share a history (a first week shows
# eleven zeros and one score): a drawn line is reused.
@functools.lru_cache(maxsize=16384)
def _sparkline(vals: tuple[float, ...], level: str | None, width: int, height: int) -> Markup:
    if not vals:
        return Markup("")
    colour = LEVEL_COLOURS.get(level or "", NEUTRAL)
    pad = 3.0
    top = max(vals) or 1.0
    step = (width - 2 * pad) / max(1, len(vals) - 1)
    span = (height - 2 * pad) / top
    base = _n(height - pad)
    xs = [_n(pad + i * step) for i in range(len(vals))]
    ys = [base if v == 0.0 else _n(height - pad - v * span) for v in vals]
    line = " ".join(f"{x},{y}" for x, y in zip(xs, ys, strict=True))
    area = f"{xs[0]},{base} {line} {xs[-1]},{base}"
    label = "Score, last {} weeks: {}".format(len(vals), ", ".join(f"{v:.1f}" for v in vals))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}" class="spark">'
        f"<title>{label}</title>"
        f'<line x1="{_n(pad)}" y1="{base}" x2="{_n(width - pad)}" y2="{base}" '
        f'stroke="{AXIS}" stroke-width="1"/>'
        f'<polygon points="{area}" fill="{colour}" fill-opacity="0.12"/>'
        f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.6" '
        f'stroke-linejoin="round" stroke-linecap="round"/>'
        f'<circle cx="{xs[-1]}" cy="{ys[-1]}" r="2.6" fill="{colour}"/>'
        "</svg>"
    )
    return Markup(svg)  # noqa: S704 - numbers and module constants only


def trend_chart(weeks: Sequence[dt.date], stacks: Sequence[Mapping[str, int]], *,
                width: int = 940, height: int = 170) -> Markup:
    """Stacked weekly bars of overlap events by level (oldest first); the last bar is this week."""
    if not weeks:
        return Markup("")
    levels = ("low", "medium", "high")  # bottom to top
    totals = [sum(int(s.get(lv, 0)) for lv in levels) for s in stacks]
    top = max(totals) or 2
    top += top % 2  # an even top keeps the half-way gridline on a whole number
    left, right, head, foot = 34.0, 8.0, 14.0, 22.0
    plot_h = height - head - foot
    slot = (width - left - right) / len(weeks)
    bar_w = min(28.0, slot * 0.62)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="trend" style="max-width:100%;height:auto" '
        f'aria-label="Overlap events '
        f'per week, last {len(weeks)} weeks: {", ".join(str(t) for t in totals)}">'
        f"<title>Overlap events per week: {', '.join(str(t) for t in totals)}</title>"
    ]
    # Gridlines at 0, half and the maximum, labelled with whole numbers.
    for frac in (0.0, 0.5, 1.0):
        y = head + plot_h * (1 - frac)
        parts.append(
            f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" y2="{_n(y)}" '
            f'stroke="{AXIS}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_n(left - 6)}" y="{_n(y + 3.5)}" text-anchor="end" font-size="10" '
            f'fill="{LABEL}">{_axis(round(top * frac))}</text>'
        )
    for i, (week, stack) in enumerate(zip(weeks, stacks, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        y = head + plot_h
        for lv in levels:
            count = int(stack.get(lv, 0))
            if count <= 0:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar_w)}" height="{_n(h)}" '
                f'fill="{LEVEL_COLOURS[lv]}"/>'
            )
        is_current = i == len(weeks) - 1
        emphasis = f' font-weight="700" fill="{CURRENT}"' if is_current else f' fill="{LABEL}"'
        if totals[i]:
            parts.append(
                f'<text x="{_n(x + bar_w / 2)}" y="{_n(y - 3)}" text-anchor="middle" '
                f'font-size="10"{emphasis}>{totals[i]:,}</text>'
            )
        _, iso_week, _ = week.isocalendar()
        parts.append(
            f'<text x="{_n(x + bar_w / 2)}" y="{_n(height - 6)}" text-anchor="middle" '
            f'font-size="10"{emphasis}>W{int(iso_week):02d}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and module constants only
