import pytest

from edgekit.errors import ConfigError, SensorError
from edgekit.sensors.detect import open_power_source
from edgekit.sensors.estimate import EstimateSource, read_cpu_jiffies
from fakehw import make_target, write, write_proc_stat


def test_estimate_follows_cpu_utilisation(tmp_path):
    proc = tmp_path / "proc"
    write_proc_stat(proc, user=1000, nice=0, system=500, idle=8000, iowait=500)
    src = open_power_source("estimate", target=make_target(idle_w=2.7, max_w=6.4), proc_root=proc)
    assert src.info.estimated and src.info.scope == "estimate"
    assert src.info.description.startswith("ESTIMATE, not a measurement")
    assert "target rpi4" in src.info.description
    # +300 user +100 system +550 idle +50 iowait: busy 400 of 1000
    write_proc_stat(proc, user=1300, nice=0, system=600, idle=8550, iowait=550)
    s = src.read()
    assert s.power_w == pytest.approx(2.7 + 0.4 * (6.4 - 2.7))
    # fully busy interval
    write_proc_stat(proc, user=2300, nice=0, system=600, idle=8550, iowait=550)
    assert src.read().power_w == pytest.approx(6.4)
    # no jiffy passed: the last utilisation holds
    assert src.read().power_w == pytest.approx(6.4)
    assert src.info.resolution_w == pytest.approx((6.4 - 2.7) / 100)


def test_jiffies_exclude_guest_and_count_irq_steal(tmp_path):
    write(tmp_path / "stat", "cpu  10 20 30 400 50 6 7 8 9 10\n")
    busy, total = read_cpu_jiffies(tmp_path)
    assert (busy, total) == (10 + 20 + 30 + 6 + 7 + 8, 10 + 20 + 30 + 400 + 50 + 6 + 7 + 8)


def test_estimate_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs a target profile"):
        open_power_source("estimate", proc_root=tmp_path)
    with pytest.raises(SensorError, match="stat: no such file"):
        EstimateSource(1.0, 2.0, proc_root=tmp_path / "missing")
    with pytest.raises(ConfigError, match="idle_w < max_w"):
        EstimateSource(3.0, 2.0, proc_root=tmp_path)
