"""Power, battery and thermal sources. Start with :func:`open_power_source` and :class:`ThermalReader`."""

from edgekit.sensors.base import (BatteryReader, BatteryState, PowerSample, PowerSource, SourceInfo,
                                  ThermalSnapshot, ThermalZoneReading)
from edgekit.sensors.detect import KINDS, open_power_source
from edgekit.sensors.null import NullSource
from edgekit.sensors.thermal import ThermalReader, read_thermal

__all__ = [
    "KINDS", "BatteryReader", "BatteryState", "NullSource", "PowerSample", "PowerSource", "SourceInfo",
    "ThermalReader", "ThermalSnapshot", "ThermalZoneReading", "open_power_source", "read_thermal",
]
