import pytest

from edgekit.errors import SensorError
from edgekit.sensors.android.adb import AdbBatterySource, parse_dumpsys_battery
from edgekit.sensors.detect import open_power_source
from fakehw import DUMPSYS_BATTERY, add_cooling_device, add_thermal_zone, fake_adb, fake_phone, write


def test_phone_reporting_ma_negative_while_discharging(tmp_path, bin_dir):
    """Huawei P8 Lite 2017 style: current_now in mA, negative while discharging."""
    phone = fake_phone(tmp_path, "HUAWEI01", current_now=-450, voltage_now=3850000)
    fake_adb(bin_dir, {"HUAWEI01": phone})
    src = AdbBatterySource(serial="HUAWEI01")
    try:
        assert src.read().power_w == pytest.approx(0.450 * 3.85)
        assert "current in mA, negative while discharging" in src.info.description
        write(phone / "sys/class/power_supply/battery/current_now", -900)
        assert src.read().power_w == pytest.approx(0.900 * 3.85)
        assert src.info.resolution_w == pytest.approx(1e-3 * 3.85)
    finally:
        src.close()


def test_phone_reporting_ua_positive_while_discharging(tmp_path, bin_dir):
    """Xiaomi Mi A1 style: uA, positive while discharging (inverted against the Android convention)."""
    phone = fake_phone(tmp_path, "MIA1", current_now=620000, voltage_now=4012000)
    fake_adb(bin_dir, {"MIA1": phone, "OTHER": fake_phone(tmp_path, "OTHER", current_now=-1, voltage_now=1)})
    src = open_power_source("android", adb_serial="MIA1")
    try:
        assert src.info.name == "android-battery" and src.info.scope == "battery"
        assert "current in uA, positive while discharging" in src.info.description
        assert src.read().power_w == pytest.approx(0.620 * 4.012)
    finally:
        src.close()


def test_phone_with_voltage_in_mv(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "P1", current_now=-300000, voltage_now=3900)
    fake_adb(bin_dir, {"P1": phone})
    src = AdbBatterySource(serial="P1")
    try:
        assert src.read().power_w == pytest.approx(0.3 * 3.9)
    finally:
        src.close()


@pytest.mark.parametrize("kw, why", [
    ({"status": 2, "ac": True}, "AC powered"),
    ({"status": 3, "usb": True}, "USB powered"),
    ({"status": 2}, "charging"),
])
def test_refuses_charging_phone(tmp_path, bin_dir, kw, why):
    fake_adb(bin_dir, {"S1": fake_phone(tmp_path, "S1", current_now=500000, voltage_now=4200000, **kw)})
    with pytest.raises(SensorError, match=f"phone S1 is {why}.*adb tcpip 5555"):
        AdbBatterySource(serial="S1")


def test_charger_plugged_mid_run(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "S1", current_now=-400000, voltage_now=3800000)
    fake_adb(bin_dir, {"S1": phone})
    src = AdbBatterySource(serial="S1")
    try:
        src.read()
        write(phone / "sys/class/power_supply/battery/current_now", 1200000)  # current now flows in
        with pytest.raises(SensorError, match="started charging"):
            src.read()
    finally:
        src.close()


def test_zero_current_phone_is_refused(tmp_path, bin_dir):
    fake_adb(bin_dir, {"A52S": fake_phone(tmp_path, "A52S", current_now=0, voltage_now=3800000)})
    with pytest.raises(SensorError, match="current_now = 0"):
        AdbBatterySource(serial="A52S")


def test_unknown_serial(tmp_path, bin_dir):
    fake_adb(bin_dir, {"S1": fake_phone(tmp_path, "S1", current_now=-1, voltage_now=1)})
    with pytest.raises(SensorError, match="device 'NOPE' not found"):
        AdbBatterySource(serial="NOPE")


def test_battery_state(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "S1", current_now=-400000, voltage_now=3800000, level=57, charge_counter=1650000,
                       voltage_mv=3812, charge_full=2900000)
    fake_adb(bin_dir, {"S1": phone})
    src = AdbBatterySource(serial="S1")
    try:
        st = src.battery_state()
    finally:
        src.close()
    assert st.percent == 57 and st.status == "Discharging" and not st.external_power
    assert st.charge_now_mah == pytest.approx(1650.0) and st.charge_full_mah == pytest.approx(2900.0)
    assert st.voltage_v == pytest.approx(3.812) and st.temp_c == pytest.approx(27.5)


def test_parse_dumpsys_nexus_capture():
    st = parse_dumpsys_battery(DUMPSYS_BATTERY.format(ac="true", usb="false", status=2, level=19, charge_counter=0,
                                                      voltage_mv=3764))
    assert st.ac_powered and not st.usb_powered and st.powered == ["AC"]
    assert (st.status, st.level, st.scale, st.voltage_mv, st.temperature_c) == (2, 19, 100, 3764, 27.5)
    with pytest.raises(SensorError, match="no battery state"):
        parse_dumpsys_battery("Can't find service: battery\n")


def test_phone_thermal_zones_and_cooling_devices_over_the_same_shell(tmp_path, bin_dir):
    # vendor zone names as on a real phone (sonyxperiadev kugo): battery, xo_therm, tsens_tz_sensor0
    phone = fake_phone(tmp_path, "P1", current_now=-450, voltage_now=3850000)
    sys_root = phone / "sys"
    add_thermal_zone(sys_root, 0, "battery", 27500)
    add_thermal_zone(sys_root, 1, "xo_therm", 33100)
    add_thermal_zone(sys_root, 2, "tsens_tz_sensor0", None)       # offline sensor: no temp
    add_thermal_zone(sys_root, 10, "tsens_tz_sensor8", 41200)
    add_cooling_device(sys_root, 0, "thermal-cpufreq-0", 2, 15)
    fake_adb(bin_dir, {"P1": phone})
    src = AdbBatterySource(serial="P1")
    try:
        snap = src.thermal_snapshot()
        assert [(z.name, z.temp_c) for z in snap.zones] == [("battery", 27.5), ("xo_therm", 33.1),
                                                           ("tsens_tz_sensor8", 41.2)]
        assert snap.cooling_states == {"cooling_device0:thermal-cpufreq-0": 2}
        assert snap.cooling_max_states == {"cooling_device0:thermal-cpufreq-0": 15}
        assert src.read().power_w == pytest.approx(0.450 * 3.85)  # the shell still serves the battery
    finally:
        src.close()


# --- mA or µA decided from more than one reading (issue 12: 4) --------------------------------------

def test_ua_phone_drawing_under_10_ma_is_not_read_1000x_too_high(tmp_path, bin_dir):
    """Pixel 3a style: µA, 966 µA at 3.85 V = 3.7 mW; a magnitude rule alone reads 3.72 W."""
    phone = fake_phone(tmp_path, "PIX3A", current_now=966, voltage_now=3850000, charge_counter=2650000,
                       drain_ua=966)
    fake_adb(bin_dir, {"PIX3A": phone})
    src = AdbBatterySource(serial="PIX3A", unit_probe_s=8.0)
    try:
        assert src.read().power_w == pytest.approx(966e-6 * 3.85)
        assert src.info.decisions[0].startswith("current_now unit uA: the Charge counter drain")
    finally:
        src.close()


def test_ma_phone_confirmed_by_its_charge_counter(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "HW2", current_now=-450, voltage_now=3850000, charge_counter=2650000,
                       drain_ua=450_000)
    fake_adb(bin_dir, {"HW2": phone})
    src = AdbBatterySource(serial="HW2")
    try:
        assert src.read().power_w == pytest.approx(0.450 * 3.85)
        assert "unit mA: the Charge counter drain" in src.info.decisions[0]
    finally:
        src.close()


def test_unit_from_a_large_reading_needs_no_probe_and_says_why(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "MI", current_now=620000, voltage_now=4012000, charge_counter=2650000)
    fake_adb(bin_dir, {"MI": phone})
    src = AdbBatterySource(serial="MI")
    try:
        assert "unit uA: a reading of 620000 is 10 A or more if mA" in src.info.decisions[0]
    finally:
        src.close()


def test_phone_whose_counter_never_moves_keeps_mA_and_says_unconfirmed(tmp_path, bin_dir):
    phone = fake_phone(tmp_path, "OLD", current_now=-450, voltage_now=3850000, charge_counter=2650000)
    fake_adb(bin_dir, {"OLD": phone})
    src = AdbBatterySource(serial="OLD", unit_probe_s=0.5)
    try:
        assert "taken as mA by magnitude (the Charge counter did not move" in src.info.decisions[0]
        assert "unconfirmed" in src.info.decisions[0]
    finally:
        src.close()
