"""Battery discharge power from Linux ``<root>/class/power_supply/<BAT>/``.

Units (kernel power_supply class): ``power_now`` uW, ``current_now`` uA, ``voltage_now`` uV,
``energy_*`` uWh, ``charge_*`` uAh, ``capacity`` %, ``temp`` 0.1 degC.
Per battery the reader uses, in order: ``power_now`` (when it reads non-zero),
``current_now`` x ``voltage_now``, or the ``energy_now`` / ``charge_now`` x ``voltage_now``
counter's decrease. The sign of ``current_now``/``power_now`` varies by firmware (ACPI
laptops report positive values while discharging, against the ABI text), so ``status``
decides the direction: only a ``Discharging`` battery carries the device's power, and any
other status makes :meth:`BatterySource.read` refuse with a one-line error.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.base import BatteryState, PowerSample, SourceInfo
from edgekit.sensors.plausible import POWER_LIMIT_W
from edgekit.sensors.units import UnitDecision, acpi_current_unit, counter_check
from edgekit.sensors.sysfs import read_int, read_optional_int, read_optional_text, read_text

UWH_TO_J = 3.6e-3        # 1 uWh = 3.6 mJ
DEFAULT_HZ = 1.0         # fuel gauges update every few seconds


def list_batteries(root: Path = Path("/sys")) -> list[Path]:
    """System batteries (``type`` = Battery, not a ``scope`` = Device peripheral battery)."""
    base = Path(root) / "class/power_supply"
    out = []
    for d in sorted(base.glob("*")):
        if read_optional_text(d / "type") == "Battery" and read_optional_text(d / "scope") != "Device":
            out.append(d)
    return out


def external_power_online(root: Path = Path("/sys")) -> bool:
    """True when a Mains/USB/Wireless supply reports ``online`` = 1."""
    for d in sorted((Path(root) / "class/power_supply").glob("*")):
        if read_optional_text(d / "type") in ("Mains", "USB", "Wireless", "USB_C", "USB_PD") \
                and read_optional_int(d / "online") == 1:
            return True
    return False


def read_battery_state(battery_dir: Path, *, root: Path | None = None) -> BatteryState:
    d = Path(battery_dir)
    t = time.monotonic()

    def opt(name: str, scale: float) -> float | None:
        v = read_optional_int(d / name)
        return None if v is None else v * scale

    temp = opt("temp", 0.1)
    return BatteryState(
        t_s=t,
        percent=opt("capacity", 1.0),
        status=read_optional_text(d / "status") or "Unknown",
        charge_now_mah=opt("charge_now", 1e-3),
        charge_full_mah=opt("charge_full", 1e-3),
        energy_now_wh=opt("energy_now", 1e-6),
        energy_full_wh=opt("energy_full", 1e-6),
        voltage_v=opt("voltage_now", 1e-6),
        temp_c=temp,
        external_power=external_power_online(root) if root is not None else False,
    )


@dataclass
class _Counter:
    """Tracks a decreasing energy counter and the power over its last whole step."""

    energy_used_j: float = 0.0
    last_raw: float | None = None
    last_change_t: float | None = None
    power_w: float = math.nan


def _step(c: _Counter, raw: float, t: float) -> None:
    """Advance a decreasing counter: energy used so far, and the power over its last whole step."""
    if c.last_raw is None:
        c.last_raw = raw
    elif raw != c.last_raw:
        step_j = c.last_raw - raw
        c.energy_used_j += step_j
        if c.last_change_t is not None:  # a whole gauge step seen: its average power
            c.power_w = step_j / (t - c.last_change_t)
        c.last_change_t = t
        c.last_raw = raw


class _Battery:
    def __init__(self, d: Path):
        self.dir = d
        self.name = d.name
        power = read_optional_int(d / "power_now")
        current = read_optional_int(d / "current_now")
        volts = read_optional_int(d / "voltage_now")
        if power:
            self.method = "power_now"
        elif current and volts:
            self.method = "current_now x voltage_now"
        elif read_optional_int(d / "energy_now") is not None:
            self.method = "energy_now counter"
        elif read_optional_int(d / "charge_now") is not None and volts:
            self.method = "charge_now counter x voltage_now"
        else:
            raise SensorError(f"battery {self.name} at {d} has no power_now, current_now/voltage_now, energy_now or "
                              "charge_now to measure from; use an external meter (--power trace)")
        self.counter = _Counter()
        self.check = _Counter()      # the battery's own counter, to cross-check current_now's unit
        self.checked = False
        self.decisions: list[str] = []
        self.unit = UnitDecision(1e-6, "uA", "kernel ABI", False)
        energy_now, charge_now = read_optional_int(d / "energy_now"), read_optional_int(d / "charge_now")
        self.check_kind = "energy_now" if energy_now is not None else "charge_now" if charge_now is not None else None
        if self.method == "current_now x voltage_now":
            if energy_now is not None and charge_now is None:  # energy-based: current_now may be a rate in uW
                self.unit = acpi_current_unit(current, volts, energy_full_uwh=read_optional_int(d / "energy_full"),
                                              max_power_w=POWER_LIMIT_W)
            self.decisions.append(f"{self.name} current_now unit {self.unit.unit}: {self.unit.reason}"
                                  + ("" if self.check_kind is None else
                                     f"; to be cross-checked against the {self.check_kind} drain"))

    def _check_counter_j(self) -> float | None:
        d = self.dir
        if self.check_kind == "energy_now":
            return read_int(d / "energy_now") * UWH_TO_J
        if self.check_kind == "charge_now":
            return read_int(d / "charge_now") * read_int(d / "voltage_now") / 1e6 * UWH_TO_J
        return None

    def _cross_check(self, t: float, current: int, volts: int) -> None:
        """Once the battery's own counter has stepped twice, does its drain support current_now's unit?"""
        raw = self._check_counter_j()
        if raw is None or self.checked:
            return
        _step(self.check, raw, t)
        if not math.isfinite(self.check.power_w):
            return
        as_ua = abs(current) * volts / 1e12
        as_uw = abs(current) / 1e6
        chosen, other = (as_uw, as_ua) if self.unit.unit == "uW" else (as_ua, as_uw)
        other_unit = "uA" if self.unit.unit == "uW" else "uW"
        keep, why = counter_check(chosen, other, self.check.power_w, self.unit.unit, other_unit, self.check_kind)
        self.checked = True
        if not keep:
            self.unit = UnitDecision(1e-6, other_unit, why, True)
        self.decisions.append(f"{self.name} current_now unit {self.unit.unit}: {why}")

    @property
    def has_counter(self) -> bool:
        return "counter" in self.method

    def step_w(self) -> float:
        """The reporting quantum: 1 uW (power_now), 1 uA x voltage, or 1 uWh per sample interval (counters)."""
        if self.method == "power_now" or self.unit.unit == "uW":
            return 1e-6
        if self.method == "current_now x voltage_now":
            return 1e-6 * read_int(self.dir / "voltage_now") / 1e6
        return UWH_TO_J * DEFAULT_HZ

    def status(self) -> str:
        return read_text(self.dir / "status")

    def read(self, t: float) -> tuple[float, float | None]:
        """(power_w, cumulative energy_j or None) for this battery now."""
        d = self.dir
        if self.method == "power_now":
            return abs(read_int(d / "power_now")) / 1e6, None
        if self.method == "current_now x voltage_now":
            current, volts = read_int(d / "current_now"), read_int(d / "voltage_now")
            self._cross_check(t, current, volts)
            if self.unit.unit == "uW":
                return abs(current) / 1e6, None
            return abs(current) * volts / 1e12, None
        c = self.counter
        if self.method == "energy_now counter":
            raw = read_int(d / "energy_now") * UWH_TO_J
        else:  # charge (uAh) x voltage (uV) -> J
            raw = read_int(d / "charge_now") * read_int(d / "voltage_now") / 1e6 * UWH_TO_J
        _step(c, raw, t)
        return c.power_w, c.energy_used_j


class BatterySource:
    """Power drawn from the system battery (or the sum over several), only while it discharges.

    With only an energy/charge counter (``has_counter``), ``energy_j`` is the energy drawn
    since the source opened and ``power_w`` is NaN until the fuel gauge has stepped twice
    (then it is the average power over the gauge's last step); integrate ``energy_j``.
    """

    def __init__(self, root: Path = Path("/sys"), name: str | None = None):
        self.root = Path(root)
        dirs = list_batteries(self.root)
        if name is not None:
            dirs = [d for d in dirs if d.name == name]
        if not dirs:
            which = f"battery {name!r}" if name else "battery"
            raise SensorError(f"no {which} under {self.root}/class/power_supply; this device has no system battery")
        self.batteries = [_Battery(d) for d in dirs]
        self._check_discharging()
        counters = {b.has_counter for b in self.batteries}
        if len(counters) > 1:
            raise SensorError("batteries mix power readings and energy counters; measure one with name='BAT0'")
        self._t0 = time.monotonic()
        for b in self.batteries:
            b.read(self._t0)  # prime counters
        has_counter = counters.pop()
        methods = ", ".join(f"{b.name}: {b.method}" for b in self.batteries)
        self.info = SourceInfo(
            name="battery",
            scope="battery",
            description=(f"battery discharge power ({methods}), /sys/class/power_supply; covers everything the "
                         "battery feeds, i.e. the whole device while unplugged"),
            rails=tuple(b.name for b in self.batteries),
            default_sample_hz=DEFAULT_HZ,
            resolution_w=sum(b.step_w() for b in self.batteries),
            has_counter=has_counter,
            decisions=tuple(x for b in self.batteries for x in b.decisions),
        )

    def _check_discharging(self) -> None:
        for b in self.batteries:
            status = b.status()
            if status != "Discharging":
                raise SensorError(
                    f"battery {b.name} is {status!r}, not discharging: with a charger connected the battery does not "
                    "carry the device's power; unplug the charger (or use --power rapl / an external meter)")

    def read(self) -> PowerSample:
        self._check_discharging()
        t = time.monotonic()
        rails_w: dict[str, float] = {}
        energy: float | None = None
        for b in self.batteries:
            p, e = b.read(t)
            rails_w[b.name] = p
            if e is not None:
                energy = (energy or 0.0) + e
        decisions = tuple(x for b in self.batteries for x in b.decisions)
        if decisions != self.info.decisions:  # a cross-check concluded: the result says which unit and why
            self.info = replace(self.info, decisions=decisions)
        return PowerSample(t_s=t, power_w=sum(rails_w.values()), energy_j=energy, rails_w=rails_w)

    def battery_state(self) -> BatteryState:
        return read_battery_state(self.batteries[0].dir, root=self.root)

    def close(self) -> None:
        pass
