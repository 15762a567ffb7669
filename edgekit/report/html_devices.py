"""The HTML report's device parts: top-N tables that link to a section per plotted device."""

from __future__ import annotations

from html import escape

from edgekit.report.data import DeviceSummary, FleetReport
from edgekit.report.html_parts import since, table, time_unit, when
from edgekit.report.svg import Line, Series, line_chart
from edgekit.report.terminal import fmt

TITLES = {"energy": "Top devices by energy", "violations": "Top devices by budget violations",
          "temperature": "Top devices by temperature"}


def anchors(report: FleetReport) -> dict[tuple[str, str], str]:
    """The id of each plotted device's section."""
    return {key: f"device-{i + 1}" for i, key in enumerate(report.plotted)}


def _link(s: DeviceSummary, ids: dict) -> str:
    name = escape(s.device_id) + (f' <span class=note>({escape(s.fleet)})</span>' if s.fleet else "")
    key = (s.fleet, s.device_id)
    return f'<a href="#{ids[key]}" class="drill">{name}</a>' if key in ids else name


def _row(s: DeviceSummary, ids: dict) -> list[str]:
    est = " <span class=est>ESTIMATE</span>" if s.estimated else ""
    viol = f'<span class="{"bad" if s.open_violations else ""}">{s.open_violations}</span>/{s.past_violations}'
    return [_link(s, ids), escape(s.target or "–"), escape(s.state or "–"), when(s.last_seen_s), str(s.results),
            fmt(s.energy_kwh, ".4g"), fmt(s.power_w_avg), fmt(s.power_w_peak), fmt(s.temp_c_max), fmt(s.throttled),
            fmt(s.battery_drain_pct_h), viol, fmt(s.energy_mj_per_inference), fmt(s.gco2e_per_day),
            escape(s.provenance) + est]


HEADERS = ["device", "target", "state", "last seen", "results", "kWh", "avg W", "peak W", "max °C", "throttled",
           "drain %/h", "violations open/past", "mJ/inf", "gCO2e/day", "how measured"]


def top_tables(report: FleetReport) -> list[str]:
    ids = anchors(report)
    by_key = {(s.fleet, s.device_id): s for s in report.devices}
    parts = [f"<h2>Devices</h2><p class=note>{len(report.devices)} devices in this period. The top "
             f"{max((len(v) for v in report.top.values()), default=0)} of each list link to their own section; "
             "<code>edgekit fleet report --json</code> lists every device.</p>"]
    for by, keys in report.top.items():
        parts.append(f'<h3>{escape(TITLES[by])}</h3>')
        parts.append(table(HEADERS, [_row(by_key[k], ids) for k in keys], left=3, cls=f"top top-{by}"))
    return parts


def device_sections(report: FleetReport) -> list[str]:
    """Per plotted device: its figures, power against its budget and temperature against its limit."""
    ids = anchors(report)
    by_key = {(s.fleet, s.device_id): s for s in report.devices}
    times = [t for key in report.plotted for series in (report.power_series, report.temp_series)
             for t, _ in series.get(key[1], [])]
    t0 = min(times) if times else 0.0
    unit, unit_s = time_unit(max(times) - t0 if times else 0.0)
    axis = f"{unit} since {when(t0) if times else '–'} UTC"
    bucket = "minute" if report.series_bucket_s <= 60 else "hour"
    parts = ["<h2>Device details</h2>", f"<p class=note>Power is the mean of each {bucket}, temperature its "
                                        "maximum, from the store's rollups.</p>"]
    for key in report.plotted:
        s, dev = by_key[key], key[1]
        parts.append(f'<section class=device id="{ids[key]}"><h3>{escape(dev)} '
                     f'<span class=note>{escape(s.fleet)} · {escape(s.target or "–")}</span></h3>')
        parts.append(table(HEADERS, [_row(s, {})], left=3, cls="device-row"))
        power = [Line("budget", report.power_budget_w[dev])] if dev in report.power_budget_w else []
        limit = [Line("limit", report.thermal_limit_c[dev])] if dev in report.thermal_limit_c else []
        parts.append("<div class=charts>")
        parts.append(line_chart([Series(dev, since(report.power_series.get(dev, []), t0, unit_s))],
                                title=f"Power, {dev}", x_label=axis, y_label="W", lines=power))
        parts.append(line_chart([Series(dev, since(report.temp_series.get(dev, []), t0, unit_s))],
                                title=f"Temperature, {dev}", x_label=axis, y_label="°C", lines=limit))
        parts.append("</div></section>")
    return parts
