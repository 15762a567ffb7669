"""The sampler thread: rate, prompt stop, errors re-raised in the caller, bounded memory, live accuracy."""

from __future__ import annotations

import time

import pytest

from benchfakes import LivePowerWriter, orin_nano_hwmon, rapl_package, write
from edgekit.bench.energy import Trace, window_energy
from edgekit.bench.sampler import Sampler
from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo, ThermalSnapshot, ThermalZoneReading
from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource
from edgekit.sensors.x86.rapl import RaplSource


class FailingAfter:
    """A power source whose sensor breaks after ``n`` reads (like a hwmon device that vanished)."""

    def __init__(self, n: int, hz: float = 200.0):
        self.n, self.reads = n, 0
        self.info = SourceInfo("test-failing", "board", "fails after n reads", (), hz, 0.01)

    def read(self) -> PowerSample:
        self.reads += 1
        if self.reads > self.n:
            raise SensorError("sensor vanished")
        return PowerSample(time.monotonic(), 1.0)

    def close(self) -> None:
        pass


def test_reads_real_hwmon_at_the_requested_rate(sysroot):
    orin_nano_hwmon(sysroot, vdd_in_mv=5000, vdd_in_ma=1200)
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=100).start()
    time.sleep(0.5)
    s.stop()
    tr = s.trace()
    assert 25 <= len(tr) <= 60          # 100 Hz for 0.5 s, loose for a busy machine
    assert (tr.power_w == 6.0).all()
    assert (tr.t_s[1:] > tr.t_s[:-1]).all()
    assert s.rails_mean_w(tr.t_s[0], tr.t_s[-1])["VDD_SOC"] == pytest.approx(1.45)


def test_stop_is_prompt_even_with_a_long_period(sysroot):
    orin_nano_hwmon(sysroot)
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=0.1).start()  # one read per 10 s
    time.sleep(0.1)
    t0 = time.monotonic()
    s.stop()
    assert time.monotonic() - t0 < 0.5
    assert not s.running


def test_sensor_error_is_reraised_in_the_caller_on_stop():
    src = FailingAfter(5)
    s = Sampler(src, sample_hz=200, max_gap_s=0).start()  # no gap tolerated
    deadline = time.monotonic() + 5
    while s.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not s.running, "the sampler thread must end on a sensor error"
    with pytest.raises(SensorError, match="sensor vanished"):
        s.stop()
    assert s.samples_read == 5


def test_check_raises_while_the_run_goes_on():
    s = Sampler(FailingAfter(2), sample_hz=200, max_gap_s=0).start()
    time.sleep(0.2)
    with pytest.raises(SensorError):
        s.check()
    s.stop()  # error already handed over once: stop() does not raise it again


def test_memory_is_bounded_by_decimation(sysroot):
    orin_nano_hwmon(sysroot)
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=1000, max_samples=16).start()
    deadline = time.monotonic() + 5
    while s.samples_read < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    tr = s.trace()
    assert s.samples_read >= 200
    assert len(tr) <= 16 and s.samples_kept == len(tr)
    assert s.decimation >= 8
    assert (tr.t_s[1:] > tr.t_s[:-1]).all()
    # the kept samples still span the whole run
    assert tr.t_s[-1] - tr.t_s[0] > 0.5 * (s.samples_read / 1000)


def test_thermal_is_sampled_at_its_own_lower_rate(sysroot):
    orin_nano_hwmon(sysroot)
    calls = []

    def thermal() -> ThermalSnapshot:
        calls.append(time.monotonic())
        return ThermalSnapshot(time.monotonic(), (ThermalZoneReading("cpu-thermal", "tz0", 45.0),))

    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=100, thermal=thermal, thermal_hz=5).start()
    time.sleep(0.65)
    s.stop()
    assert 2 <= len(s.thermal_snapshots()) <= 5
    assert s.samples_read > 4 * len(s.thermal_snapshots())


def test_live_step_trace_through_sysfs_within_one_percent(sysroot):
    hw = orin_nano_hwmon(sysroot)
    writer = LivePowerWriter(hw, lambda t: 3.0 if (t % 0.4) < 0.2 else 8.0, period_s=0.002)
    writer.start()
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=100).start()
    time.sleep(2.2)
    s.stop()
    writer.stop()
    tr = s.trace()
    t0, t1 = tr.t_s[5], tr.t_s[-5]
    w = window_energy(tr, t0, t1, resolution_w=0.0)
    true = writer.true_energy_j(t0, t1)
    assert abs(w.energy_j - true) <= max(0.01 * true, w.uncertainty_j)
    assert abs(w.energy_j - true) <= w.uncertainty_j + 1e-6


def test_rapl_counter_wrap_through_the_source(sysroot):
    d = rapl_package(sysroot, energy_uj=900_000, max_range_uj=1_000_000)
    src = RaplSource(sysroot)
    samples = []
    for value in (950_000, 10_000, 70_000, 990_000, 5_000):  # wraps twice
        write(d / "energy_uj", value)
        samples.append(src.read())
        time.sleep(0.002)
    tr = Trace.from_arrays([x.t_s for x in samples], [x.power_w for x in samples], [x.energy_j for x in samples])
    w = window_energy(tr, tr.t_s[0], tr.t_s[-1], resolution_w=0.0)
    assert w.method == "counter"
    # 950k -> 1M(wrap) -> 10k -> 70k -> 990k -> (wrap) -> 5k: 60k + 60k + 920k + 15k uJ
    assert w.energy_j == pytest.approx(1.055, abs=1e-9)
