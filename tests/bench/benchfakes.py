"""Small builders of fake sysfs trees and a live power writer for the bench tests and bench/bench_sampler.py.

File names and units are the real ones (shared/reference/power-sensors.md): INA3221 hwmon
``in<k>_label`` / ``in<k>_input`` (mV) / ``curr<k>_input`` (mA); powercap ``energy_uj`` (uJ);
thermal ``thermal_zone<N>/type`` + ``temp`` (m°C).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def write(path: Path, value) -> Path:
    """Write a sysfs attribute atomically (temp file + rename), so a concurrent reader never sees half a value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{value}\n")
    os.replace(tmp, path)
    return path


def orin_nano_hwmon(root: Path, *, vdd_in_mv: int = 5000, vdd_in_ma: int = 1000) -> Path:
    """Orin Nano (p3767) INA3221 at 1-0040: in1 VDD_IN, in2 VDD_CPU_GPU_CV, in3 VDD_SOC, 5 mOhm shunts."""
    d = root / "bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    write(d.parent.parent / "name", "ina3221")
    for k, (label, mv, ma) in enumerate([("VDD_IN", vdd_in_mv, vdd_in_ma), ("VDD_CPU_GPU_CV", 5000, 160),
                                         ("VDD_SOC", 5000, 290)], start=1):
        write(d / f"in{k}_label", label)
        write(d / f"in{k}_input", mv)
        write(d / f"curr{k}_input", ma)
        write(d / f"shunt{k}_resistor", 5000)
    write(d / "in7_label", "sum of shunt voltages")
    write(d / "in7_input", 3000)
    return d


def set_vdd_in(hwmon: Path, mv: int, ma: int) -> None:
    write(hwmon / "curr1_input", ma)
    write(hwmon / "in1_input", mv)


def rapl_package(root: Path, *, energy_uj: int, max_range_uj: int) -> Path:
    d = root / "class/powercap/intel-rapl:0"
    write(d / "name", "package-0")
    write(d / "energy_uj", energy_uj)
    write(d / "max_energy_range_uj", max_range_uj)
    return d


def thermal_zone(root: Path, n: int, kind: str, temp_mc: int) -> Path:
    d = root / f"class/thermal/thermal_zone{n}"
    write(d / "type", kind)
    write(d / "temp", temp_mc)
    return d


class LivePowerWriter(threading.Thread):
    """Writes VDD_IN current following ``power_w(t)`` (t = seconds since start) every ``period_s``,
    and keeps the exact history of what the files held, so the true energy of any window is known."""

    def __init__(self, hwmon: Path, power_w, *, period_s: float = 0.001, mv: int = 5000):
        super().__init__(daemon=True)
        self.hwmon, self.power_w, self.period_s, self.mv = hwmon, power_w, period_s, mv
        self.history: list[tuple[float, float]] = []  # (monotonic t when the value became visible, watts)
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def _put(self, t_rel: float) -> None:
        ma = round(self.power_w(t_rel) * 1e6 / self.mv)
        write(self.hwmon / "curr1_input", ma)
        self.history.append((time.monotonic(), self.mv * ma / 1e6))

    def run(self) -> None:
        while not self._halt.is_set():
            self._put(time.monotonic() - self.t0)
            self._halt.wait(self.period_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def true_energy_j(self, t0: float, t1: float) -> float:
        """Integral of the piecewise-constant file content over [t0, t1]."""
        e = 0.0
        h = self.history
        for i, (t, w) in enumerate(h):
            nxt = h[i + 1][0] if i + 1 < len(h) else float("inf")
            a, b = max(t, t0), min(nxt, t1)
            if b > a:
                e += w * (b - a)
        return e
