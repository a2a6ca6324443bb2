"""Small charts as self-contained SVG text: lines over time, horizontal bars, and horizontal
bars stacked from parts (machines per verdict, per subscription).

A run report and the performance page need a few plain charts that open anywhere with no
network and no script. Hand-written SVG does that in a page of code: a plotting library
would add tens of megabytes to install and seconds to import, for axes, lines and bars.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Bar", "Line", "Stack", "bar_chart", "line_chart", "nice_ticks", "stacked_bar_chart"]

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
AXIS = "#555"
GRID = "#e4e4e4"
MARK = "#c62828"


@dataclass(frozen=True)
class Line:
    """A series of (x, y) points, drawn as steps (counts over time) or straight."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str
    dashed: bool = False
    steps: bool = True


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    color: str
    note: str = ""  # written after the bar (e.g. the value in its unit)


@dataclass(frozen=True)
class Stack:
    """One bar made of parts, each ``(name, value, color)``, drawn left to right."""

    label: str
    parts: Sequence[tuple[str, float, str]]

    @property
    def total(self) -> float:
        return sum(value for _, value, _ in self.parts)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top`` (steps of 1, 2 or 5 x 10^n)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-9:
        ticks.append(ticks[-1] + step)
    return ticks


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 10000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    label = html.escape(title, quote=True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{label}" {FONT}>'
        f"<title>{html.escape(title)}</title>" + "".join(body) + "</svg>"
    )


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_max: float,
    y_max: float | None = None,
    marks: Sequence[float] = (),
    mark_label: str = "",
    dividers: Sequence[tuple[float, str]] = (),
    width: int = 760,
    height: int = 240,
) -> str:
    """Lines over a shared x axis from 0 to ``x_max``; ``marks`` are x positions drawn as
    red ticks on the axis (429s), ``dividers`` labelled vertical lines (a resumed run)."""
    left, right, top, bottom = 56, 16, 12, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((y for line in lines for _, y in line.points), default=0.0)
    y_ticks = nice_ticks(max(y_max or 0.0, highest, 1e-9))
    x_ticks = nice_ticks(max(x_max, 1e-9), 6)
    y_top, x_top = y_ticks[-1], x_ticks[-1]

    def sx(x: float) -> float:
        return left + plot_w * min(max(x, 0.0), x_top) / x_top

    def sy(y: float) -> float:
        return top + plot_h * (1 - min(max(y, 0.0), y_top) / y_top)

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    for tick in y_ticks:
        y = sy(tick)
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">'
            f"{_number(tick)}</text>"
        )
    for tick in x_ticks:
        x = sx(tick)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
            f'stroke="{AXIS}"/><text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
            f'fill="{AXIS}">{_number(tick)}</text>'
        )
    body.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/><line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32}" text-anchor="middle" '
        f'fill="{AXIS}">{html.escape(x_label)}</text>'
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="{AXIS}">{html.escape(y_label)}</text>'
    )
    for x, label in dividers:
        body.append(
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{top + plot_h}" '
            f'stroke="{AXIS}" stroke-dasharray="2 3"/><text x="{sx(x) + 3:.1f}" '
            f'y="{top + 10}" fill="{AXIS}">{html.escape(label)}</text>'
        )
    for line in lines:
        body.append(_path(line, sx, sy))
    if marks:
        ticks = "".join(
            f"M{sx(x):.1f} {top + plot_h - 6}v10" for x in sorted({round(m, 6) for m in marks})
        )
        body.append(f'<path class="throttled" d="{ticks}" stroke="{MARK}" stroke-width="2"/>')
    body.append(_legend(lines, marks, mark_label, left, height - 12))
    return _svg(width, height, title, body)


def _path(line: Line, sx: Callable[[float], float], sy: Callable[[float], float]) -> str:
    if not line.points:
        return ""
    commands = [f"M{sx(line.points[0][0]):.1f} {sy(line.points[0][1]):.1f}"]
    for x, y in line.points[1:]:
        if line.steps:
            commands.append(f"H{sx(x):.1f}V{sy(y):.1f}")
        else:
            commands.append(f"L{sx(x):.1f} {sy(y):.1f}")
    dash = ' stroke-dasharray="6 4"' if line.dashed else ""
    return (
        f'<path d="{"".join(commands)}" fill="none" stroke="{line.color}" stroke-width="1.8"'
        f"{dash}><title>{html.escape(line.label)}</title></path>"
    )


def _legend(lines: Sequence[Line], marks: Sequence[float], mark_label: str, x: int, y: int) -> str:
    items: list[str] = []
    offset = float(x)
    for line in lines:
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        items.append(
            f'<line x1="{offset:.0f}" x2="{offset + 18:.0f}" y1="{y - 4}" y2="{y - 4}" '
            f'stroke="{line.color}" stroke-width="2"{dash}/>'
            f'<text x="{offset + 22:.0f}" y="{y}">{html.escape(line.label)}</text>'
        )
        offset += 34 + 6.2 * len(line.label)
    if marks:
        items.append(
            f'<path d="M{offset + 8:.0f} {y - 10}v10" stroke="{MARK}" stroke-width="2"/>'
            f'<text x="{offset + 14:.0f}" y="{y}">{html.escape(mark_label)}</text>'
        )
    return "".join(items)


def bar_chart(
    groups: Sequence[tuple[str, Sequence[Bar]]],
    *,
    title: str,
    x_label: str,
    log: bool = False,
    width: int = 760,
    label_width: int = 150,
    note_width: int = 110,
) -> str:
    """Horizontal bars under group headings, on a linear or (``log``) logarithmic axis; each
    bar labelled on its left and its ``note`` written after it."""
    bar_h, gap, heading, top, bottom = 16, 4, 18, 8, 40
    rows = sum(len(bars) for _, bars in groups)
    height = top + bottom + rows * (bar_h + gap) + len(groups) * heading
    plot_w = width - label_width - note_width
    values = [bar.value for _, bars in groups for bar in bars if bar.value > 0]
    highest = max(values, default=1.0)
    if log:
        low = 10 ** math.floor(math.log10(min(values, default=1.0)))
        high = 10 ** math.ceil(math.log10(highest))
        ticks = [low * 10**k for k in range(round(math.log10(high / low)) + 1)]

        def scale(value: float) -> float:
            return plot_w * math.log10(max(value, low) / low) / math.log10(high / low)

    else:
        ticks = nice_ticks(highest)

        def scale(value: float) -> float:
            return plot_w * value / ticks[-1]

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    plot_bottom = height - bottom
    for tick in ticks:
        x = label_width + scale(tick)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle" fill="{AXIS}">'
            f"{_number(tick)}</text>"
        )
    y = float(top)
    for name, bars in groups:
        body.append(f'<text x="4" y="{y + 13:.0f}" font-weight="600">{html.escape(name)}</text>')
        y += heading
        for bar in bars:
            length = max(scale(bar.value), 1.0)
            body.append(
                f'<text x="{label_width - 6}" y="{y + bar_h - 4:.0f}" text-anchor="end">'
                f"{html.escape(bar.label)}</text>"
                f'<rect x="{label_width}" y="{y:.0f}" width="{length:.1f}" height="{bar_h}" '
                f'fill="{bar.color}"><title>{html.escape(bar.label)}: '
                f"{html.escape(bar.note or _number(bar.value))}</title></rect>"
                f'<text x="{label_width + length + 4:.1f}" y="{y + bar_h - 4:.0f}">'
                f"{html.escape(bar.note)}</text>"
            )
            y += bar_h + gap
    body.append(
        f'<text x="{label_width + plot_w / 2:.0f}" y="{plot_bottom + 30}" '
        f'text-anchor="middle" fill="{AXIS}">{html.escape(x_label)}</text>'
    )
    return _svg(width, height, title, body)


def stacked_bar_chart(
    stacks: Sequence[Stack],
    *,
    title: str,
    x_label: str,
    width: int = 760,
    label_width: int = 250,
    note_width: int = 60,
) -> str:
    """One horizontal bar per stack, its parts side by side in their colours (each with its
    name and value as a tooltip), its total after it, and a legend of the parts' names."""
    bar_h, gap, top, bottom = 16, 4, 8, 58
    height = top + bottom + len(stacks) * (bar_h + gap)
    plot_w = width - label_width - note_width
    ticks = nice_ticks(max((s.total for s in stacks), default=0.0) or 1.0)
    scale = plot_w / ticks[-1]
    plot_bottom = height - bottom
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>']
    for tick in ticks:
        x = label_width + tick * scale
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}" stroke="{GRID}"/>'
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle" fill="{AXIS}">'
            f"{_number(tick)}</text>"
        )
    for row, stack in enumerate(stacks):
        body.append(_stack(stack, label_width, top + row * (bar_h + gap), bar_h, scale))
    body.append(
        f'<text x="{label_width + plot_w / 2:.0f}" y="{plot_bottom + 30}" '
        f'text-anchor="middle" fill="{AXIS}">{html.escape(x_label)}</text>'
    )
    names = {name: color for stack in stacks for name, _, color in stack.parts}
    legend = [Line(name, (), color) for name, color in names.items()]
    body.append(_legend(legend, (), "", 8, height - 8))
    return _svg(width, height, title, body)


def _stack(stack: Stack, left: int, y: float, bar_h: int, scale: float) -> str:
    label = html.escape(stack.label, quote=True)
    parts = [
        f'<text x="{left - 6}" y="{y + bar_h - 4:.0f}" text-anchor="end">'
        f"{html.escape(stack.label)}</text>"
    ]
    x = float(left)
    for name, value, color in stack.parts:
        if value <= 0:
            continue
        length = value * scale
        parts.append(
            f'<rect class="part" data-part="{html.escape(name, quote=True)}" '
            f'data-value="{value:g}" x="{x:.1f}" y="{y:.0f}" width="{length:.1f}" '
            f'height="{bar_h}" fill="{color}"><title>{html.escape(stack.label)}: '
            f"{html.escape(name)} {_number(value)}</title></rect>"
        )
        x += length
    parts.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4:.0f}">{_number(stack.total)}</text>')
    return f'<g class="stack" data-label="{label}">' + "".join(parts) + "</g>"
