import xml.etree.ElementTree as ET

import pytest

from edgekit.report.svg import Line, Series, bar_chart, line_chart, nice_ticks, pareto_front, scatter_pareto

NS = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_cover_range_with_round_steps():
    ticks = nice_ticks(0.3, 7.3)
    assert ticks[0] <= 0.3 and ticks[-1] >= 7.3
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1 and steps.pop() in (1, 2, 2.5, 5)


def test_pareto_front_keeps_only_undominated_points():
    pts = [("fp32", 4.0, 9.0), ("fp16", 5.0, 8.0), ("int8", 2.0, 3.0), ("slow", 6.0, 10.0)]
    assert [p[0] for p in pareto_front(pts)] == ["int8"]
    pts.append(("tiny", 1.0, 5.0))
    assert [p[0] for p in pareto_front(pts)] == ["tiny", "int8"]


def test_line_chart_is_valid_svg_with_budget_line_inside_plot():
    svg = line_chart([Series("pi-1", [(0, 1.0), (10, 3.0)])], title="power", x_label="s", y_label="W",
                     lines=[Line("budget", 2.5)])
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    assert len(root.findall(f".//{NS}polyline")) == 1
    limit = [e for e in root.iter(NS + "line") if e.get("class") == "limit"]
    assert len(limit) == 1
    plot_top, plot_bottom = 30, 300 - 44
    assert plot_top <= float(limit[0].get("y1")) <= plot_bottom


def test_bar_and_scatter_charts_render_every_item_and_empty_state():
    bars = bar_chart([("a", 1.0), ("b", 2.0)], title="e", y_label="mJ", marks={"b": "estimate"})
    root = ET.fromstring(bars)
    assert len(root.findall(f".//{NS}rect")) == 2 and "estimate" in bars
    sc = ET.fromstring(scatter_pareto([("x", 1, 2), ("y", 2, 1)], title="t", x_label="ms", y_label="mJ"))
    assert len(sc.findall(f".//{NS}circle")) == 2
    assert "no data" in line_chart([], title="t", x_label="x", y_label="y")


def test_time_axis_unit_follows_the_span():
    from edgekit.report.html_parts import time_unit

    assert time_unit(30) == ("seconds", 1.0)
    assert time_unit(1800) == ("minutes", 60.0)
    assert time_unit(25 * 3600) == ("hours", 3600.0)
    assert time_unit(10 * 86400) == ("days", 86400.0)


def test_trend_quartiles_stacks_and_boxes():
    from edgekit.report.svg import box_plot, linear_trend, quartiles, stacked_bars

    assert linear_trend([1.0]) is None
    assert linear_trend([1.0, 3.0, 5.0]) == [1.0, 3.0, 5.0]
    assert linear_trend([2.0, 0.0, 2.0, 0.0]) == pytest.approx([1.6, 1.2, 0.8, 0.4])
    assert quartiles([4.0, 1.0, 3.0, 2.0, 5.0]) == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert quartiles([1.0, 2.0]) == (1.0, 1.25, 1.5, 1.75, 2.0)
    svg = stacked_bars([("d1", {"rpi5": 1.0, "jetson": 2.0}), ("d2", {"rpi5": 2.0})], title="e", y_label="kWh")
    assert svg.count('class="bar"') == 3 and 'class="trend"' in svg and 'data-chart="stacked"' in svg
    assert "d1 jetson: 2" in svg
    box = box_plot([("rpi5", [3.0, 4.0, 5.0, 9.0], 4.5), ("none", [], None)], title="p", y_label="W")
    assert box.count('class="box"') == 1 and 'class="limit"' in box and "n=4, 2 over" in box
    assert "no data" in box_plot([], title="p", y_label="W")
