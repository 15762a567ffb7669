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
