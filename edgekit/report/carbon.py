"""Operational emissions from measured energy and grid carbon intensity.

The shipped table (``edgekit/data/grid_intensity.csv``) holds annual averages per
country (ISO 3166-1 alpha-2 or alpha-3 code, or name) and per US state (``US-CA``),
each with its source and year; a user may supply a figure per device or fleet
instead. Either way the result is an estimate from average intensities,
and is labelled so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ConfigError

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "data" / "grid_intensity.csv"
J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class GridIntensity:
    region: str
    gco2e_per_kwh: float
    year: int | None
    source: str  # "table: <file>" or "user-supplied"

    @property
    def label(self) -> str:
        when = f" {self.year}" if self.year else ""
        return f"{self.region}{when} annual average, {self.gco2e_per_kwh:g} gCO2e/kWh ({self.source}); estimate"


def load_grid_table(path: Path | None = None) -> dict[str, GridIntensity]:
    path = Path(path or DEFAULT_TABLE)
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    table: dict[str, GridIntensity] = {}
    for i, row in enumerate(csv.DictReader(rows), start=1):
        try:
            value = float(row["gco2e_per_kwh"])
            year = int(row["year"]) if row.get("year") else None
            region, name = row["region"].strip().upper(), row["name"].strip().upper()
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ConfigError(f"{path}: data row {i} is malformed; expected region,name,gco2e_per_kwh,year") from None
        if not value >= 0:
            raise ConfigError(f"{path}: data row {i}: gco2e_per_kwh must be >= 0")
        origin = f"table: {path.name}" + (f", {row['source'].strip()}" if (row.get("source") or "").strip() else "")
        entry = GridIntensity(region, value, year, origin)
        for key in {region, name, (row.get("iso3") or "").strip().upper()} - {""}:
            if key in table and table[key] is not entry:
                raise ConfigError(f"{path}: data row {i}: {key!r} already names {table[key].region}")
            table[key] = entry
    return table


def grid_intensity(region: str | None, *, override_gco2e_per_kwh: float | None = None,
                   table: dict[str, GridIntensity] | None = None) -> GridIntensity:
    """The intensity for a region code/name, or the user's own figure when given."""
    if override_gco2e_per_kwh is not None:
        if not override_gco2e_per_kwh >= 0:
            raise ConfigError(f"grid intensity {override_gco2e_per_kwh} must be a number >= 0 gCO2e/kWh")
        return GridIntensity((region or "custom").upper(), float(override_gco2e_per_kwh), None, "user-supplied")
    table = table if table is not None else load_grid_table()
    key = (region or "WORLD").strip().upper()
    if key not in table:
        raise ConfigError(
            f"no grid carbon intensity for region {region!r}; use an ISO country code or US-XX state from "
            f"{DEFAULT_TABLE.name} or supply a figure in gCO2e/kWh for that device")
    return table[key]


def grams_co2e(energy_j: float, intensity: GridIntensity) -> float:
    """Emissions of ``energy_j`` joules at ``intensity``."""
    return energy_j / J_PER_KWH * intensity.gco2e_per_kwh


def grams_per_1000_inferences(energy_mj_per_inference: float, intensity: GridIntensity) -> float:
    # 1,000 inferences × mJ each = the same number in joules.
    return grams_co2e(energy_mj_per_inference, intensity)
