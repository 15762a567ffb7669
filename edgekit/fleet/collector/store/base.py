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

import time
from abc import ABC, abstractmethod
from typing import Any, Callable, TypeVar

from edgekit.errors import ConfigError
from edgekit.fleet.collector.store.migrations import LATEST_VERSION, MIGRATIONS, statements
from edgekit.fleet.collector.store.rows import (DEVICE_COLS, RESULT_COLS, TELEMETRY_COLS, VIOLATION_COLS, DeadLetterRow,
                                                DeviceRow, Gap, ResultRow, TelemetryRow, ViolationRow, result_row,
                                                telemetry_row, violation_row)
from edgekit.fleet.collector.store.tx import Tx

T = TypeVar("T")


def check_version(current: int, latest: int, where: str) -> None:
    if current > latest:
        raise ConfigError(f"the database {where} has schema version {current}, newer than this edgekit "
                          f"understands ({latest}); upgrade edgekit on this host")


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


def violation_range(since_s: float | None, until_s: float | None) -> tuple[list[str], list[float]]:
    """WHERE terms for violations raised before ``until_s`` and not cleared before ``since_s``, and their values."""
    where, params = [], []
    if since_s is not None:
        where.append("(cleared_at_s IS NULL OR cleared_at_s >= ?)")
        params.append(since_s)
    if until_s is not None:
        where.append("raised_at_s < ?")
        params.append(until_s)
    return where, params


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
    def lock_devices(self, cur, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]: ...

    @abstractmethod
    def insert_ledger(self, cur, rows: list[tuple]) -> list[bool]: ...

    @abstractmethod
    def _migration_lock(self, cur) -> None: ...

    @abstractmethod
    def floor_to(self, expr: str, step_s: int) -> str: ...  # SQL: expr rounded down to a multiple of step_s

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

    def store_id(self) -> str:
        """The database's id (schema version 4): made once with it, named in every ack."""
        with self._transaction(write=False) as cur:
            cur.execute("SELECT value FROM store_info WHERE key = 'store_id'")
            return cur.fetchone()[0]

    def prune_dead_letters(self, *, max_rows: int | None, older_than_s: float | None,
                           limit: int = 500) -> dict[str, int]:
        """Delete at most ``limit`` dead letters, oldest first: those received before ``older_than_s``
        (collector clock), then those beyond the newest ``max_rows``. One short transaction; the rows
        dropped by why (``age``, ``rows``)."""
        dropped = {"age": 0, "rows": 0}
        chunk = "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE {} ORDER BY id LIMIT ?)"
        with self._transaction() as cur:
            if older_than_s is not None:
                cur.execute(self.q(chunk.format("received_at_s < ?")), (older_than_s, limit))
                dropped["age"] = max(cur.rowcount, 0)
            if max_rows is not None and dropped["age"] < limit:
                cur.execute(self.q("SELECT id FROM dead_letters ORDER BY id DESC LIMIT 1 OFFSET ?"), (max_rows,))
                row = cur.fetchone()
                if row is not None:  # the newest row past the cap: it and everything older go
                    cur.execute(self.q(chunk.format("id <= ?")), (row[0], limit - dropped["age"]))
                    dropped["rows"] = max(cur.rowcount, 0)
        return dropped

    def prune_telemetry(self, *, older_than_s: float, limit: int = 2000) -> int:
        """Delete at most ``limit`` raw telemetry rows sent before ``older_than_s`` (device clock), oldest first, in
        one short transaction; the rollups keep their figures. The rows deleted."""
        with self._transaction() as cur:
            cur.execute(self.q(
                "DELETE FROM telemetry WHERE (fleet, device_id, message_id) IN (SELECT fleet, device_id, message_id "
                "FROM telemetry WHERE sent_at_s < ? ORDER BY sent_at_s LIMIT ?)"), (older_than_s, limit))
            return max(cur.rowcount, 0)

    # ---------------------------------------------------------------- reads
    def _fetch(self, sql: str, params=()) -> list[tuple]:
        with self._transaction(write=False) as cur:
            cur.execute(self.q(sql), tuple(params))
            return cur.fetchall()

    def query(self, sql: str, params=()) -> list[tuple]:
        """Rows of one read-only statement (``?`` placeholders): the report's aggregates over the rollups."""
        return self._fetch(sql, params)

    def devices(self) -> list[DeviceRow]:
        return [DeviceRow(*r) for r in self._fetch(f"SELECT {DEVICE_COLS} FROM devices ORDER BY fleet, device_id")]

    def telemetry(self, since_s: float | None = None, until_s: float | None = None,
                  device_id: str | None = None) -> list[TelemetryRow]:
        where, params = _range("sent_at_s", since_s, until_s, device_id)
        rows = self._fetch(f"SELECT {TELEMETRY_COLS} FROM telemetry{where} ORDER BY fleet, device_id, sent_at_s", params)
        return [telemetry_row(r) for r in rows]

    def results(self, since_s: float | None = None, until_s: float | None = None,
                device_id: str | None = None) -> list[ResultRow]:
        where, params = _range("sent_at_s", since_s, until_s, device_id)
        rows = self._fetch(f"SELECT {RESULT_COLS} FROM results{where} ORDER BY fleet, device_id, sent_at_s", params)
        return [result_row(r) for r in rows]

    def violations(self, since_s: float | None = None, until_s: float | None = None, *,
                   open_only: bool = False, device_id: str | None = None) -> list[ViolationRow]:
        """Violations raised in the range, plus (for a range) those still open or cleared inside it."""
        where, params = violation_range(since_s, until_s)
        if open_only:
            where.append("cleared_at_s IS NULL")
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        sql = f"SELECT {VIOLATION_COLS} FROM violations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [violation_row(r) for r in self._fetch(sql + " ORDER BY raised_at_s, id", params)]

    def gaps(self, *, open_only: bool = False, device_id: str | None = None) -> list[Gap]:
        where, params = [], []
        if open_only:
            where.append("missing > 0")
        if device_id is not None:
            where.append("device_id = ?")
            params.append(device_id)
        sql = "SELECT device_id, first_seq, last_seq, missing, detected_at_s, closed_at_s, id, fleet FROM gaps"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Gap(*r) for r in self._fetch(sql + " ORDER BY fleet, device_id, first_seq", params)]

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
