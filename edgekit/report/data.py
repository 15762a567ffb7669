"""Figures of the fleet report, computed from the store.

Everything here is plain arithmetic over stored rows, so a seeded database
gives exact expected values:

- per device: medians over its bench results in the period (latency, energy
  per inference), a time-weighted mean of its telemetry power, maxima of
  temperature, any throttling, open and past violations;
- per model × target × precision: medians over every result of that variant;
- per UTC day: fleet energy from telemetry (``energy_j``, else
  ``power_w_avg × window_s``) and the median energy per inference of that
  day's results, so a report shows both the total and the efficiency;
- carbon: energy × the grid intensity of each device's region (an estimate
  from annual averages, labelled so).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from edgekit.fleet.collector.store.base import SqlStore
from edgekit.fleet.collector.store.rows import ResultRow, TelemetryRow, ViolationRow
from edgekit.report.carbon import GridIntensity, grams_co2e, grams_per_1000_inferences, load_grid_table
from edgekit.report.carbon_config import CarbonConfig
from edgekit.timefmt import utc_strftime

J_PER_KWH = 3.6e6
S_PER_DAY = 86400.0


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _max(values) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def _any(values) -> bool | None:
    vals = [v for v in values if v is not None]
    return any(vals) if vals else None


def telemetry_energy_j(t: TelemetryRow) -> float | None:
    if t.energy_j is not None:
        return t.energy_j
    if t.power_w_avg is not None:
        return t.power_w_avg * t.window_s
    return None


def result_provenance(r: ResultRow) -> str:
    """One line: sensor (or estimate), scope, sample rate, validity flags."""
    doc = r.document or {}
    power = doc.get("power") or {}
    energy = doc.get("energy") or {}
    parts = []
    if power:
        est = " (ESTIMATE)" if power.get("estimated") else ""
        hz = power.get("achieved_hz") or power.get("sample_hz")
        parts.append(f"{power.get('source', '?')}{est}, {power.get('scope', '?')} scope"
                     + (f", {hz:.3g} Hz" if isinstance(hz, (int, float)) else ""))
    else:
        parts.append("no power source")
    if energy.get("method"):
        parts.append(energy["method"])
    flags = [f.get("code", "?") for f in (doc.get("validity") or {}).get("flags", []) if isinstance(f, dict)]
    if flags:
        parts.append("flags: " + ",".join(flags))
    return "; ".join(parts)


def _day(t_s: float) -> str:
    return utc_strftime(t_s, "%Y-%m-%d")


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
class VariantSummary:
    model: str
    target: str
    precision: str
    devices: int
    results: int
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    power_w_avg: float | None
    energy_mj_per_inference: float | None
    energy_mj_per_inference_net: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_drain_pct_h: float | None
    gco2e_per_1000_inferences: float | None
    estimated: bool
    provenance: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.target} {self.precision}"


@dataclass(frozen=True)
class DayTotal:
    day: str
    energy_kwh: float
    devices: int
    energy_mj_per_inference: float | None  # median of that day's results
    gco2e: float


@dataclass
class FleetReport:
    generated_at: str
    since_s: float | None
    until_s: float | None
    devices: list[DeviceSummary]
    variants: list[VariantSummary]
    days: list[DayTotal]
    violations: list[ViolationRow]
    power_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    temp_series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    power_budget_w: dict[str, float] = field(default_factory=dict)
    thermal_limit_c: dict[str, float] = field(default_factory=dict)
    carbon_note: str = ""

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


def build_report(store: SqlStore, *, since_s: float | None = None, until_s: float | None = None,
                 carbon: CarbonConfig | None = None, budgets=None, now_s: float | None = None) -> FleetReport:
    carbon = carbon or CarbonConfig()
    table = load_grid_table()
    results = store.results(since_s, until_s)
    telemetry = store.telemetry(since_s, until_s)
    violations = store.violations(since_s, until_s)
    by_dev_r: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)  # a device is (fleet, device_id)
    by_dev_t: dict[tuple[str, str], list[TelemetryRow]] = defaultdict(list)
    for r in results:
        by_dev_r[r.fleet, r.device_id].append(r)
    for t in telemetry:
        by_dev_t[t.fleet, t.device_id].append(t)
    intensities: dict[str, GridIntensity] = {}

    def intensity_of(device_id: str) -> GridIntensity:
        return intensities.get(device_id) or carbon.intensity_for(device_id, table)

    devices: list[DeviceSummary] = []
    power_series, temp_series, budget_w, limit_c = {}, {}, {}, {}
    for d in store.devices():
        rs, ts = by_dev_r.get((d.fleet, d.device_id), []), by_dev_t.get((d.fleet, d.device_id), [])
        if not rs and not ts and since_s is not None and d.last_seen_s < since_s:
            continue
        intensity = intensities.setdefault(d.device_id, carbon.intensity_for(d.device_id, table))
        own = [v for v in violations if (v.fleet, v.device_id) == (d.fleet, d.device_id)]
        devices.append(_device_summary(d, rs, ts, own, intensity))
        power_series[d.device_id] = [(t.sent_at_s, t.power_w_avg) for t in ts if t.power_w_avg is not None]
        temp_series[d.device_id] = [(t.sent_at_s, t.temp_c_max) for t in ts if t.temp_c_max is not None]
        if budgets is not None:
            limits = budgets.limits(fleet=d.fleet, device_id=d.device_id, target=d.target)
            if limits.avg_power_w is not None:
                budget_w[d.device_id] = limits.avg_power_w
            if limits.max_temp_c is not None:
                limit_c[d.device_id] = limits.max_temp_c

    variants = _variants(results, intensity_of)
    days = _days(telemetry, results, intensity_of)
    regions = sorted({i.label for i in intensities.values()})
    note = ("Carbon figures are estimates: measured energy × annual average grid intensity. "
            + " | ".join(regions))
    generated = datetime.fromtimestamp(now_s, timezone.utc) if now_s is not None else datetime.now(timezone.utc)
    return FleetReport(generated_at=generated.strftime("%Y-%m-%dT%H:%M:%SZ"), since_s=since_s, until_s=until_s,
                       devices=devices, variants=variants, days=days, violations=violations,
                       power_series=power_series, temp_series=temp_series, power_budget_w=budget_w,
                       thermal_limit_c=limit_c, carbon_note=note)


def _device_summary(d, rs: list[ResultRow], ts: list[TelemetryRow], dev_viol: list[ViolationRow],
                    intensity: GridIntensity) -> DeviceSummary:
    """One device over the period: its results' medians, its telemetry's energy and power, its violations."""
    observed_s = sum(t.window_s for t in ts)
    energies = [e for e in (telemetry_energy_j(t) for t in ts) if e is not None]
    energy_j = sum(energies) if energies else None
    weighted = [(t.power_w_avg, t.window_s) for t in ts if t.power_w_avg is not None and t.window_s > 0]
    if weighted:
        power_avg = sum(p * w for p, w in weighted) / sum(w for _, w in weighted)
    else:
        power_avg = _median(r.power_w_avg for r in rs)
    per_day_kwh = (energy_j / J_PER_KWH) / (observed_s / S_PER_DAY) if energy_j is not None and observed_s else None
    estimated = any(bool(t.estimated) for t in ts) or any(bool(r.estimated) for r in rs)
    if rs:
        provenance = result_provenance(rs[-1])
    elif ts:
        last = ts[-1]
        provenance = f"{last.power_source or 'no power source'}{' (ESTIMATE)' if last.estimated else ''}, " \
                     f"{last.scope or '?'} scope, telemetry every {last.window_s:g} s"
    else:
        provenance = "no measurements in this period"
    return DeviceSummary(
        device_id=d.device_id, fleet=d.fleet, target=d.target, state=d.state, last_seen_s=d.last_seen_s,
        results=len(rs),
        latency_ms_p50=_median(r.latency_ms_p50 for r in rs), latency_ms_p99=_median(r.latency_ms_p99 for r in rs),
        power_w_avg=power_avg,
        power_w_peak=_max([t.power_w_peak for t in ts] + [r.power_w_peak for r in rs]),
        energy_mj_per_inference=_median(r.energy_mj_per_inference for r in rs),
        energy_mj_per_inference_net=_median(r.energy_mj_per_inference_net for r in rs),
        temp_c_max=_max([t.temp_c_max for t in ts] + [r.temp_c_max for r in rs]),
        throttled=_any([t.throttled for t in ts] + [r.throttled for r in rs]),
        battery_drain_pct_h=_median([t.battery_drain_pct_h for t in ts] + [r.battery_drain_pct_h for r in rs]),
        open_violations=sum(1 for v in dev_viol if v.open),
        past_violations=sum(1 for v in dev_viol if not v.open),
        observed_s=observed_s,
        energy_kwh=energy_j / J_PER_KWH if energy_j is not None else None,
        energy_kwh_per_day=per_day_kwh,
        gco2e_per_day=per_day_kwh * intensity.gco2e_per_kwh if per_day_kwh is not None else None,
        intensity=intensity, estimated=estimated, provenance=provenance)


def _variants(results: list[ResultRow], intensity_of) -> list[VariantSummary]:
    """Per model × target × precision: medians over every result of that variant."""
    variants: list[VariantSummary] = []
    groups: dict[tuple, list[ResultRow]] = defaultdict(list)
    for r in results:
        groups[(r.model or "?", r.target or "?", r.precision or "?")].append(r)
    for (model, target, precision), rs in sorted(groups.items()):
        energy = _median(r.energy_mj_per_inference for r in rs)
        # carbon per 1,000 inferences: each result at its own device's intensity, then the median
        grams = _median(grams_per_1000_inferences(r.energy_mj_per_inference, intensity_of(r.device_id))
                        for r in rs if r.energy_mj_per_inference is not None)
        variants.append(VariantSummary(
            model=model, target=target, precision=precision, devices=len({r.device_id for r in rs}), results=len(rs),
            latency_ms_p50=_median(r.latency_ms_p50 for r in rs), latency_ms_p99=_median(r.latency_ms_p99 for r in rs),
            power_w_avg=_median(r.power_w_avg for r in rs), energy_mj_per_inference=energy,
            energy_mj_per_inference_net=_median(r.energy_mj_per_inference_net for r in rs),
            temp_c_max=_max(r.temp_c_max for r in rs), throttled=_any(r.throttled for r in rs),
            battery_drain_pct_h=_median(r.battery_drain_pct_h for r in rs), gco2e_per_1000_inferences=grams,
            estimated=any(bool(r.estimated) for r in rs), provenance=result_provenance(rs[-1])))
    return variants


def _days(telemetry: list[TelemetryRow], results: list[ResultRow], intensity_of) -> list[DayTotal]:
    """Per UTC day: fleet energy and carbon from telemetry, the median energy per inference of the results."""
    day_energy: dict[str, float] = defaultdict(float)
    day_grams: dict[str, float] = defaultdict(float)
    day_devices: dict[str, set] = defaultdict(set)
    for t in telemetry:
        e = telemetry_energy_j(t)
        if e is None:
            continue
        day = _day(t.sent_at_s)
        day_energy[day] += e
        day_devices[day].add(t.device_id)
        day_grams[day] += grams_co2e(e, intensity_of(t.device_id))
    day_eff: dict[str, list[float]] = defaultdict(list)
    for r in results:
        if r.energy_mj_per_inference is not None:
            day_eff[_day(r.sent_at_s)].append(r.energy_mj_per_inference)
    return [DayTotal(day=day, energy_kwh=day_energy.get(day, 0.0) / J_PER_KWH, devices=len(day_devices.get(day, ())),
                     energy_mj_per_inference=_median(day_eff.get(day, [])), gco2e=day_grams.get(day, 0.0))
            for day in sorted(set(day_energy) | set(day_eff))]
