"""Which INA3221 rails make a Jetson's total power.

Modules with an input rail (Nano: ``POM_5V_IN``; TX1/TX2, Xavier NX, Orin NX/Nano:
``VDD_IN``) report the whole module on that rail, and the other rails are parts of it.
AGX Orin and AGX Xavier have no input rail: the total is the sum of all rails.
Rails labelled ``NC`` (not connected) are skipped.

The rail set behind a ``module`` figure is named (:func:`rail_set`) because readers of one
board can see different sets: on AGX Orin (L4T R35/R36/JetPack 7) tegrastats prints three
rails, the hwmon driver shows a fourth, ``VDDQ_VDD2_1V8AO`` on ``1-0041`` in2 (0.6-1.1 W).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Input-rail labels, in order of preference.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


def is_connected(label: str) -> bool:
    return label.strip().upper() not in ("NC", "N/C", "")


def total_rails(labels: list[str]) -> tuple[str, ...]:
    """The labels whose sum is the module's power: the input rail if any, else all rails."""
    for name in INPUT_RAILS:
        if name in labels:
            return (name,)
    return tuple(labels)


def total_power_w(rails_w: Mapping[str, float], counted: tuple[str, ...]) -> float:
    return sum(rails_w[r] for r in counted)


#: AGX Orin (p3701): the rails tegrastats prints, and the one only the hwmon driver shows.
AGX_ORIN_TEGRASTATS_RAILS = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")
AGX_ORIN_HWMON_ONLY = ("VDDQ_VDD2_1V8AO",)


def rail_set(counted: tuple[str, ...]) -> str:
    """The name of the rail set behind a module figure: the input rail, or the summed rails in order."""
    if len(counted) == 1 and counted[0] in INPUT_RAILS:
        return counted[0]
    return "+".join(counted)


def _agx_orin_note(counted: tuple[str, ...]) -> str:
    have = set(counted)
    if set(AGX_ORIN_TEGRASTATS_RAILS) <= have and not have & set(AGX_ORIN_HWMON_ONLY):
        return (f"; AGX Orin: {', '.join(AGX_ORIN_HWMON_ONLY)} is not in this set (tegrastats does not print it), "
                "so this reads 0.6-1.1 W below --power jetson on the same board")
    if set(AGX_ORIN_TEGRASTATS_RAILS) | set(AGX_ORIN_HWMON_ONLY) <= have:
        return (f"; AGX Orin: includes {', '.join(AGX_ORIN_HWMON_ONLY)}, which tegrastats does not print "
                "(--power tegrastats reads that much lower)")
    return ""


def describe(counted: tuple[str, ...], all_rails: list[str], driver: str) -> str:
    if len(counted) == 1 and counted[0] in INPUT_RAILS:
        others = [r for r in all_rails if r != counted[0]]
        parts = f"; other rails ({', '.join(others)}) are parts of it" if others else ""
        return (f"{counted[0]} (module input rail), INA3221 {driver}; covers the Jetson module only, "
                f"not the carrier board, fan or USB devices{parts}")
    return (f"sum of module rails {' + '.join(counted)} (no input rail on this module), INA3221 {driver}; "
            "excludes the carrier board and regulator losses upstream of the rails" + _agx_orin_note(counted))
