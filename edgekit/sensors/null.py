"""The source returned when no power sensor is found: it says so instead of inventing numbers."""

from __future__ import annotations

from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSample, SourceInfo


class NullSource:
    """No power measurement. ``info.scope == "none"``; :meth:`read` raises with the reason and the fix.

    Callers check ``source.info.scope == "none"`` (or ``isinstance(source, NullSource)``)
    and report latency without power figures.
    """

    def __init__(self, reason: str):
        self.reason = reason
        self.info = SourceInfo(
            name="none",
            scope="none",
            description=f"no power sensor found: {reason}",
            rails=(),
            default_sample_hz=0.0,
            resolution_w=0.0,
        )

    def read(self) -> PowerSample:
        raise SensorError(
            f"no power sensor found ({self.reason}); pass --power estimate with a target for a labelled estimate, "
            "or --power trace with an external meter's CSV")

    def close(self) -> None:
        pass
