"""``edgekit agent``: a device service that reports telemetry and scheduled bench results.

Every ``interval_s`` the agent publishes one telemetry message summarising the
window it just closed:

- ``power_w_avg`` / ``energy_j``: the power samples of the window (read at
  ``sample_hz``) integrated with the trapezoidal rule over their monotonic
  timestamps, or the difference of the source's cumulative energy counter
  where it has one (RAPL, battery energy); ``power_w_avg = energy_j / span``.
  With fewer than two samples both are null rather than guessed.
- ``power_w_peak``: the highest single sample (reads without a power figure, NaN, skipped).
- ``temp_c_max``: the hottest thermal zone over the window's snapshots;
  ``throttled``: the bench runner's rules (Raspberry Pi ``get_throttled``,
  CPU/GPU cooling devices above state 0), null without thermal data.
- ``battery_pct`` (last reading) and ``battery_drain_pct_h`` (first minus last
  percentage per hour; negative while charging), where the power source reads
  a battery.
- ``power_source``, ``scope``, ``estimated``: copied from the source's
  :class:`~edgekit.sensors.base.SourceInfo`, so a figure always says how it
  was measured.
- ``spool_dropped`` (total messages the bounded spool ever had to drop) and
  ``spool_pending``, so a loss on the device is reported, never silent.

Every message goes through the spool and the :class:`Reporter`; a broker outage
only delays delivery. Errors of sensors and benchmarks are logged and counted;
the service keeps running until :meth:`Agent.stop` (SIGTERM in the command).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgekit.bench.thermal import is_throttling_cooler
from edgekit.errors import EdgekitError
from edgekit.fleet.device.reporter import Reporter
from edgekit.sensors.base import BatteryState, PowerSample, PowerSource, ThermalSnapshot
from edgekit.sensors.rpi.throttle import ThrottleState

log = logging.getLogger(__name__)

def _snapshot_throttled(snap: ThermalSnapshot) -> bool:
    if snap.throttled_bits is not None and ThrottleState(snap.throttled_bits).any_now:
        return True
    return any(state > 0 and is_throttling_cooler(key) for key, state in snap.cooling_states.items())


@dataclass
class TelemetryWindow:
    """Accumulates one window's readings; :meth:`body` turns them into a telemetry body."""

    start_s: float
    samples: list[PowerSample] = field(default_factory=list)
    max_temp_c: float | None = None
    throttled: bool | None = None
    battery: list[BatteryState] = field(default_factory=list)
    sensor_errors: int = 0

    def add_power(self, sample: PowerSample) -> None:
        self.samples.append(sample)

    def add_thermal(self, snap: ThermalSnapshot) -> None:
        t = snap.max_temp_c
        if t is not None:
            self.max_temp_c = t if self.max_temp_c is None else max(self.max_temp_c, t)
        if snap.zones or snap.cooling_states or snap.throttled_bits is not None:
            self.throttled = bool(self.throttled) or _snapshot_throttled(snap)

    def add_battery(self, state: BatteryState) -> None:
        self.battery.append(state)

    def energy_j(self, has_counter: bool) -> float | None:
        s = self.samples
        if len(s) < 2:
            return None
        if has_counter and s[0].energy_j is not None and s[-1].energy_j is not None:
            return max(0.0, s[-1].energy_j - s[0].energy_j)
        return sum((b.t_s - a.t_s) * (a.power_w + b.power_w) / 2 for a, b in zip(s, s[1:]))

    def body(self, end_s: float, source: PowerSource | None, *, spool_dropped: int,
             spool_pending: int) -> dict:
        info = source.info if source is not None else None
        measured = info is not None and info.scope != "none"
        energy = self.energy_j(bool(info and info.has_counter)) if measured else None
        span = self.samples[-1].t_s - self.samples[0].t_s if len(self.samples) >= 2 else 0.0
        avg = energy / span if energy is not None and span > 0 else None
        # NaN: no power figure in that read (a counter-only battery before its gauge stepped twice)
        peak = max((p.power_w for p in self.samples if not math.isnan(p.power_w)), default=None) if measured else None
        pct = drain = None
        levels = [b for b in self.battery if b.percent is not None]
        if levels:
            pct = levels[-1].percent
            hours = (levels[-1].t_s - levels[0].t_s) / 3600
            if len(levels) >= 2 and hours > 0:
                drain = (levels[0].percent - levels[-1].percent) / hours
        return {
            "window_s": round(max(end_s - self.start_s, 1e-3), 3),
            "power_w_avg": avg,
            "power_w_peak": peak,
            "energy_j": energy,
            "temp_c_max": self.max_temp_c,
            "throttled": self.throttled,
            "battery_pct": pct,
            "battery_drain_pct_h": drain,
            "power_source": info.name if info else None,
            "scope": info.scope if info else None,
            "estimated": bool(info.estimated) if measured else None,
            "samples": len(self.samples),
            "sensor_errors": self.sensor_errors,
            "spool_dropped": spool_dropped,
            "spool_pending": spool_pending,
        }


@dataclass
class AgentStats:
    telemetry_sent: int = 0
    benches_run: int = 0
    bench_failures: int = 0
    sensor_errors: int = 0


class Agent:
    """Samples sensors, closes a telemetry window every ``interval_s``, runs ``bench`` every ``every_s``.

    ``power`` is an open :class:`PowerSource` (or None), ``thermal`` a callable
    returning a :class:`ThermalSnapshot` (or None), ``bench`` a callable
    returning a result document (or None). The reporter must be started by
    the caller; the agent submits into it.
    """

    def __init__(self, reporter: Reporter, *, power: PowerSource | None = None,
                 thermal: Callable[[], ThermalSnapshot] | None = None, interval_s: float = 60.0,
                 sample_hz: float = 1.0, bench: Callable[[], dict] | None = None, every_s: float | None = None,
                 first_bench_after_s: float | None = None):
        if interval_s <= 0 or sample_hz <= 0:
            raise EdgekitError("--interval and the sample rate must be positive")
        if bench is not None and (every_s is None or every_s <= 0):
            raise EdgekitError("--bench needs --every S (seconds between benchmarks, > 0)")
        self.reporter = reporter
        self.power = power if power is not None and power.info.scope != "none" else None
        self.power_info_source = power
        self.thermal = thermal
        self.interval_s = interval_s
        self.sample_period_s = 1.0 / sample_hz
        self.bench = bench
        self.every_s = every_s
        self.first_bench_after_s = every_s if first_bench_after_s is None else first_bench_after_s
        self.stats = AgentStats()
        self._stop = threading.Event()
        self._bench_thread: threading.Thread | None = None
        self._error_seen: set[str] = set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Run until :meth:`stop`; the last (partial) window is reported on the way out."""
        now = time.monotonic()
        window = TelemetryWindow(start_s=now)
        next_sample = now
        window_end = now + self.interval_s
        next_bench = now + self.first_bench_after_s if self.bench else None
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_sample:
                self._sample(window)
                next_sample += self.sample_period_s
                if next_sample < now:  # fell behind (slow sensor): skip, do not burst
                    next_sample = now + self.sample_period_s
            if now >= window_end:
                self._close(window, now)
                window = TelemetryWindow(start_s=now)
                window_end += self.interval_s
                if window_end <= now:
                    window_end = now + self.interval_s
            if next_bench is not None and now >= next_bench:
                self._start_bench()
                next_bench += self.every_s
                if next_bench <= now:
                    next_bench = now + self.every_s
            wake = min(next_sample, window_end, next_bench if next_bench is not None else window_end)
            self._stop.wait(max(0.0, wake - time.monotonic()))
        end = time.monotonic()
        if window.samples or end - window.start_s >= 1.0:
            self._close(window, end)
        if self._bench_thread is not None:
            self._bench_thread.join(timeout=1.0)

    def _once(self, key: str, msg: str, *args) -> None:
        if key not in self._error_seen:
            self._error_seen.add(key)
            log.warning(msg, *args)

    def _sample(self, window: TelemetryWindow) -> None:
        if self.power is not None:
            try:
                window.add_power(self.power.read())
                battery_state = getattr(self.power, "battery_state", None)
                if callable(battery_state):
                    window.add_battery(battery_state())
            except EdgekitError as exc:
                window.sensor_errors += 1
                self.stats.sensor_errors += 1
                self._once("power", "power sensor %s failed: %s (continuing)", self.power.info.name, exc)
            except OSError as exc:
                window.sensor_errors += 1
                self.stats.sensor_errors += 1
                self._once("power-os", "power sensor %s unreadable: %s (continuing)", self.power.info.name, exc)
        if self.thermal is not None:
            try:
                window.add_thermal(self.thermal())
            except (EdgekitError, OSError) as exc:
                window.sensor_errors += 1
                self.stats.sensor_errors += 1
                self._once("thermal", "thermal read failed: %s (continuing)", exc)

    def _close(self, window: TelemetryWindow, end_s: float) -> None:
        st = self.reporter.spool.stats()
        body = window.body(end_s, self.power_info_source, spool_dropped=st.dropped_total,
                           spool_pending=st.pending)
        try:
            self.reporter.submit("telemetry", body)
            self.stats.telemetry_sent += 1
        except EdgekitError as exc:  # e.g. a full disk under the spool
            self._once("spool", "cannot spool telemetry: %s", exc)
        except Exception:
            log.exception("cannot spool telemetry (continuing)")

    # ---------------------------------------------------------------- bench
    def _start_bench(self) -> None:
        if self._bench_thread is not None and self._bench_thread.is_alive():
            log.warning("previous benchmark still running at its next scheduled time; skipping this one")
            return
        self._bench_thread = threading.Thread(target=self._run_bench, name="edgekit-agent-bench", daemon=True)
        self._bench_thread.start()

    def _run_bench(self) -> None:
        try:
            doc = self.bench()
            self.reporter.submit("result", doc)
            self.stats.benches_run += 1
        except Exception as exc:  # noqa: BLE001 - a failed benchmark must not stop the service
            self.stats.bench_failures += 1
            log.error("scheduled benchmark failed: %s", exc)
