"""A phone's battery power over adb: ``current_now`` x ``voltage_now`` read through one ``adb shell``.

Units and signs of ``current_now`` differ by vendor (uA or mA; negative or positive while
discharging), so the source calibrates per device when it opens, with the phone verified
unplugged and discharging by ``dumpsys battery``: the unit from several readings and, when
their magnitude cannot tell (all under 10 000), from the drain of the phone's ``Charge
counter`` over a short probe (:func:`edgekit.sensors.units.android_current_unit`; the
decision and why are in ``info.decisions``), the sign from the discharging reading. Battery current only equals the
phone's power while nothing charges it, so the source refuses a charging or powered phone.
"""

from __future__ import annotations

import os
import re
import select
import statistics
import subprocess
import time
from dataclasses import dataclass

from edgekit.errors import SensorError
from edgekit.sensors.base import (BatteryState, PowerSample, SourceInfo, ThermalSnapshot,
                                  ThermalZoneReading)
from edgekit.sensors.commands import require_command, run_command
from edgekit.sensors.units import MA_THRESHOLD, UnitDecision, android_current_unit

BATTERY_DIR = "/sys/class/power_supply/battery"
MV_THRESHOLD = 100_000       # voltage_now below this is taken as mV, else uV
DEFAULT_HZ = 5.0
STATUS_NAMES = {1: "Unknown", 2: "Charging", 3: "Discharging", 4: "Not charging", 5: "Full"}
_END = "__edgekit_end__"
#: One line per thermal zone (``Z|path|type|m°C``) and cooling device (``C|path|type|cur|max``).
_THERMAL_SCRIPT = (
    "for z in /sys/class/thermal/thermal_zone*; do echo \"Z|$z|$(cat $z/type 2>/dev/null)|$(cat $z/temp 2>/dev/null)\"; "
    "done; for c in /sys/class/thermal/cooling_device*; do echo \"C|$c|$(cat $c/type 2>/dev/null)|"
    "$(cat $c/cur_state 2>/dev/null)|$(cat $c/max_state 2>/dev/null)\"; done")
UNPLUG_FIX = ("disconnect the charger/USB power and drive the phone over Wi-Fi adb "
              "(`adb tcpip 5555`, unplug, `adb connect PHONE_IP:5555`)")


@dataclass(frozen=True)
class DumpsysBattery:
    ac_powered: bool
    usb_powered: bool
    wireless_powered: bool
    status: int | None          # 2 charging, 3 discharging, 4 not charging, 5 full
    level: int | None
    scale: int | None
    voltage_mv: int | None
    temperature_c: float | None  # dumpsys prints tenths of a degree
    charge_counter_uah: int | None

    @property
    def powered(self) -> list[str]:
        return [n for n, on in (("AC", self.ac_powered), ("USB", self.usb_powered),
                                ("wireless", self.wireless_powered)) if on]


def parse_dumpsys_battery(text: str) -> DumpsysBattery:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip().lower(), v.strip())
    if "level" not in fields and "status" not in fields:
        raise SensorError("`dumpsys battery` printed no battery state; check the phone with `adb shell dumpsys battery`")

    def num(key: str) -> int | None:
        v = fields.get(key)
        return int(v) if v is not None and re.fullmatch(r"-?\d+", v) else None

    temp = num("temperature")
    return DumpsysBattery(
        ac_powered=fields.get("ac powered") == "true",
        usb_powered=fields.get("usb powered") == "true",
        wireless_powered=fields.get("wireless powered") == "true",
        status=num("status"), level=num("level"), scale=num("scale"), voltage_mv=num("voltage"),
        temperature_c=None if temp is None else temp / 10.0,
        charge_counter_uah=num("charge counter"),
    )


class AdbBatterySource:
    """Battery discharge power of an Android phone, sampled over a persistent ``adb shell``."""

    def __init__(self, serial: str | None = None, command: str | None = None, *,
                 calibration_reads: int = 3, battery_dir: str = BATTERY_DIR, unit_probe_s: float = 5.0):
        self.adb = require_command("adb", command)
        self.serial = serial
        self.battery_dir = battery_dir
        self._prefix = [self.adb, *(["-s", serial] if serial else [])]
        self._who = f"phone {serial}" if serial else "the phone"
        first = self.dumpsys()
        t_first = time.monotonic()
        self._refuse_if_charging(first)
        self._proc = subprocess.Popen([*self._prefix, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, bufsize=0)
        self._buf = b""
        try:
            raws = [self._read_raw() for _ in range(max(1, calibration_reads))]
        except SensorError:
            self.close()
            raise
        cur = statistics.median(r[0] for r in raws)
        volt = statistics.median(r[1] for r in raws)
        if cur == 0:
            self.close()
            raise SensorError(f"{self._who} reports current_now = 0 while discharging; it does not expose battery "
                              "current — use an external meter (--power trace)")
        self.unit = self._decide_unit([r[0] for r in raws], first, t_first, unit_probe_s)
        self.current_scale_a = self.unit.scale
        self.voltage_scale_v = 1e-3 if volt < MV_THRESHOLD else 1e-6
        self.discharge_sign = -1 if cur < 0 else 1
        unit = "mA" if self.current_scale_a == 1e-3 else "uA"
        sign = "negative" if self.discharge_sign < 0 else "positive"
        self.info = SourceInfo(
            name="android-battery",
            scope="battery",
            description=(f"{self._who} battery current_now x voltage_now over adb (this device: current in {unit}, "
                         f"{sign} while discharging); covers the whole phone while unplugged"),
            rails=("battery",),
            default_sample_hz=DEFAULT_HZ,
            resolution_w=self.current_scale_a * volt * self.voltage_scale_v,
            decisions=(f"current_now unit {self.unit.unit}: {self.unit.reason}",),
        )

    def _decide_unit(self, raws: list[int], first: DumpsysBattery, t_first: float, probe_s: float) -> UnitDecision:
        """mA or µA from several readings; when their magnitude cannot tell, from the Charge counter drain."""
        # "Charge counter: 0" is a phone that does not keep one (google/syzkaller issue #79 capture)
        if max(abs(r) for r in raws) >= MA_THRESHOLD or not first.charge_counter_uah or probe_s <= 0:
            return android_current_unit(raws)
        deadline = t_first + probe_s
        while True:
            raws.append(self._read_raw()[0])
            st = self.dumpsys()
            now = time.monotonic()
            if st.charge_counter_uah is not None and st.charge_counter_uah != first.charge_counter_uah:
                drain_ua = (first.charge_counter_uah - st.charge_counter_uah) * 3600.0 / (now - t_first)
                return android_current_unit(raws, counter_drain_ua=max(drain_ua, 0.0) or None, probe_s=now - t_first)
            if now >= deadline:
                return android_current_unit(raws, counter_drain_ua=0.0, probe_s=now - t_first)
            time.sleep(min(0.25, max(0.0, deadline - now)))

    # -- adb plumbing ---------------------------------------------------------------------

    def dumpsys(self) -> DumpsysBattery:
        return parse_dumpsys_battery(run_command([*self._prefix, "shell", "dumpsys", "battery"], timeout_s=20))

    def _refuse_if_charging(self, state: DumpsysBattery) -> None:
        if state.status == 2 or state.powered:
            why = f"{' and '.join(state.powered)} powered" if state.powered else "charging"
            raise SensorError(f"{self._who} is {why}: its battery current is then not the phone's power; {UNPLUG_FIX}")

    def _shell(self, command: str, timeout_s: float = 5.0) -> list[str]:
        """Run one command in the persistent shell; its stdout lines."""
        proc = self._proc
        try:
            assert proc.stdin is not None
            proc.stdin.write(f"{command}; echo {_END}\n".encode())
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SensorError(f"adb shell to {self._who} closed: {self._stderr()}") from None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while (_END + "\n").encode() not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SensorError(f"{self._who} did not answer over adb within {timeout_s:g} s; check `adb devices`")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise SensorError(f"adb shell to {self._who} closed: {self._stderr()}")
                self._buf += chunk.replace(b"\r\n", b"\n")
        out, _, self._buf = self._buf.partition((_END + "\n").encode())
        return [ln.strip() for ln in out.decode(errors="replace").splitlines() if ln.strip()]

    def _stderr(self) -> str:
        if self._proc.poll() is None:
            return "connection lost"
        err = (self._proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
        return err[-1] if err else f"exit status {self._proc.returncode}"

    def _read_raw(self) -> tuple[int, int]:
        d = self.battery_dir
        lines = self._shell(f"cat {d}/current_now {d}/voltage_now")
        try:
            return int(lines[0]), int(lines[1])
        except (IndexError, ValueError):
            raise SensorError(f"{self._who}: reading {d}/current_now and voltage_now gave {lines!r}; "
                              "this phone does not expose them to adb shell") from None

    def thermal_snapshot(self) -> ThermalSnapshot:
        """The phone's thermal zones (vendor names, e.g. ``battery``, ``xo_therm``) and cooling devices,
        read through the same adb shell; zones whose ``temp`` is unreadable (sensor offline) are left out."""
        t0 = time.monotonic()
        lines = self._shell(_THERMAL_SCRIPT, timeout_s=10.0)
        t = (t0 + time.monotonic()) / 2
        zones, cooling, cooling_max = [], {}, {}
        for line in lines:
            parts = line.split("|")
            if parts[0] == "Z" and len(parts) == 4 and re.fullmatch(r"-?\d+", parts[3]):
                zones.append(ThermalZoneReading(name=parts[2] or parts[1].rsplit("/", 1)[-1], path=parts[1],
                                                temp_c=int(parts[3]) / 1000.0))
            elif parts[0] == "C" and len(parts) == 5 and parts[3].isdigit():
                key = f"{parts[1].rsplit('/', 1)[-1]}:{parts[2] or '?'}"
                cooling[key] = int(parts[3])
                if parts[4].isdigit():
                    cooling_max[key] = int(parts[4])
        return ThermalSnapshot(t_s=t, zones=tuple(zones), cooling_states=cooling, cooling_max_states=cooling_max)

    # -- PowerSource ------------------------------------------------------------------------

    def read(self) -> PowerSample:
        t0 = time.monotonic()
        cur, volt = self._read_raw()
        t = (t0 + time.monotonic()) / 2
        discharge_a = cur * self.discharge_sign * self.current_scale_a
        if discharge_a < 0:
            raise SensorError(f"{self._who} started charging (battery current reversed); {UNPLUG_FIX}")
        power_w = discharge_a * volt * self.voltage_scale_v
        return PowerSample(t_s=t, power_w=power_w, rails_w={"battery": power_w})

    def battery_state(self) -> BatteryState:
        st = self.dumpsys()
        full = self._shell(f"cat {self.battery_dir}/charge_full 2>/dev/null")
        charge_full_uah = int(full[0]) if full and full[0].lstrip("-").isdigit() else None
        percent = None
        if st.level is not None:
            percent = 100.0 * st.level / (st.scale or 100)
        return BatteryState(
            t_s=time.monotonic(),
            percent=percent,
            status=STATUS_NAMES.get(st.status or 1, "Unknown"),
            charge_now_mah=None if st.charge_counter_uah is None else st.charge_counter_uah / 1000.0,
            charge_full_mah=None if charge_full_uah is None else charge_full_uah / 1000.0,
            voltage_v=None if st.voltage_mv is None else st.voltage_mv / 1000.0,
            temp_c=st.temperature_c,
            external_power=bool(st.powered),
        )

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.stdin.write(b"exit\n")
            proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
