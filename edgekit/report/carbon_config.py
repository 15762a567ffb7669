"""Where each device draws its electricity from, for the carbon figures.

A small TOML file::

    [fleet]                 # every device, unless a device says otherwise
    region = "DE"           # ISO country code or US-XX state from edgekit/data/grid_intensity.csv

    [device."cam-07"]
    region = "FR"

    [device."pi-lab"]
    gco2e_per_kwh = 120     # a figure of the user's own (e.g. from their utility)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import ConfigError
from edgekit.report.carbon import GridIntensity, grid_intensity, load_grid_table

_KEYS = {"region", "gco2e_per_kwh"}


@dataclass(frozen=True)
class CarbonConfig:
    default_region: str = "WORLD"
    default_gco2e_per_kwh: float | None = None
    devices: dict[str, dict] = field(default_factory=dict)

    def intensity_for(self, device_id: str, table: dict[str, GridIntensity] | None = None) -> GridIntensity:
        table = table if table is not None else load_grid_table()
        own = self.devices.get(device_id, {})
        if "gco2e_per_kwh" in own:
            return grid_intensity(own.get("region", device_id), override_gco2e_per_kwh=own["gco2e_per_kwh"])
        if "region" in own:
            return grid_intensity(own["region"], table=table)
        return grid_intensity(self.default_region, override_gco2e_per_kwh=self.default_gco2e_per_kwh, table=table)


def _section(path: Path, where: str, data: object) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{path}: key '{where}.{sorted(unknown)[0]}': unknown key; use region or gco2e_per_kwh")
    if "region" in data and not isinstance(data["region"], str):
        raise ConfigError(f"{path}: key '{where}.region': must be a country code string like \"DE\"")
    if "gco2e_per_kwh" in data:
        v = data["gco2e_per_kwh"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise ConfigError(f"{path}: key '{where}.gco2e_per_kwh': must be a number >= 0")
    return dict(data)


def load_carbon_config(path: Path | None, *, region: str | None = None) -> CarbonConfig:
    """Read the file (if any); ``region`` from the command line overrides the fleet's."""
    fleet: dict = {}
    devices: dict[str, dict] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: carbon config not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        unknown = set(data) - {"fleet", "device"}
        if unknown:
            raise ConfigError(f"{path}: key '{sorted(unknown)[0]}': unknown section; use [fleet] or [device.\"ID\"]")
        fleet = _section(path, "fleet", data.get("fleet", {}))
        for dev, sect in (data.get("device") or {}).items():
            devices[dev] = _section(path, f'device."{dev}"', sect)
    cfg = CarbonConfig(default_region=region or fleet.get("region", "WORLD"),
                       default_gco2e_per_kwh=None if region else fleet.get("gco2e_per_kwh"),
                       devices=devices)
    table = load_grid_table()
    for dev in devices:  # fail now, with the file named, rather than halfway through a report
        cfg.intensity_for(dev, table)
    cfg.intensity_for("", table)
    return cfg
