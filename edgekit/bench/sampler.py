"""A background thread that reads a power source at a fixed rate (and thermal at a lower one).

Memory is bounded: at most ``max_samples`` power samples are kept. When the
buffer fills, every other kept sample is dropped and from then on only every
2nd (then 4th, ...) read is kept (``decimation``). Integration stays valid —
it always runs over the real timestamps of what is kept — at a lower
effective rate, which the result reports (``samples_read`` vs ``samples_kept``).
Thermal snapshots are bounded the same way (``max_thermal``).

Reads are taken at jittered instants: one read at a uniformly random moment inside each
sample period (stratified sampling), not on a fixed grid, so a load whose period is locked to
the sample period cannot bias the estimate (``jitter=False`` restores the grid).

A reading outside the physical limits (:mod:`edgekit.sensors.plausible`: non-finite, or
beyond the source's ``max_plausible_w``) is not stored: it is counted (``implausible``, with
the first few reasons) and the result is flagged. A read that fails after the source has
worked (a sysfs file that disappeared mid-run) opens a *gap*: the sampler records it and keeps
trying each period; the gap closes at the next good read. Only a gap longer than
``max_gap_s`` ends the sampler with the error.

A failing thermal read stops thermal sampling only (``thermal_error`` says why);
power sampling goes on. The thread waits on an ``Event``, so ``stop()`` returns within one sensor
read. An exception raised by a read ends the thread and is re-raised in the
caller by ``stop()`` or ``check()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from edgekit.bench.energy import Trace
from edgekit.errors import SensorError
from edgekit.sensors.base import PowerSource, ThermalSnapshot
from edgekit.sensors.plausible import POWER_LIMIT_W, power_problem


class SharedSource:
    """A power source shared between the sampler thread and the runner (``battery_state()`` at the window
    edges, ``thermal_snapshot()`` on a phone): one lock serialises every call, for sources that talk over one
    channel (a persistent adb shell)."""

    def __init__(self, source: PowerSource):
        self._source = source
        self._lock = threading.Lock()

    @property
    def info(self):
        """The source's info as it is now (a battery records its unit decision mid-run)."""
        return self._source.info

    def read(self):
        with self._lock:
            return self._source.read()

    def battery_state(self):
        with self._lock:
            return self._source.battery_state()

    def thermal_snapshot(self):
        with self._lock:
            return self._source.thermal_snapshot()

    def close(self) -> None:
        with self._lock:
            self._source.close()


class Sampler:
    def __init__(self, source: PowerSource | None, *, sample_hz: float | None = None,
                 thermal: Callable[[], ThermalSnapshot] | None = None, thermal_hz: float = 1.0,
                 max_samples: int = 500_000, max_thermal: int = 10_000,
                 clock: Callable[[], float] = time.monotonic, jitter: bool = True, seed: int | None = None,
                 max_gap_s: float = 10.0):
        if source is None:  # no power sensor: thermal snapshots only
            hz = float(thermal_hz) if thermal_hz > 0 else 1.0
        else:
            hz = float(sample_hz or source.info.default_sample_hz)
        if not hz > 0:
            raise SensorError(f"sample rate must be positive, got {sample_hz}; pass --sample-hz > 0")
        if max_samples < 4:
            raise ValueError("max_samples must be at least 4")
        self.source = source
        self.sample_hz = hz
        self.thermal_hz = float(thermal_hz)
        self._thermal = thermal
        self._clock = clock
        self._cap = int(max_samples) - int(max_samples) % 2
        self._t = np.empty(self._cap)
        self._p = np.empty(self._cap)
        self._e = np.empty(self._cap)
        self._n = 0
        self._max_thermal = max(2, int(max_thermal))
        self._snapshots: list[ThermalSnapshot] = []
        self._thermal_stride = 1
        self._thermal_seen = 0
        self.decimation = 1
        self.samples_read = 0
        self.late_ticks = 0  # reads that started more than one period late
        self.thermal_error: str | None = None  # why thermal sampling stopped, if it did
        self.jitter = bool(jitter)
        self._rng = np.random.default_rng(seed)
        self.max_gap_s = float(max_gap_s)
        self.implausible = 0                  # power readings left out as physically implausible
        self.implausible_thermal = 0          # thermal zone readings left out
        self.implausible_examples: list[str] = []
        self.gaps: list[tuple[float, float | None, str]] = []  # (start_s, end_s or None while open, why)
        self._rail_names: tuple[str, ...] | None = None
        self._rails: np.ndarray | None = None  # (cap, n_rails), NaN where a read lacked a rail
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "Sampler":
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._loop, name="edgekit-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; re-raise the error that ended it, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                name = self.source.info.name if self.source is not None else "thermal"
                raise SensorError(f"the sampler ({name}) did not stop within "
                                  f"{timeout_s:g} s: a sensor read hangs; check the sensor")
        self.check()

    def check(self) -> None:
        """Re-raise, in the caller's thread, the error that ended the sampler."""
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "Sampler":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
        else:  # do not mask the caller's error
            self._stop.set()
            if self._thread is not None:
                self._thread.join(5.0)

    # -- thread ----------------------------------------------------------
    def _loop(self) -> None:
        period = 1.0 / self.sample_hz
        t_period = 1.0 / self.thermal_hz if self._thermal and self.thermal_hz > 0 else None
        try:
            now = self._clock()
            slot = now                      # start of the present sample period
            next_thermal = now
            first = True
            while not self._stop.is_set():
                if self.source is not None:
                    self._read_power(first)
                    first = False
                if t_period is not None and self._clock() >= next_thermal:
                    try:
                        self._store_thermal(self._thermal())
                    except Exception as exc:  # thermal is secondary: keep measuring power, say why it stopped
                        self.thermal_error = str(exc) or type(exc).__name__
                        t_period = None
                    else:
                        next_thermal += t_period
                slot += period
                now = self._clock()
                if slot + period < now:  # the read overran a whole period: skip the missed ones
                    self.late_ticks += 1
                    slot = now
                at = slot + (float(self._rng.uniform(0.0, period)) if self.jitter else 0.0)
                self._stop.wait(max(0.0, at - now))
        except BaseException as exc:  # handed to the caller by stop()/check()
            self._error = exc

    def _read_power(self, first: bool) -> None:
        try:
            sample = self.source.read()
        except SensorError as exc:
            if first or self.max_gap_s <= 0:
                raise
            now = self._clock()
            if not self.gaps or self.gaps[-1][1] is not None:
                self.gaps.append((now, None, str(exc)))
            elif now - self.gaps[-1][0] > self.max_gap_s:
                raise SensorError(f"{exc} (the sensor has not answered for {now - self.gaps[-1][0]:.0f} s; "
                                  "check the device or its driver)") from None
            return
        if self.gaps and self.gaps[-1][1] is None:
            start, _, why = self.gaps[-1]
            self.gaps[-1] = (start, sample.t_s, why)
        bad = self._problem(sample)
        if bad:
            self.implausible += 1
            if len(self.implausible_examples) < 5:
                self.implausible_examples.append(bad)
            return
        self._store(sample)

    def _problem(self, s) -> str | None:
        limit = float(getattr(self.source.info, "max_plausible_w", POWER_LIMIT_W))
        p = s.power_w
        if np.isnan(p) and s.energy_j is not None and np.isfinite(s.energy_j):
            return None  # a counter-only source (battery gauge) before its counter has stepped twice
        bad = power_problem(p, limit)
        if bad is None:
            for name, w in s.rails_w.items():
                bad = power_problem(w, limit)
                if bad:
                    return f"rail {name}: {bad}"
        if bad is None and s.energy_j is not None and not np.isfinite(s.energy_j):
            bad = f"energy counter {s.energy_j} is not finite"
        return bad

    def quality_json(self) -> dict:
        """What the sampler left out or missed: implausible readings and gaps (for the result's power section)."""
        gaps = [{"start_s": a, "end_s": b, "reason": why} for a, b, why in self.gaps]
        return {"implausible_readings": self.implausible, "implausible_thermal": self.implausible_thermal,
                "implausible_examples": list(self.implausible_examples), "gaps": gaps,
                "jittered": self.jitter}

    def gap_s(self, t0_s: float, t1_s: float) -> float:
        """Seconds of [t0_s, t1_s] the source did not answer (an open gap runs to t1_s)."""
        total = 0.0
        for a, b, _ in self.gaps:
            b = t1_s if b is None else b
            total += max(0.0, min(b, t1_s) - max(a, t0_s))
        return total

    def _store(self, s) -> None:
        with self._lock:
            k = self.samples_read
            self.samples_read += 1
            if self._rail_names is None and s.rails_w:
                self._rail_names = tuple(s.rails_w)
                self._rails = np.full((self._cap, len(self._rail_names)), np.nan)
            if k % self.decimation:
                return
            if self._n == self._cap:
                half = self._cap // 2
                for a in (self._t, self._p, self._e, self._rails):
                    if a is not None:
                        a[:half] = a[0:self._cap:2]
                self._n = half
                self.decimation *= 2
                if k % self.decimation:
                    return
            i = self._n
            self._t[i] = s.t_s
            self._p[i] = s.power_w
            self._e[i] = np.nan if s.energy_j is None else s.energy_j
            if self._rails is not None:
                self._rails[i] = [s.rails_w.get(name, np.nan) for name in self._rail_names]
            self._n += 1

    def _store_thermal(self, snap: ThermalSnapshot) -> None:
        if snap.implausible:
            self.implausible_thermal += len(snap.implausible)
            for why in snap.implausible:
                if len(self.implausible_examples) < 5:
                    self.implausible_examples.append(why)
        with self._lock:
            k = self._thermal_seen
            self._thermal_seen += 1
            if k % self._thermal_stride:
                return
            if len(self._snapshots) >= self._max_thermal:
                self._snapshots = self._snapshots[::2]
                self._thermal_stride *= 2
                if k % self._thermal_stride:
                    return
            self._snapshots.append(snap)

    # -- results ---------------------------------------------------------
    def trace(self) -> Trace:
        with self._lock:
            n = self._n
            return Trace.from_arrays(self._t[:n].copy(), self._p[:n].copy(), self._e[:n].copy())

    @property
    def samples_kept(self) -> int:
        return self._n

    def thermal_snapshots(self) -> list[ThermalSnapshot]:
        with self._lock:
            return list(self._snapshots)

    def rails_mean_w(self, t0_s: float, t1_s: float) -> dict[str, float]:
        """Mean of each rail over the kept samples inside [t0_s, t1_s] (sample mean, not time-weighted)."""
        with self._lock:
            if self._rails is None:
                return {}
            t = self._t[:self._n]
            sel = self._rails[:self._n][(t >= t0_s) & (t <= t1_s)]
            if sel.shape[0] == 0:
                return {}
            out = {}
            for j, name in enumerate(self._rail_names):
                col = sel[:, j][~np.isnan(sel[:, j])]
                if col.size:
                    out[name] = float(col.mean())
            return out
