import pytest

from edgekit.errors import SensorError
from edgekit.sensors.rpi.pmic import PmicSource, parse_pmic_read_adc
from edgekit.sensors.rpi.throttle import parse_get_throttled, read_throttled
from fakehw import fake_command
from pi5_output import CURRENTS_A, NOT_REGISTERED, PMIC_READ_ADC, VOLTS_V, fake_vcgencmd_body


def test_pairs_current_and_voltage_by_name():
    rails = parse_pmic_read_adc(PMIC_READ_ADC)
    assert rails["VDD_CORE"].power_w == pytest.approx(6.22421000 * 0.86173300)
    assert rails["EXT5V"].current_a is None and rails["EXT5V"].power_w is None
    assert rails["BATT"].power_w is None
    assert sum(r.power_w is not None for r in rails.values()) == 12


def test_rail_names_parsed_generically():
    text = PMIC_READ_ADC.replace("0V8_SW_", "0V8_SYS_")
    rails = parse_pmic_read_adc(text)
    assert "0V8_SYS" in rails and "0V8_SW" not in rails
    assert rails["0V8_SYS"].power_w == pytest.approx(0.37670900 * 0.8)


def test_pi5_source_sums_twelve_rails(bin_dir, tmp_path):
    scale = tmp_path / "scale"
    scale.write_text("1.0")
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body(scale_file=str(scale)))
    src = PmicSource()
    expected = sum(CURRENTS_A[n] * VOLTS_V[n] for n in CURRENTS_A)
    s = src.read()
    assert s.power_w == pytest.approx(expected, rel=1e-7)
    assert src.info.scope == "board"
    assert "below wall power" in src.info.description
    assert src.info.default_sample_hz == 10.0
    assert len(src.info.rails) == 12 and "EXT5V" not in src.info.rails
    scale.write_text("2.0")  # twice the current on every rail
    assert src.read().power_w == pytest.approx(2 * expected, rel=1e-6)


def test_pi_without_pmic(bin_dir):
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body(pmic=None))
    with pytest.raises(SensorError, match="Command not registered.*Raspberry Pi 5"):
        PmicSource()
    with pytest.raises(SensorError, match="not supported"):
        parse_pmic_read_adc(NOT_REGISTERED)


@pytest.mark.parametrize("text, now, since_boot", [
    ("throttled=0x0", [], []),
    ("throttled=0x50005", ["under-voltage", "throttled"], ["under-voltage", "throttled"]),
    ("throttled=0x80008", ["soft temperature limit"], ["soft temperature limit"]),
    ("throttled=0x20000", [], ["ARM frequency capped"]),
    ("throttled=0xf000f", ["under-voltage", "ARM frequency capped", "throttled", "soft temperature limit"],
     ["under-voltage", "ARM frequency capped", "throttled", "soft temperature limit"]),
])
def test_get_throttled_bits(text, now, since_boot):
    st = parse_get_throttled(text)
    assert st.describe() == [f"{n} (now)" for n in now] + [f"{n} (since boot)" for n in since_boot]
    assert st.any_now == bool(now) and st.any_since_boot == bool(since_boot)


def test_get_throttled_flags_individually():
    st = parse_get_throttled("throttled=0x50005")
    assert st.bits == 0x50005
    assert st.under_voltage_now and st.throttled_now and not st.freq_capped_now and not st.soft_temp_limit_now
    assert st.under_voltage_since_boot and st.throttled_since_boot and not st.freq_capped_since_boot


def test_read_throttled_runs_vcgencmd(bin_dir):
    fake_command(bin_dir, "vcgencmd", fake_vcgencmd_body(throttled="throttled=0x40000"))
    st = read_throttled()
    assert st.throttled_since_boot and not st.throttled_now
    with pytest.raises(SensorError, match="not 'throttled=0x"):
        parse_get_throttled("VCHI initialization failed")
