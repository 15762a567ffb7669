"""The measurement window's timing, shared by the host runner and the Android runner.

An idle window sleeps while the sampler keeps reading; :func:`wait_for_sample_after` makes sure the
sampler's trace reaches past a moment, so the window's end is covered by data.
"""

from __future__ import annotations

import time

from edgekit.bench.sampler import Sampler
from edgekit.errors import ConfigError


def load_target(name: str | None, *, explicit: bool):
    """The Target profile, or None. A name from the manifest that no profile matches is kept as a name only."""
    if not name:
        return None
    from edgekit.targets import load_target as load_profile

    try:
        return load_profile(name)
    except ConfigError:
        if explicit:
            raise
        return None


def idle_window(sampler: Sampler | None, seconds: float) -> tuple[float, float]:
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            return t0, now
        time.sleep(min(0.2, end - now))
        if sampler is not None:
            sampler.check()


def wait_for_sample_after(sampler: Sampler, t_s: float, timeout_s: float) -> None:
    """Let the sampler take one read past ``t_s`` so the window's end is covered by data."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sampler.check()
        tr = sampler.trace()
        if len(tr) and tr.t_s[-1] >= t_s:
            return
        time.sleep(min(0.01, 1.0 / sampler.sample_hz))
