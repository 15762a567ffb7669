"""The timed inference loop: back-to-back, or at a fixed arrival rate with idle gaps.

Fixed rate (``rate_hz``): arrival k is due at ``t_start + k / rate_hz`` on the
monotonic clock; the loop sleeps until it, then runs. An inference that ends
after the next arrival is a *missed deadline*. Arrivals that passed while an
inference was still running are *dropped* (as a camera drops frames when the
app is busy) rather than run late in a burst; both are counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LoopResult:
    latencies_s: list[float] = field(default_factory=list)
    t_start_s: float = 0.0          # start of the measured window (monotonic)
    t_end_s: float = 0.0            # end of the measured window (monotonic)
    first_inference_s: float | None = None
    warmup_count: int = 0
    warmup_start_s: float = 0.0
    rate_hz: float | None = None
    arrivals: int = 0               # scheduled arrivals that fell in the window
    missed_deadlines: int = 0
    dropped_arrivals: int = 0
    start_lag_ms_mean: float | None = None  # how late inferences started after their arrival
    start_lag_ms_max: float | None = None

    @property
    def window_s(self) -> float:
        return self.t_end_s - self.t_start_s

    def rate_json(self) -> dict | None:
        if self.rate_hz is None:
            return None
        return {"rate_hz": self.rate_hz, "arrivals": self.arrivals, "missed_deadlines": self.missed_deadlines,
                "dropped_arrivals": self.dropped_arrivals, "start_lag_ms_mean": self.start_lag_ms_mean,
                "start_lag_ms_max": self.start_lag_ms_max}


def run_loop(infer: Callable[[int], object], *, duration_s: float | None = None, iterations: int | None = None,
             warmup_s: float = 0.0, rate_hz: float | None = None, check: Callable[[], None] | None = None,
             check_every_s: float = 0.5, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep) -> LoopResult:
    """Run ``infer(i)`` (i = running sample index) and time each call.

    Exactly one of ``duration_s`` / ``iterations`` bounds the measured window.
    ``check`` is called between inferences about every ``check_every_s`` (the
    sampler's error check), so a failing sensor stops the run early.
    """
    if (duration_s is None) == (iterations is None):
        raise ValueError("give exactly one of duration_s and iterations")
    r = LoopResult(rate_hz=rate_hz)
    calls = _Calls(infer, clock)
    t0 = clock()
    calls.run()
    r.first_inference_s = clock() - t0
    r.warmup_start_s = t0
    while clock() - t0 < warmup_s:
        calls.run()
        r.warmup_count += 1
    checker = _Checker(check, check_every_s, clock() + check_every_s)
    if rate_hz is None:
        _back_to_back(r, calls, checker, duration_s, iterations, clock)
    else:
        _fixed_rate(r, calls, checker, duration_s, iterations, rate_hz, clock, sleep)
    return r


class _Calls:
    """``infer`` with its running sample index; :meth:`timed` returns the call's start and end."""

    def __init__(self, infer: Callable[[int], object], clock: Callable[[], float]):
        self.infer, self.clock, self.i = infer, clock, 0

    def run(self) -> None:
        self.infer(self.i)
        self.i += 1

    def timed(self) -> tuple[float, float]:
        a = self.clock()
        self.run()
        return a, self.clock()


@dataclass
class _Checker:
    check: Callable[[], None] | None
    every_s: float
    next_s: float

    def maybe(self, now: float) -> None:
        if self.check is not None and now >= self.next_s:
            self.check()
            self.next_s = now + self.every_s


def _back_to_back(r: LoopResult, calls: _Calls, checker: _Checker, duration_s: float | None,
                  iterations: int | None, clock: Callable[[], float]) -> None:
    lat = r.latencies_s
    start = clock()
    r.t_start_s = start
    end_by = start + duration_s if duration_s is not None else None
    while True:
        a = clock()
        if end_by is not None and a >= end_by:
            break
        if iterations is not None and len(lat) >= iterations:
            break
        calls.run()
        b = clock()
        lat.append(b - a)
        checker.maybe(b)
    r.t_end_s = clock()


def _fixed_rate(r: LoopResult, calls: _Calls, checker: _Checker, duration_s: float | None, iterations: int | None,
                rate_hz: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
    lat = r.latencies_s
    period = 1.0 / rate_hz
    start = clock()
    r.t_start_s = start
    window = duration_s if duration_s is not None else iterations * period
    end_by = start + window
    lags = []
    k = 0
    while True:
        due = start + k * period
        if due >= end_by - 1e-9 or (iterations is not None and len(lat) >= iterations):
            break
        now = clock()
        if due > now:
            sleep(due - now)
        a, b = calls.timed()
        lat.append(b - a)
        lags.append(a - due)
        r.arrivals += 1
        if b > due + period:
            r.missed_deadlines += 1
            # arrivals that came and went while this one ran are dropped
            k_next = int(np.ceil((b - start) / period))
            dropped = max(0, min(k_next, int(np.ceil(window / period - 1e-9))) - (k + 1))
            r.dropped_arrivals += dropped
            r.arrivals += dropped
            k = k_next
        else:
            k += 1
        checker.maybe(b)
    now = clock()
    if now < end_by:  # the idle gap after the last inference belongs to the window
        sleep(end_by - now)
    r.t_end_s = clock()
    if lags:
        r.start_lag_ms_mean = float(np.mean(lags) * 1e3)
        r.start_lag_ms_max = float(np.max(lags) * 1e3)
