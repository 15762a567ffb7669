import math

import pytest

from edgekit.errors import SensorError
from edgekit.sensors.battery.power_supply import BatterySource
from fakehw import add_power_supply, laptop_battery_charge, laptop_battery_energy, mains, write


def test_power_now_positive_while_discharging(sysroot):
    laptop_battery_energy(sysroot)
    src = BatterySource(sysroot)
    s = src.read()
    assert s.power_w == pytest.approx(27758000 / 1e6)
    assert s.energy_j is None and not src.info.has_counter
    assert src.info.scope == "battery" and "power_now" in src.info.description


def test_laptop_battery_with_positive_discharge_current(sysroot):
    d = laptop_battery_charge(sysroot)
    src = BatterySource(sysroot)
    assert src.read().power_w == pytest.approx(0.756 * 12.6)
    write(d / "current_now", -756000)  # ABI sign convention gives the same discharge power
    assert src.read().power_w == pytest.approx(0.756 * 12.6)
    assert src.info.resolution_w == pytest.approx(1e-6 * 12.6)


def test_power_now_zero_falls_back_to_current_times_voltage(sysroot):
    add_power_supply(sysroot, "BAT0", type="Battery", status="Discharging", power_now=0, current_now=1500000,
                     voltage_now=11000000)
    assert BatterySource(sysroot).read().power_w == pytest.approx(1.5 * 11.0)


def test_battery_with_only_energy_now_counter(sysroot):
    d = add_power_supply(sysroot, "BAT1", type="Battery", status="Discharging", energy_now=2420000,
                         energy_full=25860000, capacity=9)
    src = BatterySource(sysroot)            # primes the counter at 2420000 uWh
    assert src.info.has_counter
    s = src.read()                          # no change yet: power unknown
    assert math.isnan(s.power_w) and s.energy_j == 0.0
    write(d / "energy_now", 2419000)        # gauge steps down by 1000 uWh
    s1 = src.read()
    assert s1.energy_j == pytest.approx(1000 * 3.6e-3)
    assert math.isnan(s1.power_w)           # first step: when it started is unknown
    write(d / "energy_now", 2417500)
    s2 = src.read()                         # second step: 1500 uWh between the two observed steps
    assert s2.energy_j == pytest.approx(2500 * 3.6e-3)
    assert s2.power_w == pytest.approx(1500 * 3.6e-3 / (s2.t_s - s1.t_s))
    s3 = src.read()                         # no change: the last step's power holds
    assert s3.power_w == s2.power_w
    write(d / "energy_now", 2417000)
    s4 = src.read()
    assert s4.power_w == pytest.approx(500 * 3.6e-3 / (s4.t_s - s2.t_s))
    assert s4.energy_j == pytest.approx(3000 * 3.6e-3)


def test_charge_counter_times_voltage(sysroot):
    d = add_power_supply(sysroot, "BAT0", type="Battery", status="Discharging", charge_now=4723000,
                         voltage_now=12600000)
    src = BatterySource(sysroot)
    write(d / "charge_now", 4722000)  # 1000 uAh at 12.6 V
    assert src.read().energy_j == pytest.approx(1000 * 12.6 * 3.6e-3)


@pytest.mark.parametrize("status", ["Charging", "Full", "Not charging"])
def test_refuses_unless_discharging(sysroot, status):
    laptop_battery_energy(sysroot, status=status)
    with pytest.raises(SensorError, match=f"BAT0 is '{status}', not discharging.*unplug the charger"):
        BatterySource(sysroot)


def test_plugging_in_mid_run_stops_reads(sysroot):
    d = laptop_battery_energy(sysroot)
    src = BatterySource(sysroot)
    src.read()
    write(d / "status", "Charging")
    with pytest.raises(SensorError, match="not discharging"):
        src.read()


def test_battery_state_for_drain_figures(sysroot):
    laptop_battery_charge(sysroot)
    add_power_supply(sysroot, "hidpp_battery_0", type="Battery", scope="Device", status="Discharging",
                     capacity=50)  # a wireless mouse: not the system battery
    mains(sysroot, online=0)
    src = BatterySource(sysroot)
    assert src.info.rails == ("BAT0",)
    st = src.battery_state()
    assert st.percent == 98 and st.status == "Discharging"
    assert st.charge_now_mah == pytest.approx(4723.0) and st.charge_full_mah == pytest.approx(4804.0)
    assert st.voltage_v == pytest.approx(12.6)
    assert st.external_power is False


def test_no_battery(sysroot):
    mains(sysroot, online=1)
    with pytest.raises(SensorError, match="no battery under"):
        BatterySource(sysroot)


# --- unit decisions, cross-checked against the battery's own counter (issue 12: 3) -----------------

import time  # noqa: E402


def _drain(d, start_uwh: int, watts: float, steps: int, dt_s: float = 0.12):
    """Step energy_now down as a gauge would at ``watts``, reading the source after each step."""
    uwh = start_uwh
    for _ in range(steps):
        time.sleep(dt_s)
        uwh -= round(watts * dt_s / 3.6e-3)
        write(d / "energy_now", uwh)
        yield


def test_old_acpi_battery_with_uw_in_current_now_is_read_as_power_and_confirmed(sysroot):
    # energy-based (energy_now, no charge_*), no power_now; current_now holds the rate, 14.4 W, in uW
    d = add_power_supply(sysroot, "BAT0", type="Battery", status="Discharging", voltage_now=10459000,
                         current_now=14400000, energy_now=20000000, energy_full=25860000)
    src = BatterySource(sysroot)
    assert src.read().power_w == pytest.approx(14.4)          # not 150.6 W
    assert "current_now unit uW" in src.info.decisions[0] and "150.6 W" in src.info.decisions[0]
    for _ in _drain(d, 20000000, 14.4, 3):
        src.read()
    assert any("confirmed by the energy_now drain" in x for x in src.info.decisions)


def test_energy_battery_unit_switched_when_its_counter_contradicts_the_magnitude(sysroot):
    # 1.5e6 read as uA x 10.46 V = 15.7 W looks plausible, but the gauge drains at 1.5 W: the value is uW
    d = add_power_supply(sysroot, "BAT0", type="Battery", status="Discharging", voltage_now=10459000,
                         current_now=1500000, energy_now=20000000, energy_full=25860000)
    src = BatterySource(sysroot)
    assert src.read().power_w == pytest.approx(1.5 * 10.459)
    for _ in _drain(d, 20000000, 1.5, 3):
        src.read()
    assert src.read().power_w == pytest.approx(1.5)
    assert any("contradicted by the energy_now drain" in x and "switched to uW" in x for x in src.info.decisions)


def test_charge_battery_current_confirmed_by_charge_now_drain(sysroot):
    d = laptop_battery_charge(sysroot)       # 0.756 A x 12.6 V = 9.5 W
    src = BatterySource(sysroot)
    uah = 4723000
    for _ in range(3):
        time.sleep(0.12)
        uah -= round(0.756e6 * 0.12 / 3600)
        write(d / "charge_now", uah)
        src.read()
    assert any("current_now unit uA: confirmed by the charge_now drain" in x for x in src.info.decisions)
    assert src.read().power_w == pytest.approx(0.756 * 12.6)
