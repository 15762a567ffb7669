"""The embedded default store: one SQLite file in WAL mode.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``. Query
options: ``synchronous=full`` (default: a committed batch survives a power
cut before the device is told to drop it from its spool) or ``normal``
(faster; a power cut may lose the last batches, a crashed process loses
nothing). Several collector processes may share one file: writers take turns
(``BEGIN IMMEDIATE``, 30 s busy timeout).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edgekit.errors import ConfigError
from edgekit.fleet.collector.store.base import SqlStore

_SYNC = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}
_LEDGER_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_LEDGER_CHUNK = 1000  # rows per INSERT: 8,000 parameters, under SQLite's limit of 32,766


def sqlite_path(url: str) -> tuple[Path, str]:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigError(f"bad SQLite URL {url!r}: use sqlite:///relative.db or sqlite:////abs/path.db")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigError(f"the SQLite URL {url!r} names no file; use sqlite:///fleet.db")
    opts = parse_qs(parts.query)
    unknown = set(opts) - {"synchronous"}
    if unknown:
        raise ConfigError(f"unknown SQLite URL option {sorted(unknown)[0]!r}; the only option is synchronous=full|normal")
    sync = opts.get("synchronous", ["full"])[-1].lower()
    if sync not in _SYNC:
        raise ConfigError(f"SQLite option synchronous={sync!r} is not one of full, normal, extra")
    return Path(path), _SYNC[sync]


class SqliteStore(SqlStore):
    paramstyle = "qmark"
    types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL", "bigint": "INTEGER", "bool": "INTEGER",
             "blob": "BLOB", "false": "0", "random_id": "lower(hex(randomblob(16)))",
             "minute_s": "(CAST(sent_at_s / 60 AS INTEGER) * 60)", "hour_s": "(CAST(sent_at_s / 3600 AS INTEGER) * 3600)"}

    def floor_to(self, expr: str, step_s: int) -> str:
        """SQL for ``expr`` rounded down to a multiple of ``step_s`` (times are positive: a cast truncates)."""
        return f"(CAST(({expr}) / {int(step_s)} AS INTEGER) * {int(step_s)})"

    def __init__(self, url: str, *, create: bool = True):
        path, sync = sqlite_path(url)
        self.path = path
        self.url_redacted = url
        if not path.parent.is_dir():
            raise ConfigError(f"the folder of the database {path} does not exist; create {path.parent} first")
        if not create and not path.is_file():
            raise ConfigError(f"the database {path} does not exist; give the file that `edgekit collect --db` writes")
        try:
            self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={sync}")
            self.conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"cannot open the SQLite database {path} ({exc}); "
                              "give a writable path to a new or an edgekit database") from None

    @contextmanager
    def _transaction(self, write: bool = True):
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cur
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def _migration_lock(self, cur) -> None:
        pass  # BEGIN IMMEDIATE already holds the write lock

    def lock_devices(self, cur, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            cur.execute("SELECT fleet, device_id, target, last_sent_at_s, max_seq, state, state_at_s FROM devices "
                        f"WHERE (fleet, device_id) IN (VALUES {', '.join(['(?, ?)'] * len(chunk))})",
                        [v for key in chunk for v in key])
            for r in cur.fetchall():
                out[r[0], r[1]] = {"target": r[2], "last_sent_at_s": r[3], "max_seq": r[4],
                                   "state": r[5], "state_at_s": r[6]}
        return out

    def insert_ledger(self, cur, rows: list[tuple]) -> list[bool]:
        """One multi-row INSERT per chunk; RETURNING names the rows that were new (SQLite >= 3.35)."""
        if sqlite3.sqlite_version_info < (3, 35):  # no RETURNING: one statement per row, rowcount tells
            return self._insert_ledger_rows(cur, rows)
        inserted: set[tuple[str, str, str]] = set()
        for i in range(0, len(rows), _LEDGER_CHUNK):
            chunk = rows[i:i + _LEDGER_CHUNK]
            cur.execute(
                "INSERT INTO messages (device_id, message_id, kind, fleet, seq, sent_at_s, received_at_s, "
                f"stored_at_s) VALUES {', '.join([_LEDGER_ROW] * len(chunk))} "
                "ON CONFLICT (fleet, device_id, message_id) DO NOTHING RETURNING fleet, device_id, message_id",
                [v for row in chunk for v in row])
            inserted.update(cur.fetchall())
        return [(r[3], r[0], r[1]) in inserted for r in rows]

    @staticmethod
    def _insert_ledger_rows(cur, rows: list[tuple]) -> list[bool]:
        sql = (f"INSERT INTO messages (device_id, message_id, kind, fleet, seq, sent_at_s, received_at_s, "
               f"stored_at_s) VALUES {_LEDGER_ROW} ON CONFLICT (fleet, device_id, message_id) DO NOTHING")
        flags = []
        for row in rows:
            cur.execute(sql, row)
            flags.append(cur.rowcount == 1)
        return flags

    def close(self) -> None:
        self.conn.close()
