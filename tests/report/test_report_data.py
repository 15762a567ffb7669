from pathlib import Path

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet.collector.budgets import Budgets
from edgekit.fleet.collector.store import open_store
from edgekit.report.carbon_config import load_carbon_config
from edgekit.report.data import build_report
from fleet_seed import DAY2

KWH = 3.6e6


def _report(url, tmp_path):
    carbon = load_carbon_config(Path(tmp_path / "carbon.toml"))
    budgets = Budgets.from_path(tmp_path / "budgets.toml")
    with open_store(url, migrate=False) as store:
        return build_report(store, carbon=carbon, budgets=budgets)


def test_fleet_totals_per_day_and_change(seeded_db, tmp_path):
    r = _report(seeded_db, tmp_path)
    assert [d.day for d in r.days] == ["2026-11-01", "2026-11-02"]
    day1, day2 = r.days
    assert day1.energy_kwh == pytest.approx((2 * 5 * 3600 + 4 * 3600) / KWH)   # 0.014 kWh
    assert day2.energy_kwh == pytest.approx((2 * 6 * 3600 + 4 * 3600) / KWH)   # 0.016 kWh
    assert day1.energy_mj_per_inference == pytest.approx(15.0)  # median of 10 (pi-1) and 20 (pi-2)
    assert day2.energy_mj_per_inference == pytest.approx(8.0)
    ch = r.change()
    # the total grows while the energy per inference falls: both must show
    assert ch["energy_kwh_pct"] == pytest.approx((0.016 - 0.014) / 0.014 * 100)
    assert ch["energy_mj_per_inference_pct"] == pytest.approx((8 - 15) / 15 * 100)
    # carbon per day: pi-1 in France (56 g/kWh), pi-2 in Germany (381 g/kWh)
    assert day1.gco2e == pytest.approx(36000 / KWH * 56 + 14400 / KWH * 381)
    assert r.total_energy_kwh == pytest.approx(0.030)


def test_totals_from_rollups_equal_those_from_raw_rows(seeded_any_db, tmp_path):
    r = _report(seeded_any_db, tmp_path)
    carbon = load_carbon_config(Path(tmp_path / "carbon.toml"))
    with open_store(seeded_any_db, migrate=False) as store:
        raw = store.telemetry()          # the raw rows, summed here in Python
        raw_violations = store.violations()
        assert store.query("SELECT COUNT(*) FROM telemetry_hour")[0][0] == 6  # what the report read instead
    energy_j = {t.message_id: t.energy_j if t.energy_j is not None else t.power_w_avg * t.window_s for t in raw}
    raw_kwh = sum(energy_j.values()) / KWH
    raw_g = sum(e / KWH * carbon.intensity_for(t.device_id).gco2e_per_kwh
                for t, e in zip(raw, energy_j.values()))
    # pi-1: 2 h at 5 W + 2 h at 6 W = 79,200 J in France (56 g/kWh); pi-2: 2 h at 4 W = 28,800 J in Germany (381)
    assert len(raw) == 6
    assert r.total_energy_kwh == pytest.approx(raw_kwh, rel=1e-12) == pytest.approx(0.030, rel=1e-12)
    assert r.total_gco2e == pytest.approx(raw_g, rel=1e-12) == pytest.approx(0.022 * 56 + 0.008 * 381, rel=1e-12)
    assert r.violation_count == len(raw_violations) == 1
    assert sum(d.energy_kwh for d in r.devices) == pytest.approx(raw_kwh, rel=1e-12)
    assert [d.energy_kwh_by_target for d in r.days] == [{"rpi5": pytest.approx(0.014)}, {"rpi5": pytest.approx(0.016)}]
    assert r.top["energy"] == [("lab", "pi-1"), ("lab", "pi-2")] and r.top["violations"] == [("lab", "pi-1")]


def test_device_rows(seeded_db, tmp_path):
    r = _report(seeded_db, tmp_path)
    pi1 = next(d for d in r.devices if d.device_id == "pi-1")
    assert pi1.results == 2
    assert pi1.power_w_avg == pytest.approx(5.5)  # time-weighted: 2 h at 5 W, 2 h at 6 W
    assert pi1.power_w_peak == pytest.approx(7.2)
    assert pi1.latency_ms_p50 == pytest.approx(1.75) and pi1.energy_mj_per_inference == pytest.approx(9.0)
    assert pi1.temp_c_max == 61
    per_day = (79200 / KWH) / (4 * 3600 / 86400)
    assert pi1.energy_kwh_per_day == pytest.approx(per_day)
    assert pi1.gco2e_per_day == pytest.approx(per_day * 56)
    assert pi1.intensity.region == "FR"
    assert "ESTIMATE" in pi1.provenance and pi1.estimated  # the seed results came from the estimate source
    # 5 W then 6 W against pi-1's 4.5 W budget: one avg_power violation, raised at 5 W, worst 6 W, still open
    assert (pi1.open_violations, pi1.past_violations) == (1, 0)
    (v,) = r.violations
    assert (v.device_id, v.kind, v.value, v.worst_value) == ("pi-1", "avg_power", 5.0, 6.0)
    # each violation says how the figure that raised it was measured (here: telemetry from the Pi 5 PMIC)
    for v in r.violations:
        assert v.measured_by == "rpi5-pmic, board scope" and v.estimated is False
    pi2 = next(d for d in r.devices if d.device_id == "pi-2")
    assert pi2.open_violations == pi2.past_violations == 0
    assert pi2.intensity.region == "DE"
    assert r.power_budget_w["pi-1"] == 4.5 and r.power_budget_w["pi-2"] == pytest.approx(17.3)


def test_variant_rows_and_carbon_per_1000_inferences(seeded_db, tmp_path):
    r = _report(seeded_db, tmp_path)
    by = {(v.model, v.target, v.precision): v for v in r.variants}
    int8 = by[("digits_cnn", "rpi5", "int8")]
    fp32 = by[("digits_cnn", "rpi5", "fp32")]
    assert int8.results == 2 and int8.devices == 1
    assert int8.energy_mj_per_inference == pytest.approx(9.0)
    assert int8.gco2e_per_1000_inferences == pytest.approx(9.0 / KWH * 56)
    assert fp32.gco2e_per_1000_inferences == pytest.approx(20.0 / KWH * 381)
    assert fp32.latency_ms_p99 == 6


def test_since_window_drops_old_days(seeded_db, tmp_path):
    with open_store(seeded_db, migrate=False) as store:
        r = build_report(store, since_s=DAY2 - 60)
    assert [d.day for d in r.days] == ["2026-11-02"]
    assert all(v.precision != "fp32" for v in r.variants)


def test_carbon_config_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[device."x"]\nregoin = "DE"\n')
    with pytest.raises(ConfigError, match=r"c.toml: key 'device.\"x\".regoin': unknown key"):
        load_carbon_config(bad)
    bad.write_text('[fleet]\nregion = "Atlantis"\n')
    with pytest.raises(ConfigError, match="no grid carbon intensity for region 'Atlantis'"):
        load_carbon_config(bad)
