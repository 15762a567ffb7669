"""The collector's limits: what one message may hold, so that it costs a bounded amount of work, once.

Used by :class:`~edgekit.fleet.collector.validate.Validator`; documented in docs/fleet-collector.md.

* sizes: every array, string and object of a message is capped (the same caps are written into the
  JSON Schema files as ``maxItems``/``maxLength``/``maxProperties`` where a field has no tighter one), and
  so is the total number of values in one document. A message over a cap is rejected with the first
  cap it breaks named; nothing walks the rest of it.
* ``sent_at``: from 2000-01-01T00:00:00Z up to one day ahead of the collector's clock. Devices spool
  messages while offline, so there is no lower bound tied to now; a clock more than a day fast, or a
  date a formatter cannot hold, is a broken clock or a hostile device.
* integers: type-exact (``2.0`` is not an integer, ``true`` neither), within a signed 64-bit integer
  (PostgreSQL's BIGINT, SQLite's INTEGER).
* device ids ``alerts`` and ``ack`` are reserved: they would collide with the alert and ack topics.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from edgekit.fleet.messages import RESERVED_DEVICE_IDS  # noqa: F401  (defined with the topics)

#: Items in one array.
MAX_ITEMS = 1024
#: Characters in one string (a key or a value).
MAX_STRING = 4096
#: Members of one object.
MAX_PROPERTIES = 256
#: Arrays, objects, strings, numbers, booleans and nulls in one document, all levels together.
MAX_VALUES = 20000

SENT_AT_MIN_S = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
SENT_AT_MAX_AHEAD_S = 86400.0

INT_MIN = -(2 ** 63)
INT_MAX = 2 ** 63 - 1


#: A target profile name (the envelope's ``target``): the stem of a file in the profiles directory. The
#: schema (message-1.json) holds the same pattern; the budgets look names up in the directory's listing.
TARGET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def sent_at_problem(sent_at_s: float, now_s: float) -> str | None:
    """Why ``sent_at_s`` is outside the accepted window, or None when it is inside."""
    if not (sent_at_s >= SENT_AT_MIN_S):  # also NaN
        return "sent_at is before 2000-01-01T00:00:00Z; fix the device's clock"
    if sent_at_s > now_s + SENT_AT_MAX_AHEAD_S:
        return (f"sent_at is {(sent_at_s - now_s) / 86400:.4g} days ahead of the collector's clock "
                f"(at most {SENT_AT_MAX_AHEAD_S / 86400:g}); fix the device's clock")
    return None


def is_int64(v) -> bool:
    """A JSON integer edgekit accepts: a Python int (not bool, not 2.0) within a signed 64-bit integer."""
    return v.__class__ is int and INT_MIN <= v <= INT_MAX


def may_exceed_sizes(text: str) -> bool:
    """False when the JSON ``text`` cannot break any size cap: few enough commas that no array or object can
    be over its cap (an object of k members has k - 1 commas) and too short for an over-long string. Most
    messages (a telemetry summary, a bench result) are that small: :func:`size_problem` is skipped for them."""
    return len(text) > MAX_STRING or text.count(",") >= min(MAX_ITEMS, MAX_PROPERTIES)


def exact_validator_class(schema: dict):
    """jsonschema's validator class for ``schema`` with the type-exact, 64-bit ``integer`` of :func:`is_int64`
    (the compiled fast check applies the same rule, so both agree)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema)
    checker = cls.TYPE_CHECKER.redefine("integer", lambda _checker, v: is_int64(v))
    return jsonschema.validators.extend(cls, type_checker=checker)


def size_problem(doc, *, max_items: int = MAX_ITEMS, max_string: int = MAX_STRING,
                 max_properties: int = MAX_PROPERTIES, max_values: int = MAX_VALUES) -> str | None:
    """The first size cap ``doc`` breaks, as ``"where: what"``, or None.

    Iterative, and it stops at the first container over its cap before looking inside it, so the work is
    bounded by ``max_values`` whatever the document holds.
    """
    stack = [(doc, "(top level)")]
    seen = 0
    while stack:
        node, where = stack.pop()
        cls = node.__class__
        if cls is dict:
            if len(node) > max_properties:
                return f"{where}: object has {len(node)} members > limit {max_properties}"
            seen += len(node)
            if seen > max_values:
                return f"{where}: document holds more than {max_values} values"
            for key, value in node.items():
                if len(key) > max_string:
                    return f"{where}: a key of {len(key)} characters > limit {max_string}"
                vcls = value.__class__
                if vcls is str:
                    if len(value) > max_string:
                        return f"{_join(where, key)}: string of {len(value)} characters > limit {max_string}"
                elif vcls is dict or vcls is list:
                    stack.append((value, _join(where, key)))
        elif cls is list:
            if len(node) > max_items:
                return f"{where}: array has {len(node)} items > limit {max_items}"
            seen += len(node)
            if seen > max_values:
                return f"{where}: document holds more than {max_values} values"
            for i, value in enumerate(node):
                vcls = value.__class__
                if vcls is str:
                    if len(value) > max_string:
                        return f"{where}/{i}: string of {len(value)} characters > limit {max_string}"
                elif vcls is dict or vcls is list:
                    stack.append((value, f"{where}/{i}"))
    return None


def _join(where: str, key: str) -> str:
    key = key if len(key) <= 40 else key[:37] + "..."
    return key if where == "(top level)" else f"{where}/{key}"
