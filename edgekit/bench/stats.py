"""Latency statistics of the measured window (warm-up never enters them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgekit.errors import EdgekitError


@dataclass(frozen=True)
class LatencyStats:
    """Per-inference latency in ms over the measured window, plus throughput.

    ``throughput_ips`` is inferences per second of wall time in the window
    (it includes idle gaps in ``--rate`` mode, so it equals the achieved rate there).
    Percentiles use numpy's default linear interpolation between order statistics.
    """

    count: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    throughput_ips: float
    window_s: float
    first_inference_ms: float | None
    warmup_count: int

    def to_json(self) -> dict:
        return asdict(self)


def latency_stats(latencies_s, *, window_s: float, first_inference_s: float | None = None,
                  warmup_count: int = 0) -> LatencyStats:
    """Summarise measured latencies (seconds, one per inference) of a window ``window_s`` long."""
    lat = np.asarray(latencies_s, dtype=np.float64)
    if lat.size == 0:
        raise EdgekitError("no inference finished in the measured window; "
                           "raise --duration or --iterations")
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    ms = lat * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return LatencyStats(
        count=int(lat.size),
        mean_ms=float(ms.mean()),
        std_ms=float(ms.std(ddof=1)) if lat.size > 1 else 0.0,
        min_ms=float(ms.min()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
        throughput_ips=float(lat.size / window_s),
        window_s=float(window_s),
        first_inference_ms=None if first_inference_s is None else float(first_inference_s * 1e3),
        warmup_count=int(warmup_count),
    )
