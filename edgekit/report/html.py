"""The fleet report as one self-contained HTML file: inline CSS and SVG, no scripts, no network."""

from __future__ import annotations

from html import escape

from edgekit.timefmt import utc_strftime
from edgekit.report.data import FleetReport
from edgekit.report.svg import Line, Series, bar_chart, line_chart, scatter_pareto
from edgekit.report.terminal import fmt

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.est{color:#a05a00;font-weight:600}.bad{color:#b00020;font-weight:600}.note{color:#555;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #eee;background:#fff}svg text{font-size:10px;fill:#333}
svg .title{font-size:12px;font-weight:600}svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .small{font-size:9px}
"""


def _when(t_s: float | None) -> str:
    return "–" if t_s is None else utc_strftime(t_s, "%Y-%m-%d %H:%M")


def _table(headers: list[str], rows: list[list[str]], left: int = 1, cls: str = "") -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left or i == len(r) - 1 else ""}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _time_unit(span_s: float) -> tuple[str, float]:
    """A readable unit for a time axis spanning ``span_s`` seconds."""
    if span_s <= 120:
        return "seconds", 1.0
    if span_s <= 2 * 3600:
        return "minutes", 60.0
    if span_s <= 3 * 86400:
        return "hours", 3600.0
    return "days", 86400.0


def _since(points: list[tuple[float, float]], t0: float, unit_s: float) -> list[tuple[float, float]]:
    return [((t - t0) / unit_s, y) for t, y in points]


def render_html(report: FleetReport) -> str:
    e = escape
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>edgekit fleet report</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>edgekit fleet report</h1><p class=note>Generated {e(report.generated_at)} · period "
             f"{_when(report.since_s)} → {_when(report.until_s) if report.until_s else 'now'} (UTC). "
             f"Figures marked <span class=est>ESTIMATE</span> come from a power model, not a sensor.</p>"]
    for section in (_totals, _devices, _variants, _plots, _violations):
        parts.extend(section(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _totals(report: FleetReport) -> list[str]:
    """Fleet totals: energy and emissions, and the table per UTC day."""
    e = escape
    parts: list[str] = []
    ch = report.change()
    parts.append("<h2>Fleet totals</h2>")
    parts.append(f"<p id=totals>Energy {report.total_energy_kwh:.4g} kWh, emissions {report.total_gco2e:.4g} gCO2e "
                 f"over {len(report.days)} day(s). From {e(str(ch['first_day'] or '–'))} to "
                 f"{e(str(ch['last_day'] or '–'))}: total energy per day {fmt(ch['energy_kwh_pct'], '+.1f')} %, "
                 f"energy per inference {fmt(ch['energy_mj_per_inference_pct'], '+.1f')} %.</p>")
    parts.append(_table(["day (UTC)", "devices", "kWh", "gCO2e", "median mJ/inference"],
                        [[e(d.day), str(d.devices), fmt(d.energy_kwh, ".4g"), fmt(d.gco2e, ".4g"),
                          fmt(d.energy_mj_per_inference)] for d in report.days], cls="days"))
    parts.append(f"<p class=note>{e(report.carbon_note)}</p>")
    return parts


def _devices(report: FleetReport) -> list[str]:
    """One row per device."""
    e = escape
    parts: list[str] = []
    parts.append("<h2>Devices</h2>")
    rows = []
    for d in report.devices:
        est = " <span class=est>ESTIMATE</span>" if d.estimated else ""
        viol = f'<span class="{"bad" if d.open_violations else ""}">{d.open_violations}</span>/{d.past_violations}'
        rows.append([e(d.device_id), e(d.target or "–"), e(d.state or "–"), _when(d.last_seen_s), str(d.results),
                     fmt(d.latency_ms_p50), fmt(d.latency_ms_p99), fmt(d.power_w_avg), fmt(d.power_w_peak),
                     fmt(d.energy_mj_per_inference), fmt(d.energy_mj_per_inference_net), fmt(d.temp_c_max),
                     fmt(d.throttled), fmt(d.battery_drain_pct_h), viol, fmt(d.energy_kwh_per_day),
                     fmt(d.gco2e_per_day), e(d.provenance) + est])
    parts.append(_table(["device", "target", "state", "last seen", "results", "p50 ms", "p99 ms", "avg W", "peak W",
                         "mJ/inf", "net mJ/inf", "max °C", "throttled", "drain %/h", "violations open/past",
                         "kWh/day", "gCO2e/day", "how measured"], rows, left=3, cls="devices"))
    return parts


def _variants(report: FleetReport) -> list[str]:
    """One row per model × target × precision."""
    e = escape
    parts: list[str] = []
    parts.append("<h2>Models × target × precision</h2>")
    vrows = []
    for s in report.variants:
        est = " <span class=est>ESTIMATE</span>" if s.estimated else ""
        vrows.append([e(s.label), str(s.devices), str(s.results), fmt(s.latency_ms_p50), fmt(s.latency_ms_p99),
                      fmt(s.power_w_avg), fmt(s.energy_mj_per_inference), fmt(s.energy_mj_per_inference_net),
                      fmt(s.temp_c_max), fmt(s.throttled), fmt(s.battery_drain_pct_h),
                      fmt(s.gco2e_per_1000_inferences), e(s.provenance) + est])
    parts.append(_table(["variant", "devices", "results", "p50 ms", "p99 ms", "avg W", "mJ/inf", "net mJ/inf",
                         "max °C", "throttled", "drain %/h", "gCO2e/1k inf", "how measured"], vrows, cls="variants"))
    return parts


def _plots(report: FleetReport) -> list[str]:
    """Power and temperature per device, energy per variant, latency vs energy, open violations."""
    parts: list[str] = []
    parts.append("<h2>Plots</h2><div class=charts>")
    times = [t for pts in report.power_series.values() for t, _ in pts] + \
            [t for pts in report.temp_series.values() for t, _ in pts]
    t0 = min(times) if times else 0.0
    unit, unit_s = _time_unit(max(times) - t0 if times else 0.0)
    axis = f"{unit} since {_when(t0) if times else '–'} UTC"
    for dev, pts in sorted(report.power_series.items()):
        lines = [Line("budget", report.power_budget_w[dev])] if dev in report.power_budget_w else []
        parts.append(line_chart([Series(dev, _since(pts, t0, unit_s))], title=f"Power, {dev}", x_label=axis,
                                y_label="W", lines=lines))
    for dev, pts in sorted(report.temp_series.items()):
        lines = [Line("limit", report.thermal_limit_c[dev])] if dev in report.thermal_limit_c else []
        parts.append(line_chart([Series(dev, _since(pts, t0, unit_s))], title=f"Temperature, {dev}",
                                x_label=axis, y_label="°C", lines=lines))
    bars = [(s.label, s.energy_mj_per_inference) for s in report.variants if s.energy_mj_per_inference is not None]
    marks = {s.label: "estimate" for s in report.variants if s.estimated}
    parts.append(bar_chart(bars, title="Energy per inference by model/target/precision", y_label="mJ",
                           marks=marks))
    for model in sorted({s.model for s in report.variants}):
        pts = [(f"{s.target} {s.precision}", s.latency_ms_p50, s.energy_mj_per_inference) for s in report.variants
               if s.model == model and s.latency_ms_p50 is not None and s.energy_mj_per_inference is not None]
        parts.append(scatter_pareto(pts, title=f"Latency vs energy, {model}", x_label="p50 latency, ms",
                                    y_label="mJ per inference"))
    parts.append(_violations_chart(report))
    parts.append("</div>")
    return parts


def _violations_chart(report: FleetReport) -> str:
    # open violations of each kind over time: +1 when raised, -1 when cleared, held to the end of the period
    end_s = report.until_s or max([t for pts in report.power_series.values() for t, _ in pts] +
                                   [v.cleared_at_s or v.raised_at_s for v in report.violations] + [0.0])
    counts = []
    for kind in sorted({v.kind for v in report.violations}):
        events = sorted([(v.raised_at_s, 1) for v in report.violations if v.kind == kind] +
                        [(v.cleared_at_s, -1) for v in report.violations if v.kind == kind and v.cleared_at_s])
        level, pts = 0, []
        for t, step in events:
            pts.append((t, level))
            level += step
            pts.append((t, level))
        pts.append((max(end_s, pts[-1][0]), level))
        counts.append(Series(kind, pts))
    vt = [t for s in counts for t, _ in s.points]
    v0 = min(vt) if vt else 0.0
    vunit, vunit_s = _time_unit(max(vt) - v0 if vt else 0.0)
    return line_chart([Series(s.label, _since(s.points, v0, vunit_s)) for s in counts],
                      title="Open violations over time", x_label=f"{vunit} since {_when(v0) if vt else '–'} UTC",
                      y_label="open")


def _violations(report: FleetReport) -> list[str]:
    """The table of budget violations in the period."""
    e = escape
    parts: list[str] = []
    parts.append("<h2>Budget violations</h2>")
    parts.append(_table(["device", "kind", "limit", "worst", "raised", "cleared", "limit from", "measured by"],
                        [[e(v.device_id), e(v.kind), f"{fmt(v.limit_value)} {e(v.unit)}",
                          f"{fmt(v.worst_value)} {e(v.unit)}", _when(v.raised_at_s),
                          _when(v.cleared_at_s) if v.cleared_at_s else '<span class=bad>open</span>', e(v.source),
                          e(v.measured_by or "–")]
                         for v in report.violations], left=2, cls="violations"))
    return parts
