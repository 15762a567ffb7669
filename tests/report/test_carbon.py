import pytest

from edgekit.errors import ConfigError
from edgekit.report.carbon import (DEFAULT_TABLE, J_PER_KWH, grams_co2e, grams_per_1000_inferences,
                                  grid_intensity, load_grid_table)


def test_table_has_source_and_year_and_loads():
    text = DEFAULT_TABLE.read_text()
    assert "ourworldindata.org" in text and "2023" in text
    table = load_grid_table()
    assert table["FR"].gco2e_per_kwh == 56 and table["FR"].year == 2023
    assert table["GERMANY"] is table["DE"]


def test_table_covers_codecarbon_countries_and_us_states_by_code_alias_and_name():
    text = DEFAULT_TABLE.read_text()
    assert "codecarbon 3.3.2" in text and "MIT" in text and "eGRID2023" in text
    table = load_grid_table()
    regions = {g.region for g in table.values()}
    countries = {r for r in regions if len(r) == 2}
    states = {r for r in regions if r.startswith("US-")}
    assert len(countries) >= 200 and len(states) == 51  # 50 states and DC
    for code in ("US", "GB", "JP", "KR", "IT", "ES"):
        assert table[code].year and "ember-owid" in table[code].source
    assert table["USA"] is table["US"] and table["JAPAN"] is table["JP"]
    # a US state is not the country with the same two letters
    assert table["US-GA"] is not table["GE"] and table["US-DE"] is not table["DE"]
    assert table["GEORGIA (US)"] is table["US-GA"] and "epa-egrid" in table["US-CA"].source
    # eGRID 2023 California: 394.769 lb/MWh
    assert table["US-CA"].gco2e_per_kwh == round(394.769 * 453.59237 / 1000)


def test_a_key_naming_two_regions_is_refused(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("region,name,gco2e_per_kwh,year\nGE,Georgia,168,2023\nUS-GA,Georgia,325,2023\n")
    with pytest.raises(ConfigError, match="row 2: 'GEORGIA' already names GE"):
        load_grid_table(bad)


def test_one_kwh_at_known_intensity():
    de = grid_intensity("de")
    assert grams_co2e(J_PER_KWH, de) == pytest.approx(381.0)
    # 50 mJ per inference: 1,000 inferences = 50 J = 50/3.6e6 kWh
    assert grams_per_1000_inferences(50.0, de) == pytest.approx(50 / 3.6e6 * 381)


def test_user_supplied_figure_wins_and_is_labelled():
    g = grid_intensity("de", override_gco2e_per_kwh=100)
    assert g.gco2e_per_kwh == 100 and g.source == "user-supplied"
    assert "estimate" in g.label


def test_unknown_region_and_bad_figure_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no grid carbon intensity for region 'XX'"):
        grid_intensity("XX")
    with pytest.raises(ConfigError, match=">= 0"):
        grid_intensity("de", override_gco2e_per_kwh=float("nan"))
    bad = tmp_path / "t.csv"
    bad.write_text("region,name,gco2e_per_kwh,year\nXX,Nowhere,lots,2023\n")
    with pytest.raises(ConfigError, match="row 1 is malformed"):
        load_grid_table(bad)
