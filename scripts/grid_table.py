"""Regenerate edgekit/data/grid_intensity.csv from the figures published in codecarbon 3.3.2's wheel.

Only the figures are taken (codecarbon is MIT-licensed; no code of it is used). Run:

    pip download codecarbon==3.3.2 --no-deps -d /tmp/cc
    unzip -q /tmp/cc/codecarbon-3.3.2-py3-none-any.whl 'codecarbon/data/*' -d /tmp/cc/x
    python3 scripts/grid_table.py /tmp/cc/x/codecarbon/data/private_infra > edgekit/data/grid_intensity.csv
    rm -rf /tmp/cc

Country codes: ISO 3166-1 from the Debian/Ubuntu iso-codes package (/usr/share/iso-codes/json).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ISO_3166_1 = Path("/usr/share/iso-codes/json/iso_3166-1.json")
G_PER_LB = 453.59237
# Kept from the previous table: codecarbon has no world figure.
WORLD = ("WORLD", "World", "", 481, 2023, "ember-statista")

HEADER = """\
# Annual average carbon intensity of electricity generation, grams CO2-equivalent per kWh, rounded to whole grams.
# Countries (source ember-owid): Ember (Yearly Electricity Data) and Energy Institute, as published by Our World in
#   Data, "Carbon intensity of electricity generation" (https://ourworldindata.org/grapher/carbon-intensity-electricity;
#   OWID data CC BY 4.0), lifecycle emissions; the year of each row is the latest year the source had for that country
#   (2023 for most large grids, earlier for some). Figures as shipped in codecarbon 3.3.2
#   (codecarbon/data/private_infra/global_energy_mix.json, field carbon_intensity; codecarbon is MIT-licensed,
#   Copyright (c) 2019 Mila, BCG Gamma, CometML, Haverford College, (c) 2023 Code Carbon NGO); ISO 3166-1 codes.
# US states (source epa-egrid, region US-XX): US EPA eGRID2023, annual CO2-equivalent total output emission rate
#   (field STC2ERTA, lb/MWh, converted at 453.59237 g/lb; https://www.epa.gov/egrid/download-data; US public domain),
#   as shipped in codecarbon 3.3.2 (codecarbon/data/private_infra/2023/usa_emissions.json). eGRID counts emissions at
#   the power plant (not lifecycle), so a state figure is not directly comparable with a country figure.
# World average (481 g), 2023: Ember, via Statista chart 943137.
# Averages over a year and a whole region: an estimate, not the intensity of the hour a device ran.
# Regions not listed here need a user-supplied figure (--grid-intensity / device config).
# Regenerate with scripts/grid_table.py.
"""


def rows(infra: Path) -> list[tuple]:
    iso = {c["alpha_3"]: c for c in json.loads(ISO_3166_1.read_text())["3166-1"]}
    out = [WORLD]
    mix = json.loads((infra / "global_energy_mix.json").read_text())
    for a3, entry in sorted(mix.items(), key=lambda kv: iso[kv[0]]["alpha_2"]):
        out.append((iso[a3]["alpha_2"], entry["country_name"], a3, round(entry["carbon_intensity"]),
                    entry["year"], "ember-owid"))
    usa = json.loads((infra / "2023" / "usa_emissions.json").read_text())
    year = usa["_source"]["year"]
    for name, entry in sorted(usa.items(), key=lambda kv: kv[1].get("regionCode", "") if isinstance(kv[1], dict) else ""):
        code = entry.get("regionCode", "") if isinstance(entry, dict) else ""
        if name.startswith("_") or len(code) != 2:  # metadata, and the national total (the US row is Ember's)
            continue
        out.append((f"US-{code}", f"{name.title()} (US)", "", round(entry["emissions"] * G_PER_LB / 1000),
                    year, "epa-egrid"))
    return out


def main(argv: list[str]) -> int:
    sys.stdout.write(HEADER)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["region", "name", "iso3", "gco2e_per_kwh", "year", "source"])
    w.writerows(rows(Path(argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
