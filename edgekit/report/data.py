"""Figures of the fleet report, computed from the store.

Telemetry is read only as aggregates of its rollups (``queries.py``): the report's cost grows with
devices × days, not with messages. Everything is plain arithmetic, so a seeded database gives exact values:

- per device: medians over its bench results in the period (latency, energy per inference); from its
  telemetry rollups the time-weighted mean power, peak power, maximum temperature, any throttling, the
  time-weighted battery drain (results' median when no telemetry has one), energy; open and past violations;
- per model × target × precision: medians over every result of that variant (``results.py``);
- per UTC day: fleet energy from telemetry (``energy_j``, else ``power_w_avg × window_s``), split by
  target, and the median energy per inference of that day's results;
- carbon: energy × the grid intensity of each device's region (an estimate from annual averages);
- top-N devices by energy, by violations, by temperature: the devices the HTML and terminal detail, with
  the ``--device`` ones; only those get power and temperature series (minute buckets for a period of up
  to two days, else hours).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from edgekit.fleet.collector.store.base import SqlStore
from edgekit.fleet.collector.store.rows import ResultRow, ViolationRow
from edgekit.report import queries
from edgekit.report.carbon import GridIntensity, grams_co2e, load_grid_table
from edgekit.report.carbon_config import CarbonConfig
from edgekit.report.results import (VariantSummary, any_true, maximum, median, result_provenance,
                                    variants)
from edgekit.timefmt import utc_strftime

J_PER_KWH = 3.6e6
S_PER_DAY = 86400.0
DEFAULT_TOP_N = 10
VIOLATIONS_LISTED = 200
TOP_BY = ("energy", "violations", "temperature")


@dataclass(frozen=True)
class DeviceSummary:
    device_id: str
    fleet: str
    target: str | None
    state: str | None
    last_seen_s: float
    results: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    power_w_avg: float | None
    power_w_peak: float | None
    energy_mj_per_inference: float | None
    energy_mj_per_inference_net: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_drain_pct_h: float | None
    open_violations: int
    past_violations: int
    observed_s: float
    energy_kwh: float | None
    energy_kwh_per_day: float | None
    gco2e_per_day: float | None
    intensity: GridIntensity
    estimated: bool
    provenance: str


@dataclass(frozen=True)
class DayTotal:
    day: str
    energy_kwh: float
    devices: int
    energy_mj_per_inference: float | None  # median of that day's results
    gco2e: float
    energy_kwh_by_target: dict[str, float] = field(default_factory=dict)


@dataclass
class FleetReport:
    generated_at: str
    since_s: float | None
    until_s: float | None
    devices: list[DeviceSummary]
    variants: list[VariantSummary]
    days: list[DayTotal]
    violations: list[ViolationRow]          # the latest VIOLATIONS_LISTED of the period, oldest first
    power_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # plotted devices only
    temp_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    power_budget_w: dict[str, float] = field(default_factory=dict)
    thermal_limit_c: dict[str, float] = field(default_factory=dict)
    carbon_note: str = ""
    violation_count: int = 0                # all violations of the period
    violation_steps: list[tuple[str, float, int]] = field(default_factory=list)  # (kind, hour_s, +raised/-cleared)
    top: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # by -> [(fleet, device_id)]
    plotted: list[tuple[str, str]] = field(default_factory=list)         # top-N and --device, in that order
    target_budget_w: dict[str, float] = field(default_factory=dict)
    series_bucket_s: float = 60.0

    @property
    def total_energy_kwh(self) -> float:
        return sum(d.energy_kwh for d in self.days)

    @property
    def total_gco2e(self) -> float:
        return sum(d.gco2e for d in self.days)

    def change(self) -> dict:
        """First vs last day of the period: total energy and energy per inference."""
        if len(self.days) < 2:
            return {"energy_kwh_pct": None, "energy_mj_per_inference_pct": None,
                    "first_day": self.days[0].day if self.days else None,
                    "last_day": self.days[-1].day if self.days else None}
        first, last = self.days[0], self.days[-1]

        def pct(a, b):
            return None if a in (None, 0) or b is None else (b - a) / a * 100.0

        return {"first_day": first.day, "last_day": last.day,
                "energy_kwh_pct": pct(first.energy_kwh, last.energy_kwh),
                "energy_mj_per_inference_pct": pct(first.energy_mj_per_inference, last.energy_mj_per_inference)}


def _day(t_s: float) -> str:
    return utc_strftime(t_s, "%Y-%m-%d")


def build_report(store: SqlStore, *, since_s: float | None = None, until_s: float | None = None,
                 carbon: CarbonConfig | None = None, budgets=None, now_s: float | None = None,
                 top_n: int = DEFAULT_TOP_N, devices: tuple[str, ...] = ()) -> FleetReport:
    """The report of the period; ``devices`` (ids) are plotted besides the top ``top_n`` of each list."""
    carbon = carbon or CarbonConfig()
    table = load_grid_table()
    results = store.results(since_s, until_s)
    telemetry = {(t.fleet, t.device_id): t for t in queries.device_telemetry(store, since_s, until_s)}
    counts = queries.violation_counts(store, since_s, until_s)
    by_dev_r: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)  # a device is (fleet, device_id)
    for r in results:
        by_dev_r[r.fleet, r.device_id].append(r)
    intensities: dict[str, GridIntensity] = {}

    def intensity_of(device_id: str) -> GridIntensity:
        found = intensities.get(device_id)
        if found is None:
            found = intensities[device_id] = carbon.intensity_for(device_id, table)
        return found

    summaries: list[DeviceSummary] = []
    for d in store.devices():
        rs, ts = by_dev_r.get((d.fleet, d.device_id), []), telemetry.get((d.fleet, d.device_id))
        if not rs and ts is None and since_s is not None and d.last_seen_s < since_s:
            continue
        summaries.append(_device_summary(d, rs, ts, counts.get((d.fleet, d.device_id), (0, 0)),
                                         intensity_of(d.device_id)))
    top = _top(summaries, top_n)
    plotted = list(dict.fromkeys([k for by in TOP_BY for k in top[by]] +
                                 [(s.fleet, s.device_id) for s in summaries if s.device_id in devices]))
    report_days = _days(store, since_s, until_s, summaries, results, intensity_of)
    count, listed = queries.recent_violations(store, since_s, until_s, VIOLATIONS_LISTED)
    regions = sorted({i.label for i in intensities.values()})
    note = ("Carbon figures are estimates: measured energy × annual average grid intensity. "
            + " | ".join(regions))
    generated = datetime.fromtimestamp(now_s, timezone.utc) if now_s is not None else datetime.now(timezone.utc)
    report = FleetReport(generated_at=generated.strftime("%Y-%m-%dT%H:%M:%SZ"), since_s=since_s, until_s=until_s,
                         devices=summaries, variants=variants(results, intensity_of), days=report_days,
                         violations=listed, carbon_note=note, violation_count=count,
                         violation_steps=queries.violation_timeline(store, since_s, until_s), top=top,
                         plotted=plotted)
    _add_series(store, report, since_s, until_s)
    if budgets is not None:
        _add_budgets(report, budgets)
    return report


def _device_summary(d, rs: list[ResultRow], ts: queries.DeviceTelemetry | None, violations: tuple[int, int],
                    intensity: GridIntensity) -> DeviceSummary:
    """One device over the period: its results' medians, its telemetry rollups' energy and power, its violations."""
    observed_s = ts.covered_s if ts else 0.0
    energy_j = ts.energy_j if ts and ts.energy_samples else None
    power_avg = ts.power_ws / ts.power_s if ts and ts.power_s > 0 else median(r.power_w_avg for r in rs)
    per_day_kwh = (energy_j / J_PER_KWH) / (observed_s / S_PER_DAY) if energy_j is not None and observed_s else None
    throttled = any_true(([ts.throttled_n > 0] if ts and ts.throttled_known else []) + [r.throttled for r in rs])
    if ts and ts.battery_s > 0:
        drain = ts.battery_drain_pct / ts.battery_s * 3600.0
    else:
        drain = median(r.battery_drain_pct_h for r in rs)
    if rs:
        provenance = result_provenance(rs[-1])
    elif ts:
        provenance = f"{ts.power_source or 'no power source'}{' (ESTIMATE)' if ts.last_estimated else ''}, " \
                     f"{ts.scope or '?'} scope, telemetry every {ts.window_s or 0:g} s"
    else:
        provenance = "no measurements in this period"
    return DeviceSummary(
        device_id=d.device_id, fleet=d.fleet, target=d.target, state=d.state, last_seen_s=d.last_seen_s,
        results=len(rs),
        latency_ms_p50=median(r.latency_ms_p50 for r in rs), latency_ms_p99=median(r.latency_ms_p99 for r in rs),
        power_w_avg=power_avg,
        power_w_peak=maximum([ts.power_w_peak if ts else None] + [r.power_w_peak for r in rs]),
        energy_mj_per_inference=median(r.energy_mj_per_inference for r in rs),
        energy_mj_per_inference_net=median(r.energy_mj_per_inference_net for r in rs),
        temp_c_max=maximum([ts.temp_c_max if ts else None] + [r.temp_c_max for r in rs]),
        throttled=throttled, battery_drain_pct_h=drain,
        open_violations=violations[0], past_violations=violations[1], observed_s=observed_s,
        energy_kwh=energy_j / J_PER_KWH if energy_j is not None else None,
        energy_kwh_per_day=per_day_kwh,
        gco2e_per_day=per_day_kwh * intensity.gco2e_per_kwh if per_day_kwh is not None else None,
        intensity=intensity, estimated=bool(ts and ts.estimated_n) or any(bool(r.estimated) for r in rs),
        provenance=provenance)


def _top(summaries: list[DeviceSummary], n: int) -> dict[str, list[tuple[str, str]]]:
    """The ``n`` devices with the most energy, violations (open first), the highest temperature; ties by id."""
    keys = {"energy": lambda s: -(s.energy_kwh or 0.0),
            "violations": lambda s: (-s.open_violations, -(s.open_violations + s.past_violations)),
            "temperature": lambda s: -(s.temp_c_max if s.temp_c_max is not None else -1e9)}
    present = {"energy": lambda s: s.energy_kwh is not None, "violations": lambda s: s.open_violations + s.past_violations,
               "temperature": lambda s: s.temp_c_max is not None}
    out = {}
    for by in TOP_BY:
        ranked = sorted((s for s in summaries if present[by](s)), key=lambda s: (keys[by](s), s.fleet, s.device_id))
        out[by] = [(s.fleet, s.device_id) for s in ranked[:n]]
    return out


def _days(store, since_s, until_s, summaries: list[DeviceSummary], results: list[ResultRow],
          intensity_of) -> list[DayTotal]:
    """Per UTC day: fleet energy and carbon from the rollups (by target too), the median energy per inference."""
    target = {(s.fleet, s.device_id): s.target or "?" for s in summaries}
    day_energy: dict[float, float] = defaultdict(float)
    day_grams: dict[float, float] = defaultdict(float)
    day_devices: dict[float, int] = defaultdict(int)
    by_target: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for fleet, device_id, day_s, energy_j, n in queries.device_day_energy(store, since_s, until_s):
        if not n:
            continue
        day_energy[day_s] += energy_j
        day_devices[day_s] += 1
        day_grams[day_s] += grams_co2e(energy_j, intensity_of(device_id))
        by_target[day_s][target.get((fleet, device_id), "?")] += energy_j / J_PER_KWH
    names = {_day(d): d for d in day_energy}
    day_eff: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if r.energy_mj_per_inference is not None:
            day_eff[_day(r.sent_at_s)].append(r.energy_mj_per_inference)
    out = []
    for day in sorted(set(names) | set(day_eff)):
        d = names.get(day)
        out.append(DayTotal(day=day, energy_kwh=day_energy.get(d, 0.0) / J_PER_KWH, devices=day_devices.get(d, 0),
                            energy_mj_per_inference=median(day_eff.get(day, [])), gco2e=day_grams.get(d, 0.0),
                            energy_kwh_by_target=dict(sorted(by_target.get(d, {}).items()))))
    return out


def _add_series(store, report: FleetReport, since_s, until_s) -> None:
    """Power and temperature per bucket for the plotted devices: minutes for up to two days, else hours."""
    if not report.plotted:
        return
    first = min((s.last_seen_s - s.observed_s for s in report.devices), default=0.0)
    span_s = (until_s or max(s.last_seen_s for s in report.devices)) - (since_s if since_s is not None else first)
    bucket = "minute" if span_s <= 2 * S_PER_DAY else "hour"
    report.series_bucket_s = 60.0 if bucket == "minute" else 3600.0
    series = queries.device_series(store, report.plotted, since_s, until_s, bucket)
    for (_, device_id), points in series.items():
        report.power_series[device_id] = [(t, p) for t, p, _ in points if p is not None]
        report.temp_series[device_id] = [(t, c) for t, _, c in points if c is not None]


def _add_budgets(report: FleetReport, budgets) -> None:
    """Budget lines: each plotted device's own, and each target's (no device or fleet override)."""
    by_key = {(s.fleet, s.device_id): s for s in report.devices}
    for key in report.plotted:
        s = by_key[key]
        limits = budgets.limits(fleet=s.fleet, device_id=s.device_id, target=s.target)
        if limits.avg_power_w is not None:
            report.power_budget_w[s.device_id] = limits.avg_power_w
        if limits.max_temp_c is not None:
            report.thermal_limit_c[s.device_id] = limits.max_temp_c
    for t in sorted({s.target for s in report.devices if s.target}):
        limits = budgets.limits(fleet="", device_id="", target=t)
        if limits.avg_power_w is not None:
            report.target_budget_w[t] = limits.avg_power_w
