"""How the collector tells a database outage from a batch it can never store, and words failures in one line.

An outage (connection lost, database locked, server shutting down) keeps the batch and retries it, with
backoff, for as long as it lasts: nothing is acknowledged, so nothing is lost. Any other error while
storing is taken to be in the data: the batch is split in halves, each stored on its own, down to single
messages; a single message that still fails (twice) is dead-lettered as ``store_failed``, PUBACKed and
named as rejected in its device's ack, so one bad row never holds back the others nor comes back
forever. A failure after the commit (acks, alerts, metrics) never retries the stored work: it is
logged once and counted in ``edgekit_collector_after_commit_errors_total{step}``.
"""

from __future__ import annotations

_OUTAGE_CLASS_NAMES = frozenset(("OperationalError", "InterfaceError"))  # DB-API 2 names, sqlite3 and psycopg


def is_outage(exc: BaseException) -> bool:
    """True for a failure of the database or the connection to it (retry the same batch later)."""
    if isinstance(exc, (OSError, TimeoutError, MemoryError)):
        return True
    return any(cls.__name__ in _OUTAGE_CLASS_NAMES for cls in type(exc).__mro__)


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, at most ``limit`` characters, printable."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    line = "".join(c if c.isprintable() else "?" for c in line)
    return line if len(line) <= limit else line[:limit - 3] + "..."
