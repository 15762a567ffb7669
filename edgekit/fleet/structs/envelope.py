"""The envelope (message-1.json) and the telemetry and status bodies (telemetry-1.json, status-1.json).

The envelope's ``body`` is kept as raw JSON (``msgspec.Raw``): it is decoded once more by its kind's struct,
and stored as the device sent it, without re-encoding.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from edgekit.fleet.structs.types import INT64_MAX, NonNeg

#: A fleet or device id: one MQTT topic level, no wildcards (the same pattern as messages.SEGMENT_RE).
Name = Annotated[str, Meta(pattern="^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
MessageId = Annotated[str, Meta(pattern="^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")]
TargetName = Annotated[str, Meta(max_length=128, pattern="^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]


class Envelope(Struct, kw_only=True):
    """Every message a device publishes under ``edgekit/v1/<fleet>/<device_id>/<kind>`` (unknown members
    are allowed, as in message-1.json). ``seq`` is required, and at least 1, for result and telemetry:
    :func:`edgekit.fleet.structs.envelope_problem` checks that rule."""

    schema: Literal["edgekit.message"]
    schema_version: Literal[1]
    kind: Literal["result", "telemetry", "status"]
    message_id: MessageId
    fleet: Name
    device_id: Name
    seq: Annotated[int, Meta(ge=0, le=INT64_MAX)] | UnsetType = UNSET
    sent_at: Annotated[str, Meta(min_length=10, max_length=40)]
    target: TargetName | None | UnsetType = UNSET
    body: Raw


Power = Annotated[float, Meta(ge=0, le=100000)]


class TelemetryBody(Struct, kw_only=True):
    """A power/thermal/battery summary of the last ``window_s`` seconds; figures a device cannot measure are
    null. Unknown members are allowed (and stored)."""

    window_s: Annotated[float, Meta(gt=0, le=86400)]
    power_w_avg: Power | None | UnsetType = UNSET
    power_w_peak: Power | None | UnsetType = UNSET
    energy_j: NonNeg | None | UnsetType = UNSET
    temp_c_max: Annotated[float, Meta(ge=-80, le=250)] | None | UnsetType = UNSET
    throttled: bool | None | UnsetType = UNSET
    battery_pct: Annotated[float, Meta(ge=0, le=100)] | None | UnsetType = UNSET
    battery_drain_pct_h: Annotated[float, Meta(ge=-10000, le=10000)] | None | UnsetType = UNSET
    power_source: Annotated[str, Meta(max_length=128)] | None | UnsetType = UNSET
    scope: Annotated[str, Meta(max_length=32)] | None | UnsetType = UNSET
    estimated: bool | None | UnsetType = UNSET


class StatusBody(Struct, kw_only=True):
    """Published retained; the device's MQTT last will carries ``offline``."""

    state: Literal["online", "offline"]
