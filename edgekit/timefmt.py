"""Unix seconds -> UTC datetimes and strings that never raise.

Stored timestamps can come from a device's clock (``sent_at``): an old
database may hold one far outside what :class:`datetime.datetime` can hold
(year 9999 with a negative offset is past 9999-12-31 UTC), or NaN. Formatting
them must not stop ``fleet status``, ``fleet report`` or the collector's
alerts, so every formatter clamps to the representable range instead.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

_MIN = datetime.min.replace(tzinfo=timezone.utc)
_MAX = datetime.max.replace(tzinfo=timezone.utc)
_MIN_S = _MIN.timestamp()
_MAX_S = _MAX.timestamp()


def utc_datetime(t_s: float) -> datetime:
    """``t_s`` as an aware UTC datetime, clamped to year 1..9999 (NaN, None or junk gives the epoch)."""
    try:
        t = float(t_s)
    except OverflowError:  # an integer beyond a double
        t = math.inf if t_s > 0 else -math.inf
    except (TypeError, ValueError):
        t = 0.0
    if not math.isfinite(t):
        t = _MAX_S if t > 0 else (_MIN_S if t < 0 else 0.0)
    if t <= _MIN_S:
        return _MIN
    if t >= _MAX_S:
        return _MAX
    try:
        return datetime.fromtimestamp(t, timezone.utc)
    except (OverflowError, OSError, ValueError):  # platform limits narrower than datetime's
        return _MAX if t > 0 else _MIN


def utc_strftime(t_s: float, fmt: str) -> str:
    """``utc_datetime(t_s).strftime(fmt)``; never raises for any stored number (``%Y`` always has 4 digits)."""
    dt = utc_datetime(t_s)
    return dt.strftime(fmt.replace("%Y", f"{dt.year:04d}"))
