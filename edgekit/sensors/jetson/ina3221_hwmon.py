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


def _is_ina3221(d: Path) -> bool:
    """A hwmon directory of an INA3221: under the ``ina3221`` driver, or its ``name`` (or its device's) says so."""
    if d.parent.parent.parent.name == "ina3221" and d.parent.parent.parent.parent.name == "drivers":
        return True
    for name_file in (d / "name", d.parent.parent / "name"):
        if (read_optional_text(name_file) or "").strip() == "ina3221":
            return True
    return False


def find_hwmon_dirs(root: Path) -> list[Path]:
    """Every INA3221 hwmon directory under a sysfs root, found by driver and name (never by one channel's files).

    The hwmon index varies by boot and board, so every ``hwmon*`` is looked at; a monitor whose
    channel 1 is absent or unnamed is still found (its other channels are rails).
    """
    root = Path(root)
    found: dict[Path, Path] = {}
    for pattern in ("bus/i2c/drivers/ina3221/*/hwmon/hwmon*", "bus/i2c/devices/*/hwmon/hwmon*", "class/hwmon/hwmon*"):
        for d in sorted(root.glob(pattern)):
            if d.is_dir() and _is_ina3221(d):
                found.setdefault(d.resolve(), d)
    return sorted(found.values(), key=lambda p: str(p))


def _device_name(d: Path) -> str:
    """The monitor's I2C device ("1-0040"), also for a ``class/hwmon/hwmonN`` link to it."""
    real = d.resolve()
    return real.parent.parent.name if real.parent.name == "hwmon" else real.name


def scan_channels(root: Path) -> tuple[list[HwmonChannel], list[str]]:
    """The channels that are rails, and the ones seen and not counted, each with why.

    A channel is a rail only when it is labelled (the mainline driver gives a channel the
    device tree leaves unnamed no ``in<k>_label``), its label is not ``NC``, it is enabled
    (``in<k>_enable`` is not 0) and its value reads (a disabled channel answers ENODATA).
    A labelled, enabled channel that cannot be read for another reason (permission) is an
    error: dropping it would understate the module.
    """
    channels: list[HwmonChannel] = []
    skipped: list[str] = []
    for d in find_hwmon_dirs(root):
        device = _device_name(d)
        for k in (1, 2, 3):
            vpath, ipath = d / f"in{k}_input", d / f"curr{k}_input"
            where = f"{device}:ch{k}"
            if not (vpath.exists() or ipath.exists()):
                continue
            label = read_optional_text(d / f"in{k}_label")
            if label is None:
                skipped.append(f"{where}: no in{k}_label (unnamed in the device tree), not a rail")
                continue
            if not railsel.is_connected(label):
                skipped.append(f"{where}: labelled {label!r} (not connected)")
                continue
            if read_optional_int(d / f"in{k}_enable") == 0:
                skipped.append(f"{where} {label}: disabled (in{k}_enable = 0)")
                continue
            if not (vpath.exists() and ipath.exists()):
                skipped.append(f"{where} {label}: lacks {vpath.name if not vpath.exists() else ipath.name}")
                continue
            unreadable = _unreadable(vpath) or _unreadable(ipath)
            if unreadable == "no data":
                skipped.append(f"{where} {label}: answers ENODATA (channel disabled), not a rail")
                continue
            if unreadable:
                raise SensorError(f"cannot read INA3221 rail {label} ({where}): {unreadable}; "
                                  "run as root or make the hwmon files readable")
            channels.append(HwmonChannel(label, vpath, ipath, read_optional_int(d / f"shunt{k}_resistor")))
    return channels, skipped


def _unreadable(path: Path) -> str | None:
    """None when ``path`` reads, "no data" for ENODATA (a disabled channel), else why not."""
    import errno
    import os

    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.read(fd, 64)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return "no data"
        return f"{path}: {exc.strerror or exc}"
    return None


def find_channels(root: Path) -> list[HwmonChannel]:
    return scan_channels(root)[0]


def find_ina238(root: Path) -> list[Path]:
    """INA238 monitors (Jetson Thor's power monitor), which edgekit does not read."""
    root = Path(root)
    found = {d.resolve(): d for d in root.glob("bus/i2c/drivers/ina238/*") if d.is_dir()}
    for d in root.glob("class/hwmon/hwmon*"):
        if (read_optional_text(d / "name") or "").strip() == "ina238":
            found.setdefault(d.resolve(), d)
    return sorted(found.values(), key=lambda p: str(p))


def ina238_refusal(monitors: list[Path]) -> str:
    where = ", ".join(m.name for m in monitors)
    return (f"this board's power monitor is an INA238 ({where}; Jetson Thor), which edgekit does not read yet - "
            "there is no INA3221 here; use --power tegrastats if it prints power rails on this board, or an "
            "external meter with --power trace --trace FILE")


class JetsonHwmonSource:
    """Module power from the INA3221 hwmon driver; see :mod:`edgekit.sensors.jetson.rails`."""

    def __init__(self, root: Path = Path("/sys")):
        self.root = Path(root)
        self.channels, skipped = scan_channels(self.root)
        if not self.channels:
            thor = find_ina238(self.root)
            if thor:
                raise SensorError(ina238_refusal(thor))
            if skipped:
                raise SensorError(f"INA3221 hwmon monitor(s) under {self.root} have no usable rail "
                                  f"({'; '.join(skipped)}); measure with --power trace and an external meter")
            raise SensorError(
                f"no INA3221 hwmon rails under {self.root}/bus/i2c/drivers/ina3221; "
                "this is not a Jetson on L4T 34+ (L4T 32 boards use the ina3221x iio driver, which --power jetson "
                "also reads; in a container pass --sysfs-root)")
        labels = [c.label for c in self.channels]
        if len(set(labels)) != len(labels):
            raise SensorError(f"duplicate INA3221 rail labels {labels} under {self.root}; cannot tell rails apart")
        self.counted = railsel.total_rails(labels)
        self.read()  # fail now, not in the sampler, when a file is unreadable
        resolution = sum(self._step_w(c) for c in self.channels if c.label in self.counted)
        intervals = [read_optional_int(d / "update_interval") for d in find_hwmon_dirs(self.root)]
        interval_ms = max((i for i in intervals if i), default=None)  # the slowest monitor bounds the total
        hz = min(MAX_HZ, 1000.0 / interval_ms) if interval_ms else DEFAULT_HZ
        self.info = SourceInfo(
            name="jetson-ina3221-hwmon",
            scope="module",
            description=railsel.describe(self.counted, labels, "hwmon"),
            rails=self.counted,
            default_sample_hz=hz,
            resolution_w=resolution,
            rail_set=railsel.rail_set(self.counted),
            update_interval_s=interval_ms / 1000.0 if interval_ms else None,
            skipped=tuple(skipped),
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
