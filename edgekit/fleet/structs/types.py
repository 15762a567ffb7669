"""The constrained scalar types the wire structs are made of (JSON Schema's words in msgspec's terms).

``Int`` is JSON Schema's ``integer`` as edgekit reads it: type-exact (``2.0`` and ``true`` are not integers)
and within a signed 64-bit integer, the range of PostgreSQL's BIGINT and SQLite's INTEGER. ``Num`` is
``number``: an integer or a float, finite (msgspec refuses ``1e999``; JSON has no NaN).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
#: Characters in one string of a result document (the schema's ``maxLength`` where nothing tighter applies).
MAX_STRING = 4096
#: Items in one array, members in one free-form object (``maxItems`` / ``maxProperties``).
MAX_ITEMS = 1024
MAX_PROPERTIES = 256

Int = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
NonNegInt = Annotated[int, Meta(ge=0, le=INT64_MAX)]
PosInt = Annotated[int, Meta(ge=1, le=INT64_MAX)]
Num = float
NonNeg = Annotated[float, Meta(ge=0)]
Positive = Annotated[float, Meta(gt=0)]
Str = Annotated[str, Meta(max_length=MAX_STRING)]
NonEmptyStr = Annotated[str, Meta(min_length=1, max_length=MAX_STRING)]
StrList = Annotated[list[Str], Meta(max_length=MAX_ITEMS)]
