"""Raw telemetry retention: a background thread deletes telemetry older than ``--raw-retention``.

The rollups (minute and hour, see ``store/rollups.py``) keep every figure the report needs, so raw rows
can go. The thread has its own connection and deletes ``chunk_rows`` at a time, each chunk one short
transaction, pausing between chunks so that the ingest worker's batches always get the write lock; a
failure is logged once per run of failures and retried after the interval. Ages are on the device's clock
(``sent_at_s``). Keep the retention longer than the longest ``avg_power_window_s`` of the budgets: the
budget checker reads raw telemetry.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edgekit.fleet.collector.failures import one_line

log = logging.getLogger("edgekit.fleet.collector.retention")

DEFAULT_RAW_RETENTION_S = 7 * 86_400.0


@dataclass(frozen=True)
class RawRetention:
    max_age_s: float = DEFAULT_RAW_RETENTION_S
    interval_s: float = 60.0     # how often to look when the last look found nothing more to delete
    chunk_rows: int = 2000       # rows per transaction
    pause_s: float = 0.05        # between two full chunks: the ingest worker's turn


class RawTelemetryPruner:
    """``start()`` / ``stop()``; ``store`` is the pruner's own (one connection per thread)."""

    def __init__(self, store, policy: RawRetention):
        self.store = store
        self.policy = policy
        self.deleted = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune_once(self) -> int:
        """One chunk; the rows deleted. Raises what the database raises."""
        n = self.store.prune_telemetry(older_than_s=time.time() - self.policy.max_age_s, limit=self.policy.chunk_rows)
        self.deleted += n
        return n

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                n = self.prune_once()
                failing = False
            except Exception as exc:
                if not failing:
                    log.error("could not prune raw telemetry (%s); trying again in %g s", one_line(exc),
                              self.policy.interval_s)
                failing, n = True, 0
            self._stop.wait(self.policy.pause_s if n >= self.policy.chunk_rows else self.policy.interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="edgekit-raw-retention", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
