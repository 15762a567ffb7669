"""Fleet stores: :func:`open_store` picks SQLite or PostgreSQL from the URL and migrates the schema."""

from __future__ import annotations

from edgekit.errors import ConfigError
from edgekit.fleet.collector.store.base import SqlStore, Store
from edgekit.fleet.collector.store.rows import (BatchOutcome, DeadLetter, DeadLetterRow, DeviceRow, Gap, ResultRow,
                                                TelemetryRow, ViolationRow)
from edgekit.fleet.collector.store.tx import Tx

__all__ = ["open_store", "Store", "SqlStore", "Tx", "BatchOutcome", "DeadLetter", "DeadLetterRow", "DeviceRow",
           "Gap", "ResultRow", "TelemetryRow", "ViolationRow"]


def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """``sqlite:///path.db`` or ``postgresql://...``; creates or upgrades the schema unless ``migrate=False``."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        from edgekit.fleet.collector.store.sqlite import SqliteStore
        store: SqlStore = SqliteStore(url, create=migrate)
    elif scheme in ("postgresql", "postgres"):
        from edgekit.fleet.collector.store.postgres import PostgresStore
        store = PostgresStore(url)
    else:
        raise ConfigError(f"unknown database URL {url!r}; use sqlite:///fleet.db or postgresql://user@host/db")
    if migrate:
        try:
            store.migrate()
        except Exception:
            store.close()
            raise
    return store
