"""Jetson INA3221 through NVIDIA's ``ina3221x`` iio driver (L4T <= 32: JetPack 4, Nano, TX1/TX2, Xavier).

Files per monitor ``<root>/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device<N>/``:
``rail_name_<k>``, ``in_power<k>_input`` (mW), ``in_voltage<k>_input`` (mV),
``in_current<k>_input`` (mA) for channels k = 0..2. The driver's power file is used when
present, else V x I.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.jetson import rails as railsel
from edgekit.sensors.sysfs import read_int, read_optional_text

DEFAULT_HZ = 10.0


@dataclass(frozen=True)
class IioChannel:
    label: str
    power_path: Path | None    # in_power<k>_input, mW
    voltage_path: Path         # in_voltage<k>_input, mV
    current_path: Path         # in_current<k>_input, mA

    def power_w(self) -> float:
        if self.power_path is not None:
            return read_int(self.power_path) / 1000.0
        return read_int(self.voltage_path) * read_int(self.current_path) / 1e6


def find_iio_dirs(root: Path) -> list[Path]:
    root = Path(root)
    found: dict[Path, Path] = {}
    for pattern in ("bus/i2c/drivers/ina3221x/*/iio:device*", "bus/i2c/devices/*/iio:device*"):
        for d in sorted(root.glob(pattern)):
            if "devices" in pattern and "ina3221" not in (read_optional_text(d / "name") or ""):
                continue
            if any(d.glob("rail_name_*")):
                found.setdefault(d.resolve(), d)
    return sorted(found.values(), key=lambda p: str(p))


def find_channels(root: Path) -> list[IioChannel]:
    channels: list[IioChannel] = []
    for d in find_iio_dirs(root):
        for k in (0, 1, 2):
            label = read_optional_text(d / f"rail_name_{k}")
            if label is None or not railsel.is_connected(label):
                continue
            ppath = d / f"in_power{k}_input"
            vpath, ipath = d / f"in_voltage{k}_input", d / f"in_current{k}_input"
            if not ppath.exists() and not (vpath.exists() and ipath.exists()):
                continue
            channels.append(IioChannel(label, ppath if ppath.exists() else None, vpath, ipath))
    return channels


class JetsonIioSource:
    """Module power from the L4T 32 INA3221 iio driver; see :mod:`edgekit.sensors.jetson.rails`."""

    def __init__(self, root: Path = Path("/sys")):
        self.root = Path(root)
        self.channels = find_channels(self.root)
        if not self.channels:
            raise SensorError(
                f"no INA3221 iio rails under {self.root}/bus/i2c/drivers/ina3221x; "
                "this is not a Jetson on L4T 32 (or pass --sysfs-root for a container)")
        labels = [c.label for c in self.channels]
        if len(set(labels)) != len(labels):
            raise SensorError(f"duplicate INA3221 rail labels {labels} under {self.root}; cannot tell rails apart")
        self.counted = railsel.total_rails(labels)
        self.read()  # fail now, not in the sampler
        self.info = SourceInfo(
            name="jetson-ina3221-iio",
            scope="module",
            description=railsel.describe(self.counted, labels, "iio (ina3221x)"),
            rails=self.counted,
            default_sample_hz=DEFAULT_HZ,
            # the driver reports whole mW per rail; the ADC step behind it is not exposed
            resolution_w=0.001 * len(self.counted),
            rail_set=railsel.rail_set(self.counted),
        )

    def read(self) -> PowerSample:
        t0 = time.monotonic()
        rails_w = {c.label: c.power_w() for c in self.channels}
        t1 = time.monotonic()
        return PowerSample(t_s=(t0 + t1) / 2, power_w=railsel.total_power_w(rails_w, self.counted), rails_w=rails_w)

    def close(self) -> None:
        pass
