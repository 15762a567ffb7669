"""The fleet report as rich tables in a terminal."""

from __future__ import annotations


from rich.console import Console
from rich.table import Table

from edgekit.termsafe import cells, markup
from edgekit.timefmt import utc_strftime
from edgekit.report.data import FleetReport


def fmt(v, spec: str = ".3g", none: str = "–") -> str:
    if v is None:
        return none
    if isinstance(v, bool):
        return "yes" if v else "no"
    return format(v, spec)


def _when(t_s: float | None) -> str:
    return "–" if t_s is None else utc_strftime(t_s, "%Y-%m-%d %H:%M")


SHOW_ALL_UP_TO = 20  # a fleet this small is listed in full


def _device_table(title: str, devices) -> Table:
    t = Table(title=title, title_justify="left")
    for col in ("device", "target", "state", "last seen (UTC)", "results", "p50 ms", "p99 ms", "avg W", "peak W",
                "mJ/inf", "net mJ/inf", "max °C", "throttled", "drain %/h", "violations open/past",
                "kWh/day", "gCO2e/day"):
        t.add_column(col, overflow="fold")
    for d in devices:
        t.add_row(*cells(d.device_id, d.target or "–", d.state or "–", _when(d.last_seen_s), str(d.results),
                  fmt(d.latency_ms_p50), fmt(d.latency_ms_p99), fmt(d.power_w_avg), fmt(d.power_w_peak),
                  fmt(d.energy_mj_per_inference), fmt(d.energy_mj_per_inference_net), fmt(d.temp_c_max),
                  fmt(d.throttled), fmt(d.battery_drain_pct_h), f"{d.open_violations}/{d.past_violations}",
                  fmt(d.energy_kwh_per_day), fmt(d.gco2e_per_day)))
    return t


def print_report(report: FleetReport, console: Console | None = None, *, all_devices: bool = False) -> None:
    """Counts, the top-N devices by energy, violations and temperature (every device with ``all_devices`` or
    for a small fleet), the variants, the days and the latest violations."""
    c = console or Console()
    if not c.is_terminal and c.width < 200:  # piped or logged: keep rows on one line rather than fold them
        c = Console(width=200)
    period = f"{_when(report.since_s)} → {_when(report.until_s) if report.until_s else 'now'}"
    c.print(f"[bold]edgekit fleet report[/bold]  generated {report.generated_at}  period {period}")
    targets: dict[str, int] = {}
    for d in report.devices:
        targets[d.target or "?"] = targets.get(d.target or "?", 0) + 1
    c.print(f"{len(report.devices)} devices ({', '.join(f'{n} {markup(t)}' for t, n in sorted(targets.items())) or 'none'}), "
            f"{sum(1 for d in report.devices if d.open_violations)} with open budget violations, "
            f"{report.violation_count} violation(s) in the period")
    full = all_devices or len(report.devices) <= SHOW_ALL_UP_TO
    by_key = {(d.fleet, d.device_id): d for d in report.devices}
    if full:
        shown = report.devices
        c.print(_device_table("Devices", shown))
    else:
        shown = [by_key[k] for k in report.plotted if k in by_key]
        for by, keys in report.top.items():
            c.print(_device_table(f"Top {len(keys)} devices by {by}", [by_key[k] for k in keys]))
        c.print(f"[dim]{len(report.devices) - len(shown)} more devices: --all lists every one, --json gives "
                "them all[/dim]")

    v = Table(title="Models × target × precision", title_justify="left")
    for col in ("variant", "devices", "results", "p50 ms", "p99 ms", "avg W", "mJ/inf", "net mJ/inf", "max °C",
                "throttled", "drain %/h", "gCO2e/1k inf"):
        v.add_column(col, overflow="fold")
    for s in report.variants:
        v.add_row(*cells(s.label, str(s.devices), str(s.results), fmt(s.latency_ms_p50), fmt(s.latency_ms_p99),
                  fmt(s.power_w_avg), fmt(s.energy_mj_per_inference), fmt(s.energy_mj_per_inference_net),
                  fmt(s.temp_c_max), fmt(s.throttled), fmt(s.battery_drain_pct_h),
                  fmt(s.gco2e_per_1000_inferences, ".3g")))
    c.print(v)

    how = Table(title="How each figure was measured (power source, scope, sample rate, integration, validity flags)",
                title_justify="left")
    how.add_column("device / variant", no_wrap=True)
    how.add_column("how measured", overflow="fold")
    for d in shown:
        how.add_row(*cells(d.device_id, d.provenance))
    for s in report.variants:
        how.add_row(*cells(s.label, s.provenance))
    c.print(how)

    days = Table(title="Fleet energy per day (UTC)", title_justify="left")
    for col in ("day", "devices", "kWh", "gCO2e", "median mJ/inf"):
        days.add_column(col)
    for d in report.days:
        days.add_row(*cells(d.day, str(d.devices), fmt(d.energy_kwh, ".4g"), fmt(d.gco2e, ".4g"),
                     fmt(d.energy_mj_per_inference)))
    c.print(days)
    ch = report.change()
    c.print(f"Total: {report.total_energy_kwh:.4g} kWh, {report.total_gco2e:.4g} gCO2e over {len(report.days)} day(s). "
            f"Change {ch['first_day'] or '–'} → {ch['last_day'] or '–'}: total energy "
            f"{fmt(ch['energy_kwh_pct'], '+.1f')} %, energy per inference {fmt(ch['energy_mj_per_inference_pct'], '+.1f')} %.")
    c.print(f"[dim]{report.carbon_note}[/dim]")

    vt = Table(title="Budget violations", title_justify="left")
    for col in ("device", "kind", "limit", "worst", "raised (UTC)", "cleared (UTC)", "limit from", "measured by"):
        vt.add_column(col, overflow="fold")
    listed = report.violations if full else report.violations[-SHOW_ALL_UP_TO:]
    if len(listed) < report.violation_count:
        vt.title = f"Budget violations (the latest {len(listed)} of {report.violation_count})"
    for x in listed:
        vt.add_row(*cells(x.device_id, x.kind, f"{fmt(x.limit_value)} {x.unit}", f"{fmt(x.worst_value)} {x.unit}",
                   _when(x.raised_at_s), _when(x.cleared_at_s) if x.cleared_at_s else "open", x.source,
                   x.measured_by or "–"))
    c.print(vt)
