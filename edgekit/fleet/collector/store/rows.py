"""What the store writes and returns: dead letters, gaps, batch outcomes and the rows of each table.

The figure columns of ``telemetry`` and ``results`` are the fields of
:class:`~edgekit.fleet.records.TelemetryFigures` and
:class:`~edgekit.fleet.records.ResultFigures`, declared there once: a row is the
message's key fields, then those figures (then, for a result, the document).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, make_dataclass
from operator import attrgetter
from typing import Any

from edgekit.fleet.records import Message, ResultFigures, TelemetryFigures


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    payload: bytes
    received_at_s: float


@dataclass(frozen=True)
class Gap:
    device_id: str
    first_seq: int
    last_seq: int
    missing: int
    detected_at_s: float
    closed_at_s: float | None = None
    id: int | None = None
    fleet: str = ""   # a device is (fleet, device_id); "" only for gaps of a device unknown at migration 3


@dataclass
class BatchOutcome:
    """What one batch did: which messages were new, which were already stored."""

    new: list[Message] = field(default_factory=list)
    duplicates: list[Message] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    gaps_filled: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    fleet: str
    target: str | None
    first_seen_s: float
    last_seen_s: float
    last_sent_at_s: float | None
    max_seq: int | None
    messages: int
    state: str | None
    state_at_s: float | None


#: The columns a telemetry or result row starts with: which message it is.
MESSAGE_FIELDS = (("device_id", "str"), ("message_id", "str"), ("fleet", "str"), ("target", "str | None"),
                  ("seq", "int | None"), ("sent_at_s", "float"))
TELEMETRY_FIGURES = tuple(f.name for f in fields(TelemetryFigures))
RESULT_FIGURES = tuple(f.name for f in fields(ResultFigures))


def _row_class(name: str, figures: type, extra: tuple = ()) -> type:
    cls = make_dataclass(name, [*MESSAGE_FIELDS, *((f.name, f.type) for f in fields(figures)), *extra], frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = f"A stored {figures.__name__[:-len('Figures')].lower()} message: key fields, then its figures."
    return cls


TelemetryRow = _row_class("TelemetryRow", TelemetryFigures)
ResultRow = _row_class("ResultRow", ResultFigures, (("document", "dict[str, Any]"),))


@dataclass(frozen=True)
class ViolationRow:
    id: int
    device_id: str
    fleet: str
    kind: str
    subject: str
    unit: str
    limit_value: float
    source: str
    value: float
    worst_value: float
    raised_at_s: float
    raised_message_id: str
    cleared_at_s: float | None
    cleared_message_id: str | None
    cleared_value: float | None
    raised_published: bool
    cleared_published: bool
    measured_by: str | None = None   # sensor and scope of the figure that raised it (None before schema v2)
    estimated: bool | None = None    # that figure came from a power model, not a sensor

    @property
    def open(self) -> bool:
        return self.cleared_at_s is None


@dataclass(frozen=True)
class DeadLetterRow:
    id: int
    received_at_s: float
    topic: str
    reason: str
    detail: str
    payload_bytes: int
    payload_head: bytes


_MESSAGE_COLS = tuple(name for name, _ in MESSAGE_FIELDS)
DEVICE_COLS = ", ".join(f.name for f in fields(DeviceRow))
TELEMETRY_COLS = ", ".join(_MESSAGE_COLS + TELEMETRY_FIGURES)
RESULT_COLS = ", ".join(_MESSAGE_COLS + RESULT_FIGURES + ("document",))
VIOLATION_COLS = ", ".join(f.name for f in fields(ViolationRow))

_telemetry_values = attrgetter(*TELEMETRY_FIGURES)
_result_values = attrgetter(*RESULT_FIGURES)


def _message_key(m: Message) -> tuple:
    return m.device_id, m.message_id, m.fleet, m.target, m.seq, m.sent_at_s


def telemetry_params(m: Message) -> tuple:
    """The ``INSERT INTO telemetry`` values of a telemetry message, in :data:`TELEMETRY_COLS` order."""
    return _message_key(m) + _telemetry_values(m.telemetry)


def result_params(m: Message) -> tuple:
    """The ``INSERT INTO results`` values of a result message, in :data:`RESULT_COLS` order."""
    document = m.body_json if m.body_json is not None else json.dumps(m.body, separators=(",", ":"),
                                                                      ensure_ascii=False)
    return _message_key(m) + _result_values(m.result) + (document,)


def _opt_bool(v: Any) -> bool | None:
    return None if v is None else bool(v)


def _bool_columns(row_class: type) -> tuple[int, ...]:
    return tuple(i for i, f in enumerate(fields(row_class)) if f.type == "bool | None")


_TELEMETRY_BOOLS = _bool_columns(TelemetryRow)
_RESULT_BOOLS = _bool_columns(ResultRow)


def telemetry_row(r) -> TelemetryRow:
    r = list(r)
    for i in _TELEMETRY_BOOLS:
        r[i] = _opt_bool(r[i])
    return TelemetryRow(*r)


def result_row(r) -> ResultRow:
    r = list(r)
    for i in _RESULT_BOOLS:
        r[i] = _opt_bool(r[i])
    r[-1] = json.loads(r[-1])
    return ResultRow(*r)


def violation_row(row) -> ViolationRow:
    v = list(row)
    v[15], v[16], v[18] = bool(v[15]), bool(v[16]), _opt_bool(v[18])
    return ViolationRow(*v)
