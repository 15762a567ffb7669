"""Validation of everything a collector receives, before anything is stored.

:meth:`Validator.validate` never raises: it returns an accepted
:class:`~edgekit.fleet.records.Message` or a :class:`Rejection` naming one of
:data:`REASONS`. Checks, in order (cheapest first, so junk costs little):

1. topic shape ``edgekit/v1/<fleet>/<device_id>/<kind>``            -> ``bad_topic``
2. payload size (``max_bytes``)                                   -> ``too_large``
3. strict UTF-8                                                   -> ``not_utf8``
4. JSON; the constants NaN/Infinity and overflowing numbers (1e999) -> ``not_json`` / ``non_finite``
5. nesting depth (``max_depth``)                                   -> ``too_deep``
   then arrays, strings and objects within edgekit.fleet.collector.limits -> ``over_limit``
6. strings with NUL or lone surrogates (no database stores them)  -> ``bad_string``
7. envelope schema (message-1.json) and body schema of its kind
   (telemetry-1.json, status-1.json, result-1.json when shipped)  -> ``schema``
8. fleet, device id and kind equal to the topic's                 -> ``topic_mismatch``
9. value ranges of the figures the collector uses (no negative
   power or energy, timestamps that parse, sent_at in its window)  -> ``value_range``

The hot path: a message that cannot break a size cap (few commas, short, shallow, no ``\\u0000``) is
decoded and validated in one pass, in C, by the wire structs of :mod:`edgekit.fleet.structs` (msgspec), then
checked against its topic and for value ranges as above. Only when the structs refuse it, or the gate sends it
on, does it take the checks above, which decide the reason and word it; the structs stay the authority (what
they refuse is refused, with their message, even if the schema would let it pass).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from edgekit.fleet.collector import limits
from edgekit.fleet.collector.schema import CompiledSchema, load_schema
from edgekit.fleet.messages import KINDS, parse_topic
from edgekit.fleet.records import Message, RecordError, message_from_document
from edgekit.fleet.structs import BODIES, Envelope, envelope_problem

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

REASONS = (
    "bad_topic", "too_large", "not_utf8", "not_json", "non_finite", "too_deep",
    "bad_string", "schema", "topic_mismatch", "value_range", "internal_error",
    "over_limit", "store_failed",
)

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True)
class Rejection:
    topic: str
    reason: str  # one of REASONS
    detail: str  # one line, for the dead-letter table and logs
    #: the payload's message id, when it parsed far enough to have a well-formed one: the collector then
    #: tells the device (in its ack) that this message is refused for good, so it stops re-sending it
    message_id: str | None = None

    @property
    def accepted(self) -> bool:
        return False


_MESSAGE_ID_RE = re.compile(r"^[0-9a-fA-F-]{32,36}$")


def _message_id_of(doc: dict) -> str | None:
    mid = doc.get("message_id")
    return mid.replace("-", "") if isinstance(mid, str) and _MESSAGE_ID_RE.match(mid) else None


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str):
    raise _NonFinite(f"JSON constant {name} is not a number; send null for a missing figure")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"number {text[:40]} overflows a double")
    return value


_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")


def _nesting_depth(text: str, max_depth: int) -> int:
    """Deepest nesting of arrays/objects in JSON text (strings ignored), without parsing it."""
    if text.count("[") + text.count("{") <= max_depth:
        return 0  # cannot be deeper than the number of openers
    brackets = _NOT_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    depth = deepest = 0
    for c in brackets:
        if c == "[" or c == "{":
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _check_strings(doc) -> tuple[str, str] | None:
    """NUL and lone surrogates anywhere in keys or values, without recursion."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                bad = _bad_string(key)
                if bad:
                    return "bad_string", f"key {key[:40]!r}: {bad}"
                if isinstance(value, (dict, list)):
                    stack.append(value)
                elif isinstance(value, str):
                    bad = _bad_string(value)
                    if bad:
                        return "bad_string", f"value of {key[:40]!r}: {bad}"
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, (dict, list)):
                    stack.append(value)
                elif isinstance(value, str):
                    bad = _bad_string(value)
                    if bad:
                        return "bad_string", f"list item: {bad}"
    return None


def _bad_string(s: str) -> str | None:
    if s.isascii():
        return "contains NUL" if "\x00" in s else None
    if "\x00" in s:
        return "contains NUL"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate"
    return None


class Validator:
    """Checks one MQTT message; holds the compiled schemas (one per collector)."""

    def __init__(self, schemas_dir: Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_depth: int = DEFAULT_MAX_DEPTH):
        self.schemas_dir = Path(schemas_dir or SCHEMAS_DIR)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._envelope = self._load("message-1.json")
        self._bodies = {"telemetry": self._load("telemetry-1.json"), "status": self._load("status-1.json")}
        result_path = self.schemas_dir / "result-1.json"
        if result_path.is_file():
            self._bodies["result"] = self._load("result-1.json")

        # every float is checked as it is parsed (an overflow like 1e999 would become inf): cheaper than
        # scanning the text for long exponents first
        self._envelope_struct = msgspec.json.Decoder(Envelope)
        self._body_structs = {kind: msgspec.json.Decoder(struct) for kind, struct in BODIES.items()}
        self._fast_max_bytes = min(self.max_bytes, limits.MAX_STRING)
        decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)
        self._decode = decoder.decode

    @property
    def checks_result_schema(self) -> bool:
        return "result" in self._bodies

    def _load(self, name: str) -> CompiledSchema:
        return load_schema(self.schemas_dir / name)

    def validate(self, topic: str, payload: bytes, *, received_at_s: float | None = None) -> Message | Rejection:
        try:
            return self._validate(topic, payload, received_at_s)
        except Exception as exc:  # the collector must survive any input; report it as a reject
            return Rejection(topic, "internal_error", f"{type(exc).__name__}: {str(exc)[:200]}")

    def _validate(self, topic: str, payload: bytes, received_at_s: float | None) -> Message | Rejection:
        parts = parse_topic(topic)
        if parts is None or parts.kind not in KINDS:
            return Rejection(topic, "bad_topic", "topic is not edgekit/v1/<fleet>/<device_id>/<result|telemetry|status>")
        if len(payload) > self.max_bytes:
            return Rejection(topic, "too_large", f"{len(payload)} bytes > limit {self.max_bytes}")
        if self._fast_gate(payload):
            verdict = self._fast(topic, parts, payload, received_at_s)
            if verdict.__class__ is not str:
                return verdict
        return self._slow(topic, parts, payload, received_at_s)

    def _fast_gate(self, payload: bytes) -> bool:
        """True when no size cap, depth limit or string rule can be broken by ``payload``: the structs alone
        then decide (what they cannot see, a NUL from ``\\u0000`` or an oversized free-form member, is ruled
        out by its size)."""
        return (len(payload) <= self._fast_max_bytes
                and payload.count(b",") < limits.MAX_PROPERTIES - 1
                and payload.count(b"{") + payload.count(b"[") <= self.max_depth
                and (payload.find(b"\\") < 0 or b"\\u0000" not in payload))  # find: memchr, no escapes is usual

    def _structs(self, payload: bytes) -> tuple[Envelope, object] | str:
        """The envelope and its body decoded by the wire structs, or their reason (a str) for refusing."""
        try:
            env = self._envelope_struct.decode(payload)
            problem = envelope_problem(env)
            if problem is not None:
                return problem
            return env, self._body_structs[env.kind].decode(env.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return str(exc)[:200]

    def _fast(self, topic: str, parts, payload: bytes, received_at_s: float | None) -> Message | Rejection | str:
        """The hot path: the Message or a Rejection, or msgspec's reason (a str) when the structs refuse."""
        decoded = self._structs(payload)
        if decoded.__class__ is str:
            return decoded
        env, struct = decoded
        mid = env.message_id.replace("-", "")
        for field, got, want in (("fleet", env.fleet, parts.fleet), ("device_id", env.device_id, parts.device_id),
                                 ("kind", env.kind, parts.kind)):
            if got != want:
                return Rejection(topic, "topic_mismatch", f"payload {field} {got[:64]!r} != topic {field} {want!r}",
                                 message_id=mid)
        doc = {"kind": env.kind, "fleet": env.fleet, "device_id": env.device_id, "message_id": env.message_id,
               "seq": env.seq if env.seq.__class__ is int else None, "sent_at": env.sent_at,
               "target": env.target if env.target.__class__ is str else None, "body": None}
        return self._message(topic, doc, struct, mid, payload, received_at_s, bytes(env.body).decode("utf-8"))

    def _message(self, topic: str, doc: dict, struct, mid: str | None, payload: bytes,
                 received_at_s: float | None, body_json: str | None) -> Message | Rejection:
        try:
            msg = message_from_document(topic, doc, struct, payload_bytes=len(payload), received_at_s=received_at_s,
                                        body_json=body_json)
        except (RecordError, OverflowError) as exc:
            return Rejection(topic, "value_range", str(exc), message_id=mid)
        late = limits.sent_at_problem(msg.sent_at_s, time.time() if received_at_s is None else received_at_s)
        if late is not None:
            return Rejection(topic, "value_range", f"{late} (sent_at {msg.sent_at[:40]!r})", message_id=mid)
        return msg

    def _slow(self, topic: str, parts, payload: bytes, received_at_s: float | None) -> Message | Rejection:
        """Every check of the module's docstring, in order, each reason worded (bounded work)."""
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(topic, "not_utf8", f"invalid UTF-8 at byte {exc.start}")
        if _nesting_depth(text, self.max_depth) > self.max_depth:
            return Rejection(topic, "too_deep", f"nesting deeper than {self.max_depth} levels")
        try:
            doc = self._decode(text)
        except _NonFinite as exc:
            return Rejection(topic, "non_finite", str(exc))
        except RecursionError:
            return Rejection(topic, "too_deep", f"nesting deeper than {self.max_depth} levels")
        except json.JSONDecodeError as exc:
            return Rejection(topic, "not_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}")
        except ValueError as exc:  # e.g. an integer literal longer than Python's 4,300-digit limit
            return Rejection(topic, "not_json", str(exc).splitlines()[0][:200])
        if not isinstance(doc, dict):
            return Rejection(topic, "schema", f"(top level): payload is a JSON {type(doc).__name__}, not an object")
        mid = _message_id_of(doc)
        over_limit = limits.size_problem(doc) if limits.may_exceed_sizes(text) else None
        if over_limit is not None:
            return Rejection(topic, "over_limit", over_limit, message_id=mid)
        if "\\u" in text:  # NUL and lone surrogates can only come from \u escapes (raw ones fail above)
            problem = _check_strings(doc)
            if problem:
                return Rejection(topic, *problem, message_id=mid)
        detail = self._envelope.error(doc)
        if detail is not None:
            return Rejection(topic, "schema", detail, message_id=mid)
        body_schema = self._bodies.get(doc["kind"])
        if body_schema is not None:
            detail = body_schema.error(doc["body"])
            if detail is not None:
                return Rejection(topic, "schema", f"body/{detail}" if not detail.startswith("(") else f"body: {detail}",
                                 message_id=mid)
        for field, want in (("fleet", parts.fleet), ("device_id", parts.device_id), ("kind", parts.kind)):
            if doc[field] != want:
                return Rejection(topic, "topic_mismatch",
                                 f"payload {field} {str(doc[field])[:64]!r} != topic {field} {want!r}", message_id=mid)
        decoded = self._structs(payload)  # the schema said yes: the structs, the authority, must agree
        if decoded.__class__ is str:
            return Rejection(topic, "schema", decoded, message_id=mid)
        env, struct = decoded
        return self._message(topic, doc, struct, mid, payload, received_at_s, bytes(env.body).decode("utf-8"))
