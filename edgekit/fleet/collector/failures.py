"""How the collector tells a database outage from a batch it can never store, and words failures in one line.

An outage (connection lost, database locked, server shutting down, a table missing) keeps the batch and retries it, with
backoff, for as long as it lasts: nothing is acknowledged, so nothing is lost. Any other error while
storing is taken to be in the data: the batch is split in halves, each stored on its own, down to single
messages; a single message that still fails (twice) is dead-lettered as ``store_failed``, PUBACKed and
named as rejected in its device's ack, so one bad row never holds back the others nor comes back
forever. A failure after the commit (acks, alerts, metrics) never retries the stored work: it is
logged once and counted in ``edgekit_collector_after_commit_errors_total{step}``.
"""

from __future__ import annotations

# DB-API 2 names, in sqlite3 and psycopg, for errors without an SQLSTATE: connection or server trouble, a
# closed database, a table missing (sqlite3's OperationalError). Data errors (DataError, IntegrityError,
# OverflowError, ...) are the message's own.
_OUTAGE_CLASS_NAMES = frozenset(("OperationalError", "InterfaceError", "ProgrammingError"))
# SQLSTATE classes (PostgreSQL) that are not about the row: 08 connection, 40 rollback (serialization,
# deadlock), 42 schema or privileges (a table renamed or dropped is an operator's to fix, not a reason to
# dead-letter good messages), 53 resources, 57 operator intervention, 58 system. A trigger's RAISE (P0001),
# a constraint (23), a bad value (22) are the row's.
_OUTAGE_SQLSTATE_CLASSES = frozenset(("08", "40", "42", "53", "57", "58"))


def is_outage(exc: BaseException) -> bool:
    """True for a failure of the database or the connection to it (retry the same batch later)."""
    if isinstance(exc, (OSError, TimeoutError, MemoryError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
    return any(cls.__name__ in _OUTAGE_CLASS_NAMES for cls in type(exc).__mro__)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, at most ``limit`` characters, printable."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= limit else line[:limit - 3] + "..."
