"""Who timed a bench result's inferences, as ``latency.source`` says: light on purpose (the collector reads it)."""

from __future__ import annotations

#: ``latency.source`` of ``edgekit bench --emulate arm64``: qemu-user's time on the host, not the device's
EMULATED_SOURCE = "emulated-arm64"


def is_emulated(doc: dict) -> bool:
    """Whether a result document came from an emulated device (its latency is not a device figure)."""
    lat = doc.get("latency") if isinstance(doc, dict) else None
    return isinstance(lat, dict) and lat.get("source") == EMULATED_SOURCE
