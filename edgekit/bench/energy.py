"""Energy over a time window from power samples (trapezoid) or a cumulative counter.

Every figure here is computed over *real* sample timestamps (``time.monotonic()``
seconds taken by the reader), never over a nominal sample period.

Uncertainty (a bound, documented in docs/bench.md):

* trapezoid: ``dE = dE_res + dE_samp`` with
  ``dE_res = (resolution_w / 2) * T`` — every reading may be off by half a
  sensor step, for the whole window; and
  ``dE_samp = 1/2 * sum_i |p[i+1] - p[i]| * (t[i+1] - t[i])`` — between two
  samples the trapezoid assumes a straight line; if the power moved anywhere
  between the two readings (a step at an unknown moment, a ramp), the error on
  that interval is at most half the jump times the interval. It shrinks with
  the sample interval and is exact for a constant signal. Bursts shorter than
  the sample interval escape every bound, which is why sparse sampling is
  flagged separately (see :mod:`edgekit.bench.validity`).
* jittered samples (the sampler's default: one read at a random instant inside each period),
  ``load=`` given or not: the trapezoid over stratified random instants is unbiased, so the
  bar comes from the samples' statistics instead of the deterministic neighbour bound:
  ``dE = dE_res + k * sigma + dE_under``. ``sigma`` is the collapsed-strata estimate, both
  pairings of consecutive samples averaged (``sigma^2 = 1/2 sum h^2 (p[i+1] - p[i])^2``), inflated by
  ``sqrt(update_interval / h)`` when the sensor updates more slowly than it is read; ``k`` is
  the one-sided 99 % Student-t quantile for the number of pairs. When the source is slower
  than the load's structure (the effective interval exceeds the burst length or half the
  load period; the bench knows both because it drives the load), the figure is
  ``undersampled``, and ``sigma`` is at least what a two-level load of that duty gives ``n``
  random samples between the lowest and highest levels seen; and when the samples may all have fallen in one state of the load
  (probability ``(1-d)^n + d^n`` above 5 %, ``d`` = duty), ``dE_under`` widens the bar to what
  the unseen state could hold: up to ``ceiling_w`` (the source's plausible maximum) while busy,
  down to 0 while idle.
* counter: the counter is the truth (RAPL, battery energy_now): it is exact at the sample instants; only the two window
  boundaries fall between samples, where the counter is interpolated linearly.
  For a boundary at fraction ``f`` of an interval holding ``dE_seg``, the true
  value lies within ``max(f, 1 - f) * dE_seg`` of the interpolated one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Trace:
    """Power samples in time order: ``t_s`` monotonic seconds, ``power_w``,
    ``energy_j`` (cumulative counter, NaN where the source has none)."""

    t_s: np.ndarray
    power_w: np.ndarray
    energy_j: np.ndarray

    @classmethod
    def from_arrays(cls, t_s, power_w, energy_j=None) -> "Trace":
        t = np.asarray(t_s, dtype=np.float64)
        p = np.asarray(power_w, dtype=np.float64)
        e = np.full_like(t, np.nan) if energy_j is None else np.asarray(energy_j, dtype=np.float64)
        if not (t.shape == p.shape == e.shape) or t.ndim != 1:
            raise ValueError("t_s, power_w and energy_j must be 1-D arrays of one length")
        if t.size > 1 and np.any(np.diff(t) < 0):
            raise ValueError("t_s must not go backwards")
        return cls(t, p, e)

    def __len__(self) -> int:
        return int(self.t_s.size)

    @property
    def has_counter(self) -> bool:
        return self.t_s.size > 0 and not np.isnan(self.energy_j).any()


@dataclass(frozen=True)
class WindowEnergy:
    """Energy of one window [t0_s, t1_s]."""

    method: str               # "trapezoid" or "counter"
    t0_s: float
    t1_s: float
    duration_s: float
    energy_j: float
    avg_power_w: float
    peak_power_w: float | None  # highest real sample inside the window (NaN readings skipped)
    samples: int               # real samples inside the window
    mean_interval_s: float | None
    max_interval_s: float | None
    uncertainty_j: float
    uncertainty_resolution_j: float
    uncertainty_sampling_j: float
    covered: bool              # samples exist on both sides of (or at) the window edges
    undersampled: bool = False  # the source is slower than the load's structure (see module doc)
    basis: str = "neighbour bound (fixed grid)"  # where the uncertainty comes from

    def to_json(self) -> dict:
        return asdict(self)


def _intervals(t: np.ndarray) -> tuple[float | None, float | None]:
    if t.size < 2:
        return None, None
    d = np.diff(t)
    return float(d.mean()), float(d.max())


@dataclass(frozen=True)
class Load:
    """What the bench knows of the load it drives: its period and how long each busy part lasts."""

    period_s: float
    busy_s: float

    @property
    def duty(self) -> float:
        return min(1.0, max(0.0, self.busy_s / self.period_s)) if self.period_s > 0 else 1.0


#: One-sided 99 % Student-t quantiles by degrees of freedom (the number of sample pairs).
_T99 = {1: 31.82, 2: 6.965, 3: 4.541, 4: 3.747, 5: 3.365, 6: 3.143, 7: 2.998, 8: 2.896, 10: 2.764, 12: 2.681,
        15: 2.602, 20: 2.528, 30: 2.457, 60: 2.390}
MISS_PROBABILITY = 0.05


def _t99(df: int) -> float:
    if df <= 0:
        return _T99[1]
    keys = [k for k in sorted(_T99) if k <= df]
    return _T99[keys[-1]] if df < 120 else 2.326


def _statistical(tt: np.ndarray, pp: np.ndarray, inside: np.ndarray, update_interval_s: float | None) -> tuple[float, int]:
    """(sigma_j, pairs): collapsed-strata standard deviation of the trapezoid over jittered samples."""
    t, p = tt[inside], pp[inside]
    n = t.size
    if n < 2:
        return 0.0, 0
    w = np.empty(n)  # each sample's trapezoid weight (half the span to its neighbours, edges included)
    w[1:-1] = (t[2:] - t[:-2]) / 2
    w[0] = (t[1] - t[0]) / 2 + (t[0] - tt[0])
    w[-1] = (t[-1] - t[-2]) / 2 + (tt[-1] - t[-1])
    # every consecutive pair (both collapsed-strata pairings averaged): sigma^2 = 1/2 sum h^2 (p[i+1] - p[i])^2
    h = (w[1:] + w[:-1]) / 2
    var = 0.5 * float(np.sum((h * np.diff(p)) ** 2))
    mean_h = float(np.mean(np.diff(t)))
    if update_interval_s and update_interval_s > mean_h > 0:  # repeated values: fewer independent samples
        var *= update_interval_s / mean_h
    return var ** 0.5, max(1, n // 2)


def window_energy(trace: Trace, t0_s: float, t1_s: float, *, resolution_w: float,
                  use_counter: bool | None = None, jittered: bool = False, update_interval_s: float | None = None,
                  load: Load | None = None, ceiling_w: float | None = None) -> WindowEnergy:
    """Energy over [t0_s, t1_s].

    Trapezoid: the power at the edges is interpolated linearly between the
    neighbouring samples (held constant beyond the first/last sample, and the
    window is then marked not ``covered``). Counter: the counter is
    interpolated at both edges and differenced.
    """
    if t1_s <= t0_s:
        raise ValueError("window must have t1_s > t0_s")
    if len(trace) == 0:
        raise ValueError("no power samples")
    t, p = trace.t_s, trace.power_w
    if use_counter is None:
        use_counter = trace.has_counter
    duration = t1_s - t0_s
    inside = (t >= t0_s) & (t <= t1_s)
    n_inside = int(inside.sum())
    # a counter-only source (a battery gauge) has no power figure (NaN) until its counter has stepped twice
    known = p[inside][~np.isnan(p[inside])]
    peak = float(known.max()) if known.size else None
    covered = bool(t[0] <= t0_s and t[-1] >= t1_s)
    mean_iv, max_iv = _intervals(t[inside])

    if use_counter and len(trace) >= 2:
        e = trace.energy_j
        e0 = float(np.interp(t0_s, t, e))
        e1 = float(np.interp(t1_s, t, e))
        energy = e1 - e0
        bound = 0.0
        for edge in (t0_s, t1_s):
            i = int(np.searchsorted(t, edge, side="right")) - 1
            if 0 <= i < len(t) - 1 and t[i + 1] > t[i]:
                f = (edge - t[i]) / (t[i + 1] - t[i])
                bound += max(f, 1 - f) * abs(e[i + 1] - e[i])
        return WindowEnergy("counter", t0_s, t1_s, duration, energy, energy / duration, peak, n_inside,
                            mean_iv, max_iv, bound, 0.0, bound, covered,
                            basis="the sensor's cumulative counter is the truth; the bound covers the window edges")

    strictly = (t > t0_s) & (t < t1_s)
    tt = np.concatenate(([t0_s], t[strictly], [t1_s]))
    pp = np.interp(tt, t, p)
    energy = float(np.trapezoid(pp, tt))
    d_res = resolution_w / 2.0 * duration
    if not jittered:
        d_samp = 0.5 * float(np.sum(np.abs(np.diff(pp)) * np.diff(tt)))
        return WindowEnergy("trapezoid", t0_s, t1_s, duration, energy, energy / duration, peak, n_inside,
                            mean_iv, max_iv, d_res + d_samp, d_res, d_samp, covered)
    real = np.zeros(tt.size, dtype=bool)
    real[1:-1] = True
    sigma, pairs = _statistical(tt, pp, real, update_interval_s)
    d_samp = _t99(pairs) * sigma
    if pairs < 2:  # too few samples for statistics: the neighbour bound as well
        d_samp += 0.5 * float(np.sum(np.abs(np.diff(pp)) * np.diff(tt)))
    h_eff = max(mean_iv or duration, update_interval_s or 0.0)
    undersampled = False
    d_under = 0.0
    if load is not None and load.period_s > 0:
        undersampled = h_eff > load.busy_s or h_eff > load.period_s / 2
        d = load.duty
        n = max(1, int(strictly.sum()))
        seen = pp[real] if real.any() else pp
        if undersampled and 0 < d < 1:
            # samples land in the busy part by chance: the spread a two-level load of this duty gives
            # n random samples, from the levels seen (never smaller than the samples' own statistics)
            level_sigma = (float(seen.max()) - float(seen.min())) * (d * (1 - d)) ** 0.5 * duration / n ** 0.5
            d_samp = max(d_samp, _t99(pairs) * level_sigma)
        if undersampled and 0 < d < 1 and (1 - d) ** n + d ** n > MISS_PROBABILITY:
            top = max(float(ceiling_w) if ceiling_w else float(seen.max()), float(seen.max()))
            d_under = max((top - float(seen.min())) * d, float(seen.max()) * (1 - d)) * duration
    return WindowEnergy("trapezoid", t0_s, t1_s, duration, energy, energy / duration, peak, n_inside,
                        mean_iv, max_iv, d_res + d_samp + d_under, d_res, d_samp + d_under, covered,
                        undersampled=undersampled, basis="samples' statistics (jittered instants)"
                        + (", widened: the samples may have missed the load's structure" if d_under else ""))


@dataclass(frozen=True)
class EnergyReport:
    """Energy of the measured run, per inference, total and net of the idle baseline.

    ``idle_power_w`` is the mean of the idle windows measured before and after
    the run; ``idle_drift_frac`` is |after - before| / before. The net figure
    subtracts ``idle_power_w * run duration``; its uncertainty adds the run's
    bound, the idle windows' bounds (as power) and half the idle drift, all
    times the run duration.
    """

    method: str
    run: WindowEnergy
    idle_before: WindowEnergy | None
    idle_after: WindowEnergy | None
    idle_power_w: float | None
    idle_drift_frac: float | None
    inferences: int
    total_energy_j: float
    net_energy_j: float | None
    total_mj_per_inference: float
    net_mj_per_inference: float | None
    uncertainty_mj_per_inference: float
    net_uncertainty_mj_per_inference: float | None

    @property
    def uncertainty_frac(self) -> float | None:
        if self.total_energy_j <= 0:
            return None
        return self.run.uncertainty_j / self.total_energy_j


def energy_report(trace: Trace, *, run: tuple[float, float], inferences: int, resolution_w: float,
                  idle_before: tuple[float, float] | None = None,
                  idle_after: tuple[float, float] | None = None,
                  use_counter: bool | None = None, **how) -> EnergyReport:
    """``how``: ``jittered``, ``update_interval_s``, ``load``, ``ceiling_w`` of :func:`window_energy`
    (``load`` applies to the run window only; idle windows have no load)."""
    if inferences <= 0:
        raise ValueError("inferences must be positive")
    idle_how = {k: v for k, v in how.items() if k != "load"}
    w_run = window_energy(trace, *run, resolution_w=resolution_w, use_counter=use_counter, **how)
    w_before = (window_energy(trace, *idle_before, resolution_w=resolution_w, use_counter=use_counter, **idle_how)
                if idle_before else None)
    w_after = (window_energy(trace, *idle_after, resolution_w=resolution_w, use_counter=use_counter, **idle_how)
               if idle_after else None)
    idles = [w for w in (w_before, w_after) if w is not None]
    idle_w = float(np.mean([w.avg_power_w for w in idles])) if idles else None
    drift = None
    if w_before is not None and w_after is not None and w_before.avg_power_w > 0:
        drift = abs(w_after.avg_power_w - w_before.avg_power_w) / w_before.avg_power_w
    total_j = w_run.energy_j
    net_j = net_unc_j = None
    if idle_w is not None:
        net_j = total_j - idle_w * w_run.duration_s
        idle_unc_w = float(np.mean([w.uncertainty_j / w.duration_s for w in idles]))
        if w_before is not None and w_after is not None:
            idle_unc_w += abs(w_after.avg_power_w - w_before.avg_power_w) / 2
        net_unc_j = w_run.uncertainty_j + idle_unc_w * w_run.duration_s
    per = 1e3 / inferences
    return EnergyReport(
        method=w_run.method, run=w_run, idle_before=w_before, idle_after=w_after,
        idle_power_w=idle_w, idle_drift_frac=drift, inferences=inferences,
        total_energy_j=total_j, net_energy_j=net_j,
        total_mj_per_inference=total_j * per,
        net_mj_per_inference=None if net_j is None else net_j * per,
        uncertainty_mj_per_inference=w_run.uncertainty_j * per,
        net_uncertainty_mj_per_inference=None if net_unc_j is None else net_unc_j * per,
    )


def estimate_options(info, *, jittered: bool, rate_hz: float | None = None, busy_s: float | None = None) -> dict:
    """The ``how`` of :func:`energy_report` for a polled source: sampling instants, the sensor's update
    interval, its plausible ceiling and, in --rate runs, the load's structure (period, busy time)."""
    load = Load(1.0 / rate_hz, busy_s) if rate_hz and busy_s and busy_s > 0 else None
    return {"jittered": bool(jittered), "update_interval_s": getattr(info, "update_interval_s", None),
            "ceiling_w": getattr(info, "max_plausible_w", None), "load": load}
