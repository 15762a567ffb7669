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
