"""A labelled power estimate for devices without a sensor: idle_w + CPU utilisation x (max_w - idle_w).

CPU utilisation comes from the aggregate ``cpu`` line of ``<proc_root>/stat`` between two
reads (busy = all jiffies except idle and iowait). ``idle_w``/``max_w`` are the target
profile's ``estimate`` figures. Every sample is an estimate: ``SourceInfo.estimated`` is True
and the scope is ``"estimate"``; accelerators (GPU/NPU) are not seen by this model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.sysfs import read_text

DEFAULT_HZ = 10.0


def read_cpu_jiffies(proc_root: Path = Path("/proc")) -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate ``cpu`` line of /proc/stat."""
    path = Path(proc_root) / "stat"
    for line in read_text(path, fix="pass the host's /proc").splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            try:
                vals = [int(x) for x in parts[1:]]
            except ValueError:
                break
            # user nice system idle iowait irq softirq steal guest guest_nice; guest* are inside user/nice
            fields = (vals + [0] * 10)[:10]
            idle = fields[3] + fields[4]
            total = sum(fields[:8])
            return total - idle, total
    raise SensorError(f"{path} has no aggregate 'cpu' line; pass the host's /proc")


class EstimateSource:
    """Estimated power from CPU utilisation; marked ``estimated`` in every result."""

    def __init__(self, idle_w: float, max_w: float, *, proc_root: Path = Path("/proc"), label: str = ""):
        if not (0 <= idle_w < max_w):
            raise ConfigError(f"estimate needs 0 <= idle_w < max_w, got idle_w={idle_w}, max_w={max_w}; "
                              "fix the target profile's [estimate] table")
        self.idle_w, self.max_w = float(idle_w), float(max_w)
        self.proc_root = Path(proc_root)
        self._last = read_cpu_jiffies(self.proc_root)
        self._last_util = 0.0
        self.last_utilisation = 0.0
        what = f" of {label}" if label else ""
        self.info = SourceInfo(
            name="estimate",
            scope="estimate",
            description=(f"ESTIMATE, not a measurement: {self.idle_w:g} W idle + CPU utilisation x "
                         f"({self.max_w:g} - {self.idle_w:g}) W, figures from the target profile{what}; "
                         "ignores GPU/NPU work, memory and peripherals"),
            rails=("estimate",),
            default_sample_hz=DEFAULT_HZ,
            resolution_w=(self.max_w - self.idle_w) / 100.0,  # one percent of utilisation
            estimated=True,
        )

    @classmethod
    def from_target(cls, target: Any, *, proc_root: Path = Path("/proc")) -> "EstimateSource":
        est = getattr(target, "estimate", None)
        if est is None:
            raise ConfigError("the target profile has no [estimate] table (idle_w, max_w); add one")
        return cls(est.idle_w, est.max_w, proc_root=proc_root, label=f"target {getattr(target, 'name', '?')}")

    def utilisation(self) -> float:
        """CPU utilisation (0..1) since the previous call; the last value when no jiffy has passed."""
        busy, total = read_cpu_jiffies(self.proc_root)
        d_busy, d_total = busy - self._last[0], total - self._last[1]
        if d_total > 0:
            self._last_util = min(1.0, max(0.0, d_busy / d_total))
            self._last = (busy, total)
        return self._last_util

    def read(self) -> PowerSample:
        t = time.monotonic()
        util = self.utilisation()
        self.last_utilisation = util
        power_w = self.idle_w + util * (self.max_w - self.idle_w)
        return PowerSample(t_s=t, power_w=power_w, rails_w={"estimate": power_w})

    def close(self) -> None:
        pass
