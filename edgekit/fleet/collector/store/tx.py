"""One open transaction of a fleet store: the batch write of the collector and the budget checker's queries."""

from __future__ import annotations

from typing import Any, Iterable

from edgekit.fleet.collector.store.rollups import add_telemetry
from edgekit.fleet.collector.store.rows import (RESULT_COLS, TELEMETRY_COLS, VIOLATION_COLS, BatchOutcome, DeadLetter,
                                                Gap, ViolationRow, result_params, telemetry_params, violation_row)
from edgekit.fleet.records import Message

DEAD_LETTER_HEAD_BYTES = 1024


class Tx:
    """One open transaction. Built by a store; used only inside :meth:`Store.run`."""

    def __init__(self, store, cur):  # store: the SqlStore that opened the transaction
        self.store = store
        self.cur = cur

    def q(self, sql: str) -> str:
        return self.store.q(sql)

    def execute(self, sql: str, params: Iterable[Any] = ()):
        self.cur.execute(self.q(sql), tuple(params))
        return self.cur

    # ---------------------------------------------------------------- batch

    def store_batch(self, messages: list[Message], rejects: list[DeadLetter], now_s: float) -> BatchOutcome:
        """Store one batch: dead letters, new messages (duplicates by message id are left out), their
        figures, sequence gaps and each device's row."""
        out = BatchOutcome(rejected=len(rejects))
        if rejects:
            self._store_dead_letters(rejects)
        if not messages:
            return out
        # Lock the devices first, in one order, so two collectors serialize per device without deadlocks.
        # A device is (fleet, device_id): the same id in two fleets is two devices.
        first: dict[tuple[str, str], Message] = {}
        for m in messages:
            first.setdefault((m.fleet, m.device_id), m)
        keys = sorted(first)
        self.cur.executemany(self.q(
            "INSERT INTO devices (fleet, device_id, target, first_seen_s, last_seen_s, messages) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (fleet, device_id) DO NOTHING"),
            [(f, d, first[f, d].target, now_s, now_s) for f, d in keys])
        devices = self.store.lock_devices(self.cur, keys)
        self._sort_new(messages, now_s, out)
        self._store_figures(out.new)
        by_device: dict[tuple[str, str], list[Message]] = {}
        for m in out.new:
            by_device.setdefault((m.fleet, m.device_id), []).append(m)
        updates = [self._device_update(key, devices[key], msgs, now_s, out) for key, msgs in by_device.items()]
        for key in keys:
            if key not in by_device:  # only duplicates: still seen just now
                row = devices[key]
                updates.append((row["target"], now_s, row["last_sent_at_s"], row["max_seq"], 0,
                                row["state"], row["state_at_s"], *key))
        self.cur.executemany(self.q(
            "UPDATE devices SET target = ?, last_seen_s = ?, last_sent_at_s = ?, max_seq = ?, "
            "messages = messages + ?, state = ?, state_at_s = ? WHERE fleet = ? AND device_id = ?"), updates)
        return out

    def _store_dead_letters(self, rejects: list[DeadLetter]) -> None:
        self.cur.executemany(self.q(
            "INSERT INTO dead_letters (received_at_s, topic, reason, detail, payload_bytes, payload_head) "
            "VALUES (?, ?, ?, ?, ?, ?)"),
            [(r.received_at_s, r.topic[:512], r.reason, r.detail[:1000], len(r.payload),
              bytes(r.payload[:DEAD_LETTER_HEAD_BYTES])) for r in rejects])

    def _sort_new(self, messages: list[Message], now_s: float, out: BatchOutcome) -> None:
        """Enter the messages in the ledger; those it already holds (or repeated in the batch) are duplicates."""
        seen: set[tuple[str, str, str]] = set()
        candidates = []
        for m in messages:
            key = (m.fleet, m.device_id, m.message_id)
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

    def _store_figures(self, new: list[Message]) -> None:
        """The new messages' figures, and the telemetry rollups with them (same transaction)."""
        tel_msgs = [m for m in new if m.kind == "telemetry"]
        if tel_msgs:
            tel = [telemetry_params(m) for m in tel_msgs]
            self.cur.executemany(self.q(
                f"INSERT INTO telemetry ({TELEMETRY_COLS}) VALUES ({', '.join('?' * len(tel[0]))})"), tel)
            add_telemetry(self.cur, self.q, tel_msgs)
        res = [result_params(m) for m in new if m.kind == "result"]
        if res:
            self.cur.executemany(self.q(
                f"INSERT INTO results ({RESULT_COLS}) VALUES ({', '.join('?' * len(res[0]))})"), res)

    def _device_update(self, key: tuple[str, str], row: dict[str, Any], msgs: list[Message], now_s: float,
                       out: BatchOutcome) -> tuple:
        """The devices-row update for one device's new messages; records gaps in its sequence numbers."""
        max_seq = self._track_seq(key, row["max_seq"], msgs, now_s, out)
        state, state_at = row["state"], row["state_at_s"]
        for m in msgs:
            if m.kind == "status" and (state_at is None or m.sent_at_s >= state_at):
                state, state_at = m.state, m.sent_at_s
        last_sent = max([m.sent_at_s for m in msgs] + ([row["last_sent_at_s"]] if row["last_sent_at_s"] else []))
        newest = max(msgs, key=lambda m: m.sent_at_s)
        return (newest.target if newest.target else row["target"], now_s, last_sent,
                max_seq, len(msgs), state, state_at, *key)

    def _track_seq(self, key: tuple[str, str], max_seq: int | None, msgs: list[Message], now_s: float,
                   out: BatchOutcome) -> int | None:
        """The device's new highest seq: a jump opens a gap, a late message may fill one."""
        fleet, device_id = key
        for m in sorted((m for m in msgs if m.kind != "status" and m.seq is not None), key=lambda m: m.seq):
            if max_seq is None or m.seq > max_seq + 1:
                start = 1 if max_seq is None else max_seq + 1
                if m.seq > start:
                    gap = Gap(device_id, start, m.seq - 1, m.seq - start, now_s, fleet=fleet)
                    out.gaps.append(gap)
                    self.execute("INSERT INTO gaps (fleet, device_id, first_seq, last_seq, missing, detected_at_s) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (fleet, device_id, gap.first_seq, gap.last_seq,
                                                               gap.missing, now_s))
                max_seq = m.seq
            elif m.seq == max_seq + 1:
                max_seq = m.seq
            else:  # a late message: it may fill a recorded gap
                cur = self.execute(
                    "UPDATE gaps SET missing = missing - 1, "
                    "closed_at_s = CASE WHEN missing = 1 THEN ? ELSE closed_at_s END "
                    "WHERE fleet = ? AND device_id = ? AND first_seq <= ? AND last_seq >= ? AND missing > 0",
                    (now_s, fleet, device_id, m.seq, m.seq))
                out.gaps_filled += max(cur.rowcount, 0)
        return max_seq

    # ------------------------------------------------------------ budgets

    def telemetry_power(self, fleet: str, device_id: str, since_s: float, until_s: float) -> tuple[float, float]:
        """(sum of power_w_avg * window_s, sum of window_s) of the device's telemetry sent in [since_s, until_s]."""
        row = self.execute(
            "SELECT COALESCE(SUM(power_w_avg * window_s), 0), COALESCE(SUM(window_s), 0) FROM telemetry "
            "WHERE fleet = ? AND device_id = ? AND sent_at_s >= ? AND sent_at_s <= ? AND power_w_avg IS NOT NULL",
            (fleet, device_id, since_s, until_s)).fetchone()
        return float(row[0]), float(row[1])

    def open_violations(self, devices: list[tuple[str, str]]) -> dict[tuple[str, str, str, str], ViolationRow]:
        """Open violations of these (fleet, device_id) by (fleet, device_id, kind, subject)."""
        out = {}
        wanted = set(devices)
        for i in range(0, len(devices), 500):
            chunk = sorted({d for _, d in devices[i:i + 500]})
            rows = self.execute(f"SELECT {VIOLATION_COLS} FROM violations WHERE cleared_at_s IS NULL "
                                f"AND device_id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            for r in rows:
                v = violation_row(r)
                if (v.fleet, v.device_id) in wanted:
                    out[(v.fleet, v.device_id, v.kind, v.subject)] = v
        return out

    def open_violation(self, *, device_id: str, fleet: str, kind: str, subject: str, unit: str, limit_value: float,
                       source: str, value: float, at_s: float, message_id: str, measured_by: str | None = None,
                       estimated: bool | None = None) -> ViolationRow:
        row = self.execute(
            "INSERT INTO violations (device_id, fleet, kind, subject, unit, limit_value, source, value, worst_value, "
            "raised_at_s, raised_message_id, measured_by, estimated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"RETURNING {VIOLATION_COLS}",
            (device_id, fleet, kind, subject, unit, limit_value, source, value, value, at_s, message_id,
             measured_by, estimated)).fetchone()
        return violation_row(row)

    def update_worst(self, violation_id: int, value: float) -> None:
        self.execute("UPDATE violations SET worst_value = ? WHERE id = ? AND worst_value < ?",
                     (value, violation_id, value))

    def clear_violation(self, violation_id: int, *, value: float, at_s: float, message_id: str) -> ViolationRow:
        row = self.execute(
            "UPDATE violations SET cleared_at_s = ?, cleared_message_id = ?, cleared_value = ? WHERE id = ? "
            f"RETURNING {VIOLATION_COLS}", (at_s, message_id, value, violation_id)).fetchone()
        return violation_row(row)

    def mark_published(self, raised_ids: list[int], cleared_ids: list[int]) -> None:
        if raised_ids:
            self.cur.executemany(self.q("UPDATE violations SET raised_published = ? WHERE id = ?"),
                                 [(True, i) for i in raised_ids])
        if cleared_ids:
            self.cur.executemany(self.q("UPDATE violations SET cleared_published = ? WHERE id = ?"),
                                 [(True, i) for i in cleared_ids])

    def unpublished_violations(self) -> list[ViolationRow]:
        rows = self.execute(f"SELECT {VIOLATION_COLS} FROM violations WHERE raised_published = ? "
                            "OR (cleared_at_s IS NOT NULL AND cleared_published = ?) ORDER BY id",
                            (False, False)).fetchall()
        return [violation_row(r) for r in rows]
