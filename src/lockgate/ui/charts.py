"""Server-side SVG charts: a metric over time, one line per tenant, app or model.

Built from the rows of ``GET /admin/v1/usage?group_by=day,<dimension>``; no script runs in the
browser. Every label is escaped; the SVG uses presentation attributes only (the pages' CSP
forbids inline styles). Colours come from a fixed palette that stays legible in light and dark
themes; the legend repeats each series' name beside its colour, and a ``<title>`` gives the
chart an accessible name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

PALETTE = ("#2f7ed8", "#e4572e", "#29a36a", "#9b59b6", "#f0a202", "#7f8c8d")
MAX_SERIES = 5  # the rest are summed as "other"
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: tuple[float, ...]
    colour: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    buckets: tuple[str, ...]
    series: tuple[Series, ...]

    @property
    def empty(self) -> bool:
        return not self.buckets


def build(
    rows: Sequence[dict[str, Any]], bucket: str, dimension: str, metric: str, title: str
) -> Chart:
    """One series per value of ``dimension``, summed per ``bucket`` (``day`` or ``hour``)."""
    buckets = sorted({str(r.get(bucket)) for r in rows if r.get(bucket) is not None})
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if r.get(bucket) is None:
            continue
        name = str(r.get(dimension) if r.get(dimension) is not None else "(none)")
        totals[name][str(r[bucket])] += float(r.get(metric) or 0)
    ranked = sorted(totals, key=lambda n: (-sum(totals[n].values()), n))
    shown, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    series = [
        Series(n, tuple(totals[n].get(b, 0.0) for b in buckets), PALETTE[i])
        for i, n in enumerate(shown)
    ]
    if rest:
        other = tuple(sum(totals[n].get(b, 0.0) for n in rest) for b in buckets)
        series.append(Series("other", other, PALETTE[-1]))
    return Chart(title, tuple(buckets), tuple(series))


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    if value and value < 1:
        return f"{value:.4f}".rstrip("0")
    return f"{value:g}"


CHAR_W = 6.6  # px per character of an 11 px label: enough to keep labels apart
LABEL_GAP = 10.0


def _axis_labels(
    n: int, x: Callable[[int], float], lengths: Sequence[int]
) -> list[tuple[int, str]]:
    """Which buckets get an x-axis label, and its anchor: the first and the last always, then
    about six between them, leaving out any that would touch a label already placed."""
    if n == 1:
        return [(0, "middle")]

    def extent(i: int, anchor: str) -> tuple[float, float]:
        w = lengths[i] * CHAR_W
        left = x(i) if anchor == "start" else x(i) - w if anchor == "end" else x(i) - w / 2
        return left, left + w

    placed = [(0, "start"), (n - 1, "end")]
    spans = [extent(0, "start"), extent(n - 1, "end")]
    for i in range(max(1, n // 6), n - 1, max(1, n // 6)):
        lo, hi = extent(i, "middle")
        if all(hi + LABEL_GAP <= a or lo - LABEL_GAP >= b for a, b in spans):
            placed.append((i, "middle"))
            spans.append((lo, hi))
    return sorted(placed)


def svg(chart: Chart) -> Markup:
    """The chart as inline SVG markup (safe: every text node is escaped)."""
    if chart.empty:
        return Markup("<p>No calls in this period.</p>")
    top = max((max(s.points) for s in chart.series), default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(chart.buckets)

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(chart.title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(chart.title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        gy = y(top * frac)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}" '
            'stroke="#8884" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="currentColor">{escape(_fmt(top * frac))}</text>'
        )
    for i, anchor in _axis_labels(n, x, [len(b[:13]) for b in chart.buckets]):
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="11" '
            f'fill="currentColor">{escape(chart.buckets[i][:13])}</text>'
        )
    for s in chart.series:
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.points))
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{s.colour}" stroke-width="2">'
            f"<title>{escape(s.name)}</title></polyline>"
        )
        for i, v in enumerate(s.points):
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{s.colour}">'
                f"<title>{escape(s.name)} {escape(chart.buckets[i])}: {escape(_fmt(v))}</title>"
                "</circle>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
        f'fill="{s.colour}"/></svg> {escape(s.name)}</li>'
        for s in chart.series
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')
