"""Latency statistics, the timed loop (back-to-back and fixed rate) and the thermal/throttle summary."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgekit.bench.loop import run_loop
from edgekit.bench.stats import latency_stats
from edgekit.bench.thermal import summarize
from edgekit.errors import EdgekitError
from edgekit.sensors.base import ThermalSnapshot, ThermalZoneReading


def test_latency_stats_match_numpy():
    rng = np.random.default_rng(3)
    lat = rng.gamma(4.0, 0.002, size=997)
    st = latency_stats(lat, window_s=5.0, first_inference_s=0.05, warmup_count=7)
    ms = lat * 1e3
    assert st.count == 997
    assert st.mean_ms == pytest.approx(ms.mean())
    assert st.std_ms == pytest.approx(ms.std(ddof=1))
    assert st.min_ms == pytest.approx(ms.min()) and st.max_ms == pytest.approx(ms.max())
    assert st.p50_ms == pytest.approx(np.median(ms))
    assert st.p90_ms == pytest.approx(np.percentile(ms, 90))
    assert st.p99_ms == pytest.approx(np.percentile(ms, 99))
    assert st.min_ms <= st.p50_ms <= st.p90_ms <= st.p99_ms <= st.max_ms
    assert st.throughput_ips == pytest.approx(997 / 5.0)
    assert st.first_inference_ms == pytest.approx(50.0)
    assert st.warmup_count == 7


def test_latency_stats_refuse_an_empty_window():
    with pytest.raises(EdgekitError, match="--duration"):
        latency_stats([], window_s=1.0)


def test_back_to_back_excludes_first_inference_and_warmup():
    calls = []

    def infer(i):
        calls.append(i)
        time.sleep(0.02 if i == 0 else 0.001)

    r = run_loop(infer, iterations=30, warmup_s=0.05)
    assert len(r.latencies_s) == 30
    assert r.first_inference_s >= 0.02
    assert max(r.latencies_s) < 0.02
    assert r.warmup_count >= 1
    assert len(calls) == 1 + r.warmup_count + 30
    assert calls == list(range(len(calls)))  # sample index keeps running, so inputs cycle


def test_fixed_rate_leaves_idle_gaps_on_schedule():
    starts = []

    def infer(i):
        starts.append(time.monotonic())
        time.sleep(0.002)

    r = run_loop(infer, duration_s=1.0, rate_hz=20, warmup_s=0.0)
    measured = starts[1:]  # the first call is the timed first inference
    gaps = np.diff(measured)
    assert r.arrivals == 20 and len(r.latencies_s) == 20
    assert np.median(gaps) == pytest.approx(0.05, abs=0.01)
    assert r.missed_deadlines == 0 and r.dropped_arrivals == 0
    assert r.window_s == pytest.approx(1.0, abs=0.05)
    assert r.start_lag_ms_mean < 20


def test_fixed_rate_counts_missed_deadlines_and_dropped_arrivals():
    def infer(i):
        time.sleep(0.12 if i % 2 else 0.005)  # every other inference overruns a 50 ms period

    r = run_loop(infer, duration_s=1.0, rate_hz=20, warmup_s=0.0)
    assert r.missed_deadlines >= 3
    assert r.dropped_arrivals >= r.missed_deadlines  # each 120 ms overrun swallows >= 2 arrivals
    assert r.arrivals == len(r.latencies_s) + r.dropped_arrivals
    assert r.arrivals <= 20


def snap(t, temp, *, freq=None, cooling=None, bits=None):
    return ThermalSnapshot(t, (ThermalZoneReading("cpu-thermal", "/sys/class/thermal/thermal_zone0", temp),
                               ThermalZoneReading("gpu-thermal", "/sys/class/thermal/thermal_zone1", temp - 2)),
                           cpu_freq_khz=freq or {}, cooling_states=cooling or {}, throttled_bits=bits)


def test_thermal_summary_without_throttling():
    s = summarize([snap(0, 40), snap(2, 50, freq={0: 1800000}), snap(4, 55, freq={0: 1800000}),
                   snap(6, 53, freq={0: 1800000}), snap(9, 45)], run=(1, 7))
    assert s.max_temp_c == 55 and s.end_temp_c == 53 and s.start_temp_c == 40
    assert [z["name"] for z in s.zones] == ["cpu-thermal", "gpu-thermal"]
    assert s.zones[0]["max_c"] == 55 and s.zones[1]["max_c"] == 53
    assert not s.throttled and s.reasons == []


def test_pi_get_throttled_bits_mark_the_run():
    s = summarize([snap(0, 60, bits=0x0), snap(2, 80, bits=0x50005), snap(4, 81, bits=0x50005)], run=(1, 5))
    assert s.throttled
    assert any("under-voltage now" in r for r in s.reasons)
    assert any("throttling occurred during the run" in r for r in s.reasons)


def test_sticky_bits_from_before_the_run_do_not_count():
    s = summarize([snap(0, 60, bits=0x50000), snap(2, 62, bits=0x50000)], run=(1, 5))
    assert not s.throttled


def test_processor_cooling_device_marks_throttled_but_a_fan_does_not():
    fan = summarize([snap(0, 50, cooling={"cooling_device0:pwm-fan": 0}),
                     snap(2, 60, cooling={"cooling_device0:pwm-fan": 3})], run=(1, 3))
    assert not fan.throttled and fan.cooling_states_max == {"cooling_device0:pwm-fan": 3}
    cpu = summarize([snap(0, 50, cooling={"cooling_device1:Processor": 0}),
                     snap(2, 90, cooling={"cooling_device1:Processor": 2})], run=(1, 3))
    assert cpu.throttled and "cooling_device1:Processor" in cpu.reasons[0]


def test_cpu_clock_drop_under_load():
    snaps = [snap(t, 70, freq={0: f, 1: 600000}) for t, f in
             [(1, 2400000), (2, 2400000), (3, 2400000), (6, 1500000), (7, 1400000), (8, 1400000)]]
    assert summarize(snaps, run=(0.5, 8.5)).throttled
    assert not summarize(snaps, run=(0.5, 8.5), back_to_back=False).throttled  # rate mode idles legitimately
    steady = [snap(t, 70, freq={0: 2400000}) for t in range(1, 9)]
    assert not summarize(steady, run=(0.5, 8.5)).throttled
