"""The device's store-and-forward spool: every message lives here until the collector acks it.

One SQLite file (WAL journal) holds the outgoing messages in order, each with
its per-device sequence number and message id, and a ``meta`` table with the
sequence counters and the drop counters, and a ``state`` table of text values (the store id a
device learned from its collector's first ack). A message leaves the spool only when
the collector's acknowledgement names it (:meth:`Spool.confirm`), never on the
broker's PUBACK.

Durability: ``synchronous=FULL`` by default. In WAL mode ``NORMAL`` survives a
crash of the process but not a power cut: the last commits may roll back. On a
device that loses power (the usual way edge devices fail) that would lose a
measurement the spool had accepted and, worse, roll the sequence counter back
so that a later message reuses a number the collector already has. One fsync
per message costs about a millisecond, and a device spools a message every few
seconds at most.

The spool is bounded (``max_rows``, ``max_bytes``). When a new message does not
fit, the oldest telemetry is dropped first, then the oldest result; each drop
is counted in ``meta`` (``dropped/<kind>``) in the same transaction, and the
agent reports the total in its next telemetry. Several processes may share one
spool file (the agent and ``edgekit bench --report``): the counters are updated
inside ``BEGIN IMMEDIATE`` transactions.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from edgekit.errors import ConfigError, EdgekitError
from edgekit.fleet import messages

log = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
SPOOL_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    fleet TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id);
"""


def default_spool_path() -> Path:
    """``$XDG_DATA_HOME/edgekit/spool.db``, else ``~/.local/share/edgekit/spool.db``."""
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base) if base else Path.home() / ".local" / "share") / "edgekit" / "spool.db"


@dataclass(frozen=True)
class SpooledMessage:
    id: int            # spool order (SQLite rowid); re-sends go in this order
    message_id: str
    fleet: str
    device_id: str
    kind: str
    topic: str
    seq: int
    payload: bytes


@dataclass(frozen=True)
class SpoolStats:
    pending: int
    pending_bytes: int
    dropped_total: int
    dropped_by_kind: dict[str, int]
    confirmed_total: int
    rejected_total: int = 0


class Spool:
    """A bounded, durable outbox. Thread-safe; several processes may share the file."""

    def __init__(self, path: str | Path | None = None, *, max_rows: int = DEFAULT_MAX_ROWS,
                 max_bytes: int = DEFAULT_MAX_BYTES, synchronous: str = "FULL"):
        if max_rows < 1 or max_bytes < 1024:
            raise ConfigError("spool bounds too small: use max_rows >= 1 and max_bytes >= 1024")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ConfigError(f"spool synchronous={synchronous!r} is not allowed; use FULL (default) or NORMAL")
        self.path = Path(path).expanduser() if path else default_spool_path()
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fmt = self._open(synchronous.upper())
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"cannot open the spool {self.path} ({exc}); move the file aside "
                              "(its unsent messages are then lost) or pass another --spool PATH") from None
        except OSError as exc:
            raise ConfigError(f"cannot create the spool folder for {self.path} ({exc.strerror}); "
                              "pass a writable --spool PATH") from None
        if fmt != SPOOL_FORMAT:
            self._db.close()
            raise ConfigError(f"the spool {self.path} has format {fmt}, this edgekit reads {SPOOL_FORMAT}; "
                              "drain it with the edgekit version that wrote it, or pass another --spool PATH")

    def _open(self, synchronous: str, timeout_s: float = 30.0) -> str:
        """Connect and create the schema; returns the spool's format.

        Two processes opening a new spool at once (the agent and ``bench --report``) can meet in the switch
        to WAL or the schema creation, where SQLite answers "database is locked" without waiting for the
        busy timeout: retry those until ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            db = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={synchronous}")
                db.executescript(_SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('format', ?)", (SPOOL_FORMAT,))
                fmt = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0]
            except sqlite3.OperationalError as exc:
                db.close()
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                raise
            except BaseException:
                db.close()
                raise
            self._db = db
            return fmt

    # ------------------------------------------------------------- lifecycle
    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --------------------------------------------------------------- helpers
    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, key: str, by: int = 1) -> int:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (key, by))
        return self._meta(key)

    def get_state(self, key: str) -> str | None:
        """A text value the device keeps across restarts (e.g. ``store_id/<fleet>/<device>``), or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_state_once(self, key: str, value: str) -> str:
        """Store ``value`` under ``key`` unless one is there already (another process may have been first);
        returns the value now stored."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO state (key, value) VALUES (?, ?)", (key, value))
            return self._db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()[0]

    @staticmethod
    def _seq_key(fleet: str, device_id: str) -> str:
        return f"seq/{fleet}/{device_id}"

    # --------------------------------------------------------------- writing
    def enqueue(self, kind: str, body: dict[str, Any], *, fleet: str, device_id: str,
                target: str | None = None) -> SpooledMessage:
        """Assign the next seq and a message id, build the envelope and store it durably.

        Returns the stored message. Makes room by dropping (and counting) the
        oldest telemetry, then the oldest results, when a bound is reached.
        """
        if kind not in messages.ACKED_KINDS:
            raise ValueError(f"only {messages.ACKED_KINDS} go through the spool, not {kind!r}")
        name = messages.topic(fleet, device_id, kind)
        try:
            return self._enqueue(kind, body, fleet, device_id, target, name)
        except sqlite3.OperationalError as exc:  # disk full, read-only file system, locked for 30 s
            raise EdgekitError(f"cannot write to the spool {self.path} ({exc}); free disk space or pass a "
                               "writable --spool PATH") from None

    def _enqueue(self, kind: str, body: dict[str, Any], fleet: str, device_id: str, target: str | None,
                 name: str) -> SpooledMessage:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._bump(self._seq_key(fleet, device_id))
                env = messages.build_envelope(kind, body, fleet=fleet, device_id=device_id, seq=seq, target=target)
                payload = messages.encode(env)
                size = len(payload)
                if size > self.max_bytes:
                    raise EdgekitError(f"a {kind} message of {size} bytes is larger than the spool limit "
                                       f"({self.max_bytes} bytes); raise the spool's max_bytes")
                self._make_room(size)
                self._db.execute(
                    "INSERT INTO outbox (message_id, fleet, device_id, kind, topic, seq, payload, size_bytes, "
                    "created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (env["message_id"], fleet, device_id, kind, name, seq, payload, size, env["sent_at"]))
                self._bump("bytes", size)
                rowid = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return SpooledMessage(rowid, env["message_id"], fleet, device_id, kind, name, seq, payload)

    def _make_room(self, size: int) -> None:
        rows = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        used = self._meta("bytes")
        while rows + 1 > self.max_rows or used + size > self.max_bytes:
            victim = self._db.execute(
                "SELECT id, kind, size_bytes, seq, device_id FROM outbox WHERE kind='telemetry' ORDER BY id LIMIT 1"
            ).fetchone() or self._db.execute(
                "SELECT id, kind, size_bytes, seq, device_id FROM outbox ORDER BY id LIMIT 1").fetchone()
            if victim is None:  # pragma: no cover - size <= max_bytes was checked
                break
            vid, vkind, vsize, vseq, vdev = victim
            self._db.execute("DELETE FROM outbox WHERE id=?", (vid,))
            self._bump("bytes", -vsize)
            self._bump(f"dropped/{vkind}")
            rows -= 1
            used -= vsize
            log.warning("spool full (%d rows / %d bytes max): dropped unconfirmed %s seq %d of %s",
                        self.max_rows, self.max_bytes, vkind, vseq, vdev)

    def confirm(self, message_ids: Iterable[str], *, counter: str = "confirmed") -> int:
        """Delete the messages the collector acknowledged; returns how many were still here.

        ``counter`` names the meta counter to add them to: ``confirmed`` (stored
        by the collector) or ``rejected`` (refused by it for good).
        """
        ids = [i for i in message_ids if isinstance(i, str)]
        if not ids:
            return 0
        removed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    freed = self._db.execute(
                        f"SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM outbox WHERE message_id IN ({marks})",
                        chunk).fetchone()
                    if freed[0]:
                        self._db.execute(f"DELETE FROM outbox WHERE message_id IN ({marks})", chunk)
                        self._bump("bytes", -freed[1])
                        self._bump(counter, freed[0])
                        removed += freed[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return removed

    # --------------------------------------------------------------- reading
    def pending(self, *, after_id: int = 0, limit: int = 500) -> list[SpooledMessage]:
        """Unconfirmed messages in spool order, starting after ``after_id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, message_id, fleet, device_id, kind, topic, seq, payload FROM outbox "
                "WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
        return [SpooledMessage(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bytes(r[7])) for r in rows]

    def contains(self, message_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM outbox WHERE message_id=?", (message_id,)).fetchone() is not None

    def last_seq(self, fleet: str, device_id: str) -> int:
        """The last sequence number handed out for this device (0 before the first)."""
        with self._lock:
            return self._meta(self._seq_key(fleet, device_id))

    def dropped_total(self) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT COALESCE(SUM(value), 0) FROM meta WHERE key LIKE 'dropped/%'").fetchone()[0])

    def stats(self) -> SpoolStats:
        with self._lock:
            count, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM outbox").fetchone()
            dropped = {k.split("/", 1)[1]: int(v) for k, v in
                       self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped/%'")}
            confirmed = self._meta("confirmed")
            rejected = self._meta("rejected")
        return SpoolStats(pending=count, pending_bytes=size, dropped_total=sum(dropped.values()),
                          dropped_by_kind=dropped, confirmed_total=confirmed, rejected_total=rejected)
