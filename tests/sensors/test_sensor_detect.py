import pytest

from edgekit.errors import ConfigError
from edgekit.sensors.base import PowerSource
from edgekit.sensors.detect import open_power_source
from fakehw import jetson_agx_orin, jetson_nano, jetson_orin_nano


def test_auto_picks_jetson_hwmon(sysroot, bin_dir):
    jetson_orin_nano(sysroot)
    src = open_power_source("auto", sysfs_root=sysroot)
    assert isinstance(src, PowerSource)
    assert src.info.name == "jetson-ina3221-hwmon"
    assert src.info.rails == ("VDD_IN",)


def test_auto_picks_jetson_iio_on_l4t32(sysroot, bin_dir):
    jetson_nano(sysroot)
    assert open_power_source("auto", sysfs_root=sysroot).info.name == "jetson-ina3221-iio"


def test_explicit_jetson_kind(sysroot, bin_dir):
    jetson_agx_orin(sysroot)
    src = open_power_source("jetson", sysfs_root=sysroot)
    assert len(src.info.rails) == 4


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown power source 'gpu'"):
        open_power_source("gpu")


# --- auto-detection order on each fake device -------------------------------------------

from edgekit.errors import SensorError  # noqa: E402
from edgekit.sensors.null import NullSource  # noqa: E402
from fakehw import (add_rapl_zone, fake_adb, fake_command, fake_phone, laptop_battery_charge,  # noqa: E402
                    laptop_battery_energy, make_target, mains, write_proc_stat)
from pi5_output import fake_vcgencmd_body  # noqa: E402
from tegrastats_lines import ORIN_NX  # noqa: E402


def _opened(src):
    try:
        return src.info.name
    finally:
        src.close()


def test_jetson_wins_over_battery_and_rapl(sysroot, bin_dir):
    jetson_orin_nano(sysroot)
    laptop_battery_energy(sysroot)
    add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 0)
    assert _opened(open_power_source(sysfs_root=sysroot)) == "jetson-ina3221-hwmon"


def test_tegrastats_when_no_ina3221_in_sysfs(sysroot, bin_dir):
    fake_command(bin_dir, "tegrastats", f"print({ORIN_NX!r}, flush=True)\ntime.sleep(30)")
    assert _opened(open_power_source(sysfs_root=sysroot)) == "tegrastats"


def test_pi5_pmic(sysroot, bin_dir):
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body())
    laptop_battery_energy(sysroot)  # a UPS HAT battery does not outrank the PMIC
    assert _opened(open_power_source(sysfs_root=sysroot)) == "rpi-pmic"


def test_pi4_without_pmic_falls_to_estimate_or_null(sysroot, bin_dir, tmp_path):
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body(pmic=None))
    proc = tmp_path / "proc"
    write_proc_stat(proc, 100, 0, 100, 800)
    src = open_power_source(sysfs_root=sysroot, target=make_target(), proc_root=proc)
    assert src.info.name == "estimate" and src.info.estimated
    null = open_power_source(sysfs_root=sysroot, proc_root=proc)
    assert isinstance(null, NullSource) and null.info.scope == "none"
    assert "rpi: vcgencmd pmic_read_adc is not supported here (Command not registered)" in null.reason
    assert "estimate: no target profile given" in null.reason
    with pytest.raises(SensorError, match="no power sensor found.*--power estimate"):
        null.read()


def test_discharging_laptop_battery(sysroot, bin_dir):
    laptop_battery_charge(sysroot)
    mains(sysroot, online=0)
    add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 0)
    assert _opened(open_power_source(sysfs_root=sysroot)) == "battery"


def test_charging_laptop_falls_to_rapl(sysroot, bin_dir):
    laptop_battery_charge(sysroot, status="Charging")
    mains(sysroot, online=1)
    add_rapl_zone(sysroot, "intel-rapl:0", "package-0", 0)
    assert _opened(open_power_source(sysfs_root=sysroot)) == "rapl"


def test_nothing_found(sysroot, bin_dir):
    src = open_power_source(sysfs_root=sysroot)
    assert isinstance(src, NullSource)
    for part in ("jetson:", "tegrastats:", "rpi:", "battery:", "rapl:"):
        assert part in src.reason


def test_adb_serial_and_trace_file_are_used_when_given(sysroot, bin_dir, tmp_path):
    jetson_orin_nano(sysroot)
    fake_adb(bin_dir, {"S1": fake_phone(tmp_path, "S1", current_now=-400000, voltage_now=3800000)})
    assert _opened(open_power_source(sysfs_root=sysroot, adb_serial="S1")) == "android-battery"
    trace = tmp_path / "t.csv"
    trace.write_text("time,power_w\n1790000000,1.0\n1790000001,1.0\n")
    assert _opened(open_power_source(sysfs_root=sysroot, trace_file=trace)) == "trace"
    with pytest.raises(SensorError, match="no such file|cannot read trace"):
        open_power_source(sysfs_root=sysroot, trace_file=tmp_path / "missing.csv")


@pytest.mark.parametrize("kind, match", [
    ("jetson", "no Jetson INA3221 monitor"),
    ("rpi", "'vcgencmd' not found on PATH"),
    ("battery", "no battery under"),
    ("rapl", "no RAPL package zone"),
    ("tegrastats", "'tegrastats' not found on PATH"),
    ("android", "'adb' not found on PATH"),
])
def test_explicit_kind_missing_raises(sysroot, bin_dir, kind, match):
    with pytest.raises(SensorError, match=match):
        open_power_source(kind, sysfs_root=sysroot)


def test_trace_kind_without_file(sysroot):
    with pytest.raises(ConfigError, match="pass --trace FILE"):
        open_power_source("trace", sysfs_root=sysroot)
