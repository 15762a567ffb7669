"""What the collector keeps is bounded: dead letters (rows and age), rejection log lines, caches.

* :class:`DeadLetterPruner` deletes dead letters over ``max_rows`` or older than ``max_age_s``, at most
  ``chunk_rows`` per short transaction between two batches, so pruning a large backlog never holds the
  ingest worker (or the database's write lock) for long; drops are counted by why (``rows``, ``age``).
* :class:`RejectionLog` logs at most ``per_window`` rejections per window (60 s), then one summary line
  "... and K more rejected in the last 60 s (reason: count, ...)".
* :class:`LruCache` is a dict with a size cap that forgets the least recently used entry.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, TypeVar

from edgekit.fleet.collector.failures import one_line

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_DEAD_LETTER_MAX_ROWS = 50_000
DEFAULT_DEAD_LETTER_MAX_AGE_S = 14 * 86_400.0


class LruCache(Generic[K, V]):
    """At most ``max_entries`` entries; a lookup refreshes one, an insert past the cap drops the oldest."""

    def __init__(self, max_entries: int):
        if max_entries < 1:
            raise ValueError("an LruCache holds at least one entry")
        self.max_entries = max_entries
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default=None):
        try:
            self._data.move_to_end(key)
        except KeyError:
            return default
        return self._data[key]

    def put(self, key: K, value: V) -> V:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data


@dataclass(frozen=True)
class DeadLetterRetention:
    max_rows: int | None = DEFAULT_DEAD_LETTER_MAX_ROWS   # None or 0: no row cap
    max_age_s: float | None = DEFAULT_DEAD_LETTER_MAX_AGE_S  # None or 0: no age cap
    interval_s: float = 10.0     # how often to look, when the last look found nothing more to drop
    chunk_rows: int = 500        # rows deleted per transaction


class DeadLetterPruner:
    def __init__(self, store, policy: DeadLetterRetention, dropped: Callable[[str], object],
                 log: logging.Logger, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.policy = policy
        self._dropped = dropped   # why -> a Prometheus counter child
        self._log = log
        self._clock = clock
        self._next_at = clock()
        self._failing = False

    @property
    def active(self) -> bool:
        return bool(self.policy.max_rows) or bool(self.policy.max_age_s)

    def tick(self) -> int:
        """One chunk at most, when due; the rows dropped. Never raises: ingest goes on whatever happens here."""
        now = self._clock()
        if not self.active or now < self._next_at:
            return 0
        p = self.policy
        try:
            dropped = self.store.prune_dead_letters(
                max_rows=p.max_rows or None, older_than_s=(time.time() - p.max_age_s) if p.max_age_s else None,
                limit=p.chunk_rows)
        except Exception as exc:
            if not self._failing:
                self._log.error("could not prune dead letters (%s); trying again in %g s", one_line(exc),
                                p.interval_s)
            self._failing = True
            self._next_at = now + p.interval_s
            return 0
        self._failing = False
        for why, n in dropped.items():
            if n:
                self._dropped(why).inc(n)
        total = sum(dropped.values())
        # a full chunk: more may be due, take the next one after the next batch; else wait the interval
        self._next_at = now if total >= p.chunk_rows else now + p.interval_s
        return total


class RejectionLog:
    """Rejection warnings, at most ``per_window`` per window; the rest summed up in one line."""

    def __init__(self, log: logging.Logger, per_window: int = 10, window_s: float = 60.0, *, not_logged=None,
                 clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._not_logged = not_logged  # a counter: rejections past the limit
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._start = clock()
        self._logged = 0
        self._held: dict[str, int] = {}

    def rejected(self, topic: str, reason: str, detail: str) -> None:
        self.tick()
        if self._logged < self.per_window:
            self._logged += 1
            self._log.warning("rejected a message on %s: %s (%s)", topic[:200], reason, detail)
        else:
            self._held[reason] = self._held.get(reason, 0) + 1
            if self._not_logged is not None:
                self._not_logged.inc()

    def tick(self) -> None:
        """Close the window when it is over: the summary line of what it did not log."""
        now = self._clock()
        if now - self._start < self.window_s:
            return
        if self._held:
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self._held.items(), key=lambda x: (-x[1], x[0])))
            self._log.warning("... and %d more rejected in the last %.0f s (%s)", sum(self._held.values()),
                              now - self._start, reasons)
        self._start, self._logged, self._held = now, 0, {}
