"""Battery drain over the measured window, for sources whose scope is ``battery``.

drain_mah = E_run / V / 3.6, with E_run the run's energy (J) from the battery's
own power readings and V the mean battery voltage the source reports (else the
target profile's nominal ``battery_voltage_v``). From it: mean current, mAh per
1,000 inferences, %/h of the capacity (the source's full-charge capacity, else
the profile's ``battery_capacity_mah``) and projected hours of battery life at
the measured rate (capacity / mean current). Any figure whose input is missing is null.
"""

from __future__ import annotations


def _battery_facts(source) -> dict:
    """What the source can tell about its battery (capacity, voltage, charge %, status), where it exposes it."""
    fn = getattr(source, "battery_facts", None)
    if callable(fn):
        try:
            facts = fn()
        except Exception:  # a missing optional attribute must not sink the run
            return {}
        return dict(facts or {})
    return {}


def battery_summary(source, sampler, rep, run, target) -> dict | None:
    if source is None or source.info.scope != "battery" or rep is None:
        return None
    facts = _battery_facts(source)
    window_s = run[1] - run[0]
    voltage_v = facts.get("voltage_v") or (target.battery_voltage_v if target is not None else None)
    capacity_mah = facts.get("capacity_mah") or (target.battery_capacity_mah if target is not None else None)
    drain_mah = avg_ma = per_1000 = pct_h = life_h = None
    if voltage_v:
        drain_mah = rep.run.energy_j / voltage_v / 3.6
        avg_ma = drain_mah / (window_s / 3600.0)
        per_1000 = drain_mah / rep.inferences * 1000.0
        if capacity_mah and avg_ma > 0:
            pct_h = avg_ma / capacity_mah * 100.0
            life_h = capacity_mah / avg_ma
    return {
        "source": source.info.name,
        "window_s": window_s,
        "status": facts.get("status"),
        "capacity_pct_start": facts.get("capacity_pct_start"),
        "capacity_pct_end": facts.get("capacity_pct_end"),
        "drain_pct_per_h": pct_h,
        "drain_mah": drain_mah,
        "avg_current_ma": avg_ma,
        "mah_per_1000_inferences": per_1000,
        "capacity_mah": capacity_mah,
        "projected_life_h": life_h,
        "method": ("run energy from the battery's power readings / "
                   + ("the battery's mean voltage" if facts.get("voltage_v") else "the profile's nominal voltage")
                   if voltage_v else "no battery voltage known: drain in mAh unavailable"),
    }
