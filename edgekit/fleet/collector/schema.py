"""JSON Schema checks of the collector: a compiled fast path, and jsonschema as the authority.

:func:`load_schema` gives a :class:`CompiledSchema`: ``check`` is the schema translated to one Python
function (the subset of draft 2020-12 edgekit's schemas use) that says True only for documents jsonschema
accepts; ``full`` is jsonschema's validator, which decides and words the reason whenever ``check`` says
False. A schema outside the compiled subset is checked by jsonschema alone (``check`` is None).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jsonschema

from edgekit.fleet.collector import limits


def _schema_error_detail(err: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
    msg = err.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return f"{where}: {msg}"


class _Unsupported(Exception):
    """A schema uses a keyword the compiler does not translate; jsonschema alone checks it."""


_ANNOTATIONS = frozenset(("$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
                          "format"))  # format: an annotation for jsonschema without a format checker, as used here
_TYPE_TESTS = {
    "object": "{v}.__class__ is dict",
    "array": "{v}.__class__ is list",
    "string": "{v}.__class__ is str",
    "number": "({v}.__class__ is float or {v}.__class__ is int)",
    # type-exact, unlike draft 2020-12 (where 2.0 is an integer): an int, within a signed 64-bit integer
    # (edgekit.fleet.collector.limits.is_int64; the jsonschema validator is given the same rule)
    "integer": f"({{v}}.__class__ is int and {limits.INT_MIN} <= {{v}} <= {limits.INT_MAX})",
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
    :class:`_Unsupported`, and jsonschema alone checks that schema.
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
            "maxProperties",
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
        if "maxProperties" in schema:
            out(f"{pad}if {_OBJECT.format(v=v)} and len({v}) > {int(schema['maxProperties'])}: return False")
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
    """Raised by :attr:`CompiledSchema.fast` for a document the fast check does not accept."""


@dataclass(frozen=True)
class CompiledSchema:
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
        # the first few errors are enough for the reason: never walk all of them (a bounded cost per message)
        err = jsonschema.exceptions.best_match(itertools.islice(self.full.iter_errors(doc), _ERRORS_LOOKED_AT))
        if err is None:  # cannot happen while both apply the same rules; refuse rather than accept unchecked
            return "(top level): the document does not match the schema"
        return _schema_error_detail(err)


_ERRORS_LOOKED_AT = 8


def load_schema(path: Path) -> CompiledSchema:
    """Read, check and compile the JSON Schema in ``path``."""
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    cls = limits.exact_validator_class(schema)
    cls.check_schema(schema)
    try:
        check = compile_schema(schema)
    except _Unsupported:
        check = None
    return CompiledSchema(check, cls(schema))
