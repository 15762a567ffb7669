"""Telemetry rollups: per device per minute and per hour, kept in the transaction that stores the telemetry.

:func:`add_telemetry` folds a batch's new telemetry messages into the ``telemetry_minute`` and
``telemetry_hour`` tables (schema version 5): first in Python, one row per (fleet, device, bucket) of the
batch, then one upsert per row that adds sums and counts and keeps maxima. A bucket is
``[bucket_s, bucket_s + width)`` of the device's clock. What a bucket holds:

- ``samples``; ``covered_s`` (sum of ``window_s``);
- ``energy_j`` (sum of ``energy_j``, else ``power_w_avg × window_s``) over ``energy_samples`` samples;
- ``power_ws`` / ``power_s``: the time-weighted mean power is their ratio; ``power_w_peak``, ``temp_c_max``;
- ``throttled_known`` / ``throttled_n`` samples (with a throttled flag / throttled), ``throttled_s``;
- ``battery_drain_pct`` (sum of ``battery_drain_pct_h × window_s / 3600``) over ``battery_s`` seconds;
- ``estimated_n``; the latest sample's ``target``, ``power_source``, ``scope``, ``window_s``.

Duplicates never reach here (only the ledger's new messages do), so a redelivery counts once.
"""

from __future__ import annotations

import math
from typing import Iterable

from edgekit.fleet.records import Message

BUCKETS_S = (("minute", 60), ("hour", 3600))

_SUMS = ("samples", "covered_s", "energy_j", "energy_samples", "power_ws", "power_s", "throttled_known",
         "throttled_n", "throttled_s", "battery_drain_pct", "battery_s", "estimated_n")
_MAXES = ("power_w_peak", "temp_c_max")
_LATEST = ("target", "power_source", "scope", "window_s")
COLUMNS = ("fleet", "device_id", "bucket_s", *_SUMS, *_MAXES, "last_sent_at_s", *_LATEST)


def _greater(col: str, table: str) -> str:
    # NULL-safe maximum, the same on SQLite and PostgreSQL
    return (f"{col} = CASE WHEN excluded.{col} IS NULL THEN {table}.{col} WHEN {table}.{col} IS NULL "
            f"OR excluded.{col} > {table}.{col} THEN excluded.{col} ELSE {table}.{col} END")


def upsert_sql(table: str) -> str:
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in _SUMS]
    sets += [_greater(c, table) for c in _MAXES]
    newer = f"excluded.last_sent_at_s >= {table}.last_sent_at_s"
    sets += [f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE {table}.{c} END" for c in _LATEST]
    sets.append(_greater("last_sent_at_s", table))
    return (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
            f"ON CONFLICT (fleet, device_id, bucket_s) DO UPDATE SET {', '.join(sets)}")


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def fold(messages: Iterable[Message], width_s: int) -> list[tuple]:
    """One row of :data:`COLUMNS` per (fleet, device, bucket) of these telemetry messages."""
    acc: dict[tuple[str, str, float], list] = {}
    for m in messages:
        t = m.telemetry
        key = (m.fleet, m.device_id, float(math.floor(m.sent_at_s / width_s) * width_s))
        row = acc.get(key)
        if row is None:
            row = acc[key] = [0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0.0, 0, None, None, -math.inf,
                              None, None, None, None]
        w = t.window_s
        energy = t.energy_j if t.energy_j is not None else (t.power_w_avg * w if t.power_w_avg is not None else None)
        row[0] += 1
        row[1] += w
        if energy is not None:
            row[2] += energy
            row[3] += 1
        if t.power_w_avg is not None and w > 0:
            row[4] += t.power_w_avg * w
            row[5] += w
        if t.throttled is not None:
            row[6] += 1
            if t.throttled:
                row[7] += 1
                row[8] += w
        if t.battery_drain_pct_h is not None:
            row[9] += t.battery_drain_pct_h * w / 3600.0
            row[10] += w
        if t.estimated:
            row[11] += 1
        row[12] = _max(row[12], t.power_w_peak)
        row[13] = _max(row[13], t.temp_c_max)
        if m.sent_at_s >= row[14]:
            row[14:] = [m.sent_at_s, m.target, t.power_source, t.scope, w]
    return [(*key, *row) for key, row in sorted(acc.items())]  # one order: concurrent collectors never deadlock


def add_telemetry(cur, q, messages: list[Message]) -> None:
    """Fold new telemetry into both rollup tables, in the caller's transaction (``q`` adapts placeholders)."""
    if not messages:
        return
    for name, width_s in BUCKETS_S:
        rows = fold(messages, width_s)
        cur.executemany(q(upsert_sql(f"telemetry_{name}")), rows)
