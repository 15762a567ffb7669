"""The report's period over the rollups: whole hours from telemetry_hour, the edges from telemetry_minute."""

from __future__ import annotations

import math
import time

import pytest

from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator
from edgekit.fleet.messages import build_envelope, encode, utc_timestamp
from edgekit.report import queries
from fleet_seed import DAY1, telemetry

V = Validator()


@pytest.fixture(scope="module")
def minute_db(tmp_path_factory) -> str:
    """One device, a 30 s window every 30 s for three hours from DAY1 (08:00 UTC): sample i holds i joules."""
    from datetime import datetime, timezone
    url = f"sqlite:///{tmp_path_factory.mktemp('q') / 'fleet.db'}"
    msgs = []
    for i in range(360):
        env = build_envelope("telemetry", telemetry(30.0, energy_j=float(i), power_w=1.0, temp_c=40.0), fleet="lab",
                             device_id="d", seq=i + 1, target="rpi5",
                             sent_at=utc_timestamp(datetime.fromtimestamp(DAY1 + 30 * i, timezone.utc)))
        msgs.append(V.validate("edgekit/v1/lab/d/telemetry", encode(env)))
    with open_store(url) as s:
        s.run(lambda tx: tx.store_batch(msgs, [], time.time()))
    return url


@pytest.mark.parametrize("since_m, until_m", [(None, None), (0, None), (7, None), (61, 150), (75, 110), (120, 180),
                                              (None, 95), (3, 4)])
def test_a_period_counts_each_sample_once(minute_db, since_m, until_m):
    since_s = DAY1 + since_m * 60 + 13 if since_m is not None else None  # 13 s into the minute
    until_s = DAY1 + until_m * 60 - 7 if until_m is not None else None   # 7 s before the minute ends
    with open_store(minute_db, migrate=False) as s:
        (dev,) = queries.device_telemetry(s, since_s, until_s)
        raw = s.telemetry()
    lo = math.floor(since_s / 60) * 60 if since_s is not None else -math.inf  # to the minute, as documented
    hi = math.ceil(until_s / 60) * 60 if until_s is not None else math.inf
    inside = [t for t in raw if lo <= t.sent_at_s < hi]
    assert dev.samples == len(inside) and dev.energy_j == sum(t.energy_j for t in inside)
    assert dev.last_sent_at_s == max(t.sent_at_s for t in inside)
