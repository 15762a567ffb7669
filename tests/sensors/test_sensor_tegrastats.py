import pytest

from edgekit.errors import SensorError
from edgekit.sensors.detect import open_power_source
from edgekit.sensors.jetson.nvpmodel import parse_nvpmodel_query, query_power_mode, read_power_mode_files
from edgekit.sensors.jetson.tegrastats import TegrastatsSource, parse_tegrastats_line
from fakehw import fake_command, write
from tegrastats_lines import AGX_ORIN_JP7, AGX_ORIN_R36, AGX_XAVIER, NANO_L4T32, ORIN_NX, XAVIER_NX


@pytest.mark.parametrize("line, rails", [
    (NANO_L4T32, {"POM_5V_IN": 1022, "POM_5V_GPU": 0, "POM_5V_CPU": 204}),
    (XAVIER_NX, {"VDD_IN": 4067, "VDD_CPU_GPU_CV": 738, "VDD_SOC": 1353}),
    (AGX_XAVIER, {"GPU": 0, "CPU": 311, "SOC": 932, "CV": 0, "VDDRQ": 621, "SYS5V": 1482}),
    (ORIN_NX, {"VDD_IN": 5299, "VDD_CPU_GPU_CV": 773, "VDD_SOC": 1424}),
    (AGX_ORIN_R36, {"VDD_GPU_SOC": 3205, "VDD_CPU_CV": 4405, "VIN_SYS_5V0": 4767}),
    (AGX_ORIN_JP7, {"VDD_GPU_SOC": 5139, "VDD_CPU_CV": 3268, "VIN_SYS_5V0": 5500}),
])
def test_power_fields_across_generations(line, rails):
    r = parse_tegrastats_line(line)
    assert r.rails_mw == rails  # RAM/SWAP/IRAM "a/bMB" are not rails


def test_temperatures_loads_and_memory():
    nano = parse_tegrastats_line(NANO_L4T32)
    assert nano.temps_c == {"PLL": 34.0, "CPU": 36.5, "GPU": 36.0, "AO": 39.5, "thermal": 36.25}  # PMIC dropped
    assert nano.cpu_load_pct == (16.0, 9.0, 0.0, 0.0)
    assert (nano.ram_used_mb, nano.ram_total_mb) == (534, 3964)
    assert nano.gpu_load_pct == 0.0
    orin = parse_tegrastats_line(ORIN_NX)
    assert orin.cpu_load_pct[4:] == (None, None, None, None)
    assert orin.temps_c["tj"] == 48.875
    jp7 = parse_tegrastats_line(AGX_ORIN_JP7)
    assert jp7.stamp == "07-25-2026 09:08:28"
    assert jp7.temps_c["cpu"] == 52.968
    assert jp7.gpu_load_pct == 12.0
    assert parse_tegrastats_line(AGX_ORIN_R36).gpu_load_pct == 10.0


def _fake_tegrastats(bin_dir, lines):
    body = f"""
lines = {lines!r}
interval = int(sys.argv[sys.argv.index('--interval') + 1]) / 1000
i = 0
while True:
    print(lines[i % len(lines)], flush=True)
    i += 1
    time.sleep(interval)
"""
    return fake_command(bin_dir, "tegrastats", body)


def test_source_runs_tegrastats_and_uses_input_rail(bin_dir):
    line2 = ORIN_NX.replace("VDD_IN 5299mW/5299mW", "VDD_IN 7100mW/6200mW")
    _fake_tegrastats(bin_dir, [ORIN_NX, line2])
    src = TegrastatsSource(interval_ms=20)
    try:
        assert src.info.rails == ("VDD_IN",)
        assert src.info.default_sample_hz == pytest.approx(50.0)
        samples = [src.read() for _ in range(4)]
    finally:
        src.close()
    assert [s.power_w for s in samples] == pytest.approx([5.299, 7.1, 5.299, 7.1])
    assert all(b.t_s > a.t_s for a, b in zip(samples, samples[1:]))
    assert samples[0].rails_w["VDD_SOC"] == pytest.approx(1.424)


def test_source_sums_rails_on_agx_orin(bin_dir):
    _fake_tegrastats(bin_dir, [AGX_ORIN_R36])
    src = open_power_source("tegrastats")
    try:
        assert src.read().power_w == pytest.approx((3205 + 4405 + 4767) / 1000)
        assert len(src.info.rails) == 3
    finally:
        src.close()


def test_tegrastats_that_dies_is_one_line_error(bin_dir):
    fake_command(bin_dir, "tegrastats", "print('tegrastats: permission denied', file=sys.stderr); sys.exit(1)")
    with pytest.raises(SensorError, match="tegrastats stopped: tegrastats: permission denied"):
        TegrastatsSource()


def test_tegrastats_missing(bin_dir):
    with pytest.raises(SensorError, match="'tegrastats' not found on PATH"):
        TegrastatsSource()


def test_nvpmodel_query(bin_dir):
    fake_command(bin_dir, "nvpmodel", "assert sys.argv[1:] == ['-q']\nprint('NV Power Mode: 15W')\nprint('0')")
    mode = query_power_mode()
    assert (mode.name, mode.id) == ("15W", 0)
    assert parse_nvpmodel_query("NVPM WARN: x\nNV Power Mode: MAXN_SUPER\n2\n").id == 2
    with pytest.raises(SensorError, match="no 'NV Power Mode:'"):
        parse_nvpmodel_query("garbage\n")


def test_nvpmodel_files(tmp_path):
    write(tmp_path / "var/lib/nvpmodel/status", "pmode:0001")
    write(tmp_path / "etc/nvpmodel.conf", "< POWER_MODEL ID=0 NAME=15W >\nCPU_ONLINE CORE_0 1\n"
                                          "< POWER_MODEL ID=1 NAME=7W >\n< PM_CONFIG DEFAULT=0 >")
    mode = read_power_mode_files(tmp_path)
    assert (mode.name, mode.id) == ("7W", 1)
