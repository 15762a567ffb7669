"""The stated uncertainty covers the truth with jittered sampling, at 100, 10 and 1 Hz (issue 12: 9).

Deterministic: seeded stratified random instants over exact signals, no threads, no clocks, so
the result does not depend on the machine's speed. The live version is bench/bench_sampler.py.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from edgekit.bench.energy import Load, Trace, energy_report, estimate_options, window_energy

WINDOW_S = 5.0
CEILING_W = 75.0   # 3 x the Orin Nano's 25 W budget

LOADS = {
    "square": (lambda t: np.where((t % 0.4) < 0.2, 3.0, 8.0), Load(0.4, 0.2)),
    "sawtooth": (lambda t: 2.0 + 2.0 * (t % 2.0), Load(2.0, 2.0)),
    "bursts": (lambda t: np.where((t % 0.237) < 0.03, 9.0, 1.5), Load(0.237, 0.03)),
    "phase-locked": (lambda t: np.where((t % 0.25) < 0.03, 9.0, 1.5), Load(0.25, 0.03)),
}


def jittered(fn, hz: float, rng, offset: float) -> Trace:
    h = 1.0 / hz
    slots = np.arange(-2 * h, WINDOW_S + 2 * h, h)
    t = slots + rng.uniform(0.0, h, slots.size)
    return Trace.from_arrays(t, fn(t + offset))


def truth(fn, offset: float) -> float:
    fine = np.linspace(0.0, WINDOW_S, 100_001)
    return float(np.trapezoid(fn(fine + offset), fine))


@pytest.mark.parametrize("name", list(LOADS))
@pytest.mark.parametrize("hz", [100, 10, 1])
def test_stated_uncertainty_covers_the_error_in_95_percent_of_windows(name, hz):
    fn, load = LOADS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}/{hz}".encode()))  # fixed per case
    covered, n = 0, 100
    for _ in range(n):
        offset = rng.uniform(0.0, 3.0)
        w = window_energy(jittered(fn, hz, rng, offset), 0.0, WINDOW_S, resolution_w=0.01, jittered=True,
                          load=load, ceiling_w=CEILING_W)
        covered += abs(w.energy_j - truth(fn, offset)) <= w.uncertainty_j
    assert covered >= 0.95 * n, f"{name} at {hz} Hz: the bar covered {covered}/{n} windows"


def test_undersampled_is_flagged_and_widened_where_the_samples_can_miss_the_bursts():
    fn, load = LOADS["bursts"]
    rng = np.random.default_rng(7)
    tr = jittered(fn, 1, rng, 0.0)
    w = window_energy(tr, 0.0, WINDOW_S, resolution_w=0.01, jittered=True, load=load, ceiling_w=CEILING_W)
    assert w.undersampled and "widened" in w.basis
    # 5 samples at 1 Hz may all miss 30 ms bursts: the bar holds what the bursts could be, up to the ceiling
    assert w.uncertainty_j >= (CEILING_W - 9.0) * (0.03 / 0.237) * WINDOW_S
    w100 = window_energy(jittered(fn, 100, rng, 0.0), 0.0, WINDOW_S, resolution_w=0.01, jittered=True, load=load,
                         ceiling_w=CEILING_W)
    assert not w100.undersampled and "widened" not in w100.basis


def test_phase_locked_bursts_on_a_fixed_grid_are_biased_and_jitter_removes_the_bias():
    fn, load = LOADS["phase-locked"]
    true = truth(fn, 0.0)
    grid = np.arange(0.0, WINDOW_S + 0.5, 1.0)          # 1 Hz grid: every sample at the same burst phase
    on_grid = window_energy(Trace.from_arrays(grid, fn(grid)), 0.0, WINDOW_S, resolution_w=0.0)
    assert on_grid.energy_j / true - 1 > 2.0             # +270 %: all samples land in a burst
    rng = np.random.default_rng(3)
    errs = [window_energy(jittered(fn, 1, rng, 0.0), 0.0, WINDOW_S, resolution_w=0.0, jittered=True,
                          load=load).energy_j / true - 1 for _ in range(400)]
    assert abs(np.mean(errs)) < 0.1                        # unbiased on average


def test_sensor_slower_than_it_is_read_widens_the_bar():
    fn, load = LOADS["square"]
    rng = np.random.default_rng(5)
    tr = jittered(fn, 100, rng, 0.0)
    held = Trace.from_arrays(tr.t_s, fn(np.floor(tr.t_s / 0.1) * 0.1))   # the sensor updates every 100 ms
    fast = window_energy(held, 0.0, WINDOW_S, resolution_w=0.0, jittered=True, load=load)
    slow = window_energy(held, 0.0, WINDOW_S, resolution_w=0.0, jittered=True, load=load, update_interval_s=0.1)
    assert slow.uncertainty_j > 2 * fast.uncertainty_j


def test_counter_windows_say_the_counter_is_the_truth_and_options_follow_the_source():
    t = np.linspace(0, 10, 11)
    w = window_energy(Trace.from_arrays(t, np.full_like(t, 2.0), 2.0 * t), 1.0, 9.0, resolution_w=0.0)
    assert w.method == "counter" and "counter is the truth" in w.basis

    class Info:
        update_interval_s, max_plausible_w = 0.04, 45.0

    how = estimate_options(Info(), jittered=True, rate_hz=4.0, busy_s=0.03)
    assert how["load"] == Load(0.25, 0.03) and how["ceiling_w"] == 45.0 and how["update_interval_s"] == 0.04
    assert estimate_options(Info(), jittered=True)["load"] is None     # back to back: no structure
    rep = energy_report(Trace.from_arrays(t, np.full_like(t, 2.0)), run=(1.0, 9.0), inferences=8,
                        resolution_w=0.0, idle_before=(0.0, 1.0), **how)
    assert rep.run.basis.startswith("samples' statistics") and rep.idle_before.undersampled is False
