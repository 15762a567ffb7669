"""Pick and open the power source for this device: ``open_power_source(kind, ...)``.

``auto`` opens the phone when an adb serial is given, or the trace file when one is
given; otherwise it tries, in order: Jetson INA3221 (hwmon, then iio); ``tegrastats`` on
PATH; Raspberry Pi 5 PMIC (``vcgencmd pmic_read_adc`` answers with rails); a discharging
battery; a readable RAPL package counter; a labelled estimate when a target profile is
given; else a :class:`NullSource` that says what was tried.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, SensorError
from edgekit.sensors.base import PowerSource
from edgekit.sensors.null import NullSource

KINDS = ("auto", "jetson", "tegrastats", "rpi", "battery", "android", "rapl", "trace", "estimate")


def open_power_source(
    kind: str = "auto",
    *,
    sysfs_root: Path = Path("/sys"),
    target: Any = None,
    trace_file: Path | None = None,
    adb_serial: str | None = None,
    proc_root: Path = Path("/proc"),
    vcgencmd: str | None = None,
    tegrastats: str | None = None,
    adb: str | None = None,
) -> PowerSource:
    """Open the power source ``kind`` (one of :data:`KINDS`).

    Commands are looked up on PATH unless given (``vcgencmd=``, ``tegrastats=``, ``adb=``).
    ``target`` is a :class:`edgekit.targets.Target` (its ``estimate`` figures feed the
    estimate source). An explicit kind that is not available raises SensorError;
    ``auto`` never raises for a missing sensor and returns a NullSource instead.
    """
    sysfs_root, proc_root = Path(sysfs_root), Path(proc_root)
    openers: dict[str, Callable[[], PowerSource]] = {
        "jetson": lambda: _open_jetson(sysfs_root),
        "tegrastats": lambda: _open_tegrastats(tegrastats),
        "rpi": lambda: _open_rpi(vcgencmd),
        "battery": lambda: _open_battery(sysfs_root),
        "android": lambda: _open_android(adb_serial, adb),
        "rapl": lambda: _open_rapl(sysfs_root),
        "trace": lambda: _open_trace(trace_file),
        "estimate": lambda: _open_estimate(target, proc_root),
    }
    if kind not in KINDS:
        raise ConfigError(f"unknown power source {kind!r}; use one of {', '.join(KINDS)}")
    if kind != "auto":
        return openers[kind]()

    # what the caller named explicitly wins, and its errors are the caller's to see
    if adb_serial:
        return openers["android"]()
    if trace_file is not None:
        return openers["trace"]()
    order = ["jetson", "tegrastats", "rpi", "battery", "rapl"]
    if target is not None:
        order.append("estimate")
    tried: list[str] = []
    for name in order:
        try:
            return openers[name]()
        except SensorError as exc:
            tried.append(f"{name}: {exc}")
    if target is None:
        tried.append("estimate: no target profile given")
    return NullSource("; ".join(tried))


def _open_jetson(root: Path) -> PowerSource:
    from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource, find_hwmon_dirs
    from edgekit.sensors.jetson.ina3221_iio import JetsonIioSource, find_iio_dirs

    if find_hwmon_dirs(root):
        return JetsonHwmonSource(root)
    if find_iio_dirs(root):
        return JetsonIioSource(root)
    raise SensorError(f"no Jetson INA3221 monitor under {root}/bus/i2c (neither ina3221 hwmon nor ina3221x iio)")


def _open_tegrastats(command: str | None) -> PowerSource:
    from edgekit.sensors.jetson.tegrastats import TegrastatsSource

    return TegrastatsSource(command=command)


def _open_rpi(command: str | None) -> PowerSource:
    from edgekit.sensors.rpi.pmic import PmicSource

    return PmicSource(command=command)


def _open_battery(root: Path) -> PowerSource:
    from edgekit.sensors.battery.power_supply import BatterySource

    return BatterySource(root)


def _open_android(serial: str | None, command: str | None) -> PowerSource:
    from edgekit.sensors.android.adb import AdbBatterySource

    return AdbBatterySource(serial=serial, command=command)


def _open_rapl(root: Path) -> PowerSource:
    from edgekit.sensors.x86.rapl import RaplSource

    return RaplSource(root)


def _open_trace(trace_file: Path | None) -> PowerSource:
    from edgekit.sensors.trace import TraceSource

    if trace_file is None:
        raise ConfigError("--power trace needs the external meter's CSV file; pass --trace FILE")
    return TraceSource(Path(trace_file))


def _open_estimate(target: Any, proc_root: Path) -> PowerSource:
    from edgekit.sensors.estimate import EstimateSource

    if target is None:
        raise ConfigError("--power estimate needs a target profile (its estimate.idle_w/max_w); pass --target NAME")
    return EstimateSource.from_target(target, proc_root=proc_root)
