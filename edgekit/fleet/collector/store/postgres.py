"""PostgreSQL store (psycopg 3) for fleets that outgrow one SQLite file.

``postgresql://user@host:5432/dbname`` (any libpq URL; ``options=-csearch_path=SCHEMA`` selects a schema).
Several collectors may write at once (``--share``): each batch locks its
devices' rows in one order (``SELECT ... FOR UPDATE``), so gap detection stays
exact, and a deadlock or serialization failure retries the whole batch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from edgekit.errors import ConfigError
from edgekit.fleet.collector.store.base import SqlStore

_MIGRATION_LOCK_KEY = 0x6564_6765_6B69  # "edgeki": one advisory lock for schema changes


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStore(SqlStore):
    paramstyle = "format"
    types = {"id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "real": "DOUBLE PRECISION",
             "bigint": "BIGINT", "bool": "BOOLEAN", "blob": "BYTEA", "false": "FALSE",
             "random_id": "md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text)",
             "minute_s": "(floor(sent_at_s / 60) * 60)", "hour_s": "(floor(sent_at_s / 3600) * 3600)"}

    def floor_to(self, expr: str, step_s: int) -> str:
        """SQL for ``expr`` rounded down to a multiple of ``step_s``."""
        return f"(floor(({expr}) / {int(step_s)}) * {int(step_s)})"

    def __init__(self, url: str):
        try:
            import psycopg
        except ImportError:
            raise ConfigError("a postgresql:// database needs psycopg 3; install it with "
                              "pip install 'edgekit[postgres]'") from None
        self._psycopg = psycopg
        self.url_redacted = redact(url)
        self._url = url
        self._connect()

    def _connect(self) -> None:
        try:
            self.conn = self._psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except self._psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot connect to PostgreSQL at {self.url_redacted} ({first}); "
                              "check the URL, that the server runs and that the database exists") from None

    @contextmanager
    def _transaction(self, write: bool = True):
        if self.conn.closed or self.conn.broken:
            self._connect()
        with self.conn.transaction():
            with self.conn.cursor() as cur:
                yield cur

    def _is_transient(self, exc: BaseException) -> bool:
        errors = self._psycopg.errors
        if isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation)):
            return True  # UniqueViolation: two collectors opened the same violation at once; the retry sees it
        return isinstance(exc, self._psycopg.OperationalError) and (self.conn.closed or self.conn.broken)

    def _migration_lock(self, cur) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def lock_devices(self, cur, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        cur.execute("SELECT fleet, device_id, target, last_sent_at_s, max_seq, state, state_at_s FROM devices "
                    "WHERE (fleet, device_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
                    "ORDER BY fleet, device_id FOR UPDATE", ([k[0] for k in keys], [k[1] for k in keys]))
        return {(r[0], r[1]): {"target": r[2], "last_sent_at_s": r[3], "max_seq": r[4], "state": r[5],
                               "state_at_s": r[6]} for r in cur.fetchall()}

    def insert_ledger(self, cur, rows: list[tuple]) -> list[bool]:
        if not rows:
            return []
        cols = list(zip(*rows))
        cur.execute(
            "INSERT INTO messages (device_id, message_id, kind, fleet, seq, sent_at_s, received_at_s, stored_at_s) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
            "%s::float8[], %s::float8[], %s::float8[]) "
            "ON CONFLICT (fleet, device_id, message_id) DO NOTHING RETURNING fleet, device_id, message_id",
            [list(c) for c in cols])
        inserted = {(r[0], r[1], r[2]) for r in cur.fetchall()}
        return [(r[3], r[0], r[1]) in inserted for r in rows]

    def close(self) -> None:
        self.conn.close()
