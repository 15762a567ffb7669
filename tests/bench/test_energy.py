"""Energy integration against traces whose integral is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.bench.energy import Trace, energy_report, window_energy


def sample(fn, hz: float, t_end: float, *, jitter: float = 0.0, seed: int = 1) -> Trace:
    """Sample fn(t) at ``hz`` over [0, t_end] with timestamps jittered by up to ``jitter`` of a period."""
    rng = np.random.default_rng(seed)
    n = int(t_end * hz) + 1
    t = np.arange(n) / hz
    t[1:-1] += rng.uniform(-jitter, jitter, n - 2) / hz
    t[-1] = t_end
    return Trace.from_arrays(t, [fn(x) for x in t])


def step(t):  # 2 W, then 7 W from 3.3 s to 6.65 s
    return 7.0 if 3.3 <= t < 6.65 else 2.0


STEP_J = 2.0 * 10 + 5.0 * (6.65 - 3.3)


def ramp(t):
    return 1.0 + 0.4 * t


RAMP_J = 1.0 * 10 + 0.2 * 100


def bursts(t):  # 30 ms bursts at 9 W every 250 ms over a 1.5 W floor
    return 9.0 if (t % 0.25) < 0.03 else 1.5


BURSTS_J = 10 * (1.5 + 7.5 * 0.03 / 0.25)


def test_constant_is_exact_at_any_rate():
    for hz in (1, 10, 100):
        w = window_energy(sample(lambda t: 4.2, hz, 10.0), 0.0, 10.0, resolution_w=0.0)
        assert w.energy_j == pytest.approx(42.0, rel=1e-12)
        assert w.uncertainty_j == pytest.approx(0.0, abs=1e-12)


def test_ramp_is_exact_with_trapezoid():
    w = window_energy(sample(ramp, 3, 10.0, jitter=0.3), 0.0, 10.0, resolution_w=0.0)
    assert w.energy_j == pytest.approx(RAMP_J, rel=1e-9)
    assert w.avg_power_w == pytest.approx(RAMP_J / 10, rel=1e-9)
    assert w.peak_power_w == pytest.approx(ramp(10.0))


@pytest.mark.parametrize("hz", [1, 2, 5, 10, 100, 1000])
def test_step_error_stays_within_stated_uncertainty(hz):
    w = window_energy(sample(step, hz, 10.0, jitter=0.2), 0.0, 10.0, resolution_w=0.01)
    err = abs(w.energy_j - STEP_J)
    assert err <= w.uncertainty_j + 1e-9
    if hz >= 100:
        assert err / STEP_J < 0.01


def test_error_shrinks_with_rate_on_bursts():
    errs = {}
    for hz in (2, 10, 100, 1000):
        tr = sample(bursts, hz, 10.0, jitter=0.2, seed=hz)
        errs[hz] = abs(window_energy(tr, 0.0, 10.0, resolution_w=0.0).energy_j - BURSTS_J) / BURSTS_J
    assert errs[2] > 0.05          # 2 Hz misses or doubles 30 ms bursts
    assert errs[1000] < 0.01
    assert errs[1000] < errs[100] < errs[2]


def test_window_edges_are_interpolated_between_samples():
    tr = Trace.from_arrays([0.0, 1.0, 2.0, 3.0], [0.0, 10.0, 20.0, 30.0])  # p = 10 t
    w = window_energy(tr, 0.5, 2.5, resolution_w=0.0)
    assert w.energy_j == pytest.approx(5 * (2.5 ** 2 - 0.5 ** 2))
    assert w.samples == 2 and w.covered


def test_window_beyond_samples_is_marked_not_covered():
    tr = Trace.from_arrays([1.0, 2.0], [3.0, 3.0])
    w = window_energy(tr, 0.0, 2.0, resolution_w=0.0)
    assert not w.covered
    assert w.energy_j == pytest.approx(6.0)


def test_resolution_term_is_half_a_step_over_the_window():
    w = window_energy(sample(lambda t: 5.0, 10, 10.0), 0.0, 10.0, resolution_w=0.04)
    assert w.uncertainty_resolution_j == pytest.approx(0.02 * 10)


def test_counter_deltas_with_interpolated_edges():
    t = np.arange(0, 11, 1.0)
    e = 3.0 * t + 100.0   # 3 W constant, counter offset
    tr = Trace.from_arrays(t, np.full_like(t, 3.0), e)
    w = window_energy(tr, 2.5, 7.5, resolution_w=0.0)
    assert w.method == "counter"
    assert w.energy_j == pytest.approx(15.0)
    # each edge falls mid-interval: bound = 0.5 * 3 J per edge
    assert w.uncertainty_j == pytest.approx(3.0)


def test_report_total_net_and_idle_drift():
    def p(t):
        if t < 5:
            return 2.0
        if t < 15:
            return 5.0
        return 2.2
    tr = sample(p, 1000, 20.0)
    rep = energy_report(tr, run=(5.0, 15.0), inferences=1000, resolution_w=0.0,
                        idle_before=(0.0, 5.0), idle_after=(15.0, 20.0))
    assert rep.idle_power_w == pytest.approx(2.1, rel=1e-3)
    assert rep.idle_drift_frac == pytest.approx(0.1, rel=1e-2)
    assert rep.total_mj_per_inference == pytest.approx(50.0, rel=1e-3)     # 50 J / 1000 * 1e3
    assert rep.net_mj_per_inference == pytest.approx(29.0, rel=1e-2)       # (50 - 21) J / 1000
    # net uncertainty includes half the idle drift over the run: 0.1 W * 10 s / 1000 inf = 1 mJ
    assert rep.net_uncertainty_mj_per_inference >= 1.0


def test_report_without_idle_has_no_net():
    rep = energy_report(sample(lambda t: 1.0, 10, 10.0), run=(0.0, 10.0), inferences=10, resolution_w=0.0)
    assert rep.net_mj_per_inference is None and rep.idle_power_w is None
    assert rep.total_mj_per_inference == pytest.approx(1000.0)


def test_trace_rejects_time_going_backwards():
    with pytest.raises(ValueError):
        Trace.from_arrays([0.0, 2.0, 1.0], [1.0, 1.0, 1.0])


def test_counter_source_without_power_yet_still_has_a_peak():
    # a battery energy_now gauge: power is NaN until the counter stepped twice, energy is the counter
    t = np.arange(0, 10.5, 0.5)
    p = np.where(t < 3.0, np.nan, np.where((t > 5) & (t < 6), 9.0, 4.0))
    e = 4.0 * t
    w = window_energy(Trace.from_arrays(t, p, e), 1.0, 9.0, resolution_w=0.0)
    assert w.method == "counter" and w.energy_j == pytest.approx(32.0)
    assert w.peak_power_w == 9.0
    all_nan = window_energy(Trace.from_arrays(t, np.full_like(t, np.nan), e), 1.0, 2.0, resolution_w=0.0)
    assert all_nan.peak_power_w is None and all_nan.avg_power_w == pytest.approx(4.0)
