"""Validity flags: when a figure should not be trusted, the result says so, and why.

Severity ``invalid`` means the energy figures are not trustworthy as measured
(``validity.energy_valid`` is false); ``warning`` means they hold with a caveat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MIN_WINDOW_S = 10.0
MIN_SAMPLES = 10
#: In --rate mode each arrival period must hold at least two samples (Nyquist on the burst pattern).
MAX_INTERVAL_PER_PERIOD = 0.5
IDLE_DRIFT_FRAC = 0.10
MAX_UNCERTAINTY_FRAC = 0.10

CODES = ("window_short", "sparse_sampling", "estimated_source", "no_power_sensor", "throttled", "idle_drift",
         "no_idle_baseline", "window_not_covered", "high_uncertainty", "missed_deadlines", "provider_fallback",
         "samples_decimated", "sampler_late", "implausible_readings", "sensor_gap", "undersampled",
         "emulated")
#: More than this share of readings implausible, or of the window in gaps: the energy figure is invalid.
MAX_BAD_FRAC = 0.05


@dataclass(frozen=True)
class Flag:
    code: str
    severity: str   # "invalid" | "warning"
    message: str

    def to_json(self) -> dict:
        return asdict(self)


def evaluate(*, window_s: float, power: dict | None, energy, thermal, rate: dict | None,
             missing_providers: list[str], idle_s: float) -> list[Flag]:
    """``power``: the result's power section (None when there is no sensor); ``energy``: an EnergyReport."""
    flags: list[Flag] = []
    if window_s < MIN_WINDOW_S:
        flags.append(Flag("window_short", "invalid",
                          f"measured window {window_s:.1f} s < {MIN_WINDOW_S:g} s; use --duration {MIN_WINDOW_S:g} or more"))
    if power is None:
        flags.append(Flag("no_power_sensor", "invalid", "no power sensor: no energy figures"))
    else:
        if power.get("estimated"):
            flags.append(Flag("estimated_source", "warning",
                              f"power is an estimate ({power['description']}), not a measurement"))
        n = energy.run.samples if energy else 0
        iv = energy.run.mean_interval_s if energy else None
        if n < MIN_SAMPLES:
            flags.append(Flag("sparse_sampling", "invalid",
                              f"{n} power samples in the window (< {MIN_SAMPLES}); lengthen the run or raise --sample-hz"))
        elif rate and iv is not None and iv > MAX_INTERVAL_PER_PERIOD / rate["rate_hz"]:
            flags.append(Flag("sparse_sampling", "invalid",
                              f"sample interval {iv * 1e3:.0f} ms > half the arrival period "
                              f"({500 / rate['rate_hz']:.0f} ms): bursts are aliased; raise --sample-hz"))
        if energy is not None:
            if not energy.run.covered:
                flags.append(Flag("window_not_covered", "invalid",
                                  "power samples do not span the whole window; the edges were extrapolated"))
            if energy.idle_power_w is None:
                flags.append(Flag("no_idle_baseline", "warning",
                                  "no idle baseline (--idle 0): net energy per inference is not available"))
            elif energy.idle_drift_frac is not None and energy.idle_drift_frac > IDLE_DRIFT_FRAC:
                flags.append(Flag("idle_drift", "warning",
                                  f"idle power moved {energy.idle_drift_frac * 100:.0f} % between before and after the run "
                                  f"({energy.idle_before.avg_power_w:.3f} -> {energy.idle_after.avg_power_w:.3f} W); "
                                  "net energy is less certain"))
            if getattr(energy.run, "undersampled", False):
                flags.append(Flag("undersampled", "warning",
                                  "the power source is slower than the load's structure (burst length or half its "
                                  f"period); the uncertainty is widened for it ({energy.run.basis}); raise --sample-hz"))
            frac = energy.uncertainty_frac
            if frac is not None and frac > MAX_UNCERTAINTY_FRAC:
                flags.append(Flag("high_uncertainty", "warning",
                                  f"energy uncertainty is {frac * 100:.0f} % of the total; raise --sample-hz or --duration"))
        flags += _quality_flags(power, window_s)
        if power.get("decimation", 1) > 1:
            flags.append(Flag("samples_decimated", "warning",
                              f"the sampler kept every {power['decimation']}th sample to bound memory"))
        if power.get("late_ticks", 0) > 0.1 * max(1, power.get("samples_read", 1)):
            flags.append(Flag("sampler_late", "warning",
                              f"{power['late_ticks']} of {power['samples_read']} sensor reads overran their period; "
                              "the achieved rate is below --sample-hz"))
    if thermal is not None and thermal.throttled:
        flags.append(Flag("throttled", "invalid", "the device throttled: " + "; ".join(thermal.reasons)))
    if rate and rate.get("missed_deadlines"):
        flags.append(Flag("missed_deadlines", "warning",
                          f"{rate['missed_deadlines']} inferences overran their arrival period "
                          f"({rate['dropped_arrivals']} arrivals dropped)"))
    if missing_providers:
        flags.append(Flag("provider_fallback", "warning",
                          f"execution provider(s) {', '.join(missing_providers)} unavailable; ran on the fallback"))
    return flags


def _quality_flags(power: dict, window_s: float) -> list[Flag]:
    """Readings left out as physically implausible, and gaps where the sensor did not answer."""
    out: list[Flag] = []
    bad, reads = power.get("implausible_readings", 0), max(1, power.get("samples_read", 1))
    examples = "; ".join(power.get("implausible_examples", [])[:2])
    if bad:
        out.append(Flag("implausible_readings", "invalid" if bad > MAX_BAD_FRAC * reads else "warning",
                        f"{bad} of {reads} power readings were outside physical limits and left out ({examples}); "
                        "check the sensor"))
    elif power.get("implausible_thermal"):
        out.append(Flag("implausible_readings", "warning",
                        f"{power['implausible_thermal']} temperature readings were outside physical limits and left out "
                        f"({examples})"))
    gaps = power.get("gaps", [])
    if gaps:
        open_ = any(g["end_s"] is None for g in gaps)
        span = sum((g["end_s"] - g["start_s"]) for g in gaps if g["end_s"] is not None)
        severe = open_ or span > MAX_BAD_FRAC * max(window_s, 1e-9)
        out.append(Flag("sensor_gap", "invalid" if severe else "warning",
                        f"the sensor did not answer {len(gaps)} time(s) ({span:.2f} s{', never recovered' if open_ else ''}; "
                        f"first: {gaps[0]['reason']}); energy across a gap is interpolated"))
    return out
