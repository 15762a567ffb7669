"""Implausible readings are flagged and left out, never stored as measurements; trace rows name their line;
a sysfs file that vanishes mid-run is a recorded gap (issue 12: 6, 7)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgekit.bench.sampler import Sampler
from edgekit.bench.validity import evaluate
from edgekit.errors import SensorError
from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource
from edgekit.sensors.plausible import max_power_w
from edgekit.sensors.thermal import ThermalReader
from edgekit.sensors.trace import TraceSource, parse_trace
from fakehw import add_thermal_zone, jetson_orin_nano, make_target, set_hwmon_channel

T0 = 1_790_000_000.0


def _wait_reads(s: Sampler, n: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while s.samples_read < n and time.monotonic() < deadline:
        time.sleep(0.005)
        s.check()


def test_thermal_sentinels_are_left_out_not_stored(sysroot):
    add_thermal_zone(sysroot, 0, "cpu-thermal", 51250)
    add_thermal_zone(sysroot, 1, "gpu-thermal", -999999)      # a driver's "no sensor"
    add_thermal_zone(sysroot, 2, "soc0-thermal", 100000000000)  # 1e8 °C
    snap = ThermalReader(sysroot).read()
    assert [z.name for z in snap.zones] == ["cpu-thermal"]
    assert snap.max_temp_c == pytest.approx(51.25)
    assert len(snap.implausible) == 2 and "gpu-thermal" in snap.implausible[0] and "°C" in snap.implausible[0]


def test_power_beyond_the_target_limit_is_counted_not_measured(sysroot):
    d = jetson_orin_nano(sysroot, vdd_in=(5000, 1000))
    src = JetsonHwmonSource(sysroot)
    from dataclasses import replace
    src.info = replace(src.info, max_plausible_w=max_power_w(make_target(idle_w=2.0, max_w=10.0)))
    assert src.info.max_plausible_w == pytest.approx(45.0)   # 3 x the highest budget (15 W mode)
    s = Sampler(src, sample_hz=200).start()
    _wait_reads(s, 5)
    set_hwmon_channel(d, 1, 5000, 20_000_000_000_000)          # 1e17 W
    n_bad0 = s.samples_read
    _wait_reads(s, n_bad0 + 5)
    set_hwmon_channel(d, 1, 5000, 1000)
    _wait_reads(s, s.samples_read + 5)
    s.stop()
    tr = s.trace()
    assert s.implausible >= 3
    assert np.all(tr.power_w == pytest.approx(5.0))               # nothing of the 1e17 W was stored
    assert "beyond the plausible 45 W" in s.implausible_examples[0]
    q = s.quality_json()
    power = {"estimated": False, "samples_read": s.samples_read, **q}
    flags = {f.code: f for f in evaluate(window_s=20, power=power, energy=None, thermal=None, rate=None,
                                         missing_providers=[], idle_s=0)}
    assert "implausible_readings" in flags and "check the sensor" in flags["implausible_readings"].message


def test_file_vanishing_mid_run_is_a_gap_and_the_run_carries_on(sysroot):
    d = jetson_orin_nano(sysroot, vdd_in=(5000, 1000))
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=200, max_gap_s=5).start()
    _wait_reads(s, 5)
    kept = s.samples_kept
    (d / "curr1_input").rename(d / "curr1_input.away")
    deadline = time.monotonic() + 5
    while not s.gaps and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    (d / "curr1_input.away").rename(d / "curr1_input")
    _wait_reads(s, s.samples_read + 5)
    s.stop()                       # no error raised: the bench goes on
    assert len(s.gaps) == 1
    start, end, why = s.gaps[0]
    assert end is not None and end > start and "curr1_input" in why and "no such file" in why
    assert s.samples_kept > kept + 3
    power = {"samples_read": s.samples_read, **s.quality_json()}
    flags = {f.code: f for f in evaluate(window_s=0.1, power=power, energy=None, thermal=None, rate=None,
                                         missing_providers=[], idle_s=0)}
    assert flags["sensor_gap"].severity == "invalid"      # the gap is a large part of a short window


def test_a_gap_longer_than_allowed_ends_the_sampler_with_the_reason(sysroot):
    d = jetson_orin_nano(sysroot)
    s = Sampler(JetsonHwmonSource(sysroot), sample_hz=200, max_gap_s=0.1).start()
    _wait_reads(s, 3)
    (d / "curr1_input").unlink()
    deadline = time.monotonic() + 5
    while s.running and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(SensorError, match="curr1_input.*has not answered for"):
        s.stop()


@pytest.mark.parametrize("row, problem", [
    ("1e308,2.0", "line 3: time 1e\\+308 is not a plausible Unix time"),
    (f"{T0 + 1},nan", "line 3: power nan is not a finite number"),
    (f"{T0 + 1},inf", "line 3: power inf is not a finite number"),
    ("9e99,1.0", "line 3: time 9e\\+99 is not a plausible Unix time"),
])
def test_trace_bad_rows_name_their_line(row, problem):
    with pytest.raises(SensorError, match=problem):
        parse_trace(f"time,power_w\n{T0},1.0\n{row}\n")


def test_trace_time_in_ms_overflowing_is_a_line_error_not_a_traceback():
    with pytest.raises(SensorError, match="line 2: time inf is not a finite number"):
        parse_trace("time_ms,power_w\n1e309,1.0\n")


def test_trace_row_with_implausible_power_is_left_out_and_listed(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text(f"time,power_w\n{T0},2.0\n{T0 + 1},1e17\n{T0 + 2},2.0\n")
    src = TraceSource(f)
    assert [r.power_w for r in src.rows] == [2.0, 2.0]
    assert src.info.skipped == ("m.csv line 3: power 1e+17 W is beyond the plausible 2000 W; row left out",)
