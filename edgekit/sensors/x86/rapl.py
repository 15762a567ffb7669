"""CPU package energy from RAPL: ``<root>/class/powercap/intel-rapl:<pkg>/energy_uj``.

``energy_uj`` is a cumulative uJ counter that wraps at ``max_energy_range_uj``; AMD CPUs
use the same interface since Linux 5.8. Package zones are named ``package-N`` or
``package-N-die-D``; sub-zones (core, uncore, dram) are parts of a package and ``psys``
contains the packages, so levels are never summed. Since CVE-2020-8694 ``energy_uj`` is
readable by root only unless an administrator relaxes it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.sysfs import read_attr, read_optional_int, read_optional_text

DEFAULT_HZ = 10.0
#: Default RAPL energy unit (MSR): 1/2^16 J.
ENERGY_UNIT_J = 1 / 2**16
_PACKAGE = re.compile(r"^package-\d+(-die-\d+)?$")


def permission_fix(path: Path) -> str:
    zone = path.parent.name
    return (f"cannot read {path}: permission denied (RAPL energy_uj is root-only since CVE-2020-8694); run as root, "
            f"or `sudo chmod -R a+r /sys/class/powercap/intel-rapl*` (until reboot), or add "
            f"`mode class/powercap/{zone}/energy_uj = 0444` to /etc/sysfs.conf (sysfsutils)")


@dataclass
class RaplZone:
    name: str                    # "package-0"
    path: Path                   # the zone directory
    max_range_uj: int | None     # None: wrap correction impossible
    last_uj: int = 0
    wraps: int = 0

    def read_uj(self) -> int:
        f = self.path / "energy_uj"
        try:
            text = read_attr(f)
        except PermissionError:
            raise SensorError(permission_fix(f)) from None
        except OSError as exc:
            raise SensorError(f"cannot read {f}: {exc.strerror or exc}; check the intel_rapl driver is loaded") from None
        try:
            return int(text)
        except ValueError:
            raise SensorError(f"{f} holds {text!r}, not a counter; the RAPL driver reports nonsense") from None

    def update(self) -> int:
        """Read the counter and return its unwrapped value, uJ (one wrap assumed per decrease)."""
        raw = self.read_uj()
        if raw < self.last_uj:
            if self.max_range_uj is None:
                raise SensorError(f"{self.path}/energy_uj went backwards and max_energy_range_uj is unreadable; "
                                  "cannot unwrap the counter — make max_energy_range_uj readable")
            self.wraps += 1
        self.last_uj = raw
        return raw + self.wraps * (self.max_range_uj or 0)


def find_zones(root: Path, names: re.Pattern = _PACKAGE) -> list[Path]:
    base = Path(root) / "class/powercap"
    found: dict[str, Path] = {}
    for d in sorted([*base.glob("intel-rapl:*"), *base.glob("intel-rapl/intel-rapl:*")]):
        if d.name.count(":") != 1:          # intel-rapl:0:0 is a sub-zone
            continue
        if names.match(read_optional_text(d / "name") or ""):
            found.setdefault(d.name, d)
    return list(found.values())


class RaplSource:
    """Sum of the CPU package counters (``domain="package"``) or the platform ``psys`` counter."""

    def __init__(self, root: Path = Path("/sys"), *, domain: str = "package"):
        self.root = Path(root)
        pattern = _PACKAGE if domain == "package" else re.compile(rf"^{re.escape(domain)}(-\d+)?$")
        dirs = find_zones(self.root, pattern)
        if not dirs:
            raise SensorError(f"no RAPL {domain} zone under {self.root}/class/powercap; not an Intel/AMD host with "
                              "the intel_rapl driver (modprobe intel_rapl_msr), or mount the host's /sys")
        self.zones = []
        for d in dirs:
            z = RaplZone(read_optional_text(d / "name") or d.name, d, read_optional_int(d / "max_energy_range_uj"))
            self.zones.append(z)
        self._start = {}
        for z in self.zones:
            z.last_uj = z.read_uj()
            self._start[z.name] = z.last_uj
        self._last_t = time.monotonic()
        self._last_j = {z.name: 0.0 for z in self.zones}
        unwrap = all(z.max_range_uj is not None for z in self.zones)
        self.info = SourceInfo(
            name="rapl",
            scope="package",
            description=(f"RAPL energy counter of {' + '.join(z.name for z in self.zones)} "
                         f"(powercap intel-rapl); covers the CPU package(s) only, not DRAM, disks or the rest of "
                         f"the machine{'' if unwrap else '; max_energy_range_uj unreadable, wraps not corrected'}"),
            rails=tuple(z.name for z in self.zones),
            default_sample_hz=DEFAULT_HZ,
            resolution_w=ENERGY_UNIT_J * DEFAULT_HZ * len(self.zones),
            has_counter=True,
        )

    def read(self) -> PowerSample:
        """Energy since the source opened (``energy_j``) and the average power since the previous read."""
        t0 = time.monotonic()
        zone_j = {z.name: (z.update() - self._start[z.name]) / 1e6 for z in self.zones}
        t = (t0 + time.monotonic()) / 2
        dt = t - self._last_t
        rails_w = {n: (e - self._last_j[n]) / dt if dt > 0 else 0.0 for n, e in zone_j.items()}
        self._last_t, self._last_j = t, zone_j
        return PowerSample(t_s=t, power_w=sum(rails_w.values()), energy_j=sum(zone_j.values()), rails_w=rails_w)

    def close(self) -> None:
        pass
