"""Accepted fleet messages and the figures the collector stores and checks.

A :class:`Message` is what :class:`~edgekit.fleet.collector.validate.Validator` returns
for a payload that passed every check. Its ``telemetry`` or ``result`` holds
the figures used for storage columns and budget checks, with units in the
names; the whole body is kept as well (the report reads the rest from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any


class RecordError(ValueError):
    """A value out of range in an otherwise well-formed message."""


@dataclass(frozen=True)
class TelemetryFigures:
    window_s: float
    power_w_avg: float | None
    power_w_peak: float | None
    energy_j: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_pct: float | None
    battery_drain_pct_h: float | None
    power_source: str | None
    scope: str | None
    estimated: bool | None


@dataclass(frozen=True)
class ResultFigures:
    """What a bench result document says, reduced to the figures budgets use."""

    model: str | None
    precision: str | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    power_w_avg: float | None
    power_w_peak: float | None
    energy_mj_per_inference: float | None
    energy_mj_per_inference_net: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_drain_pct_h: float | None
    estimated: bool | None


@dataclass(frozen=True)
class Message:
    topic: str
    kind: str                 # result | telemetry | status
    fleet: str
    device_id: str
    message_id: str
    seq: int | None
    sent_at: str              # as the device wrote it
    sent_at_s: float          # the same instant, Unix seconds
    target: str | None
    body: dict[str, Any]
    payload_bytes: int
    received_at_s: float | None = None  # collector's wall clock, Unix seconds
    telemetry: TelemetryFigures | None = None
    result: ResultFigures | None = None
    state: str | None = None  # status messages: online | offline
    body_json: str | None = None  # the body's JSON text as received (stored without re-encoding)

    @property
    def accepted(self) -> bool:
        return True


def parse_timestamp(text: str) -> float:
    """RFC 3339 timestamp with a zone -> Unix seconds; RecordError otherwise."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"sent_at {text[:40]!r} is not an RFC 3339 timestamp") from None
    if dt.tzinfo is None:
        raise RecordError(f"sent_at {text[:40]!r} has no time zone; send UTC with a trailing Z")
    return dt.timestamp()


def iso_utc(t_s: float) -> str:
    """Never raises: a stored time outside year 1..9999 (an old database, a device's clock) is clamped."""
    from edgekit.timefmt import utc_strftime
    return utc_strftime(t_s, "%Y-%m-%dT%H:%M:%S.%fZ")


def _num(value: Any, name: str, *, minimum: float | None = None) -> float | None:
    cls = value.__class__
    if cls is float:  # the common case, checked without conversions
        if value - value != 0.0:  # inf - inf and nan - nan are nan
            raise RecordError(f"{name} is not finite")
    elif value is None:
        return None
    elif cls is bool or not isinstance(value, (int, float)):
        raise RecordError(f"{name} must be a number or null, not {type(value).__name__}")
    else:
        try:
            value = float(value)
        except OverflowError:
            raise RecordError(f"{name} is too large for a double") from None
        if not math.isfinite(value):
            raise RecordError(f"{name} is not finite")
    if minimum is not None and value < minimum:
        raise RecordError(f"{name} = {value:g} is below {minimum:g}")
    return value


def _bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(f"{name} must be true, false or null")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _get(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def telemetry_figures(body: dict[str, Any]) -> TelemetryFigures:
    fig = TelemetryFigures(
        window_s=_num(body.get("window_s"), "window_s", minimum=0.0),
        power_w_avg=_num(body.get("power_w_avg"), "power_w_avg", minimum=0.0),
        power_w_peak=_num(body.get("power_w_peak"), "power_w_peak", minimum=0.0),
        energy_j=_num(body.get("energy_j"), "energy_j", minimum=0.0),
        temp_c_max=_num(body.get("temp_c_max"), "temp_c_max", minimum=-273.15),
        throttled=_bool(body.get("throttled"), "throttled"),
        battery_pct=_num(body.get("battery_pct"), "battery_pct", minimum=0.0),
        battery_drain_pct_h=_num(body.get("battery_drain_pct_h"), "battery_drain_pct_h"),
        power_source=_str(body.get("power_source")),
        scope=_str(body.get("scope")),
        estimated=_bool(body.get("estimated"), "estimated"),
    )
    if fig.window_s is None or fig.window_s <= 0:
        raise RecordError("window_s must be a positive number of seconds")
    if fig.power_w_avg is not None and fig.power_w_peak is not None and fig.power_w_peak < fig.power_w_avg * 0.999:
        raise RecordError(f"power_w_peak {fig.power_w_peak:g} is below power_w_avg {fig.power_w_avg:g}")
    return fig


def model_name(body: dict[str, Any], target: str | None) -> str | None:
    """The model a result is about, from its artifact.

    A build directory is ``OUT/<model>-<target>/`` (it holds the manifest), so
    the model is that folder's name without ``-<target>``; a bare model file
    is named by its stem (``digits.onnx`` -> ``digits``).
    """
    artifact = body.get("artifact")
    if not isinstance(artifact, dict):
        return None
    source = artifact.get("manifest") or None
    path = source if isinstance(source, str) else artifact.get("path")
    if not isinstance(path, str) or not path:
        return None
    return _model_name_of_path(path, isinstance(source, str), target if isinstance(target, str) else None)


@lru_cache(maxsize=4096)  # a fleet reports the same few artifacts over and over
def _model_name_of_path(path: str, is_manifest: bool, target: str | None) -> str | None:
    p = PurePosixPath(path.replace("\\", "/"))
    if is_manifest:
        name = p.parent.name or p.stem
        if target and name.endswith(f"-{target}") and len(name) > len(target) + 1:
            name = name[: -len(target) - 1]
        return name or None
    return p.stem or None


_NO_SECTION: dict[str, Any] = {}


def _section(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else _NO_SECTION


def result_figures(body: dict[str, Any], target: str | None = None) -> ResultFigures:
    """Figures of a bench result document (edgekit/schemas/result-1.json)."""
    if target is None:
        target = _str(_get(body, "device", "target"))
    artifact, latency, power = _section(body, "artifact"), _section(body, "latency"), _section(body, "power")
    energy, thermal, battery = _section(body, "energy"), _section(body, "thermal"), _section(body, "battery")
    return ResultFigures(
        model=model_name(body, target),
        precision=_str(artifact.get("precision")),
        latency_ms_p50=_num(latency.get("p50_ms"), "latency.p50_ms", minimum=0.0),
        latency_ms_p99=_num(latency.get("p99_ms"), "latency.p99_ms", minimum=0.0),
        power_w_avg=_num(power.get("avg_w"), "power.avg_w", minimum=0.0),
        power_w_peak=_num(power.get("peak_w"), "power.peak_w", minimum=0.0),
        energy_mj_per_inference=_num(energy.get("total_mj_per_inference"),
                                     "energy.total_mj_per_inference", minimum=0.0),
        # net of idle may dip below zero within its uncertainty: no lower bound
        energy_mj_per_inference_net=_num(energy.get("net_mj_per_inference"), "energy.net_mj_per_inference"),
        temp_c_max=_num(thermal.get("max_temp_c"), "thermal.max_temp_c", minimum=-273.15),
        throttled=_bool(thermal.get("throttled"), "thermal.throttled"),
        battery_drain_pct_h=_num(battery.get("drain_pct_per_h"), "battery.drain_pct_per_h"),
        estimated=_bool(power.get("estimated"), "power.estimated"),
    )


def message_from_document(topic: str, doc: dict[str, Any], *, payload_bytes: int,
                          received_at_s: float | None = None, body_json: str | None = None) -> Message:
    """Build a :class:`Message` from a schema-valid envelope; RecordError on bad values.

    ``body_json`` is the body's JSON text as received, when the caller has it (stored as is)."""
    kind = doc["kind"]
    body = doc["body"]
    telemetry = telemetry_figures(body) if kind == "telemetry" else None
    result = result_figures(body, doc.get("target")) if kind == "result" else None
    state = body.get("state") if kind == "status" else None
    return Message(
        topic=topic, kind=kind, fleet=doc["fleet"], device_id=doc["device_id"],
        message_id=doc["message_id"].replace("-", ""), seq=doc.get("seq"), sent_at=doc["sent_at"],
        sent_at_s=parse_timestamp(doc["sent_at"]), target=doc.get("target"), body=body,
        payload_bytes=payload_bytes, received_at_s=received_at_s,
        telemetry=telemetry, result=result, state=state, body_json=body_json,
    )
