"""Accepted fleet messages and the figures the collector stores and checks.

A :class:`Message` is what :class:`~edgekit.fleet.collector.validate.Validator` returns
for a payload that passed every check. Its ``telemetry`` or ``result`` holds
the figures used for storage columns and budget checks, with units in the
names; the whole body is kept as well (the report reads the rest from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from edgekit.bench.provenance import EMULATED_SOURCE
from edgekit.fleet.structs import BODIES, ResultBody, TelemetryBody
from edgekit.fleet.structs.result import Artifact


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
    body: dict[str, Any] | None   # the body as a dict when the validator had one (else only body_json)
    payload_bytes: int
    received_at_s: float | None = None  # collector's wall clock, Unix seconds
    telemetry: TelemetryFigures | None = None
    result: ResultFigures | None = None
    state: str | None = None  # status messages: online | offline
    body_json: str | None = None  # the body's JSON text as received (stored without re-encoding)
    power_source: str | None = None  # what measured the power figures, and its scope (results and telemetry)
    power_scope: str | None = None

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


def _opt(value: Any) -> Any:
    """A struct member as a figure: UNSET (absent) is None."""
    return None if value is UNSET else value


def _at_least(value: float | None, name: str, minimum: float) -> float | None:
    """A range the collector needs beyond the schema's (figures are finite: the structs saw to it)."""
    if value is not None and value < minimum:
        raise RecordError(f"{name} = {value:g} is below {minimum:g}")
    return value


def telemetry_figures(body: TelemetryBody) -> TelemetryFigures:
    """Figures of a telemetry body; its ranges are those of telemetry-1.json, checked by the struct."""
    fig = TelemetryFigures(
        window_s=body.window_s, power_w_avg=_opt(body.power_w_avg), power_w_peak=_opt(body.power_w_peak),
        energy_j=_opt(body.energy_j), temp_c_max=_opt(body.temp_c_max), throttled=_opt(body.throttled),
        battery_pct=_opt(body.battery_pct), battery_drain_pct_h=_opt(body.battery_drain_pct_h),
        power_source=_opt(body.power_source), scope=_opt(body.scope), estimated=_opt(body.estimated),
    )
    if fig.power_w_avg is not None and fig.power_w_peak is not None and fig.power_w_peak < fig.power_w_avg * 0.999:
        raise RecordError(f"power_w_peak {fig.power_w_peak:g} is below power_w_avg {fig.power_w_avg:g}")
    return fig


def model_name(artifact: Artifact, target: str | None) -> str | None:
    """The model a result is about, from its artifact.

    A build directory is ``OUT/<model>-<target>/`` (it holds the manifest), so
    the model is that folder's name without ``-<target>``; a bare model file
    is named by its stem (``digits.onnx`` -> ``digits``).
    """
    manifest = _opt(artifact.manifest) or None
    path = manifest if manifest is not None else artifact.path
    if not path:
        return None
    return _model_name_of_path(path, manifest is not None, target)


@lru_cache(maxsize=4096)  # a fleet reports the same few artifacts over and over
def _model_name_of_path(path: str, is_manifest: bool, target: str | None) -> str | None:
    p = PurePosixPath(path.replace("\\", "/"))
    if is_manifest:
        name = p.parent.name or p.stem
        if target and name.endswith(f"-{target}") and len(name) > len(target) + 1:
            name = name[: -len(target) - 1]
        return name or None
    return p.stem or None


def result_figures(body: ResultBody, target: str | None = None) -> ResultFigures:
    """Figures of a bench result document (edgekit/schemas/result-1.json)."""
    if target is None:
        target = body.device.target
    latency, power, energy, thermal, battery = body.latency, body.power, body.energy, body.thermal, body.battery
    # an emulated device's time is qemu's, not a device latency: it stays in the document, out of the figures
    device_time = latency.source != EMULATED_SOURCE
    return ResultFigures(
        model=model_name(body.artifact, target),
        precision=body.artifact.precision,
        latency_ms_p50=latency.p50_ms if device_time else None,
        latency_ms_p99=latency.p99_ms if device_time else None,
        power_w_avg=_at_least(power.avg_w, "power.avg_w", 0.0) if power else None,
        power_w_peak=_at_least(power.peak_w, "power.peak_w", 0.0) if power else None,
        energy_mj_per_inference=(_at_least(energy.total_mj_per_inference, "energy.total_mj_per_inference", 0.0)
                                 if energy else None),
        # net of idle may dip below zero within its uncertainty: no lower bound
        energy_mj_per_inference_net=energy.net_mj_per_inference if energy else None,
        temp_c_max=_at_least(thermal.max_temp_c, "thermal.max_temp_c", -273.15) if thermal else None,
        throttled=thermal.throttled if thermal else None,
        battery_drain_pct_h=battery.drain_pct_per_h if battery else None,
        estimated=power.estimated if power else None,
    )


def message_from_document(topic: str, doc: dict[str, Any], body: Struct | None = None, *, payload_bytes: int,
                          received_at_s: float | None = None, body_json: str | None = None) -> Message:
    """Build a :class:`Message` from a valid envelope ``doc`` and the body's struct ``body``
    (:data:`edgekit.fleet.structs.BODIES`; converted from ``doc["body"]`` when not given); RecordError on bad
    values.

    ``doc["body"]`` is the body as a dict, or None when ``body_json``, the body's JSON text as received, is
    given (it is stored as is)."""
    kind = doc["kind"]
    if body is None:
        try:
            body = msgspec.convert(doc["body"], BODIES[kind])
        except msgspec.ValidationError as exc:
            raise RecordError(f"body: {exc}") from None
    telemetry = telemetry_figures(body) if kind == "telemetry" else None
    result = result_figures(body, doc.get("target")) if kind == "result" else None
    state = body.state if kind == "status" else None
    if telemetry is not None:
        source, scope = telemetry.power_source, telemetry.scope
    elif result is not None and body.power is not None:
        source, scope = body.power.source, body.power.scope
    else:
        source = scope = None
    return Message(
        topic=topic, kind=kind, fleet=doc["fleet"], device_id=doc["device_id"],
        message_id=doc["message_id"].replace("-", ""), seq=doc.get("seq"), sent_at=doc["sent_at"],
        sent_at_s=parse_timestamp(doc["sent_at"]), target=doc.get("target"), body=doc["body"],
        payload_bytes=payload_bytes, received_at_s=received_at_s,
        telemetry=telemetry, result=result, state=state, body_json=body_json,
        power_source=source, power_scope=scope,
    )
