"""Server-side SVG charts (lockgate.ui.charts)."""

from __future__ import annotations

import itertools
import re

from lockgate.ui import charts


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for day in ("2026-12-01", "2026-12-02"):
        for i in range(7):
            rows.append({"day": day, "tenant": f"t{i}", "requests": 10 - i})
    rows.append({"day": "2026-12-02", "tenant": "<b>x</b>", "requests": 100})
    return rows


def test_the_largest_series_are_drawn_and_the_rest_summed_as_other() -> None:
    chart = charts.build(_rows(), "day", "tenant", "requests", "Requests")
    names = [s.name for s in chart.series]
    assert names == ["<b>x</b>", "t0", "t1", "t2", "t3", "other"]
    assert chart.buckets == ("2026-12-01", "2026-12-02")
    assert chart.series[0].points == (0.0, 100.0)
    assert chart.series[-1].points == (4 + 5 + 6, 4 + 5 + 6)  # t4, t5, t6: 6 + 5 + 4


def test_the_svg_escapes_every_label() -> None:
    chart = charts.build(_rows(), "day", "tenant", "requests", 'Requests "by" <tenant>')
    out = str(charts.svg(chart))
    assert "<b>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert "&lt;tenant&gt;" in out and "&#34;by&#34;" in out
    assert "style=" not in out  # the pages' CSP forbids inline styles
    assert out.count("<polyline") == 6


def test_no_rows_is_said_in_words() -> None:
    chart = charts.build([], "day", "tenant", "requests", "Requests")
    assert chart.empty
    assert "No calls" in str(charts.svg(chart))


def test_axis_labels_never_touch_and_the_first_and_last_are_always_shown() -> None:
    for n in range(1, 49):
        days = [f"2026-11-{d:02d}" if d <= 30 else f"2026-12-{d - 30:02d}" for d in range(1, n + 1)]
        rows: list[dict[str, object]] = [{"day": d, "tenant": "a", "requests": 1} for d in days]
        out = str(charts.svg(charts.build(rows, "day", "tenant", "requests", "R")))
        labels = re.findall(r'<text x="([\d.]+)" y="232" text-anchor="(\w+)"[^>]*>([^<]+)<', out)
        assert labels[0][2] == days[0] and labels[-1][2] == days[-1]
        spans = []
        for x, anchor, text in labels:
            w = len(text) * charts.CHAR_W
            left = float(x) - (0 if anchor == "start" else w if anchor == "end" else w / 2)
            spans.append((left, left + w))
        for (_, right), (left, _) in itertools.pairwise(sorted(spans)):
            assert right < left, (n, labels)
