"""The validator never raises and always names a reason; property-based fuzzing with hypothesis."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.fleet.collector.validate import REASONS, Rejection, Validator
from helpers_collector import envelope, result_body, telemetry_body, topic_of

V = Validator()
GOOD = envelope("telemetry", "pi-01", 1, telemetry_body())
TOPIC = topic_of(GOOD)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30)


def _check(verdict):
    if isinstance(verdict, Rejection):
        assert verdict.reason in REASONS and verdict.reason != "internal_error", verdict
        assert verdict.detail and "\n" not in verdict.detail
    else:
        assert verdict.accepted and verdict.device_id and verdict.message_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.text(max_size=60) | st.just(TOPIC), payload=st.binary(max_size=2000))
def test_random_bytes_never_raise(topic, payload):
    _check(V.validate(topic, payload))


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_random_json_documents_are_rejected_with_a_reason(value):
    text = json.dumps(value, allow_nan=True)
    _check(V.validate(TOPIC, text.encode("utf-8", "surrogatepass")))


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(sorted(GOOD) + sorted(f"body.{k}" for k in GOOD["body"])), value=json_values)
def test_mutating_one_field_of_a_good_message(key, value):
    doc = json.loads(json.dumps(GOOD))
    if key.startswith("body."):
        doc["body"][key[5:]] = value
    else:
        doc[key] = value
    _check(V.validate(TOPIC, json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")))


@settings(max_examples=200, deadline=None)
@given(power=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_power_figures_accepted_exactly_when_not_negative(power):
    doc = envelope("telemetry", "pi-01", 1, telemetry_body(power_w_avg=power, power_w_peak=power if power >= 0 else 1.0))
    verdict = V.validate(TOPIC, json.dumps(doc).encode())
    assert verdict.accepted == (0 <= power <= 100000)


def test_good_messages_of_each_kind_pass():
    for kind, body in (("telemetry", telemetry_body()), ("result", result_body()), ("status", {"state": "online"})):
        doc = envelope(kind, "pi-01", 1, body)
        verdict = V.validate(topic_of(doc), json.dumps(doc).encode())
        assert verdict.accepted, verdict
    assert V.checks_result_schema


def test_result_body_is_checked_against_the_result_schema():
    body = result_body()
    body["latency"]["p50_ms"] = "fast"
    doc = envelope("result", "pi-01", 1, body)
    verdict = V.validate(topic_of(doc), json.dumps(doc).encode())
    assert verdict.reason == "schema" and "latency/p50_ms" in verdict.detail
    body = result_body(energy_mj=-1.0)
    doc = envelope("result", "pi-01", 1, body)
    assert V.validate(topic_of(doc), json.dumps(doc).encode()).reason == "value_range"


def test_sent_at_must_carry_a_zone():
    doc = dict(GOOD, sent_at="2026-11-30T09:00:00")
    assert V.validate(TOPIC, json.dumps(doc).encode()).reason == "value_range"
    doc = dict(GOOD, sent_at="yesterday at noon")
    assert V.validate(TOPIC, json.dumps(doc).encode()).reason == "value_range"


def test_limits_are_configurable():
    size = len(json.dumps(GOOD).encode())
    small = Validator(max_bytes=size + 100, max_depth=3)
    assert small.validate(TOPIC, json.dumps(GOOD).encode()).accepted
    assert small.validate(TOPIC, json.dumps(GOOD).encode() + b" " * 101).reason == "too_large"
    doc = dict(GOOD, extra={"a": {"b": {"c": 1}}})
    assert small.validate(TOPIC, json.dumps(doc).encode()).reason == "too_deep"


def test_huge_numbers():
    text = json.dumps(GOOD)
    for literal, reason in (("1e999", "non_finite"), ("1" * 400 + ".5", "non_finite"), ("9" * 5000, "not_json"),
                            ("9" * 400, "schema")):
        verdict = V.validate(TOPIC, text.replace('"power_w_avg": 3.0', f'"power_w_avg": {literal}').encode())
        assert verdict.reason == reason, (literal[:10], verdict)


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from([("latency", "p50_ms"), ("power", "avg_w"), ("energy",), ("thermal", "zones"),
                             ("artifact", "sha256"), ("settings", "threads"), ("battery",), ("validity", "flags")]),
       value=json_values)
def test_fast_schema_check_agrees_with_jsonschema(path, value):
    """The compiled fast path must accept exactly what jsonschema (the authority) accepts."""
    fast, full = V._bodies["result"].fast, V._bodies["result"].full
    if fast is None:
        return  # no compiled fast path: jsonschema alone decides
    doc = result_body()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    doc = json.loads(json.dumps(doc))
    try:
        fast(doc)
        fast_ok = True
    except Exception:
        fast_ok = False
    assert fast_ok == full.is_valid(doc)


GOOD_STATUS = envelope("status", "pi-01", 0, {"state": "online"})


def _agrees(schema, doc) -> None:
    assert schema.check is not None, "the fast path is not compiled for this schema: nothing to compare"
    doc = json.loads(json.dumps(doc))
    try:
        schema.fast(doc)
        fast_ok = True
    except Exception:
        fast_ok = False
    assert fast_ok == schema.full.is_valid(doc), doc


def _mutated(doc: dict, key: str, value):
    doc = json.loads(json.dumps(doc))
    node = doc
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    if value is _DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    return doc


_DELETE = object()


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(GOOD)), value=json_values | st.just(_DELETE))
def test_fast_envelope_check_agrees_with_jsonschema(key, value):
    _agrees(V._envelope, _mutated(GOOD, key, value))


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(GOOD["body"])), value=json_values | st.just(_DELETE))
def test_fast_telemetry_check_agrees_with_jsonschema(key, value):
    _agrees(V._bodies["telemetry"], _mutated(GOOD, f"body.{key}", value)["body"])


@settings(max_examples=150, deadline=None)
@given(value=json_values | st.just(_DELETE), extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3))
def test_fast_status_check_agrees_with_jsonschema(value, extra):
    body = _mutated(GOOD_STATUS, "body.state", value)["body"]
    body.update(extra)
    _agrees(V._bodies["status"], body)


def test_the_structs_decide_on_both_paths():
    """schema_version 1.0 passes the schema's const 1 but not the struct's Literal[1]: refused whether the message
    is small (the structs' hot path) or too large for it (the ordered checks)."""
    small = envelope("telemetry", "dev-1", 1, telemetry_body())
    extra = {f"note_{i}": "y" * 100 for i in range(50)}  # extra members: the telemetry schema allows them
    large = envelope("telemetry", "dev-1", 1, {**telemetry_body(), **extra})
    for doc in (small, large):
        payload = json.dumps(doc).encode()
        assert V.validate(topic_of(doc), payload).accepted
        doc = {**doc, "schema_version": 1.0}
        verdict = V.validate(topic_of(doc), json.dumps(doc).encode())
        assert not verdict.accepted and verdict.reason == "schema", verdict
    assert len(json.dumps(large)) > 4096
