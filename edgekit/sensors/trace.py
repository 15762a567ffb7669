"""An external meter's trace file (USB-C inline meters, lab power monitors) as a power source.

The file is CSV (comma, semicolon or tab) with a header naming a time column and either a
power column or current and voltage columns. Units come from the header: ``Power (W)``,
``power_mw``, ``Current(mA)``, ``voltage_v``, ``time_ms``... Time values may be ISO 8601
(naive values are local time), Unix epoch seconds or milliseconds, or seconds relative
to the meter's start (then give ``start_wall_s``, the wall-clock time of the first row).

Runs are aligned by wall clock: :meth:`TraceSource.window` takes the run's wall-clock
start and end (``time.time()`` at those moments) and returns the samples on the run's
monotonic axis, with interpolated samples exactly at both ends. :meth:`read` serves a
file the meter is still appending to (the newest row).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import re
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, Scope, SourceInfo
from edgekit.sensors.plausible import POWER_LIMIT_W, power_problem, time_problem

_TIME_NAMES = {"time", "timestamp", "datetime", "date_time", "date time", "t", "unix", "epoch", "elapsed",
               "seconds", "sec", "ts", "clock"}
_POWER_NAMES = {"power", "p", "watts", "watt", "w", "mw", "load power"}
_CURRENT_NAMES = {"current", "i", "amps", "amp", "a", "ma", "load current"}
_VOLTAGE_NAMES = {"voltage", "volts", "volt", "v", "u", "mv", "bus voltage", "vbus"}
_UNIT_SCALE = {"w": 1.0, "mw": 1e-3, "uw": 1e-6, "a": 1.0, "ma": 1e-3, "ua": 1e-6, "v": 1.0, "mv": 1e-3,
               "s": 1.0, "ms": 1e-3, "us": 1e-6}
STALE_S = 5.0


def _split_header(cell: str) -> tuple[str, str | None]:
    """``"Power (mW)"`` -> ("power", "mw"); ``"current_ma"`` -> ("current", "ma"); ``"mW"`` -> ("mw", "mw")."""
    c = cell.strip().lower().replace("µ", "u")
    m = re.fullmatch(r"(.*?)\s*[\(\[]\s*([a-z]+)\s*[\)\]]", c)
    if m:
        return m.group(1).strip(" _"), m.group(2)
    m = re.fullmatch(r"(.+?)[_ ](w|mw|uw|a|ma|ua|v|mv|s|ms|us)", c)
    if m:
        return m.group(1).strip(), m.group(2)
    if c in _UNIT_SCALE:
        return c, c
    return c, None


@dataclass(frozen=True)
class _Columns:
    time: int
    time_scale: float
    power: int | None
    power_scale: float
    current: int | None
    current_scale: float
    voltage: int | None
    voltage_scale: float
    names: tuple[str, ...]


def _find_columns(header: list[str]) -> _Columns | None:
    t = p = i = v = None
    scales = {"t": 1.0, "p": 1.0, "i": 1.0, "v": 1.0}
    for idx, cell in enumerate(header):
        name, unit = _split_header(cell)
        scale = _UNIT_SCALE.get(unit or "", 1.0)
        if t is None and (name in _TIME_NAMES or name.startswith("time")):
            t, scales["t"] = idx, scale
        elif p is None and (name in _POWER_NAMES or name.startswith("power")) and unit not in ("a", "ma", "v", "mv"):
            p, scales["p"] = idx, scale
        elif i is None and (name in _CURRENT_NAMES or name.startswith("current")):
            i, scales["i"] = idx, scale
        elif v is None and (name in _VOLTAGE_NAMES or name.startswith("voltage")):
            v, scales["v"] = idx, scale
    if t is None or (p is None and (i is None or v is None)):
        return None
    return _Columns(t, scales["t"], p, scales["p"], i, scales["i"], v, scales["v"], tuple(header))


def _parse_time(text: str, scale: float) -> tuple[float, bool]:
    """(seconds, absolute?) — absolute values are Unix epoch seconds."""
    text = text.strip()
    try:
        x = float(text) * scale
    except ValueError:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SensorError(f"time value {text!r} is neither a number nor ISO 8601") from None
        return dt.timestamp(), True  # naive: local time
    if scale == 1.0 and 1e11 <= x < 1e14:  # epoch milliseconds without a unit in the header
        return x / 1000.0, True
    return x, x >= 1e9


@dataclass(frozen=True)
class TraceRow:
    wall_s: float
    power_w: float


def parse_trace(text: str, *, name: str = "trace", start_wall_s: float | None = None,
                limit_w: float = POWER_LIMIT_W, rejected: list[str] | None = None) -> tuple[list[TraceRow], str]:
    """Rows sorted by time and a description of the columns used.

    A row whose time or power is not a finite number, or whose time is no plausible Unix time,
    is an error naming its line. A row with a finite power beyond ``limit_w`` is left out and
    described in ``rejected`` (when given).
    """
    first = text.splitlines()[:1]
    delim = max(",;\t", key=lambda d: first[0].count(d)) if first else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    cols = None
    for h, header in enumerate(rows[:20]):
        cols = _find_columns(header)
        if cols:
            break
    if cols is None:
        raise SensorError(f"{name}: no header with a time column and a power (or current and voltage) column; "
                          "name them e.g. timestamp,power_w or time,current_ma,voltage_v")
    out: list[TraceRow] = []
    relative = None
    if rejected is None:
        rejected = []
    for lineno, row in enumerate(rows[h + 1:], start=h + 2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            t, absolute = _parse_time(row[cols.time], cols.time_scale)
            if cols.power is not None:
                power = float(row[cols.power]) * cols.power_scale
            else:
                power = float(row[cols.current]) * cols.current_scale * float(row[cols.voltage]) * cols.voltage_scale
        except (IndexError, ValueError, SensorError) as exc:
            raise SensorError(f"{name} line {lineno}: cannot read {row!r} ({exc}); fix or remove that row") from None
        problem = time_problem(t, absolute=absolute) or (None if math.isfinite(power) else
                                                         f"power {power} is not a finite number")
        if problem:
            raise SensorError(f"{name} line {lineno}: {problem}; fix or remove that row")
        if relative is None:
            relative = not absolute
        if relative:
            if start_wall_s is None:
                raise SensorError(f"{name}: time column holds relative seconds; give the wall-clock time of the first "
                                  "row (start_wall_s) to align it with a run")
            t += start_wall_s
        bad = power_problem(power, limit_w)
        if bad:  # a meter glitch: left out and counted, never a measurement
            rejected.append(f"line {lineno}: {bad}")
            continue
        out.append(TraceRow(t, abs(power)))
    out.sort(key=lambda r: r.wall_s)
    used = (f"power column {cols.names[cols.power]!r}" if cols.power is not None else
            f"current {cols.names[cols.current]!r} x voltage {cols.names[cols.voltage]!r}")
    return out, used


class TraceSource:
    """Samples from an external meter's CSV; see the module doc for formats and alignment."""

    def __init__(self, path: Path, *, scope: Scope = "board", start_wall_s: float | None = None,
                 clock_offset_s: float = 0.0):
        self.path = Path(path)
        self.start_wall_s = start_wall_s
        self.clock_offset_s = clock_offset_s  # added to the meter's timestamps to correct its clock
        self._load()
        if not self.rows:
            raise SensorError(f"{self.path}: the trace has a header but no rows; record the run with the meter first")
        gaps = [b.wall_s - a.wall_s for a, b in zip(self.rows, self.rows[1:]) if b.wall_s > a.wall_s]
        rate = 1.0 / statistics.median(gaps) if gaps else 1.0
        values = sorted({r.power_w for r in self.rows})
        steps = [b - a for a, b in zip(values, values[1:]) if b - a > 1e-12]
        self.info = SourceInfo(
            name="trace",
            scope=scope,
            description=(f"external meter trace {self.path.name} ({self._used}); covers whatever the meter is wired "
                         "in front of, e.g. an inline USB-C meter: the whole board and its USB devices"),
            rails=(self._used,),
            default_sample_hz=rate,
            resolution_w=min(steps) if steps else 0.0,  # the smallest step seen in the trace
            skipped=tuple(f"{self.path.name} {r}; row left out" for r in self.rejected[:20]),
        )

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as exc:
            raise SensorError(f"cannot read trace file {self.path}: {exc.strerror or exc}; check the path") from None
        self.rejected: list[str] = []
        rows, self._used = parse_trace(text, name=str(self.path), start_wall_s=self.start_wall_s,
                                       rejected=self.rejected)
        self.rows = [TraceRow(r.wall_s + self.clock_offset_s, r.power_w) for r in rows]
        self._walls = [r.wall_s for r in self.rows]

    def _at(self, wall_s: float) -> float:
        """Linear interpolation of power at a wall-clock time inside the trace."""
        k = bisect.bisect_left(self._walls, wall_s)
        if k < len(self.rows) and self._walls[k] == wall_s:
            return self.rows[k].power_w
        a, b = self.rows[k - 1], self.rows[k]
        return a.power_w + (b.power_w - a.power_w) * (wall_s - a.wall_s) / (b.wall_s - a.wall_s)

    def window(self, wall_start_s: float, wall_end_s: float, *, mono_start_s: float = 0.0) -> list[PowerSample]:
        """The trace between a run's wall-clock start and end, on the run's monotonic axis.

        ``t_s = mono_start_s + (wall - wall_start_s)``; the first and last samples are
        interpolated exactly at the run's start and end.
        """
        if wall_end_s <= wall_start_s:
            raise SensorError("trace window end is not after its start")
        first, last = self._walls[0], self._walls[-1]
        if first > wall_start_s or last < wall_end_s:
            def fmt(x: float) -> str:
                return datetime.fromtimestamp(x, timezone.utc).strftime("%H:%M:%S.%f")[:-3] + "Z"
            raise SensorError(f"{self.path.name} covers {fmt(first)}-{fmt(last)} but the run was "
                              f"{fmt(wall_start_s)}-{fmt(wall_end_s)}; start the meter before the run and stop it "
                              "after, or correct the meter clock (clock_offset_s)")
        inside = [r for r in self.rows if wall_start_s < r.wall_s < wall_end_s]
        points = [(wall_start_s, self._at(wall_start_s)), *((r.wall_s, r.power_w) for r in inside),
                  (wall_end_s, self._at(wall_end_s))]
        return [PowerSample(t_s=mono_start_s + (w - wall_start_s), power_w=p) for w, p in points]

    def read(self) -> PowerSample:
        """The newest row of a trace the meter is still writing, on this process's monotonic clock."""
        self._load()
        if not self.rows:
            raise SensorError(f"{self.path}: no rows yet; is the meter logging?")
        row = self.rows[-1]
        age = time.time() - row.wall_s
        if age > max(STALE_S, 5.0 / self.info.default_sample_hz):
            raise SensorError(f"{self.path.name} has no row for the last {age:.0f} s; is the meter still logging? "
                              "(for a finished trace, align it with window())")
        return PowerSample(t_s=time.monotonic() - age, power_w=row.power_w)

    def close(self) -> None:
        pass
