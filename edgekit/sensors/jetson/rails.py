"""Which INA3221 rails make a Jetson's total power.

Modules with an input rail (Nano: ``POM_5V_IN``; TX1/TX2, Xavier NX, Orin NX/Nano:
``VDD_IN``) report the whole module on that rail, and the other rails are parts of it.
AGX Orin and AGX Xavier have no input rail: the total is the sum of all rails.
Rails labelled ``NC`` (not connected) are skipped.
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


def describe(counted: tuple[str, ...], all_rails: list[str], driver: str) -> str:
    if len(counted) == 1 and counted[0] in INPUT_RAILS:
        others = [r for r in all_rails if r != counted[0]]
        parts = f"; other rails ({', '.join(others)}) are parts of it" if others else ""
        return (f"{counted[0]} (module input rail), INA3221 {driver}; covers the Jetson module only, "
                f"not the carrier board, fan or USB devices{parts}")
    return (f"sum of module rails {' + '.join(counted)} (no input rail on this module), INA3221 {driver}; "
            "excludes the carrier board and regulator losses upstream of the rails")
