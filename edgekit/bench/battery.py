"""Battery drain over the measured window, for sources that read a battery (``battery_state()``).

* ``drain_mah`` = E_run / V / 3.6: the run's energy (J) from the battery's own
  power readings, over the mean battery voltage the gauge reported at the start
  and end of the run (else the target profile's nominal ``battery_voltage_v``).
* ``avg_current_ma`` = drain_mah / window (h); ``mah_per_1000_inferences`` = drain_mah / N x 1000.
* ``capacity_mah``: the gauge's full charge (``charge_full``), else ``energy_full`` / V,
  else the target profile's ``battery_capacity_mah``.
* ``drain_pct_per_h`` = avg_current_ma / capacity_mah x 100; ``projected_life_h`` =
  capacity_mah / avg_current_ma (a full battery at this workload's rate).
* ``capacity_pct_start``/``_end``: the gauge's own percentage, for comparison only
  (it moves in 1 % steps, too coarse for short runs).

Figures whose inputs are missing are null.
"""

from __future__ import annotations

from edgekit.sensors.base import BatteryState


def battery_summary(source, states: list[BatteryState], rep, run: tuple[float, float], target) -> dict | None:
    if source is None or rep is None or source.info.scope != "battery":
        return None
    window_s = run[1] - run[0]
    volts = [st.voltage_v for st in states if st.voltage_v]
    gauge_v = sum(volts) / len(volts) if volts else None
    voltage_v = gauge_v or (getattr(target, "battery_voltage_v", None) if target is not None else None)
    last = states[-1] if states else None
    capacity_mah = cap_from = None
    if last is not None and last.charge_full_mah:
        capacity_mah, cap_from = last.charge_full_mah, "the gauge's charge_full"
    elif last is not None and last.energy_full_wh and voltage_v:
        capacity_mah, cap_from = last.energy_full_wh / voltage_v * 1000.0, "the gauge's energy_full / voltage"
    elif target is not None and getattr(target, "battery_capacity_mah", None):
        capacity_mah, cap_from = target.battery_capacity_mah, f"target {target.name} battery_capacity_mah"
    drain_mah = avg_ma = per_1000 = pct_h = life_h = None
    if voltage_v:
        drain_mah = rep.run.energy_j / voltage_v / 3.6
        avg_ma = drain_mah / (window_s / 3600.0)
        per_1000 = drain_mah / rep.inferences * 1000.0
        if capacity_mah and avg_ma > 0:
            pct_h = avg_ma / capacity_mah * 100.0
            life_h = capacity_mah / avg_ma
    if voltage_v:
        vfrom = "the gauge's mean voltage" if gauge_v else "the profile's nominal voltage"
        method = f"run energy from battery power readings / {vfrom} ({voltage_v:.3f} V)"
        method += f"; capacity from {cap_from}" if cap_from else "; capacity unknown"
    else:
        method = "no battery voltage known: drain in mAh unavailable"
    return {
        "source": source.info.name,
        "window_s": window_s,
        "status": last.status if last is not None else None,
        "capacity_pct_start": states[0].percent if states else None,
        "capacity_pct_end": last.percent if last is not None else None,
        "drain_pct_per_h": pct_h,
        "drain_mah": drain_mah,
        "avg_current_ma": avg_ma,
        "mah_per_1000_inferences": per_1000,
        "capacity_mah": capacity_mah,
        "projected_life_h": life_h,
        "method": method,
    }
