"""The store interface: what the collector writes and what status/report read.

Writes happen in one transaction per batch through :meth:`Store.run`, which
hands a :class:`Tx` to a function and retries the whole function when the
database reports a transient conflict (PostgreSQL deadlock or serialization
failure between two collectors, SQLite busy). Everything the function does —
messages, telemetry, results, gaps, violations, dead letters — commits
together or not at all, and only then does the collector acknowledge.

Reads (``devices``, ``telemetry``, ``results``, ``violations``, ``gaps``,
``dead_letters``) return dataclasses with units in the field names and take
an optional time range in Unix seconds (``since_s`` inclusive, ``until_s``
exclusive) on the device's ``sent_at``.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

from edgekit.errors import ConfigError
from edgekit.fleet.records import Message
from edgekit.fleet.collector.store.migrations import LATEST_VERSION, MIGRATIONS, statements

T = TypeVar("T")

DEAD_LETTER_HEAD_BYTES = 1024


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


@dataclass(frozen=True)
class TelemetryRow:
    device_id: str
    message_id: str
    fleet: str
    target: str | None
    seq: int | None
    sent_at_s: float
    window_s: float
    power_w_avg: float | None
    power_w_peak: float | None
    energy_j: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_pct: float | None
    battery_drain_pct_h: float | None
    power_source: str | None
    scope: str | None
    estimated: bool | None


@dataclass(frozen=True)
class ResultRow:
    device_id: str
    message_id: str
    fleet: str
    target: str | None
    seq: int | None
    sent_at_s: float
    model: str | None
    precision: str | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    power_w_avg: float | None
    power_w_peak: float | None
    energy_mj_per_inference: float | None
    energy_mj_per_inference_net: float | None
    temp_c_max: float | None
    throttled: bool | None
    battery_drain_pct_h: float | None
    estimated: bool | None
    document: dict[str, Any]


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


_DEVICE_COLS = "device_id, fleet, target, first_seen_s, last_seen_s, last_sent_at_s, max_seq, messages, state, state_at_s"
_TELEMETRY_COLS = ("device_id, message_id, fleet, target, seq, sent_at_s, window_s, power_w_avg, power_w_peak, "
                   "energy_j, temp_c_max, throttled, battery_pct, battery_drain_pct_h, power_source, scope, estimated")
_RESULT_COLS = ("device_id, message_id, fleet, target, seq, sent_at_s, model, precision, latency_ms_p50, "
                "latency_ms_p99, power_w_avg, power_w_peak, energy_mj_per_inference, energy_mj_per_inference_net, "
                "temp_c_max, throttled, battery_drain_pct_h, estimated, document")
_VIOLATION_COLS = ("id, device_id, fleet, kind, subject, unit, limit_value, source, value, worst_value, raised_at_s, "
                   "raised_message_id, cleared_at_s, cleared_message_id, cleared_value, raised_published, "
                   "cleared_published, measured_by, estimated")


def _opt_bool(v: Any) -> bool | None:
    return None if v is None else bool(v)


def check_version(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise ConfigError(f"the database {where} has schema version {current}, newer than this edgekit "
                          f"understands ({latest}); upgrade edgekit on this host")


class Tx:
    """One open transaction. Built by a store; used only inside :meth:`Store.run`."""

    def __init__(self, store: "SqlStore", cur):
        self.store = store
        self.cur = cur

    def q(self, sql: str) -> str:
        return self.store.q(sql)

    def execute(self, sql: str, params: Iterable[Any] = ()):
        self.cur.execute(self.q(sql), tuple(params))
        return self.cur

    # ---------------------------------------------------------------- batch

    def store_batch(self, messages: list[Message], rejects: list[DeadLetter], now_s: float) -> BatchOutcome:
        out = BatchOutcome(rejected=len(rejects))
        if rejects:
            self.cur.executemany(self.q(
                "INSERT INTO dead_letters (received_at_s, topic, reason, detail, payload_bytes, payload_head) "
                "VALUES (?, ?, ?, ?, ?, ?)"),
                [(r.received_at_s, r.topic[:512], r.reason, r.detail[:1000], len(r.payload),
                  bytes(r.payload[:DEAD_LETTER_HEAD_BYTES])) for r in rejects])
        if not messages:
            return out
        # Lock the devices first, in one order, so two collectors serialize per device without deadlocks.
        first = {}
        for m in messages:
            first.setdefault(m.device_id, m)
        device_ids = sorted(first)
        self.cur.executemany(self.q(
            "INSERT INTO devices (device_id, fleet, target, first_seen_s, last_seen_s, messages) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (device_id) DO NOTHING"),
            [(d, first[d].fleet, first[d].target, now_s, now_s) for d in device_ids])
        devices = self.store.lock_devices(self.cur, device_ids)

        seen: set[tuple[str, str]] = set()
        candidates = []
        for m in messages:
            key = (m.device_id, m.message_id)
            if key in seen:
                out.duplicates.append(m)
            else:
                seen.add(key)
                candidates.append(m)
        flags = self.store.insert_ledger(self.cur, [
            (m.device_id, m.message_id, m.kind, m.fleet, m.seq, m.sent_at_s,
             m.received_at_s if m.received_at_s is not None else now_s, now_s) for m in candidates])
        for m, is_new in zip(candidates, flags):
            (out.new if is_new else out.duplicates).append(m)

        tel = [m for m in out.new if m.kind == "telemetry"]
        if tel:
            self.cur.executemany(self.q(
                f"INSERT INTO telemetry ({_TELEMETRY_COLS}) VALUES ({', '.join('?' * 17)})"),
                [(m.device_id, m.message_id, m.fleet, m.target, m.seq, m.sent_at_s, t.window_s, t.power_w_avg,
                  t.power_w_peak, t.energy_j, t.temp_c_max, t.throttled, t.battery_pct, t.battery_drain_pct_h,
                  t.power_source, t.scope, t.estimated) for m in tel for t in (m.telemetry,)])
        res = [m for m in out.new if m.kind == "result"]
        if res:
            self.cur.executemany(self.q(
                f"INSERT INTO results ({_RESULT_COLS}) VALUES ({', '.join('?' * 19)})"),
                [(m.device_id, m.message_id, m.fleet, m.target, m.seq, m.sent_at_s, r.model, r.precision,
                  r.latency_ms_p50, r.latency_ms_p99, r.power_w_avg, r.power_w_peak, r.energy_mj_per_inference,
                  r.energy_mj_per_inference_net, r.temp_c_max, r.throttled, r.battery_drain_pct_h, r.estimated,
                  m.body_json if m.body_json is not None
                  else json.dumps(m.body, separators=(",", ":"), ensure_ascii=False))
                 for m in res for r in (m.result,)])

        by_device: dict[str, list[Message]] = {}
        for m in out.new:
            by_device.setdefault(m.device_id, []).append(m)
        updates = []
        for device_id, msgs in by_device.items():
            row = devices[device_id]
            max_seq = row["max_seq"]
            for m in sorted((m for m in msgs if m.kind != "status" and m.seq is not None), key=lambda m: m.seq):
                if max_seq is None or m.seq > max_seq + 1:
                    start = 1 if max_seq is None else max_seq + 1
                    if m.seq > start:
                        gap = Gap(device_id, start, m.seq - 1, m.seq - start, now_s)
                        out.gaps.append(gap)
                        self.execute("INSERT INTO gaps (device_id, first_seq, last_seq, missing, detected_at_s) "
                                     "VALUES (?, ?, ?, ?, ?)", (device_id, gap.first_seq, gap.last_seq,
                                                                gap.missing, now_s))
                    max_seq = m.seq
                elif m.seq == max_seq + 1:
                    max_seq = m.seq
                else:  # a late message: it may fill a recorded gap
                    cur = self.execute(
                        "UPDATE gaps SET missing = missing - 1, "
                        "closed_at_s = CASE WHEN missing = 1 THEN ? ELSE closed_at_s END "
                        "WHERE device_id = ? AND first_seq <= ? AND last_seq >= ? AND missing > 0",
                        (now_s, device_id, m.seq, m.seq))
                    out.gaps_filled += max(cur.rowcount, 0)
            state, state_at = row["state"], row["state_at_s"]
            for m in msgs:
                if m.kind == "status" and (state_at is None or m.sent_at_s >= state_at):
                    state, state_at = m.state, m.sent_at_s
            last_sent = max([m.sent_at_s for m in msgs] + ([row["last_sent_at_s"]] if row["last_sent_at_s"] else []))
            newest = max(msgs, key=lambda m: m.sent_at_s)
            updates.append((newest.fleet, newest.target if newest.target else row["target"], now_s, last_sent,
                            max_seq, len(msgs), state, state_at, device_id))
        for device_id in device_ids:
            if device_id not in by_device:  # only duplicates: still seen just now
                updates.append((devices[device_id]["fleet"], devices[device_id]["target"], now_s,
                                devices[device_id]["last_sent_at_s"], devices[device_id]["max_seq"], 0,
                                devices[device_id]["state"], devices[device_id]["state_at_s"], device_id))
        self.cur.executemany(self.q(
            "UPDATE devices SET fleet = ?, target = ?, last_seen_s = ?, last_sent_at_s = ?, max_seq = ?, "
            "messages = messages + ?, state = ?, state_at_s = ? WHERE device_id = ?"), updates)
        return out

    # ------------------------------------------------------------ budgets

    def telemetry_power(self, device_id: str, since_s: float, until_s: float) -> tuple[float, float]:
        """(sum of power_w_avg * window_s, sum of window_s) of telemetry sent in [since_s, until_s]."""
        row = self.execute(
            "SELECT COALESCE(SUM(power_w_avg * window_s), 0), COALESCE(SUM(window_s), 0) FROM telemetry "
            "WHERE device_id = ? AND sent_at_s >= ? AND sent_at_s <= ? AND power_w_avg IS NOT NULL",
            (device_id, since_s, until_s)).fetchone()
        return float(row[0]), float(row[1])

    def open_violations(self, device_ids: list[str]) -> dict[tuple[str, str, str], ViolationRow]:
        """Open violations of these devices by (device_id, kind, subject)."""
        out = {}
        for i in range(0, len(device_ids), 500):
            chunk = device_ids[i:i + 500]
            rows = self.execute(f"SELECT {_VIOLATION_COLS} FROM violations WHERE cleared_at_s IS NULL "
                                f"AND device_id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            for r in rows:
                v = _violation(r)
                out[(v.device_id, v.kind, v.subject)] = v
        return out

    def open_violation(self, *, device_id: str, fleet: str, kind: str, subject: str, unit: str, limit_value: float,
                       source: str, value: float, at_s: float, message_id: str, measured_by: str | None = None,
                       estimated: bool | None = None) -> ViolationRow:
        row = self.execute(
            "INSERT INTO violations (device_id, fleet, kind, subject, unit, limit_value, source, value, worst_value, "
            "raised_at_s, raised_message_id, measured_by, estimated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"RETURNING {_VIOLATION_COLS}",
            (device_id, fleet, kind, subject, unit, limit_value, source, value, value, at_s, message_id,
             measured_by, estimated)).fetchone()
        return _violation(row)

    def update_worst(self, violation_id: int, value: float) -> None:
        self.execute("UPDATE violations SET worst_value = ? WHERE id = ? AND worst_value < ?",
                     (value, violation_id, value))

    def clear_violation(self, violation_id: int, *, value: float, at_s: float, message_id: str) -> ViolationRow:
        row = self.execute(
            "UPDATE violations SET cleared_at_s = ?, cleared_message_id = ?, cleared_value = ? WHERE id = ? "
            f"RETURNING {_VIOLATION_COLS}", (at_s, message_id, value, violation_id)).fetchone()
        return _violation(row)

    def mark_published(self, raised_ids: list[int], cleared_ids: list[int]) -> None:
        if raised_ids:
            self.cur.executemany(self.q("UPDATE violations SET raised_published = ? WHERE id = ?"),
                                 [(True, i) for i in raised_ids])
        if cleared_ids:
            self.cur.executemany(self.q("UPDATE violations SET cleared_published = ? WHERE id = ?"),
                                 [(True, i) for i in cleared_ids])

    def unpublished_violations(self) -> list[ViolationRow]:
        rows = self.execute(f"SELECT {_VIOLATION_COLS} FROM violations WHERE raised_published = ? "
                            "OR (cleared_at_s IS NOT NULL AND cleared_published = ?) ORDER BY id",
                            (False, False)).fetchall()
        return [_violation(r) for r in rows]


def _violation(row) -> ViolationRow:
    v = list(row)
    v[15], v[16], v[18] = bool(v[15]), bool(v[16]), _opt_bool(v[18])
    return ViolationRow(*v)


def _range(column: str, since_s: float | None, until_s: float | None, device_id: str | None = None):
    where, params = [], []
    if since_s is not None:
        where.append(f"{column} >= ?")
        params.append(since_s)
    if until_s is not None:
        where.append(f"{column} < ?")
        params.append(until_s)
    if device_id is not None:
        where.append("device_id = ?")
        params.append(device_id)
    return (" WHERE " + " AND ".join(where)) if where else "", params


class Store(ABC):
    """A fleet database. Open one with :func:`edgekit.fleet.collector.store.open_store`."""

    url_redacted: str

    @abstractmethod
    def migrate(self) -> int: ...

    @abstractmethod
    def run(self, fn: Callable[[Tx], T]) -> T: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SqlStore(Store):
    """Shared SQL for SQLite and PostgreSQL; subclasses supply the dialect hooks."""

    paramstyle = "qmark"
    types: dict[str, str] = {}
    max_retries = 8

    # dialect hooks ---------------------------------------------------------
    def q(self, sql: str) -> str:
        return sql if self.paramstyle == "qmark" else sql.replace("?", "%s")

    @abstractmethod
    def _transaction(self, write: bool = True): ...  # context manager yielding a cursor; commits on exit

    @abstractmethod
    def _is_transient(self, exc: BaseException) -> bool: ...

    @abstractmethod
    def lock_devices(self, cur, device_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    @abstractmethod
    def insert_ledger(self, cur, rows: list[tuple]) -> list[bool]: ...

    @abstractmethod
    def _migration_lock(self, cur) -> None: ...

    # --------------------------------------------------------------- writes
    def run(self, fn: Callable[[Tx], T]) -> T:
        delay_s = 0.01
        for attempt in range(self.max_retries + 1):
            try:
                with self._transaction() as cur:
                    return fn(Tx(self, cur))
            except Exception as exc:
                if attempt == self.max_retries or not self._is_transient(exc):
                    raise
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 1.0)
        raise AssertionError("unreachable")

    def migrate(self) -> int:
        """Create or upgrade the schema; returns the version now in place."""
        with self._transaction() as cur:
            self._migration_lock(cur)
            cur.execute(f"CREATE TABLE IF NOT EXISTS schema_version (version {self.types['bigint']} NOT NULL, "
                        f"description TEXT NOT NULL, applied_at_s {self.types['real']} NOT NULL)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
            check_version(current, LATEST_VERSION, self.url_redacted)
            for version, description, stmts in MIGRATIONS:
                if version <= current:
                    continue
                for stmt in statements(stmts, self.types):
                    cur.execute(stmt)
                cur.execute(self.q("INSERT INTO schema_version (version, description, applied_at_s) VALUES (?, ?, ?)"),
                            (version, description, time.time()))
                current = version
        return current

    def schema_version(self) -> int:
        with self._transaction(write=False) as cur:
            cur.execute("SELECT MAX(version) FROM schema_version")
            return cur.fetchone()[0] or 0

    # ---------------------------------------------------------------- reads
    def _fetch(self, sql: str, params=()) -> list[tuple]:
        with self._transaction(write=False) as cur:
            cur.execute(self.q(sql), tuple(params))
            return cur.fetchall()

    def devices(self) -> list[DeviceRow]:
        return [DeviceRow(*r) for r in self._fetch(f"SELECT {_DEVICE_COLS} FROM devices ORDER BY fleet, device_id")]

    def telemetry(self, since_s: float | None = None, until_s: float | None = None,
                  device_id: str | None = None) -> list[TelemetryRow]:
        where, params = _range("sent_at_s", since_s, until_s, device_id)
        rows = self._fetch(f"SELECT {_TELEMETRY_COLS} FROM telemetry{where} ORDER BY device_id, sent_at_s", params)
        out = []
        for r in rows:
            r = list(r)
            r[11], r[16] = _opt_bool(r[11]), _opt_bool(r[16])
            out.append(TelemetryRow(*r))
        return out

    def results(self, since_s: float | None = None, until_s: float | None = None,
                device_id: str | None = None) -> list[ResultRow]:
        where, params = _range("sent_at_s", since_s, until_s, device_id)
        rows = self._fetch(f"SELECT {_RESULT_COLS} FROM results{where} ORDER BY device_id, sent_at_s", params)
        out = []
        for r in rows:
            r = list(r)
            r[15], r[17], r[18] = _opt_bool(r[15]), _opt_bool(r[17]), json.loads(r[18])
            out.append(ResultRow(*r))
        return out

    def violations(self, since_s: float | None = None, until_s: float | None = None, *,
                   open_only: bool = False, device_id: str | None = None) -> list[ViolationRow]:
        """Violations raised in the range, plus (for a range) those still open or cleared inside it."""
        where, params = [], []
        if since_s is not None:
            where.append("(cleared_at_s IS NULL OR cleared_at_s >= ?)")
            params.append(since_s)
        if until_s is not None:
            where.append("raised_at_s < ?")
            params.append(until_s)
        if open_only:
            where.append("cleared_at_s IS NULL")
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        sql = f"SELECT {_VIOLATION_COLS} FROM violations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_violation(r) for r in self._fetch(sql + " ORDER BY raised_at_s, id", params)]

    def gaps(self, *, open_only: bool = False, device_id: str | None = None) -> list[Gap]:
        where, params = [], []
        if open_only:
            where.append("missing > 0")
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        sql = "SELECT device_id, first_seq, last_seq, missing, detected_at_s, closed_at_s, id FROM gaps"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Gap(*r) for r in self._fetch(sql + " ORDER BY device_id, first_seq", params)]

    def dead_letters(self, limit: int = 100) -> list[DeadLetterRow]:
        rows = self._fetch("SELECT id, received_at_s, topic, reason, detail, payload_bytes, payload_head "
                           "FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))
        return [DeadLetterRow(*r[:6], bytes(r[6])) for r in rows]

    def counts(self) -> dict[str, int]:
        """Stored messages by kind, plus dead letters."""
        out = {k: 0 for k in ("result", "telemetry", "status")}
        for kind, n in self._fetch("SELECT kind, COUNT(*) FROM messages GROUP BY kind"):
            out[kind] = int(n)
        out["dead_letters"] = int(self._fetch("SELECT COUNT(*) FROM dead_letters")[0][0])
        return out
