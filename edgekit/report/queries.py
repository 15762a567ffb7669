"""The report's SQL: aggregates over the telemetry rollups (never raw telemetry) and over violations.

A period ``[since_s, until_s)`` reads whole hours from ``telemetry_hour`` and the partial hours at its
edges from ``telemetry_minute``, so a bound is honoured to the minute (a minute bucket counts when it
starts at or after ``since_s`` rounded down to its minute). Every query groups in the database: what
comes back grows with devices × days (or × buckets, for the few devices that are plotted), not with
messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgekit.fleet.collector.store.base import SqlStore, violation_range
from edgekit.fleet.collector.store.rows import VIOLATION_COLS, ViolationRow, violation_row

_ROLLUP_COLS = ("fleet, device_id, bucket_s, target, samples, covered_s, energy_j, energy_samples, power_ws, power_s, "
                "power_w_peak, temp_c_max, throttled_known, throttled_n, throttled_s, battery_drain_pct, battery_s, "
                "estimated_n, last_sent_at_s, power_source, scope, window_s")


def rollup_source(since_s: float | None, until_s: float | None) -> tuple[str, list[float]]:
    """A sub-select of rollup rows that together cover the period exactly once, and its parameters."""
    h0 = math.ceil(since_s / 3600) * 3600 if since_s is not None else None
    h1 = math.floor(until_s / 3600) * 3600 if until_s is not None else None
    m0 = math.floor(since_s / 60) * 60 if since_s is not None else None
    m1 = math.ceil(until_s / 60) * 60 if until_s is not None else None
    parts: list[tuple[str, list[float]]] = []

    def part(table: str, lo: float | None, hi: float | None) -> None:
        where, params = [], []
        if lo is not None:
            where.append("bucket_s >= ?")
            params.append(float(lo))
        if hi is not None:
            where.append("bucket_s < ?")
            params.append(float(hi))
        parts.append((f"SELECT {_ROLLUP_COLS} FROM telemetry_{table}" + (" WHERE " + " AND ".join(where) if where
                                                                          else ""), params))

    if h0 is not None and h1 is not None and h0 >= h1:  # inside one hour, or across one boundary only
        part("minute", m0, m1)
    else:
        part("hour", h0, h1)
        if h0 is not None and m0 < h0:
            part("minute", m0, h0)
        if h1 is not None and m1 > h1:
            part("minute", h1, m1)
    return " UNION ALL ".join(p[0] for p in parts), [v for p in parts for v in p[1]]


@dataclass(frozen=True)
class DeviceTelemetry:
    """One device's telemetry over the period, summed from its rollups."""

    fleet: str
    device_id: str
    samples: int
    covered_s: float
    energy_j: float
    energy_samples: int
    power_ws: float
    power_s: float
    power_w_peak: float | None
    temp_c_max: float | None
    throttled_known: int
    throttled_n: int
    throttled_s: float
    battery_drain_pct: float
    battery_s: float
    estimated_n: int
    last_sent_at_s: float
    power_source: str | None      # of the latest sample
    scope: str | None
    window_s: float | None
    last_estimated: bool          # the latest sample's bucket holds estimates


def device_telemetry(store: SqlStore, since_s: float | None, until_s: float | None) -> list[DeviceTelemetry]:
    src, params = rollup_source(since_s, until_s)
    rows = store.query(
        f"WITH r AS ({src}), agg AS (SELECT fleet, device_id, SUM(samples) AS samples, SUM(covered_s) AS covered_s, "
        "SUM(energy_j) AS energy_j, SUM(energy_samples) AS energy_samples, SUM(power_ws) AS power_ws, "
        "SUM(power_s) AS power_s, MAX(power_w_peak) AS power_w_peak, MAX(temp_c_max) AS temp_c_max, "
        "SUM(throttled_known) AS throttled_known, SUM(throttled_n) AS throttled_n, SUM(throttled_s) AS throttled_s, "
        "SUM(battery_drain_pct) AS battery_drain_pct, SUM(battery_s) AS battery_s, SUM(estimated_n) AS estimated_n, "
        "MAX(last_sent_at_s) AS last_sent_at_s FROM r GROUP BY fleet, device_id) "
        "SELECT agg.fleet, agg.device_id, agg.samples, agg.covered_s, agg.energy_j, agg.energy_samples, agg.power_ws, "
        "agg.power_s, agg.power_w_peak, agg.temp_c_max, agg.throttled_known, agg.throttled_n, agg.throttled_s, "
        "agg.battery_drain_pct, agg.battery_s, agg.estimated_n, agg.last_sent_at_s, r.power_source, r.scope, "
        "r.window_s, r.estimated_n FROM agg JOIN r ON r.fleet = agg.fleet AND r.device_id = agg.device_id "
        "AND r.last_sent_at_s = agg.last_sent_at_s", params)
    out: dict[tuple[str, str], DeviceTelemetry] = {}
    for r in rows:  # one per device (two buckets of one device never share their latest sample)
        out.setdefault((r[0], r[1]), DeviceTelemetry(*r[:2], int(r[2]), *r[3:5], int(r[5]), *r[6:10], int(r[10]),
                                                     int(r[11]), *r[12:15], int(r[15]), *r[16:20], bool(r[20])))
    return list(out.values())


def device_day_energy(store: SqlStore, since_s: float | None, until_s: float | None) -> list[tuple]:
    """(fleet, device_id, day_s, energy_j, energy_samples) per device per UTC day with telemetry."""
    src, params = rollup_source(since_s, until_s)
    day = store.floor_to("bucket_s", 86400)
    return store.query(f"SELECT fleet, device_id, {day} AS day_s, SUM(energy_j), SUM(energy_samples) FROM ({src}) r "
                       f"GROUP BY fleet, device_id, {day}", params)


def device_series(store: SqlStore, devices: list[tuple[str, str]], since_s: float | None, until_s: float | None,
                  bucket: str) -> dict[tuple[str, str], list[tuple]]:
    """(bucket_s, mean power W or None, max temperature °C or None) per bucket of these (few) devices."""
    where, params = ["fleet = ?", "device_id = ?"], []
    if since_s is not None:
        where.append("bucket_s >= ?")
        params.append(math.floor(since_s / 60) * 60.0)
    if until_s is not None:
        where.append("bucket_s < ?")
        params.append(float(until_s))
    sql = (f"SELECT bucket_s, power_ws, power_s, temp_c_max FROM telemetry_{bucket} WHERE {' AND '.join(where)} "
           "ORDER BY bucket_s")
    out: dict[tuple[str, str], list[tuple]] = {}
    for key in devices:  # one query per device: each reads its own range of the primary key, whatever the table's size
        out[key] = [(b, ws / s if s else None, temp) for b, ws, s, temp in store.query(sql, [*key, *params])]
    return out


def _violation_range(since_s: float | None, until_s: float | None) -> tuple[str, list[float]]:
    """Violations raised in the period, plus those still open or cleared inside it (as ``store.violations``)."""
    where, params = violation_range(since_s, until_s)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def violation_counts(store: SqlStore, since_s: float | None, until_s: float | None) -> dict[tuple[str, str], tuple]:
    """(open, past) violations per device."""
    where, params = _violation_range(since_s, until_s)
    rows = store.query("SELECT fleet, device_id, SUM(CASE WHEN cleared_at_s IS NULL THEN 1 ELSE 0 END), COUNT(*) "
                       f"FROM violations{where} GROUP BY fleet, device_id", params)
    return {(f, d): (int(o), int(n) - int(o)) for f, d, o, n in rows}


def violation_timeline(store: SqlStore, since_s: float | None, until_s: float | None) -> list[tuple[str, float, int]]:
    """(kind, hour_s, +raised / -cleared) events per hour and kind: the steps of 'open violations over time'."""
    where, params = _violation_range(since_s, until_s)
    raised, cleared = store.floor_to("raised_at_s", 3600), store.floor_to("cleared_at_s", 3600)
    up = store.query(f"SELECT kind, {raised}, COUNT(*) FROM violations{where} GROUP BY kind, {raised}", params)
    clear_where = (where + " AND" if where else " WHERE") + " cleared_at_s IS NOT NULL"
    down = store.query(f"SELECT kind, {cleared}, COUNT(*) FROM violations{clear_where} GROUP BY kind, {cleared}",
                       params)
    return sorted([(k, float(h), int(n)) for k, h, n in up] + [(k, float(h), -int(n)) for k, h, n in down])


def recent_violations(store: SqlStore, since_s: float | None, until_s: float | None,
                      limit: int) -> tuple[int, list[ViolationRow]]:
    """How many violations the period holds, and the latest ``limit`` of them (oldest first)."""
    where, params = _violation_range(since_s, until_s)
    total = int(store.query(f"SELECT COUNT(*) FROM violations{where}", params)[0][0])
    rows = store.query(f"SELECT {VIOLATION_COLS} FROM violations{where} ORDER BY raised_at_s DESC, id DESC LIMIT ?",
                       [*params, limit])
    return total, [violation_row(r) for r in reversed(rows)]
