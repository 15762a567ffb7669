"""Deciding a battery's ``current_now`` unit from more than one reading, and saying why.

Two known traps (issue 12, items 3-4):

* **Android mA or µA.** Vendors put mA or µA in ``current_now``. A magnitude rule alone
  (|value| < 10 000 is mA) reads a µA phone that draws under 10 mA 1000x too high. Rule here:
  any reading of 10 000 or more in magnitude is µA (10 A from a phone battery is impossible);
  otherwise the drain of the phone's own ``Charge counter`` (µAh, ``dumpsys battery``) over a
  short probe decides: the mean current it implies is compared with the readings read as mA
  and as µA, and the closer one (within 3x) wins. When the counter does not move in the probe,
  the magnitude rule stands and the decision says it is unconfirmed.
* **Old ACPI batteries put µW in ``current_now``.** On an energy-based battery (``energy_now``,
  no ``charge_*``) without ``power_now``, ``current_now`` may hold the discharge *rate* in µW.
  Read as µA x ``voltage_now`` it gives e.g. 150.6 W for a 14 W laptop. Rule here: read as µA
  unless that drains the battery faster than :data:`MAX_C_RATE` (full capacity per hour) or
  exceeds the plausible power, in which case it is µW; the reader then cross-checks the choice
  against the ``energy_now`` drain once the gauge has stepped twice and records the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MA_THRESHOLD = 10_000
#: No laptop/phone battery is discharged faster than this many full capacities per hour in use.
MAX_C_RATE = 2.0
#: A counter-implied figure and a reading agree when within this factor of each other.
AGREE_FACTOR = 3.0


@dataclass(frozen=True)
class UnitDecision:
    scale: float        # multiply the raw value by this to get the SI unit (A or W)
    unit: str           # "mA", "uA", "uW"
    reason: str
    confirmed: bool     # decided by a second, independent figure (counter drain or an impossible magnitude)


def _agrees(a: float, b: float) -> bool:
    return a > 0 and b > 0 and max(a, b) / min(a, b) <= AGREE_FACTOR


def android_current_unit(raws: list[int], *, counter_drain_ua: float | None = None,
                         probe_s: float | None = None) -> UnitDecision:
    """The unit of an Android ``current_now`` from several raw readings and, when ambiguous, the counter drain.

    ``counter_drain_ua``: the mean discharge current implied by the ``Charge counter`` drop over the probe
    (µAh drop x 3600 / seconds), None when it was not measured, 0 when the counter did not move.
    """
    mags = [abs(r) for r in raws if r]
    if not mags:
        raise ValueError("no non-zero current_now reading")
    top, mid = max(mags), sorted(mags)[len(mags) // 2]
    if top >= MA_THRESHOLD:
        return UnitDecision(1e-6, "uA", f"a reading of {top} is 10 A or more if mA, impossible for a phone: µA", True)
    probe = f" over {probe_s:.1f} s" if probe_s else ""
    if counter_drain_ua:
        as_ua, as_ma_ua = float(mid), mid * 1000.0
        if _agrees(as_ua, counter_drain_ua) and not _agrees(as_ma_ua, counter_drain_ua):
            return UnitDecision(1e-6, "uA", f"the Charge counter drain{probe} implies {counter_drain_ua:.0f} µA; "
                                f"readings ~{mid} match it as µA (as mA they would be {mid} mA)", True)
        if _agrees(as_ma_ua, counter_drain_ua):
            return UnitDecision(1e-3, "mA", f"the Charge counter drain{probe} implies {counter_drain_ua / 1000:.0f} mA; "
                                f"readings ~{mid} match it as mA", True)
        return UnitDecision(1e-3, "mA", f"readings ~{mid} < {MA_THRESHOLD} taken as mA by magnitude; the Charge "
                            f"counter drain ({counter_drain_ua:.0f} µA{probe}) matches neither unit: unconfirmed", False)
    why = "the Charge counter did not move" + probe if counter_drain_ua == 0 else "no Charge counter drain measured"
    return UnitDecision(1e-3, "mA", f"readings ~{mid} < {MA_THRESHOLD} taken as mA by magnitude ({why}): unconfirmed",
                        False)


def acpi_current_unit(current_raw: int, voltage_uv: int, *, energy_full_uwh: int | None,
                      max_power_w: float) -> UnitDecision:
    """The unit of ``current_now`` on an energy-based battery without ``power_now``: µA or (old ACPI) µW."""
    as_a_w = abs(current_raw) * voltage_uv / 1e12
    as_w_w = abs(current_raw) / 1e6
    if energy_full_uwh and energy_full_uwh > 0:
        c_rate = as_a_w / (energy_full_uwh / 1e6)
        if c_rate > MAX_C_RATE or as_a_w > max_power_w:
            return UnitDecision(1e-6, "uW", f"read as µA x voltage_now it is {as_a_w:.1f} W, a {c_rate:.1f}C drain of "
                                f"this {energy_full_uwh / 1e6:.1f} Wh battery (> {MAX_C_RATE:g}C): the rate is in µW "
                                f"({as_w_w:.2f} W), as old ACPI energy-based batteries report it", False)
        return UnitDecision(1e-6, "uA", f"read as µA x voltage_now it is {as_a_w:.2f} W, a plausible {c_rate:.2f}C "
                            "drain", False)
    if as_a_w > max_power_w:
        return UnitDecision(1e-6, "uW", f"read as µA x voltage_now it is {as_a_w:.1f} W, beyond the plausible "
                            f"{max_power_w:g} W: taken as µW", False)
    return UnitDecision(1e-6, "uA", "no energy_full to judge the rate against: taken as µA (kernel ABI)", False)


def counter_check(decision_w: float, other_w: float, counter_w: float, unit: str, other: str,
                  counter: str = "energy_now") -> tuple[bool, str]:
    """(keep?, why): does the counter-implied power support the chosen unit's figure over the other's?"""
    if not (math.isfinite(counter_w) and counter_w > 0):
        return True, "energy counter has not stepped yet"
    if _agrees(decision_w, counter_w):
        return True, (f"confirmed by the {counter} drain ({counter_w:.2f} W vs {decision_w:.2f} W read as {unit})")
    if _agrees(other_w, counter_w):
        return False, (f"contradicted by the {counter} drain ({counter_w:.2f} W): switched to {other} "
                       f"({other_w:.2f} W)")
    return True, f"{counter} drain ({counter_w:.2f} W) matches neither reading; kept {unit}"
