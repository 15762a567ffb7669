import pytest

from edgekit.errors import SensorError
from edgekit.sensors.jetson.ina3221_hwmon import JetsonHwmonSource
from edgekit.sensors.jetson.ina3221_iio import JetsonIioSource
from fakehw import add_ina3221_hwmon, jetson_agx_orin, jetson_nano, jetson_orin_nano, set_hwmon_channel, write


def test_orin_nano_total_is_vdd_in(sysroot):
    d = jetson_orin_nano(sysroot, vdd_in=(5020, 980), cpu_gpu_cv=(5000, 160), soc=(5000, 290))
    src = JetsonHwmonSource(sysroot)
    s = src.read()
    assert src.info.rails == ("VDD_IN",)
    assert src.info.scope == "module"
    assert "carrier board" in src.info.description
    assert s.power_w == pytest.approx(5020 * 980 / 1e6)
    assert s.rails_w == pytest.approx({"VDD_IN": 5020 * 980 / 1e6, "VDD_CPU_GPU_CV": 5000 * 160 / 1e6,
                                      "VDD_SOC": 5000 * 290 / 1e6})
    # a new load shows on the next read
    set_hwmon_channel(d, 1, 5000, 6000)
    assert src.read().power_w == pytest.approx(30.0)
    # resolution: 5.02 V x (40 uV / 5 mOhm) + 0.98 A x 8 mV, at the load seen when opened
    assert src.info.resolution_w == pytest.approx(5.02 * 0.008 + 0.98 * 0.008)


def test_agx_orin_sums_rails_and_skips_nc_and_sum_channel(sysroot):
    jetson_agx_orin(sysroot)
    src = JetsonHwmonSource(sysroot)
    s = src.read()
    expected = {"VDD_GPU_SOC": 843 * 6170, "VDD_CPU_CV": 843 * 1200, "VIN_SYS_5V0": 4968 * 953,
                "VDDQ_VDD2_1V8AO": 1800 * 341}
    assert set(src.info.rails) == set(expected)
    assert "NC" not in s.rails_w
    assert s.power_w == pytest.approx(sum(expected.values()) / 1e6)
    assert "sum of module rails" in src.info.description


def test_hwmon_sample_rate_follows_update_interval(sysroot):
    add_ina3221_hwmon(sysroot, "1-0040", [("VDD_IN", 5000, 1000)], update_interval_ms=40)
    assert JetsonHwmonSource(sysroot).info.default_sample_hz == pytest.approx(25.0)


def test_hwmon_unreadable_value_is_one_line_error(sysroot):
    d = jetson_orin_nano(sysroot)
    src = JetsonHwmonSource(sysroot)
    write(d / "curr1_input", "garbage")
    with pytest.raises(SensorError, match="curr1_input.*not an integer"):
        src.read()


def test_hwmon_missing_tree(sysroot):
    with pytest.raises(SensorError, match="no INA3221 hwmon rails"):
        JetsonHwmonSource(sysroot)


def test_nano_iio_total_is_pom_5v_in(sysroot):
    jetson_nano(sysroot, pom_in_mw=2345, gpu_mw=120, cpu_mw=610)
    src = JetsonIioSource(sysroot)
    s = src.read()
    assert src.info.rails == ("POM_5V_IN",)
    assert s.power_w == pytest.approx(2.345)
    assert s.rails_w["POM_5V_CPU"] == pytest.approx(0.610)
    assert src.info.name == "jetson-ina3221-iio"


def test_agx_xavier_iio_two_monitors_summed_and_vi_fallback(sysroot):
    from fakehw import add_ina3221_iio

    add_ina3221_iio(sysroot, "1-0040", [("GPU", 1000, 100, 100), ("CPU", 1000, 311, 311), ("SOC", 1000, 932, 932)],
                    iio=0)
    # second monitor without power files: V x I
    add_ina3221_iio(sysroot, "1-0041", [("CV", 1000, 0, None), ("VDDRQ", 900, 690, None),
                                        ("SYS5V", 5000, 296, None)], iio=1)
    src = JetsonIioSource(sysroot)
    assert src.read().power_w == pytest.approx(0.100 + 0.311 + 0.932 + 0 + 0.900 * 0.690 + 5.0 * 0.296)
    assert len(src.info.rails) == 6


# --- mainline driver: unnamed spare channels, monitors found by driver and name (issue 12: 1, 2, 5, 8) ---

from edgekit.sensors.detect import decision_line, open_power_source  # noqa: E402
from edgekit.sensors.jetson.tegrastats import TegrastatsSource  # noqa: E402
from fakehw import AGX_ORIN_RAILS_MW, fake_command, jetson_agx_orin_mainline, jetson_thor_ina238  # noqa: E402

AGX_ORIN_TOTAL_W = sum(AGX_ORIN_RAILS_MW.values()) / 1000


@pytest.mark.parametrize("spare", ["unlabelled", "absent"])
def test_agx_orin_spare_channels_without_label_read_at_the_right_total(sysroot, spare):
    jetson_agx_orin_mainline(sysroot, spare=spare)
    src = JetsonHwmonSource(sysroot)
    s = src.read()
    assert s.power_w == pytest.approx(AGX_ORIN_TOTAL_W)       # four rails, nothing from the spares
    assert s.rails_w["VDDQ_VDD2_1V8AO"] == pytest.approx(1.800 * 0.341)  # the second monitor is not lost
    assert set(s.rails_w) == set(AGX_ORIN_RAILS_MW)
    assert not any(":ch" in r for r in src.info.rails)
    if spare == "unlabelled":
        assert sorted(src.info.skipped) == ["1-0041:ch1: no in1_label (unnamed in the device tree), not a rail",
                                            "1-0041:ch3: no in3_label (unnamed in the device tree), not a rail"]
    else:
        assert src.info.skipped == ()   # no files, nothing seen; the monitor is found all the same


def test_monitor_found_by_name_when_its_channel_1_is_absent(sysroot):
    # the second monitor only under bus/i2c/devices with its name file, channel 1 gone
    _, b = jetson_agx_orin_mainline(sysroot, spare="absent")
    dev = sysroot / "bus/i2c/devices/1-0041"
    dev.parent.mkdir(parents=True)
    (b.parent.parent).rename(dev)
    assert JetsonHwmonSource(sysroot).read().power_w == pytest.approx(AGX_ORIN_TOTAL_W)


def test_disabled_channel_is_not_a_rail_and_unreadable_rail_is_an_error(sysroot):
    a, b = jetson_agx_orin_mainline(sysroot)
    write(a / "in2_enable", 0)
    src = JetsonHwmonSource(sysroot)
    assert "VDD_CPU_CV" not in src.info.rails
    assert any("VDD_CPU_CV: disabled" in x for x in src.info.skipped)
    write(a / "in2_enable", 1)
    (b / "in2_input").unlink()
    (b / "in2_input").mkdir()   # a labelled rail that cannot be read: never silently dropped
    with pytest.raises(SensorError, match="cannot read INA3221 rail VDDQ_VDD2_1V8AO \\(1-0041:ch2\\)"):
        JetsonHwmonSource(sysroot)


def test_auto_on_agx_orin_with_unlabelled_spares_chooses_jetson_and_says_so(sysroot, bin_dir):
    from fakehw import make_target

    jetson_agx_orin_mainline(sysroot)
    src = open_power_source("auto", sysfs_root=sysroot, target=make_target("jetson-agx-orin", 15, 60))
    assert src.info.name == "jetson-ina3221-hwmon"
    assert src.read().power_w == pytest.approx(AGX_ORIN_TOTAL_W)
    assert [(a.source, a.outcome) for a in src.info.auto_decision] == [("jetson", "chosen")]
    assert decision_line(src.info).startswith("edgekit: --power auto chose jetson")


def test_rail_set_names_what_each_agx_orin_reader_sums(sysroot, bin_dir):
    from tegrastats_lines import AGX_ORIN_R36

    jetson_agx_orin_mainline(sysroot)
    hw = JetsonHwmonSource(sysroot)
    assert hw.info.rail_set == "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO"
    assert "tegrastats does not print" in hw.info.description
    fake_command(bin_dir, "tegrastats", f"print({AGX_ORIN_R36!r}, flush=True)\ntime.sleep(30)")
    ts = TegrastatsSource()
    try:
        assert ts.info.scope == hw.info.scope == "module"
        assert ts.info.rail_set == "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0"
        assert "VDDQ_VDD2_1V8AO is not in this set" in ts.info.description
        missing = set(hw.info.rail_set.split("+")) - set(ts.info.rail_set.split("+"))
        assert missing == {"VDDQ_VDD2_1V8AO"}
    finally:
        ts.close()
    nano = sysroot.parent / "nano"
    jetson_orin_nano(nano)
    assert JetsonHwmonSource(nano).info.rail_set == "VDD_IN"


def test_thor_ina238_refusal_points_to_routes_it_has(sysroot, bin_dir):
    jetson_thor_ina238(sysroot)
    for kind in ("jetson",):
        with pytest.raises(SensorError) as exc:
            open_power_source(kind, sysfs_root=sysroot)
        msg = str(exc.value)
        assert "INA238" in msg and "--power tegrastats" in msg and "--power trace" in msg
        assert "L4T 32" not in msg and "ina3221x" not in msg
    with pytest.raises(SensorError, match="INA238"):
        JetsonHwmonSource(sysroot)
    src = open_power_source("auto", sysfs_root=sysroot)
    assert src.info.scope == "none"
    assert src.info.auto_decision[0].source == "jetson" and "INA238" in src.info.auto_decision[0].reason


def test_monitor_seen_only_through_class_hwmon_keeps_its_device_name(sysroot):
    # a container that mounts only /sys/class: the hwmon links point into the device tree
    _, b = jetson_agx_orin_mainline(sysroot)
    devices = sysroot / "devices/platform/3160000.i2c/i2c-1"
    devices.mkdir(parents=True)
    drivers = sysroot / "bus/i2c/drivers/ina3221"
    for dev in ("1-0040", "1-0041"):
        (drivers / dev).rename(devices / dev)
    (sysroot / "class/hwmon").mkdir(parents=True)
    for dev, n in (("1-0040", 1), ("1-0041", 2)):
        (sysroot / f"class/hwmon/hwmon{n}").symlink_to(devices / dev / "hwmon" / f"hwmon{n}")
    src = JetsonHwmonSource(sysroot)
    assert src.read().power_w == pytest.approx(AGX_ORIN_TOTAL_W)
    assert all(x.startswith("1-0041:ch") for x in src.info.skipped)
