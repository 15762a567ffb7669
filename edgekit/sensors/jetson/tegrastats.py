"""Jetson power and temperatures from ``tegrastats --interval MS`` output.

Handles the format changes across L4T releases: power fields ``NAME cur/avg`` without a
unit (L4T 32, mW implied), ``NAME 4920mW/4920mW`` (L4T 35/36), ``NAME a/b/c mW`` triples
(JetPack 7); temperatures ``CPU@45.5C`` or ``cpu@52.968C/52.968C``; an optional leading
``MM-DD-YYYY HH:MM:SS`` timestamp. ``PMIC@100C`` is a constant placeholder and is dropped.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.commands import require_command
from edgekit.sensors.jetson import rails as railsel

_NUM = r"(\d+(?:\.\d+)?)"
_POWER = re.compile(rf"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*) {_NUM}(?:mW)?/{_NUM}(?:mW)?(?:/{_NUM}(?:mW)?)?(?=\s|$)")
_TEMP = re.compile(r"(?<![\w%])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C(?:/(-?\d+(?:\.\d+)?)C)?(?=\s|$)")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%")
_STAMP = re.compile(r"^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2} ")
#: Words that look like ``NAME a/b`` but are memory counters, not rails (units follow them anyway).
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}
PLACEHOLDER_TEMPS = {"PMIC"}


@dataclass(frozen=True)
class TegrastatsReading:
    rails_mw: dict[str, float]                 # instantaneous power per rail, mW
    rails_avg_mw: dict[str, float]             # tegrastats' running average since it started, mW
    temps_c: dict[str, float] = field(default_factory=dict)
    cpu_load_pct: tuple[float | None, ...] = ()  # None for an offline core
    gpu_load_pct: float | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    stamp: str | None = None                   # the leading timestamp when tegrastats printed one


def parse_tegrastats_line(line: str) -> TegrastatsReading:
    """Parse one line of tegrastats output (any L4T 32..39 format)."""
    line = line.strip()
    stamp = None
    m = _STAMP.match(line)
    if m:
        stamp = m.group(0).strip()
    rails, avgs = {}, {}
    for name, cur, avg, _third in _POWER.findall(line):
        if name in _NOT_RAILS:
            continue
        rails[name] = float(cur)
        avgs[name] = float(avg)
    temps = {name: float(cur) for name, cur, _ in _TEMP.findall(line) if name not in PLACEHOLDER_TEMPS}
    cpu: tuple[float | None, ...] = ()
    m = _CPU.search(line)
    if m:
        cores = []
        for entry in m.group(1).split(","):
            entry = entry.strip()
            pct = re.match(r"(\d+)%", entry)
            cores.append(float(pct.group(1)) if pct else None)
        cpu = tuple(cores)
    ram = _RAM.search(line)
    gpu = _GR3D.search(line)
    return TegrastatsReading(
        rails_mw=rails, rails_avg_mw=avgs, temps_c=temps, cpu_load_pct=cpu,
        gpu_load_pct=float(gpu.group(1)) if gpu else None,
        ram_used_mb=int(ram.group(1)) if ram else None, ram_total_mb=int(ram.group(2)) if ram else None,
        stamp=stamp,
    )


class TegrastatsSource:
    """Runs ``tegrastats --interval MS`` and turns each printed line into a sample.

    :meth:`read` returns the next line not yet returned, waiting for tegrastats to print it
    (at most a few intervals); ``t_s`` is when the line arrived. ``last`` holds the full
    parsed line (temperatures, loads) of the latest sample.
    """

    def __init__(self, command: str | None = None, *, interval_ms: int = 100, args: Sequence[str] = ()):
        self.command = require_command("tegrastats", command)
        self.interval_ms = int(interval_ms)
        self._cond = threading.Condition()
        self._latest: tuple[int, float, TegrastatsReading] | None = None
        self._returned = 0
        self._error: str | None = None
        try:
            self._proc = subprocess.Popen([self.command, "--interval", str(self.interval_ms), *args],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        except OSError as exc:
            raise SensorError(f"cannot start {self.command}: {exc.strerror or exc}; check it is executable") from None
        self._thread = threading.Thread(target=self._pump, name="tegrastats-reader", daemon=True)
        self._thread.start()
        try:
            first = self._wait_next()
        except SensorError:
            self.close()
            raise
        self._pending_first = first
        names = list(first[2].rails_mw)
        if not names:
            self.close()
            raise SensorError("tegrastats prints no power rails on this device; use --power jetson (INA3221 sysfs)")
        self.counted = railsel.total_rails(names)
        self.last: TegrastatsReading = first[2]
        self.info = SourceInfo(
            name="tegrastats",
            scope="module",
            description=railsel.describe(self.counted, names, "via tegrastats"),
            rails=self.counted,
            default_sample_hz=1000.0 / self.interval_ms,
            resolution_w=0.001 * len(self.counted),  # tegrastats prints whole mW
            rail_set=railsel.rail_set(self.counted),
            update_interval_s=self.interval_ms / 1000.0,
        )

    def _pump(self) -> None:
        seq = 0
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            t = time.monotonic()
            reading = parse_tegrastats_line(line)
            if not reading.rails_mw and not reading.temps_c:
                continue
            seq += 1
            with self._cond:
                self._latest = (seq, t, reading)
                self._cond.notify_all()
        err = (self._proc.stderr.read() if self._proc.stderr else "").strip().splitlines()
        with self._cond:
            self._error = err[-1] if err else f"exit status {self._proc.wait()}"
            self._cond.notify_all()

    def _wait_next(self) -> tuple[int, float, TegrastatsReading]:
        timeout = max(2.0, 5 * self.interval_ms / 1000.0)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest[0] <= self._returned:
                if self._error is not None:
                    raise SensorError(f"tegrastats stopped: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SensorError(f"tegrastats printed no line within {timeout:g} s; check it runs on this device")
                self._cond.wait(left)
            self._returned = self._latest[0]
            return self._latest

    def read(self) -> PowerSample:
        if self._pending_first is not None:
            _, t, reading = self._pending_first
            self._pending_first = None
        else:
            _, t, reading = self._wait_next()
        self.last = reading
        rails_w = {k: v / 1000.0 for k, v in reading.rails_mw.items()}
        missing = [r for r in self.counted if r not in rails_w]
        if missing:
            raise SensorError(f"tegrastats line lacks rail(s) {', '.join(missing)} it printed before")
        return PowerSample(t_s=t, power_w=railsel.total_power_w(rails_w, self.counted), rails_w=rails_w)

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=2)
