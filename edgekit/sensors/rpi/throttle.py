"""Raspberry Pi firmware throttling flags: ``vcgencmd get_throttled`` -> ``throttled=0x50005``.

Bits 0-3 say what is happening now, bits 16-19 what has happened since boot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.errors import SensorError
from edgekit.sensors.commands import require_command, run_command

UNDER_VOLTAGE = 0x1
FREQ_CAPPED = 0x2
THROTTLED = 0x4
SOFT_TEMP_LIMIT = 0x8
SINCE_BOOT_SHIFT = 16

_NAMES = ((UNDER_VOLTAGE, "under-voltage"), (FREQ_CAPPED, "ARM frequency capped"),
          (THROTTLED, "throttled"), (SOFT_TEMP_LIMIT, "soft temperature limit"))


@dataclass(frozen=True)
class ThrottleState:
    bits: int

    def _now(self, flag: int) -> bool:
        return bool(self.bits & flag)

    def _since_boot(self, flag: int) -> bool:
        return bool(self.bits & (flag << SINCE_BOOT_SHIFT))

    @property
    def under_voltage_now(self) -> bool:
        return self._now(UNDER_VOLTAGE)

    @property
    def freq_capped_now(self) -> bool:
        return self._now(FREQ_CAPPED)

    @property
    def throttled_now(self) -> bool:
        return self._now(THROTTLED)

    @property
    def soft_temp_limit_now(self) -> bool:
        return self._now(SOFT_TEMP_LIMIT)

    @property
    def under_voltage_since_boot(self) -> bool:
        return self._since_boot(UNDER_VOLTAGE)

    @property
    def freq_capped_since_boot(self) -> bool:
        return self._since_boot(FREQ_CAPPED)

    @property
    def throttled_since_boot(self) -> bool:
        return self._since_boot(THROTTLED)

    @property
    def soft_temp_limit_since_boot(self) -> bool:
        return self._since_boot(SOFT_TEMP_LIMIT)

    @property
    def any_now(self) -> bool:
        return bool(self.bits & 0xF)

    @property
    def any_since_boot(self) -> bool:
        return bool(self.bits & (0xF << SINCE_BOOT_SHIFT))

    def describe(self) -> list[str]:
        """Human words for every set flag, e.g. ``["under-voltage (now)", "throttled (since boot)"]``."""
        out = [f"{name} (now)" for flag, name in _NAMES if self._now(flag)]
        out += [f"{name} (since boot)" for flag, name in _NAMES if self._since_boot(flag)]
        return out


def parse_get_throttled(text: str) -> ThrottleState:
    m = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not m:
        raise SensorError(f"vcgencmd get_throttled printed {text.strip()!r}, not 'throttled=0x...'; "
                          "check vcgencmd works (user in the video group)")
    return ThrottleState(int(m.group(1), 0))


def read_throttled(command: str | None = None) -> ThrottleState:
    return parse_get_throttled(run_command([require_command("vcgencmd", command), "get_throttled"]))
