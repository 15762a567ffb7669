"""Pick and open the power source for this device: ``open_power_source(kind, ...)``.

``auto`` opens the phone when an adb serial is given, or the trace file when one is
given; otherwise it tries, in order: Jetson INA3221 (hwmon, then iio); ``tegrastats`` on
PATH; Raspberry Pi 5 PMIC (``vcgencmd pmic_read_adc`` answers with rails); a discharging
battery; a readable RAPL package counter; a labelled estimate when a target profile is
given; else a :class:`NullSource` that says what was tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.errors import ConfigError, SensorError
from edgekit.sensors.base import PowerSource, SourceAttempt
from edgekit.sensors.null import NullSource
from edgekit.sensors.plausible import max_power_w

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
        return _limited(openers[kind](), target)

    # what the caller named explicitly wins, and its errors are the caller's to see
    if adb_serial:
        return _with_decision(openers["android"](), [], "android", "an adb serial was given", target)
    if trace_file is not None:
        return _with_decision(openers["trace"](), [], "trace", "a meter trace file was given", target)
    order = list(AUTO_ORDER)
    if target is not None:
        order.append("estimate")
    tried: list[SourceAttempt] = []
    for name in order:
        try:
            source = openers[name]()
        except (SensorError, ConfigError) as exc:
            tried.append(SourceAttempt(name, "refused", str(exc)))
            continue
        return _with_decision(source, tried, name, getattr(source.info, "description", ""), target)
    if target is None:
        tried.append(SourceAttempt("estimate", "refused", "no target profile given (pass --target NAME)"))
    null = NullSource("; ".join(f"{a.source}: {a.reason}" for a in tried))
    null.info = replace(null.info, auto_decision=tuple(tried))
    return null


#: The order ``--power auto`` tries sources in (``estimate`` last, when a target is given).
AUTO_ORDER = ("jetson", "tegrastats", "rpi", "battery", "rapl")


def _with_decision(source: PowerSource, tried: list[SourceAttempt], name: str, why: str,
                   target: Any = None) -> PowerSource:
    source = _limited(source, target)
    source.info = replace(source.info, auto_decision=(*tried, SourceAttempt(name, "chosen", why)))
    return source


def _limited(source: PowerSource, target: Any) -> PowerSource:
    """Set the plausible power ceiling from the target profile (3 x its highest budget), where one is given."""
    if target is not None and getattr(source, "info", None) is not None:
        source.info = replace(source.info, max_plausible_w=max_power_w(target))
    return source


def decision_line(info) -> str | None:
    """The one printed line saying what ``--power auto`` chose and why each earlier source was refused."""
    steps = getattr(info, "auto_decision", ())
    if not steps:
        return None
    chosen = next((a for a in steps if a.outcome == "chosen"), None)
    refused = [f"{a.source} ({_short(a.reason)})" for a in steps if a.outcome == "refused"]
    head = f"--power auto chose {chosen.source}" if chosen else "--power auto found no power source"
    if getattr(info, "estimated", False):
        head += " (an ESTIMATE, not a measurement)"
    return f"edgekit: {head}" + (f"; refused: {'; '.join(refused)}" if refused else "")


def _short(reason: str, limit: int = 160) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= limit else reason[:limit - 3] + "..."


def _open_jetson(root: Path) -> PowerSource:
    from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource, find_hwmon_dirs, find_ina238, ina238_refusal
    from edgekit.sensors.jetson.ina3221_iio import JetsonIioSource, find_iio_dirs

    if find_hwmon_dirs(root):
        return JetsonHwmonSource(root)
    if find_iio_dirs(root):
        return JetsonIioSource(root)
    thor = find_ina238(root)
    if thor:
        raise SensorError(ina238_refusal(thor))
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
