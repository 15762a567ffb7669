import pytest

from edgekit.errors import SensorError
from edgekit.sensors.thermal import ThermalReader, read_thermal
from fakehw import add_cooling_device, add_cpufreq, add_thermal_zone, fake_command, jetson_nano_thermal, write
from pi5_output import fake_vcgencmd_body


def test_zones_cooling_and_cpufreq(sysroot):
    jetson_nano_thermal(sysroot, temps_mc=(39500, 36500, 36000, 34000, 100000, 36250))
    add_cooling_device(sysroot, 0, "Processor", 0, 3)
    add_cooling_device(sysroot, 1, "pwm-fan", 2, 255)
    add_cpufreq(sysroot, 0, 1428000, 1479000)
    add_cpufreq(sysroot, 1, 921600, 1479000)
    snap = read_thermal(sysroot)
    assert [(z.name, z.temp_c) for z in snap.zones] == [
        ("AO-therm", 39.5), ("CPU-therm", 36.5), ("GPU-therm", 36.0), ("PLL-therm", 34.0), ("PMIC-Die", 100.0),
        ("thermal-fan-est", 36.25)]
    assert snap.max_temp_c == 100.0
    assert snap.cooling_states == {"cooling_device0:Processor": 0, "cooling_device1:pwm-fan": 2}
    assert snap.cooling_max_states == {"cooling_device0:Processor": 3, "cooling_device1:pwm-fan": 255}
    assert snap.cpu_freq_khz == {0: 1428000, 1: 921600}
    assert snap.cpu_max_freq_khz == {0: 1479000, 1: 1479000}
    assert snap.throttled_bits is None


def test_reader_follows_changes_and_skips_offline_zone(sysroot):
    z = add_thermal_zone(sysroot, 0, "cpu-thermal", 45000)
    add_thermal_zone(sysroot, 1, "gpu-thermal", None)  # offline sensor: no temp
    add_thermal_zone(sysroot, 10, "tj-thermal", 47000)  # sorted numerically, after zone 1
    reader = ThermalReader(sysroot)
    first = reader.read()
    assert [z.name for z in first.zones] == ["cpu-thermal", "tj-thermal"]
    write(z / "temp", 71250)
    second = reader.read()
    assert second.zones[0].temp_c == 71.25 and second.max_temp_c == 71.25
    assert second.t_s >= first.t_s


def test_pi_throttled_bits_in_snapshot(sysroot, bin_dir):
    add_thermal_zone(sysroot, 0, "cpu-thermal", 82000)
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body(throttled="throttled=0x80008"))
    snap = read_thermal(sysroot, vcgencmd="vcgencmd")
    assert snap.throttled_bits == 0x80008


def test_missing_vcgencmd(sysroot, bin_dir):
    with pytest.raises(SensorError, match="'vcgencmd' not found"):
        ThermalReader(sysroot, vcgencmd="vcgencmd")


def test_empty_tree_gives_empty_snapshot(sysroot):
    snap = read_thermal(sysroot)
    assert snap.zones == () and snap.max_temp_c is None and snap.cpu_freq_khz == {}
