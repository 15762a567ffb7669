"""Temperatures, cooling devices and CPU clocks from sysfs, plus Raspberry Pi throttling flags.

- ``<root>/class/thermal/thermal_zone*/{type,temp}``: temp in millidegrees C.
- ``<root>/class/thermal/cooling_device*/{type,cur_state,max_state}``: ``cur_state`` > 0 on a
  processor cooling device means throttling is requested.
- ``<root>/devices/system/cpu/cpu*/cpufreq/{scaling_cur_freq,scaling_max_freq}``: kHz.
- ``vcgencmd get_throttled`` when a vcgencmd is given (Raspberry Pi).

A zone whose ``temp`` cannot be read (sensor offline), or reads outside the plausible
-55..150 °C (:mod:`edgekit.sensors.plausible`), is left out of that snapshot; the latter is
listed in ``ThermalSnapshot.implausible``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from edgekit.sensors.base import ThermalSnapshot, ThermalZoneReading
from edgekit.sensors.commands import require_command
from edgekit.sensors.plausible import temp_problem
from edgekit.sensors.rpi.throttle import read_throttled
from edgekit.sensors.sysfs import read_optional_int, read_optional_text


def _index(path: Path) -> int:
    m = re.search(r"(\d+)$", path.name)
    return int(m.group(1)) if m else -1


class ThermalReader:
    """Reads a :class:`ThermalSnapshot`; the set of zones/devices/CPUs is found once, at construction."""

    def __init__(self, root: Path = Path("/sys"), *, vcgencmd: str | None = None):
        self.root = Path(root)
        self.vcgencmd = require_command("vcgencmd", vcgencmd) if vcgencmd else None
        thermal = self.root / "class/thermal"
        self.zones = [(read_optional_text(d / "type") or d.name, d)
                      for d in sorted(thermal.glob("thermal_zone*"), key=_index)]
        self.cooling = [(f"{d.name}:{read_optional_text(d / 'type') or '?'}", d)
                        for d in sorted(thermal.glob("cooling_device*"), key=_index)]
        self.cpus = [(_index(d.parent), d)
                     for d in sorted((self.root / "devices/system/cpu").glob("cpu[0-9]*/cpufreq"),
                                     key=lambda p: _index(p.parent))]

    def read(self) -> ThermalSnapshot:
        t = time.monotonic()
        zones, implausible = [], []
        for name, d in self.zones:
            milli = read_optional_int(d / "temp")
            if milli is not None:
                bad = temp_problem(milli / 1000.0)
                if bad:  # e.g. -999999 m°C from a driver without a sensor: invalid, not a temperature
                    implausible.append(f"{name} ({d.name}): {bad}")
                    continue
                zones.append(ThermalZoneReading(name=name, path=str(d), temp_c=milli / 1000.0))
        cooling, cooling_max = {}, {}
        for key, d in self.cooling:
            cur = read_optional_int(d / "cur_state")
            if cur is not None:
                cooling[key] = cur
            mx = read_optional_int(d / "max_state")
            if mx is not None:
                cooling_max[key] = mx
        freqs, max_freqs = {}, {}
        for cpu, d in self.cpus:
            cur = read_optional_int(d / "scaling_cur_freq")
            if cur is not None:
                freqs[cpu] = cur
            mx = read_optional_int(d / "scaling_max_freq") or read_optional_int(d / "cpuinfo_max_freq")
            if mx is not None:
                max_freqs[cpu] = mx
        bits = read_throttled(self.vcgencmd).bits if self.vcgencmd else None
        return ThermalSnapshot(t_s=t, zones=tuple(zones), cpu_freq_khz=freqs, cooling_states=cooling,
                               throttled_bits=bits, cooling_max_states=cooling_max, cpu_max_freq_khz=max_freqs,
                               implausible=tuple(implausible))


def read_thermal(root: Path = Path("/sys"), *, vcgencmd: str | None = None) -> ThermalSnapshot:
    """One snapshot; use :class:`ThermalReader` to read repeatedly."""
    return ThermalReader(root, vcgencmd=vcgencmd).read()
