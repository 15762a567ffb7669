import time
from datetime import datetime, timezone

import pytest

from edgekit.errors import SensorError
from edgekit.sensors.detect import open_power_source
from edgekit.sensors.trace import TraceSource, parse_trace

T0 = 1_790_000_000.0  # a wall-clock second (2026)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def test_power_column_with_iso_timestamps(tmp_path):
    f = tmp_path / "meter.csv"
    f.write_text("timestamp,power_w\n" + "".join(f"{_iso(T0 + k * 0.5)},{2.0 + k * 0.25}\n" for k in range(9)))
    src = open_power_source("trace", trace_file=f)
    assert src.info.name == "trace" and src.info.scope == "board"
    assert src.info.default_sample_hz == pytest.approx(2.0)
    assert src.info.resolution_w == pytest.approx(0.25)
    # run from T0+0.75 to T0+3.25, monotonic start 100.0
    w = src.window(T0 + 0.75, T0 + 3.25, mono_start_s=100.0)
    assert [s.t_s for s in w] == pytest.approx([100.0, 100.25, 100.75, 101.25, 101.75, 102.25, 102.5])
    assert w[0].power_w == pytest.approx(2.0 + 1.5 * 0.25)       # interpolated at 0.75 s
    assert w[-1].power_w == pytest.approx(2.0 + 6.5 * 0.25)      # interpolated at 3.25 s
    assert [s.power_w for s in w[1:-1]] == pytest.approx([2.0 + k * 0.25 for k in range(2, 7)])


@pytest.mark.parametrize("header, row, expect_w", [
    ("Time(s),Current(mA),Voltage(V)", "{t},850,5.1", 0.850 * 5.1),
    ("unix_ms;current_a;voltage_mv", "{tms};0.85;5100", 0.85 * 5.1),
    ("time\tmW", "{t}\t4335", 4.335),
    ("Timestamp,Voltage [V],Current [A],Power [W]", "{t},5.1,0.85,4.3", 4.3),
])
def test_header_variants_and_units(header, row, expect_w):
    body = "\n".join(row.format(t=T0 + k, tms=int((T0 + k) * 1000)) for k in range(3))
    rows, used = parse_trace(f"{header}\n{body}\n")
    assert [r.power_w for r in rows] == pytest.approx([expect_w] * 3)
    assert [r.wall_s for r in rows] == pytest.approx([T0, T0 + 1, T0 + 2])


def test_relative_time_needs_start(tmp_path):
    f = tmp_path / "rel.csv"
    f.write_text("elapsed_s,power_w\n0,1.0\n0.1,1.5\n0.2,2.0\n")
    with pytest.raises(SensorError, match="relative seconds; give the wall-clock time"):
        TraceSource(f)
    src = TraceSource(f, start_wall_s=T0)
    assert [s.power_w for s in src.window(T0 + 0.05, T0 + 0.15)] == pytest.approx([1.25, 1.5, 1.75])


def test_preamble_lines_skipped_and_bad_row_reported(tmp_path):
    rows, _ = parse_trace(f"Device: USB meter\nRate: 1 Hz\ntime,power\n{T0},1.0\n{T0 + 1},2.0\n")
    assert len(rows) == 2
    with pytest.raises(SensorError, match="line 3: cannot read"):
        parse_trace(f"time,power\n{T0},1.0\n{T0 + 1},oops\n")
    with pytest.raises(SensorError, match="no header with a time column"):
        parse_trace("a,b\n1,2\n")


def test_window_outside_trace_is_refused(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("time,power_w\n" + "".join(f"{T0 + k},{k}\n" for k in range(5)))
    src = TraceSource(f)
    with pytest.raises(SensorError, match="start the meter before the run"):
        src.window(T0 + 1, T0 + 10)
    shifted = TraceSource(f, clock_offset_s=2.0)  # meter clock 2 s behind
    assert shifted.window(T0 + 2, T0 + 3)[0].power_w == pytest.approx(0.0)


def test_live_trace_read(tmp_path):
    f = tmp_path / "live.csv"
    now = time.time()
    f.write_text(f"time,power_w\n{now - 1.0},3.0\n{now - 0.5},3.5\n")
    src = TraceSource(f)
    with f.open("a") as fh:
        fh.write(f"{now - 0.1},4.25\n")
    s = src.read()
    assert s.power_w == 4.25
    assert s.t_s == pytest.approx(time.monotonic() - 0.1, abs=0.05)
    f.write_text(f"time,power_w\n{now - 60},3.0\n{now - 59},3.0\n")
    with pytest.raises(SensorError, match="is the meter still logging"):
        src.read()
