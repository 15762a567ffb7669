"""Validation of everything a collector receives, before anything is stored.

:meth:`Validator.validate` never raises: it returns an accepted
:class:`~edgekit.fleet.records.Message` or a :class:`Rejection` naming one of
:data:`REASONS`. Checks, in order (cheapest first, so junk costs little):

1. topic shape ``edgekit/v1/<fleet>/<device_id>/<kind>``            -> ``bad_topic``
2. payload size (``max_bytes``)                                   -> ``too_large``
3. strict UTF-8                                                   -> ``not_utf8``
4. JSON; the constants NaN/Infinity and overflowing numbers (1e999) -> ``not_json`` / ``non_finite``
5. nesting depth (``max_depth``)                                   -> ``too_deep``
6. strings with NUL or lone surrogates (no database stores them)  -> ``bad_string``
7. envelope schema (message-1.json) and body schema of its kind
   (telemetry-1.json, status-1.json, result-1.json when shipped)  -> ``schema``
8. fleet, device id and kind equal to the topic's                 -> ``topic_mismatch``
9. value ranges of the figures the collector uses (no negative
   power or energy, timestamps that parse)                        -> ``value_range``
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema

try:  # compiles schemas to Python code: ~20x faster than jsonschema on a result document
    import fastjsonschema
except ImportError:  # pragma: no cover - jsonschema alone gives the same verdicts, slower
    fastjsonschema = None

from edgekit.fleet.records import Message, RecordError, message_from_document

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"

REASONS = (
    "bad_topic", "too_large", "not_utf8", "not_json", "non_finite", "too_deep",
    "bad_string", "schema", "topic_mismatch", "value_range", "internal_error",
)

KINDS = ("result", "telemetry", "status")

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


@dataclass(frozen=True)
class TopicParts:
    fleet: str
    device_id: str
    kind: str


def parse_topic(topic: str) -> TopicParts | None:
    """``edgekit/v1/<fleet>/<device_id>/<kind>`` -> parts, or None."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "edgekit" or parts[1] != "v1" or parts[4] not in KINDS:
        return None
    if not parts[2] or not parts[3]:
        return None
    return TopicParts(fleet=parts[2], device_id=parts[3], kind=parts[4])


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str):
    raise _NonFinite(f"JSON constant {name} is not a number; send null for a missing figure")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"number {text[:40]} overflows a double")
    return value


_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _Irregular(Exception):
    """Not a plain JSON object: left to the json module's decoder."""


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


def _fastjsonschema_check(schema: dict):
    """fastjsonschema as a bool check, for a schema the own compiler does not translate (None if not installed)."""
    if fastjsonschema is None:
        return None
    validate = fastjsonschema.compile(schema)

    def check(doc) -> bool:
        try:
            validate(doc)
            return True
        except Exception:
            return False
    return check


def _schema_error_detail(err: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    msg = err.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return f"{where}: {msg}"


class _Unsupported(Exception):
    """A schema uses a keyword the compiler does not translate; fastjsonschema or jsonschema checks it instead."""


_ANNOTATIONS = frozenset(("$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
                          "format"))  # format: an annotation for jsonschema without a format checker, as used here
_TYPE_TESTS = {
    "object": "{v}.__class__ is dict",
    "array": "{v}.__class__ is list",
    "string": "{v}.__class__ is str",
    "number": "({v}.__class__ is float or {v}.__class__ is int)",
    # draft 2020-12: a float with a zero fractional part is an integer
    "integer": "({v}.__class__ is int or ({v}.__class__ is float and {v}.is_integer()))",
    "boolean": "({v} is True or {v} is False)",
    "null": "{v} is None",
}
_NUMBER, _STRING, _ARRAY, _OBJECT = (_TYPE_TESTS[t] for t in ("number", "string", "array", "object"))


class _SchemaCompiler:
    """Translates a JSON Schema (the subset edgekit's schemas use) into one Python function returning a bool.

    The function mirrors jsonschema's draft 2020-12 semantics keyword by keyword (type tests, ``re.search`` for
    ``pattern``, comparisons written as jsonschema writes them, so NaN behaves the same), returns False at the
    first failure and never raises or builds an error. It is the fast path only: whenever it says False,
    jsonschema re-checks the document, decides and words the reason. Any keyword outside the subset raises
    :class:`_Unsupported`, and the caller uses another checker.
    """

    def __init__(self, root: dict):
        self.root = root
        self.base = root.get("$id", "") if isinstance(root, dict) else ""
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.consts: dict[str, object] = {}
        self.pending: list[tuple[str, object]] = []

    def compile(self):
        entry = self._func(self.root)
        while self.pending:
            name, schema = self.pending.pop()
            self.lines.append(f"def {name}(v0):")
            self._body(schema, "v0", 1, 0)
            self.lines.append("    return True")
            self.lines.append("")
        namespace = dict(self.consts)
        exec(compile("\n".join(self.lines), f"<edgekit schema {self.base or 'check'}>", "exec"), namespace)
        return namespace[entry]

    def _func(self, schema) -> str:
        key = id(schema)
        if key not in self.names:
            self.names[key] = f"_check_{len(self.names)}"
            self.pending.append((self.names[key], schema))
        return self.names[key]

    def _const(self, value) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def _resolve(self, ref: str):
        if ref.startswith(self.base + "#") and self.base:
            ref = ref[len(self.base):]
        if not ref.startswith("#/"):
            raise _Unsupported(f"$ref {ref}")
        node = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise _Unsupported(f"$ref {ref}")
            node = node[part]
        return node

    @staticmethod
    def _equal_test(v: str, value, const: str) -> str:
        if value is None or isinstance(value, bool):
            return f"{v} is {value!r}"
        if isinstance(value, str):
            return f"{v} == {const}"
        if isinstance(value, (int, float)):
            return f"(({_NUMBER.format(v=v)}) and {v} == {const})"
        raise _Unsupported("const/enum of arrays or objects")

    def _body(self, schema, v: str, ind: int, depth: int) -> None:
        pad = "    " * ind
        out = self.lines.append
        if schema is True:
            return
        if schema is False:
            out(f"{pad}return False")
            return
        if not isinstance(schema, dict):
            raise _Unsupported("schema is not an object")
        unknown = set(schema) - _ANNOTATIONS - {
            "$ref", "type", "const", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "minLength", "maxLength", "pattern", "items", "minItems", "maxItems", "required", "properties",
            "additionalProperties", "oneOf", "anyOf", "allOf", "if", "then", "else"}
        if unknown:
            raise _Unsupported(", ".join(sorted(unknown)))
        if "$ref" in schema:
            out(f"{pad}if not {self._func(self._resolve(schema['$ref']))}({v}): return False")
        types = schema.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else list(types)
            if any(t not in _TYPE_TESTS for t in types):
                raise _Unsupported(f"type {types}")
            out(f"{pad}if not ({' or '.join(_TYPE_TESTS[t].format(v=v) for t in types)}): return False")
        if "const" in schema:
            out(f"{pad}if not {self._equal_test(v, schema['const'], self._const(schema['const']))}: return False")
        if "enum" in schema:
            enum = schema["enum"]
            if enum and all(isinstance(e, str) for e in enum):
                out(f"{pad}if not ({_STRING.format(v=v)} and {v} in {self._const(frozenset(enum))}): return False")
            else:
                tests = [self._equal_test(v, e, self._const(e)) for e in enum]
                out(f"{pad}if not ({' or '.join(tests) or 'False'}): return False")
        numeric = [(k, op) for k, op in (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="),
                                         ("exclusiveMaximum", ">=")) if k in schema]
        if numeric:
            out(f"{pad}if {_NUMBER.format(v=v)}:")
            for k, op in numeric:
                out(f"{pad}    if {v} {op} {self._const(schema[k])}: return False")
        strings = [k for k in ("minLength", "maxLength", "pattern") if k in schema]
        if strings:
            out(f"{pad}if {_STRING.format(v=v)}:")
            if "minLength" in schema:
                out(f"{pad}    if len({v}) < {int(schema['minLength'])}: return False")
            if "maxLength" in schema:
                out(f"{pad}    if len({v}) > {int(schema['maxLength'])}: return False")
            if "pattern" in schema:
                pattern = self._const(re.compile(schema["pattern"]))  # jsonschema: re.search, unanchored
                out(f"{pad}    if not {pattern}.search({v}): return False")
        if any(k in schema for k in ("items", "minItems", "maxItems")):
            out(f"{pad}if {_ARRAY.format(v=v)}:")
            if "minItems" in schema:
                out(f"{pad}    if len({v}) < {int(schema['minItems'])}: return False")
            if "maxItems" in schema:
                out(f"{pad}    if len({v}) > {int(schema['maxItems'])}: return False")
            if "items" in schema:
                item = f"v{depth + 1}"
                out(f"{pad}    for {item} in {v}:")
                start = len(self.lines)
                self._body(schema["items"], item, ind + 2, depth + 1)
                if len(self.lines) == start:
                    out(f"{pad}        pass")
        if any(k in schema for k in ("required", "properties", "additionalProperties")):
            self._object(schema, v, ind, depth)
        for k in ("allOf", "anyOf", "oneOf"):
            if k in schema:
                calls = [f"{self._func(sub)}({v})" for sub in schema[k]]
                if k == "allOf":
                    out(f"{pad}if not ({' and '.join(calls)}): return False")
                elif k == "anyOf":
                    out(f"{pad}if not ({' or '.join(calls)}): return False")
                else:
                    out(f"{pad}if ({' + '.join(f'bool({c})' for c in calls)}) != 1: return False")
        if "if" in schema:
            then, else_ = schema.get("then", True), schema.get("else", True)
            out(f"{pad}if {self._func(schema['if'])}({v}):")
            out(f"{pad}    if not {self._func(then)}({v}): return False")
            out(f"{pad}elif not {self._func(else_)}({v}): return False")

    def _object(self, schema, v: str, ind: int, depth: int) -> None:
        pad = "    " * ind
        out = self.lines.append
        out(f"{pad}if {_OBJECT.format(v=v)}:")
        pad += "    "
        required = schema.get("required", [])
        if required:
            out(f"{pad}if not {self._const(frozenset(required))}.issubset({v}): return False")
        props = schema.get("properties", {})
        child = f"v{depth + 1}"
        for name, sub in props.items():
            if sub is True or sub == {}:
                continue
            const = self._const(name)
            start = len(self.lines)
            if name in required:
                out(f"{pad}{child} = {v}[{const}]")
                self._body(sub, child, ind + 1, depth + 1)
            else:
                out(f"{pad}if {const} in {v}:")
                out(f"{pad}    {child} = {v}[{const}]")
                self._body(sub, child, ind + 2, depth + 1)
            if len(self.lines) == start + (1 if name in required else 2):
                del self.lines[start:]  # an annotation-only schema checks nothing
        extra = schema.get("additionalProperties", True)
        if extra is False:
            out(f"{pad}if not {self._const(frozenset(props))}.issuperset({v}): return False")
        elif extra is not True and extra != {}:
            names = self._const(frozenset(props))
            key = f"k{depth + 1}"
            out(f"{pad}for {key}, {child} in {v}.items():")
            out(f"{pad}    if {key} not in {names}:")
            start = len(self.lines)
            self._body(extra, child, ind + 3, depth + 1)
            if len(self.lines) == start:
                out(f"{pad}        pass")


def compile_schema(schema: dict):
    """``schema`` -> a function ``check(document) -> bool`` (see :class:`_SchemaCompiler`); _Unsupported if it
    uses keywords outside the compiled subset."""
    return _SchemaCompiler(schema).compile()


class SchemaMismatch(ValueError):
    """Raised by :attr:`_Schema.fast` for a document the fast check does not accept."""


@dataclass(frozen=True)
class _Schema:
    """A compiled fast check for the common case (valid input) and jsonschema, the authority, for the verdict
    and its message whenever the fast check objects."""

    check: object | None  # document -> bool: True only for documents jsonschema accepts
    full: jsonschema.protocols.Validator

    def fast(self, doc) -> None:
        """Raise SchemaMismatch unless the fast check accepts ``doc`` (jsonschema when there is none)."""
        ok = self.check(doc) if self.check is not None else self.full.is_valid(doc)
        if not ok:
            raise SchemaMismatch("the document does not match the schema")

    def error(self, doc) -> str | None:
        if self.check is not None:
            try:
                if self.check(doc):
                    return None
            except Exception:  # anything odd: let jsonschema decide
                pass
        err = jsonschema.exceptions.best_match(self.full.iter_errors(doc))
        return None if err is None else _schema_error_detail(err)


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
        decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float)
        self._decode = decoder.decode
        self._scan_once = json.scanner.make_scanner(decoder)

    @property
    def checks_result_schema(self) -> bool:
        return "result" in self._bodies

    def _load(self, name: str) -> "_Schema":
        schema = json.loads((self.schemas_dir / name).read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        try:
            check = compile_schema(schema)
        except _Unsupported:
            check = _fastjsonschema_check(schema)
        return _Schema(check, cls(schema))

    def validate(self, topic: str, payload: bytes, *, received_at_s: float | None = None) -> Message | Rejection:
        try:
            return self._validate(topic, payload, received_at_s)
        except Exception as exc:  # the collector must survive any input; report it as a reject
            return Rejection(topic, "internal_error", f"{type(exc).__name__}: {str(exc)[:200]}")

    def _decode_envelope(self, text: str) -> tuple[object, str | None]:
        """``json.loads(text)`` plus the exact text of the top-level object's ``body`` member (None if absent).

        The top level is walked here, each member's value parsed by the json module's C scanner (with the same
        NaN/overflow hooks), so the body's text comes for free and need not be re-encoded for storage. Anything
        unusual (not an object, a syntax error, a non-finite number) goes to the json module's own decoder, whose
        result or exception is returned or raised as before.
        """
        try:
            ws = _WHITESPACE.match
            pos = ws(text, 0).end()
            if text[pos:pos + 1] != "{":
                raise _Irregular
            pos = ws(text, pos + 1).end()
            doc: dict = {}
            body_json = None
            if text[pos:pos + 1] == "}":
                pos += 1
            else:
                scan, scanstring = self._scan_once, json.decoder.scanstring
                while True:
                    if text[pos:pos + 1] != '"':
                        raise _Irregular
                    key, pos = scanstring(text, pos + 1, True)
                    pos = ws(text, pos).end()
                    if text[pos:pos + 1] != ":":
                        raise _Irregular
                    pos = ws(text, pos + 1).end()
                    value, end = scan(text, pos)
                    if key == "body":
                        body_json = text[pos:end]
                    doc[key] = value  # a repeated key: the last one wins, as with json.loads
                    pos = ws(text, end).end()
                    sep = text[pos:pos + 1]
                    pos += 1
                    if sep == "}":
                        break
                    if sep != ",":
                        raise _Irregular
                    pos = ws(text, pos).end()
            if ws(text, pos).end() != len(text):
                raise _Irregular
            return doc, (body_json if "body" in doc else None)
        except Exception:
            return self._decode(text), None

    def _validate(self, topic: str, payload: bytes, received_at_s: float | None) -> Message | Rejection:
        parts = parse_topic(topic)
        if parts is None:
            return Rejection(topic, "bad_topic", "topic is not edgekit/v1/<fleet>/<device_id>/<result|telemetry|status>")
        if len(payload) > self.max_bytes:
            return Rejection(topic, "too_large", f"{len(payload)} bytes > limit {self.max_bytes}")
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(topic, "not_utf8", f"invalid UTF-8 at byte {exc.start}")
        if _nesting_depth(text, self.max_depth) > self.max_depth:
            return Rejection(topic, "too_deep", f"nesting deeper than {self.max_depth} levels")
        try:
            doc, body_json = self._decode_envelope(text)
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
        try:
            return message_from_document(topic, doc, payload_bytes=len(payload), received_at_s=received_at_s,
                                         body_json=body_json)
        except RecordError as exc:
            return Rejection(topic, "value_range", str(exc), message_id=mid)
