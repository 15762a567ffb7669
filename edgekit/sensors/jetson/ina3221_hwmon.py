"""Jetson INA3221 through the mainline ``ina3221`` hwmon driver (L4T 34+: JetPack 5/6, Orin).

Files per monitor ``<root>/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon<N>/``:
``in<k>_label`` (rail name), ``in<k>_input`` (bus voltage, mV), ``curr<k>_input`` (mA) for
channels k = 1..3. Power is V x I. ``in4..in6`` (shunt voltages, uV), ``in7`` (sum of
shunt voltages) and ``curr4`` (summed current) are not rails and are never read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.jetson import rails as railsel
from edgekit.sensors.sysfs import read_int, read_optional_int, read_optional_text

#: INA3221 ADC steps (datasheet): shunt voltage 40 uV, bus voltage 8 mV.
SHUNT_LSB_V = 40e-6
BUS_LSB_V = 8e-3
DEFAULT_HZ = 10.0
MAX_HZ = 100.0


@dataclass(frozen=True)
class HwmonChannel:
    label: str
    voltage_path: Path   # in<k>_input, mV
    current_path: Path   # curr<k>_input, mA
    shunt_uohm: int | None


def find_hwmon_dirs(root: Path) -> list[Path]:
    """Every INA3221 hwmon directory under a sysfs root (the hwmon index varies by boot/board)."""
    root = Path(root)
    found: dict[Path, Path] = {}
    for pattern in ("bus/i2c/drivers/ina3221/*/hwmon/hwmon*", "bus/i2c/devices/*/hwmon/hwmon*"):
        for d in sorted(root.glob(pattern)):
            if "devices" in pattern:
                name = read_optional_text(d.parent.parent / "name") or ""
                if "ina3221" not in name:
                    continue
            if (d / "in1_input").exists() or (d / "curr1_input").exists():
                found.setdefault(d.resolve(), d)
    return sorted(found.values(), key=lambda p: str(p))


def find_channels(root: Path) -> list[HwmonChannel]:
    channels: list[HwmonChannel] = []
    for d in find_hwmon_dirs(root):
        device = d.parent.parent.name  # "1-0040"
        for k in (1, 2, 3):
            vpath, ipath = d / f"in{k}_input", d / f"curr{k}_input"
            if not (vpath.exists() and ipath.exists()):
                continue
            label = read_optional_text(d / f"in{k}_label")
            if label is None:
                label = f"{device}:ch{k}"
            if not railsel.is_connected(label):
                continue
            channels.append(HwmonChannel(label, vpath, ipath, read_optional_int(d / f"shunt{k}_resistor")))
    return channels


class JetsonHwmonSource:
    """Module power from the INA3221 hwmon driver; see :mod:`edgekit.sensors.jetson.rails`."""

    def __init__(self, root: Path = Path("/sys")):
        self.root = Path(root)
        self.channels = find_channels(self.root)
        if not self.channels:
            raise SensorError(
                f"no INA3221 hwmon rails under {self.root}/bus/i2c/drivers/ina3221; "
                "this is not a Jetson on L4T 34+ (try --power jetson on L4T 32, or --sysfs-root for a container)")
        labels = [c.label for c in self.channels]
        if len(set(labels)) != len(labels):
            raise SensorError(f"duplicate INA3221 rail labels {labels} under {self.root}; cannot tell rails apart")
        self.counted = railsel.total_rails(labels)
        self.read()  # fail now, not in the sampler, when a file is unreadable
        resolution = sum(self._step_w(c) for c in self.channels if c.label in self.counted)
        interval_ms = read_optional_int(find_hwmon_dirs(self.root)[0] / "update_interval")
        hz = min(MAX_HZ, 1000.0 / interval_ms) if interval_ms else DEFAULT_HZ
        self.info = SourceInfo(
            name="jetson-ina3221-hwmon",
            scope="module",
            description=railsel.describe(self.counted, labels, "hwmon"),
            rails=self.counted,
            default_sample_hz=hz,
            resolution_w=resolution,
        )

    @staticmethod
    def _step_w(c: HwmonChannel) -> float:
        """One ADC step of V x I at the present load: V x (current step) + I x (8 mV bus step).

        The current step is 40 uV over the shunt when ``shunt<k>_resistor`` says it,
        else the 1 mA step of ``curr<k>_input``.
        """
        i_step_a = SHUNT_LSB_V / (c.shunt_uohm * 1e-6) if c.shunt_uohm else 1e-3
        v, i = read_int(c.voltage_path) / 1000.0, read_int(c.current_path) / 1000.0
        return v * i_step_a + abs(i) * BUS_LSB_V

    def read(self) -> PowerSample:
        t0 = time.monotonic()
        rails_w = {c.label: read_int(c.voltage_path) * read_int(c.current_path) / 1e6 for c in self.channels}
        t1 = time.monotonic()
        return PowerSample(t_s=(t0 + t1) / 2, power_w=railsel.total_power_w(rails_w, self.counted), rails_w=rails_w)

    def close(self) -> None:
        pass
