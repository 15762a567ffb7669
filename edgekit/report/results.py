"""The bench results' side of the report: medians per device and per model × target × precision.

Results are bench runs (a few per device per day, far fewer than telemetry messages): unlike telemetry they
are still read as rows, documents included, and their medians computed here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from edgekit.fleet.collector.store.rows import ResultRow
from edgekit.report.carbon import grams_per_1000_inferences


def median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def maximum(values) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def any_true(values) -> bool | None:
    vals = [v for v in values if v is not None]
    return any(vals) if vals else None


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


def variants(results: list[ResultRow], intensity_of) -> list[VariantSummary]:
    """Per model × target × precision: medians over every result of that variant."""
    out: list[VariantSummary] = []
    groups: dict[tuple, list[ResultRow]] = defaultdict(list)
    for r in results:
        groups[(r.model or "?", r.target or "?", r.precision or "?")].append(r)
    for (model, target, precision), rs in sorted(groups.items()):
        energy = median(r.energy_mj_per_inference for r in rs)
        # carbon per 1,000 inferences: each result at its own device's intensity, then the median
        grams = median(grams_per_1000_inferences(r.energy_mj_per_inference, intensity_of(r.device_id))
                       for r in rs if r.energy_mj_per_inference is not None)
        out.append(VariantSummary(
            model=model, target=target, precision=precision, devices=len({r.device_id for r in rs}), results=len(rs),
            latency_ms_p50=median(r.latency_ms_p50 for r in rs), latency_ms_p99=median(r.latency_ms_p99 for r in rs),
            power_w_avg=median(r.power_w_avg for r in rs), energy_mj_per_inference=energy,
            energy_mj_per_inference_net=median(r.energy_mj_per_inference_net for r in rs),
            temp_c_max=maximum(r.temp_c_max for r in rs), throttled=any_true(r.throttled for r in rs),
            battery_drain_pct_h=median(r.battery_drain_pct_h for r in rs), gco2e_per_1000_inferences=grams,
            estimated=any(bool(r.estimated) for r in rs), provenance=result_provenance(rs[-1])))
    return out
