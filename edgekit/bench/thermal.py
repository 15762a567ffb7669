"""Temperatures and throttling over a run, from the sampler's thermal snapshots.

A run is marked throttled when, in a snapshot taken during the measured window:

* Raspberry Pi ``get_throttled`` has a "now" bit set (0x1 under-voltage, 0x2 ARM
  frequency capped, 0x4 throttled, 0x8 soft temperature limit), or one of the
  "has occurred" bits (0x10000-0x80000) appears that was clear before the run;
* a CPU/GPU cooling device (type ``Processor``, ``thermal-cpufreq-*``,
  ``*devfreq*``, ``gpu*``) has ``cur_state`` above 0 — fans do not count;
* (back-to-back runs only) the highest CPU clock in the second half of the
  window falls below ``FREQ_DROP_FRAC`` of the highest clock seen in the window,
  while the load stayed the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit.sensors.base import ThermalSnapshot
from edgekit.sensors.rpi.throttle import FREQ_CAPPED, SINCE_BOOT_SHIFT, SOFT_TEMP_LIMIT, THROTTLED, UNDER_VOLTAGE

FREQ_DROP_FRAC = 0.85
# The bits are the firmware's (edgekit.sensors.rpi.throttle); the words are the ones a result's reasons use.
PI_NOW_BITS = {UNDER_VOLTAGE: "under-voltage now", FREQ_CAPPED: "ARM frequency capped", THROTTLED: "throttled now",
               SOFT_TEMP_LIMIT: "soft temperature limit active"}
PI_STICKY_BITS = {UNDER_VOLTAGE << SINCE_BOOT_SHIFT: "under-voltage occurred",
                  FREQ_CAPPED << SINCE_BOOT_SHIFT: "frequency capping occurred",
                  THROTTLED << SINCE_BOOT_SHIFT: "throttling occurred",
                  SOFT_TEMP_LIMIT << SINCE_BOOT_SHIFT: "soft temperature limit occurred"}
_THROTTLING_COOLERS = ("processor", "cpufreq", "devfreq", "gpu", "cpu")


@dataclass(frozen=True)
class ThermalSummary:
    zones: list[dict]                       # [{name, path, start_c, max_c, end_c}]
    start_temp_c: float | None
    max_temp_c: float | None
    end_temp_c: float | None
    snapshots: int
    throttled: bool
    reasons: list[str] = field(default_factory=list)
    throttled_bits: int | None = None       # OR of get_throttled over the window
    cooling_states_max: dict[str, int] = field(default_factory=dict)
    cpu_freq_khz_max: int | None = None
    cpu_freq_khz_end: int | None = None

    def to_json(self) -> dict:
        return {
            "zones": self.zones, "start_temp_c": self.start_temp_c, "max_temp_c": self.max_temp_c,
            "end_temp_c": self.end_temp_c, "snapshots": self.snapshots, "throttled": self.throttled,
            "reasons": self.reasons, "throttled_bits": self.throttled_bits,
            "cooling_states_max": self.cooling_states_max, "cpu_freq_khz_max": self.cpu_freq_khz_max,
            "cpu_freq_khz_end": self.cpu_freq_khz_end,
        }


def is_throttling_cooler(key: str) -> bool:
    """A CPU/GPU cooling device (``cooling_deviceN:<type>`` key), whose state > 0 means throttling; fans are not."""
    kind = key.split(":", 1)[-1].lower()
    return any(word in kind for word in _THROTTLING_COOLERS)


def summarize(snapshots: list[ThermalSnapshot], *, run: tuple[float, float],
              back_to_back: bool = True) -> ThermalSummary | None:
    """Summarise the snapshots; the window ``run`` (monotonic s) decides what counts as under load."""
    if not snapshots:
        return None
    t0, t1 = run
    before = [s for s in snapshots if s.t_s < t0]
    during = [s for s in snapshots if t0 <= s.t_s <= t1] or [min(snapshots, key=lambda s: abs(s.t_s - t1))]
    last_in_run = during[-1]

    zones: dict[str, dict] = {}
    for s in snapshots:
        for z in s.zones:
            key = z.path or z.name
            e = zones.setdefault(key, {"name": z.name, "path": z.path, "start_c": z.temp_c,
                                       "max_c": z.temp_c, "end_c": z.temp_c})
            e["max_c"] = max(e["max_c"], z.temp_c)
            e["end_c"] = z.temp_c
    temps = [s.max_temp_c for s in snapshots if s.max_temp_c is not None]

    reasons: list[str] = []
    bits_seen = [s.throttled_bits for s in during if s.throttled_bits is not None]
    bits_or = None
    if bits_seen:
        bits_or = 0
        for b in bits_seen:
            bits_or |= b
        for bit, why in PI_NOW_BITS.items():
            if bits_or & bit:
                reasons.append(f"get_throttled: {why}")
        base = next((s.throttled_bits for s in reversed(before) if s.throttled_bits is not None), 0)
        for bit, why in PI_STICKY_BITS.items():
            if bits_or & bit and not base & bit:
                reasons.append(f"get_throttled: {why} during the run")

    cooling_max: dict[str, int] = {}
    for s in snapshots:
        for k, v in s.cooling_states.items():
            cooling_max[k] = max(cooling_max.get(k, v), v)
    for k in sorted({k for s in during for k in s.cooling_states}):
        peak = max(s.cooling_states.get(k, 0) for s in during)
        if peak > 0 and is_throttling_cooler(k):
            reasons.append(f"cooling device {k} at state {peak}")

    freqs = [(s.t_s, max(s.cpu_freq_khz.values())) for s in during if s.cpu_freq_khz]
    fmax = max((f for _, f in freqs), default=None)
    if back_to_back and len(freqs) >= 3:
        mid = t0 + (t1 - t0) / 2
        late = [f for t, f in freqs if t >= mid]
        if late and max(late) < FREQ_DROP_FRAC * fmax:
            reasons.append(f"CPU clock fell from {fmax / 1e3:.0f} MHz to {max(late) / 1e3:.0f} MHz under load")

    return ThermalSummary(
        zones=list(zones.values()),
        start_temp_c=snapshots[0].max_temp_c,
        max_temp_c=max(temps) if temps else None,
        end_temp_c=last_in_run.max_temp_c,
        snapshots=len(snapshots),
        throttled=bool(reasons),
        reasons=reasons,
        throttled_bits=bits_or,
        cooling_states_max=cooling_max,
        cpu_freq_khz_max=fmax,
        cpu_freq_khz_end=max(last_in_run.cpu_freq_khz.values()) if last_in_run.cpu_freq_khz else None,
    )
