"""Physical plausibility limits: a reading outside them is a sensor fault, never a measurement.

Real faults seen from sysfs: ``temp`` of -999999 (m°C, a driver's "no sensor"), 1e8 °C, a power
figure of 1e17 W. Such a reading is marked invalid and left out (the bench counts it and flags
the run); it is never averaged into a figure. The limits are wide on purpose: they catch
nonsense, not a hot or busy device.

===============  =====================  ===============================================
quantity         plausible range        why
===============  =====================  ===============================================
power_w          |P| <= 2000 W          no edge board or x86 host package draws 2 kW;
                 |P| <= 3 x target max  with a target: its highest power budget or
                                        estimate.max_w, times 3 (room for transients)
temp_c           -55 .. 150 °C          silicon's widest rated range (military grade);
                                        Jetson/Pi shut down near 105 °C
voltage_v        0 .. 60 V              the highest rail/battery of any edge device (48 V PoE)
current_a        |I| <= 100 A           well above any edge rail (Orin VDD_IN guard: 7.8 A)
time (trace)     Unix 2001..2099, or    a meter's clock; relative seconds < 1e9
                 relative < 1e9 s
===============  =====================  ===============================================
"""

from __future__ import annotations

import math
from typing import Any

POWER_LIMIT_W = 2000.0
TARGET_POWER_FACTOR = 3.0
TEMP_LIMITS_C = (-55.0, 150.0)
VOLTAGE_LIMITS_V = (0.0, 60.0)
CURRENT_LIMIT_A = 100.0
EPOCH_LIMITS_S = (1e9, 4.1e9)   # 2001-09-09 .. 2099-12-03


def max_power_w(target: Any = None) -> float:
    """The plausible power ceiling: 3 x the target's highest budget or estimate, else 2 kW."""
    if target is None:
        return POWER_LIMIT_W
    figures = [getattr(m, "budget_w", 0.0) for m in getattr(target, "power_modes", ())]
    est = getattr(target, "estimate", None)
    figures.append(getattr(est, "max_w", 0.0) if est is not None else 0.0)
    top = max((f for f in figures if f and f > 0), default=0.0)
    return min(POWER_LIMIT_W, TARGET_POWER_FACTOR * top) if top else POWER_LIMIT_W


def power_problem(power_w: float, limit_w: float = POWER_LIMIT_W) -> str | None:
    """None when ``power_w`` is plausible, else why not (one phrase)."""
    if not math.isfinite(power_w):
        return f"power {power_w} W is not a finite number"
    if abs(power_w) > limit_w:
        return f"power {power_w:.4g} W is beyond the plausible {limit_w:g} W"
    return None


def temp_problem(temp_c: float) -> str | None:
    lo, hi = TEMP_LIMITS_C
    if not math.isfinite(temp_c) or not lo <= temp_c <= hi:
        return f"temperature {temp_c:.6g} °C is outside {lo:g}..{hi:g} °C"
    return None


def voltage_problem(voltage_v: float) -> str | None:
    lo, hi = VOLTAGE_LIMITS_V
    if not math.isfinite(voltage_v) or not lo <= voltage_v <= hi:
        return f"voltage {voltage_v:.6g} V is outside {lo:g}..{hi:g} V"
    return None


def current_problem(current_a: float) -> str | None:
    if not math.isfinite(current_a) or abs(current_a) > CURRENT_LIMIT_A:
        return f"current {current_a:.6g} A is beyond the plausible {CURRENT_LIMIT_A:g} A"
    return None


def time_problem(t_s: float, *, absolute: bool) -> str | None:
    if not math.isfinite(t_s):
        return f"time {t_s} is not a finite number"
    lo, hi = EPOCH_LIMITS_S
    if absolute and not lo <= t_s <= hi:
        return f"time {t_s:.6g} is not a plausible Unix time (years 2001-2099)"
    return None
