"""The fleet report as one self-contained HTML file: inline CSS and SVG, no scripts, no network.

Fleet panels first (energy per day stacked by target with its trend, average power per target against
its budget, open violations over time), then the top-N devices (each linking to its own section), the
variants and their Pareto fronts, the device sections, the latest violations. Its size grows with days,
targets, variants and the plotted devices, not with the fleet.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from edgekit.report.data import FleetReport
from edgekit.report.html_devices import device_sections, top_tables
from edgekit.report.html_parts import since, table, time_unit, when
from edgekit.report.svg import Series, bar_chart, box_plot, line_chart, scatter_pareto, stacked_bars
from edgekit.report.terminal import fmt

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:14px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.est{color:#a05a00;font-weight:600}.bad{color:#b00020;font-weight:600}.note{color:#555;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:12px}section.device{border-top:1px dashed #ddd;margin-top:12px}
svg.chart{border:1px solid #eee;background:#fff}svg text{font-size:10px;fill:#333}
svg .title{font-size:12px;font-weight:600}svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .small{font-size:9px}
"""


def render_html(report: FleetReport) -> str:
    e = escape
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>edgekit fleet report</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>edgekit fleet report</h1><p class=note>Generated {e(report.generated_at)} · period "
             f"{when(report.since_s)} → {when(report.until_s) if report.until_s else 'now'} (UTC). "
             f"Figures marked <span class=est>ESTIMATE</span> come from a power model, not a sensor.</p>"]
    for section in (_totals, _fleet, top_tables, _variants, device_sections, _violations):
        parts.extend(section(report))
    parts.append("</body></html>")
    return "\n".join(parts)


def _totals(report: FleetReport) -> list[str]:
    """Fleet totals: energy and emissions, energy per day stacked by target, the table per UTC day."""
    e = escape
    ch = report.change()
    targets = sorted({s.target or "?" for s in report.devices})
    parts = ["<h2>Fleet totals</h2>",
             f"<p id=totals>{len(report.devices)} devices on {len(targets)} target(s). Energy "
             f"{report.total_energy_kwh:.4g} kWh, emissions {report.total_gco2e:.4g} gCO2e, "
             f"{report.violation_count} budget violation(s) over {len(report.days)} day(s). From "
             f"{e(str(ch['first_day'] or '–'))} to {e(str(ch['last_day'] or '–'))}: total energy per day "
             f"{fmt(ch['energy_kwh_pct'], '+.1f')} %, energy per inference "
             f"{fmt(ch['energy_mj_per_inference_pct'], '+.1f')} %.</p>",
             "<div class=charts>",
             stacked_bars([(d.day, d.energy_kwh_by_target) for d in report.days],
                          title="Fleet energy per day (UTC) by target", y_label="kWh"),
             "</div>",
             table(["day (UTC)", "devices", "kWh", "gCO2e", "median mJ/inference"],
                   [[e(d.day), str(d.devices), fmt(d.energy_kwh, ".4g"), fmt(d.gco2e, ".4g"),
                     fmt(d.energy_mj_per_inference)] for d in report.days], cls="days"),
             f"<p class=note>{e(report.carbon_note)}</p>"]
    return parts


def _fleet(report: FleetReport) -> list[str]:
    """Average power per target against its budget; open violations over time."""
    per_target: dict[str, list[float]] = defaultdict(list)
    for s in report.devices:
        if s.power_w_avg is not None:
            per_target[s.target or "?"].append(s.power_w_avg)
    groups = [(t, vals, report.target_budget_w.get(t)) for t, vals in sorted(per_target.items())]
    return ["<h2>Fleet</h2><div class=charts>",
            box_plot(groups, title="Average power per device, by target, against its budget", y_label="W"),
            _violations_chart(report), "</div>"]


def _violations_chart(report: FleetReport) -> str:
    """Open violations of each kind, hour by hour: +1 when raised, -1 when cleared, held to the period's end."""
    steps: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for kind, hour_s, n in report.violation_steps:
        steps[kind].append((hour_s, n))
    end_s = report.until_s or max([h + 3600 for _, h, _ in report.violation_steps] + [0.0])
    counts = []
    for kind, events in sorted(steps.items()):
        level, pts = 0, []
        for t, step in sorted(events):
            pts.append((t, level))
            level += step
            pts.append((t, level))
        pts.append((max(end_s, pts[-1][0]), level))
        counts.append(Series(kind, pts))
    vt = [t for s in counts for t, _ in s.points]
    v0 = min(vt) if vt else 0.0
    unit, unit_s = time_unit(max(vt) - v0 if vt else 0.0)
    return line_chart([Series(s.label, since(s.points, v0, unit_s)) for s in counts],
                      title="Open violations over time", x_label=f"{unit} since {when(v0) if vt else '–'} UTC",
                      y_label="open")


def _variants(report: FleetReport) -> list[str]:
    """One row per model × target × precision; energy per variant; latency vs energy with its Pareto front."""
    e = escape
    rows = []
    for s in report.variants:
        est = " <span class=est>ESTIMATE</span>" if s.estimated else ""
        rows.append([e(s.label), str(s.devices), str(s.results), fmt(s.latency_ms_p50), fmt(s.latency_ms_p99),
                     fmt(s.power_w_avg), fmt(s.energy_mj_per_inference), fmt(s.energy_mj_per_inference_net),
                     fmt(s.temp_c_max), fmt(s.throttled), fmt(s.battery_drain_pct_h),
                     fmt(s.gco2e_per_1000_inferences), e(s.provenance) + est])
    parts = ["<h2>Models × target × precision</h2>",
             table(["variant", "devices", "results", "p50 ms", "p99 ms", "avg W", "mJ/inf", "net mJ/inf", "max °C",
                    "throttled", "drain %/h", "gCO2e/1k inf", "how measured"], rows, cls="variants"),
             "<div class=charts>"]
    bars = [(s.label, s.energy_mj_per_inference) for s in report.variants if s.energy_mj_per_inference is not None]
    marks = {s.label: "estimate" for s in report.variants if s.estimated}
    parts.append(bar_chart(bars, title="Energy per inference by model/target/precision", y_label="mJ", marks=marks))
    for model in sorted({s.model for s in report.variants}):
        pts = [(f"{s.target} {s.precision}", s.latency_ms_p50, s.energy_mj_per_inference) for s in report.variants
               if s.model == model and s.latency_ms_p50 is not None and s.energy_mj_per_inference is not None]
        parts.append(scatter_pareto(pts, title=f"Latency vs energy, {model}", x_label="p50 latency, ms",
                                    y_label="mJ per inference"))
    parts.append("</div>")
    return parts


def _violations(report: FleetReport) -> list[str]:
    """The latest budget violations of the period."""
    e = escape
    shown = len(report.violations)
    note = (f"<p class=note>The latest {shown} of {report.violation_count}.</p>"
            if shown < report.violation_count else "")
    return ["<h2>Budget violations</h2>", note,
            table(["device", "kind", "limit", "worst", "raised", "cleared", "limit from", "measured by"],
                  [[e(v.device_id), e(v.kind), f"{fmt(v.limit_value)} {e(v.unit)}",
                    f"{fmt(v.worst_value)} {e(v.unit)}", when(v.raised_at_s),
                    when(v.cleared_at_s) if v.cleared_at_s else '<span class=bad>open</span>', e(v.source),
                    e(v.measured_by or "–")] for v in report.violations], left=2, cls="violations")]
