"""Horizontal bar charts drawn on the server as SVG (no script, no CDN, no inline style).

`bar_chart` only computes geometry; the template `_chart.html` draws it, so all text is
escaped by Jinja like any other page content.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 400
LABEL_WIDTH = 170
BAR_MAX = 180
ROW_HEIGHT = 24
BAR_HEIGHT = 16
MAX_LABEL_CHARS = 26
MAX_ROWS = 12


@dataclass(frozen=True)
class Bar:
    """One row of a chart."""

    label: str
    short_label: str
    count: int
    y: int
    width: int
    text_y: int
    count_x: int


@dataclass(frozen=True)
class BarChart:
    """A chart's rows and its size."""

    bars: list[Bar]
    width: int
    height: int
    label_width: int
    total: int


def _shorten(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def bar_chart(rows: list[tuple[str, int]]) -> BarChart:
    """Geometry of a chart of (label, count) rows, in the given order; the rest is summed."""
    shown = rows[:MAX_ROWS]
    if len(rows) > MAX_ROWS:
        shown = [*rows[: MAX_ROWS - 1], ("…", sum(count for _, count in rows[MAX_ROWS - 1 :]))]
    biggest = max((count for _, count in shown), default=0) or 1
    bars = []
    for position, (label, count) in enumerate(shown):
        width = round(BAR_MAX * count / biggest) if count else 0
        y = position * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) // 2
        bars.append(
            Bar(
                label=label,
                short_label=_shorten(label),
                count=count,
                y=y,
                width=max(width, 1 if count else 0),
                text_y=y + BAR_HEIGHT - 4,
                count_x=LABEL_WIDTH + max(width, 1) + 6,
            )
        )
    return BarChart(
        bars=bars,
        width=WIDTH,
        height=max(ROW_HEIGHT, len(bars) * ROW_HEIGHT),
        label_width=LABEL_WIDTH,
        total=sum(count for _, count in rows),
    )
