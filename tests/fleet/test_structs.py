"""The wire structs (edgekit.fleet.structs) and the published JSON Schema files say the same.

Two checks: a structural one (every object, member, requirement, type and bound of each schema file equals
the struct's, read through msgspec.inspect), and a behavioural one (hypothesis mutates valid documents; the
structs accept exactly what jsonschema, with edgekit's type-exact integers, accepts).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.fleet.collector.limits import exact_validator_class
from edgekit.fleet.messages import build_envelope
from edgekit.fleet.structs import BODIES, Envelope, envelope_problem
from edgekit.fleet.structs.types import INT64_MAX, INT64_MIN

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_collector import result_doc  # noqa: E402  (a realistic bench result document)

SCHEMAS = Path(__file__).resolve().parents[2] / "edgekit" / "schemas"
ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default", "format"}


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


# ------------------------------------------------------------- canonical forms


def _schema_canon(node, root) -> tuple:
    """A schema node as a sorted tuple of alternatives, each a tuple naming its type and bounds."""
    if "$ref" in node:
        target = root
        for part in node["$ref"].split("#/", 1)[1].split("/"):
            target = target[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        assert not set(rest) - ANNOTATIONS, f"$ref with siblings {rest}"
        return _schema_canon(target, root)
    alts: list[tuple] = []
    for key in ("oneOf", "anyOf"):
        for sub in node.get(key, ()):
            alts += _schema_canon(sub, root)
    if "const" in node:
        alts.append(("enum", frozenset([node["const"]])))
    if "enum" in node:
        alts.append(("enum", frozenset(node["enum"])))
    types = node.get("type")
    for t in [types] if isinstance(types, str) else (types or []):
        alts.append(_schema_alt(t, node, root))
    if not alts and ("properties" in node or "additionalProperties" in node):
        alts.append(_schema_alt("object", node, root))
    assert alts, f"a schema node without a type: {node}"
    return tuple(sorted(alts, key=repr))


def _schema_alt(t: str, node: dict, root) -> tuple:
    if t == "null":
        return ("null",)
    if t == "boolean":
        return ("bool",)
    if t == "integer":
        lo = node.get("minimum", INT64_MIN)
        if "exclusiveMinimum" in node:
            lo = node["exclusiveMinimum"] + 1
        return ("int", lo, node.get("maximum", INT64_MAX))
    if t == "number":
        return ("float", node.get("minimum"), node.get("exclusiveMinimum"), node.get("maximum"),
                node.get("exclusiveMaximum"))
    if t == "string":
        return ("str", node.get("minLength"), node.get("maxLength"), node.get("pattern"))
    if t == "array":
        return ("array", node.get("maxItems"), _schema_canon(node.get("items", {}), root))
    assert t == "object", t
    props = node.get("properties")
    extra = node.get("additionalProperties", True)
    if props is None and isinstance(extra, dict):
        return ("dict", node.get("maxProperties"), _schema_canon(extra, root))
    props = props or {}
    return ("object", extra is False, frozenset(node.get("required", ())),
            tuple(sorted((k, _schema_canon(v, root)) for k, v in props.items())))


def _struct_canon(t) -> tuple:
    types = t.types if isinstance(t, mi.UnionType) else (t,)
    return tuple(sorted((_struct_alt(x) for x in types), key=repr))


def _struct_alt(t) -> tuple:
    if isinstance(t, mi.NoneType):
        return ("null",)
    if isinstance(t, mi.BoolType):
        return ("bool",)
    if isinstance(t, mi.IntType):
        lo = t.ge if t.gt is None else t.gt + 1
        return ("int", INT64_MIN if lo is None else lo, INT64_MAX if t.le is None else t.le)
    if isinstance(t, mi.FloatType):
        return ("float", t.ge, t.gt, t.le, t.lt)
    if isinstance(t, mi.StrType):
        return ("str", t.min_length, t.max_length, t.pattern)
    if isinstance(t, mi.LiteralType):
        return ("enum", frozenset(t.values))
    if isinstance(t, mi.ListType):
        return ("array", t.max_length, _struct_canon(t.item_type))
    if isinstance(t, mi.DictType):
        return ("dict", t.max_length, _struct_canon(t.value_type))
    if isinstance(t, mi.RawType):
        return ("raw",)
    assert isinstance(t, mi.StructType), t
    return ("object", t.forbid_unknown_fields, frozenset(f.name for f in t.fields if f.required),
            tuple(sorted((f.name, _struct_canon(f.type)) for f in t.fields)))


def _without(canon: tuple, member: str) -> tuple:
    (kind, closed, required, props), = canon
    return ((kind, closed, required - {member}, tuple(p for p in props if p[0] != member)),)


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_each_body_struct_says_what_its_schema_says(kind):
    schema = _load(f"{kind}-1.json")
    assert _struct_canon(mi.type_info(BODIES[kind])) == _schema_canon(schema, schema)


def test_the_envelope_struct_says_what_message_1_json_says():
    schema = _load("message-1.json")
    ours, theirs = _struct_canon(mi.type_info(Envelope)), _schema_canon(schema, schema)
    # the body is kept raw by the envelope and checked by its kind's struct (the test above)
    assert _without(ours, "body") == _without(theirs, "body")
    # and the schema's one conditional rule, which no struct can say, is envelope_problem's
    assert schema["allOf"] == [{"if": {"properties": {"kind": {"enum": ["result", "telemetry"]}}},
                                "then": {"required": ["seq"], "properties": {"seq": {"minimum": 1}}}}]


def test_the_comparison_can_fail():
    schema = _load("telemetry-1.json")
    changed = json.loads(json.dumps(schema))
    changed["properties"]["temp_c_max"]["maximum"] = 300
    assert _schema_canon(changed, changed) != _struct_canon(mi.type_info(BODIES["telemetry"]))
    changed = json.loads(json.dumps(schema))
    changed["required"].append("power_w_avg")
    assert _schema_canon(changed, changed) != _struct_canon(mi.type_info(BODIES["telemetry"]))


def _envelope(kind="telemetry", **changes) -> dict:
    body = {"window_s": 10.0, "power_w_avg": 4.2} if kind == "telemetry" else {"state": "online"}
    doc = build_envelope(kind, body, fleet="f", device_id="d", seq=1)
    doc.update(changes)
    return doc


@pytest.mark.parametrize("doc, problem", [
    (_envelope(), None),
    (_envelope("status"), None),
    ({k: v for k, v in _envelope().items() if k != "seq"}, "'seq' is a required property"),
    (_envelope(seq=0), "less than the minimum of 1"),
    ({k: v for k, v in _envelope("status").items() if k != "seq"}, None),
])
def test_envelope_problem_is_the_schemas_conditional_rule(doc, problem):
    env = msgspec.json.decode(json.dumps(doc).encode(), type=Envelope)
    got = envelope_problem(env)
    assert (got is None) if problem is None else (problem in got)
    full = exact_validator_class(_load("message-1.json"))(_load("message-1.json"))
    assert full.is_valid(doc) == (problem is None)


# ---------------------------------------------------------------- behaviour

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["", "edgekit.result", "onnx", "board", "chosen", "throttled", "warning", "a" * 65]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _with(doc, path, value, delete):
    doc = json.loads(json.dumps(doc))
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    if delete and isinstance(node, dict):
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


def _integral_float(v) -> bool:
    """jsonschema's const/enum take 1.0 for 1; the structs' Literal[1] does not (stricter, and refused)."""
    if isinstance(v, float):
        return math.isfinite(v) and v == int(v)
    if isinstance(v, dict):
        return any(_integral_float(x) for x in v.values())
    if isinstance(v, list):
        return any(_integral_float(x) for x in v)
    return False


_RESULT = result_doc(3, "dev-1")
_RESULT_PATHS = list(_paths(_RESULT))
_TELEMETRY = {"window_s": 10.0, "power_w_avg": 4.2, "power_w_peak": 5.0, "energy_j": 42.0, "temp_c_max": 55.0,
              "throttled": False, "battery_pct": None, "battery_drain_pct_h": None, "power_source": "rpi5-pmic",
              "scope": "board", "estimated": False}


@pytest.mark.parametrize("kind, valid", [("result", _RESULT), ("telemetry", _TELEMETRY)])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_structs_accept_exactly_what_the_schema_accepts(kind, valid, data):
    schema = _load(f"{kind}-1.json")
    full = exact_validator_class(schema)(schema)
    paths = _RESULT_PATHS if kind == "result" else list(_paths(valid))
    path = data.draw(st.sampled_from(paths))
    value = data.draw(_JSON)
    doc = _with(valid, path, value, delete=data.draw(st.booleans()))
    try:
        msgspec.json.decode(json.dumps(doc).encode(), type=BODIES[kind])
        ours = True
    except msgspec.ValidationError:
        ours = False
    theirs = full.is_valid(doc)
    if ours:
        assert theirs, f"the structs accept what {kind}-1.json refuses: {path} = {value!r}"
    elif theirs:
        assert _integral_float(value), f"the structs refuse what {kind}-1.json accepts: {path} = {value!r}"
