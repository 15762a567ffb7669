"""What every sensor source shares: reading dataclasses and the source protocol.

Units are in the field names. ``t_s`` is always ``time.monotonic()`` seconds,
taken by the reader at the moment of the read; wall-clock time never enters a
measurement window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

#: What part of the device a power figure covers.
Scope = Literal["module", "board", "rail", "battery", "package", "wall", "estimate", "none"]


@dataclass(frozen=True)
class PowerSample:
    """One read of a power source.

    ``power_w`` is the instantaneous (or sensor-averaged) power of the source's
    scope. ``energy_j`` is a cumulative counter where the source has one (RAPL,
    battery ``energy_now`` deltas), already unwrapped, else ``None``.
    ``rails_w`` holds the individual rails a reader saw, by label.
    """

    t_s: float
    power_w: float
    energy_j: float | None = None
    rails_w: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceInfo:
    """How a power figure is obtained; copied into every result document."""

    name: str                 # e.g. "jetson-ina3221-hwmon", "rapl", "estimate"
    scope: Scope
    description: str          # e.g. "VDD_IN (module input), INA3221 hwmon"
    rails: tuple[str, ...]    # the labels summed into power_w
    default_sample_hz: float  # what the source supports well
    resolution_w: float       # smallest step of power_w
    estimated: bool = False   # True only for model-based estimates
    has_counter: bool = False  # energy_j is a real cumulative counter
    #: the rails behind a ``module``/``board`` figure, named so two readers of one board can be
    #: compared (e.g. "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO"); "" when not a rail sum
    rail_set: str = ""
    #: how often the sensor itself produces a new value, where known (INA3221 update_interval,
    #: tegrastats interval, a fuel gauge's refresh); None = as fast as it is read
    update_interval_s: float | None = None
    #: channels or files the reader saw and did not count, each with why ("1-0041:ch1: no in1_label")
    skipped: tuple[str, ...] = ()
    #: decisions the reader took about units or rails, each with why (battery current_now unit, ...)
    decisions: tuple[str, ...] = ()
    #: readings beyond this are sensor faults, not measurements (see :mod:`edgekit.sensors.plausible`)
    max_plausible_w: float = 2000.0
    #: ``--power auto``: every source tried, in order, and what became of it
    auto_decision: tuple["SourceAttempt", ...] = ()


@dataclass(frozen=True)
class SourceAttempt:
    """One step of ``--power auto``: a source tried and whether it was chosen or why it was refused."""

    source: str
    outcome: Literal["chosen", "refused", "not tried"]
    reason: str

    def to_json(self) -> dict:
        return {"source": self.source, "outcome": self.outcome, "reason": self.reason}


@runtime_checkable
class PowerSource(Protocol):
    info: SourceInfo

    def read(self) -> PowerSample:
        """Take one sample now. Raises SensorError when the sensor fails."""

    def close(self) -> None:
        """Release files, processes or connections."""


@dataclass(frozen=True)
class ThermalZoneReading:
    name: str        # the zone's ``type`` (e.g. "cpu-thermal", "CPU-therm")
    path: str
    temp_c: float


@dataclass(frozen=True)
class ThermalSnapshot:
    t_s: float
    zones: tuple[ThermalZoneReading, ...]
    cpu_freq_khz: dict[int, int] = field(default_factory=dict)  # cpu index -> cur freq
    cooling_states: dict[str, int] = field(default_factory=dict)  # "cooling_deviceN:type" -> cur_state
    throttled_bits: int | None = None  # Raspberry Pi get_throttled, where available
    cooling_max_states: dict[str, int] = field(default_factory=dict)  # same keys -> max_state
    cpu_max_freq_khz: dict[int, int] = field(default_factory=dict)  # cpu index -> scaling_max_freq
    #: readings left out as physically implausible, each "zone: why" (never stored as a temperature)
    implausible: tuple[str, ...] = ()

    @property
    def max_temp_c(self) -> float | None:
        return max((z.temp_c for z in self.zones), default=None)


@dataclass(frozen=True)
class BatteryState:
    """A battery's charge level, for drain figures (%/h, mAh, projected hours).

    Fields a device does not report are ``None``. ``status`` is the Linux
    power_supply wording: "Charging", "Discharging", "Full", "Not charging",
    "Unknown".
    """

    t_s: float
    percent: float | None
    status: str
    charge_now_mah: float | None = None
    charge_full_mah: float | None = None
    energy_now_wh: float | None = None
    energy_full_wh: float | None = None
    voltage_v: float | None = None
    temp_c: float | None = None
    external_power: bool = False  # a charger/USB/AC supply is connected


@runtime_checkable
class BatteryReader(Protocol):
    """A power source that also knows its battery's charge (battery, android)."""

    def battery_state(self) -> BatteryState:
        """Read the battery's level now. Raises SensorError when unreadable."""
