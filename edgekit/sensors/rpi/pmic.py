"""Raspberry Pi 5 board power from the PMIC's ADCs: ``vcgencmd pmic_read_adc``.

Output is one line per ADC channel, ``<RAIL>_A current(<ch>)=<amps>A`` or
``<RAIL>_V volt(<ch>)=<volts>V``. The two channels of a rail have different numbers,
so they are paired by rail name. Rails with only a voltage (``EXT5V``, the USB-C input;
``BATT``, the RTC cell) carry no power. Rail names differ between boards/firmware
(``0V8_SW`` vs ``0V8_SYS``), so they are parsed generically.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo
from edgekit.sensors.commands import require_command, run_command

_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\((\d+)\)=(-?[\d.]+(?:[eE][-+]?\d+)?)[AV]\s*$")
#: One read costs ~23 ms of firmware ADC time, so ~10 Hz is the useful rate.
DEFAULT_HZ = 10.0
#: The PMIC ADC step is not documented; this is an assumed figure (see docs/sensors.md).
ASSUMED_RESOLUTION_W = 0.01


@dataclass(frozen=True)
class PmicRail:
    name: str
    current_a: float | None
    voltage_v: float | None

    @property
    def power_w(self) -> float | None:
        if self.current_a is None or self.voltage_v is None:
            return None
        return self.current_a * self.voltage_v


def parse_pmic_read_adc(text: str) -> dict[str, PmicRail]:
    """Rails by name from ``vcgencmd pmic_read_adc`` output, current and voltage paired by name."""
    if "error=" in text and "_A " not in text:
        msg = re.search(r'error_msg="([^"]*)"', text)
        raise SensorError(f"vcgencmd pmic_read_adc is not supported here ({msg.group(1) if msg else text.strip()}); "
                          "PMIC power needs a Raspberry Pi 5 — use an external meter (--power trace) on a Pi 4")
    currents: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            name, kind, _ch, value = m.groups()
            (currents if kind == "A" else volts)[name] = float(value)
    names = list(dict.fromkeys([*currents, *volts]))
    return {n: PmicRail(n, currents.get(n), volts.get(n)) for n in names}


class PmicSource:
    """Sum of V x I over every PMIC rail that has both a current and a voltage channel."""

    def __init__(self, command: str | None = None):
        self.command = require_command("vcgencmd", command)
        rails = self._read_rails()
        self.rails = tuple(r.name for r in rails.values() if r.power_w is not None)
        if not self.rails:
            raise SensorError("vcgencmd pmic_read_adc printed no rail with both current and voltage; "
                              "update the Pi 5 firmware (rpi-eeprom) or use --power trace")
        self.info = SourceInfo(
            name="rpi-pmic",
            scope="board",
            description=(f"Raspberry Pi 5 PMIC rails, sum of V x I over {len(self.rails)} rails "
                         "(vcgencmd pmic_read_adc); excludes PMIC conversion losses and loads fed straight from the "
                         "5 V input (e.g. USB devices), so it reads below wall power"),
            rails=self.rails,
            default_sample_hz=DEFAULT_HZ,
            resolution_w=ASSUMED_RESOLUTION_W,
        )

    def _read_rails(self) -> dict[str, PmicRail]:
        return parse_pmic_read_adc(run_command([self.command, "pmic_read_adc"]))

    def read(self) -> PowerSample:
        t0 = time.monotonic()
        rails = self._read_rails()
        t1 = time.monotonic()
        rails_w = {n: r.power_w for n, r in rails.items() if r.power_w is not None}
        missing = [n for n in self.rails if n not in rails_w]
        if missing:
            raise SensorError(f"vcgencmd pmic_read_adc no longer reports rail(s) {', '.join(missing)}")
        return PowerSample(t_s=(t0 + t1) / 2, power_w=sum(rails_w[n] for n in self.rails), rails_w=rails_w)

    def close(self) -> None:
        pass
