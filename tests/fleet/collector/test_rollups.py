"""Telemetry rollups on real SQLite and the local PostgreSQL: kept in the batch's transaction, built by migration 5
for existing rows, unchanged when raw telemetry is pruned."""

from __future__ import annotations

import time

import pytest

from edgekit.fleet.collector.rawretention import RawRetention, RawTelemetryPruner
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.store.rollups import COLUMNS
from edgekit.fleet.collector.store.rows import TELEMETRY_COLS, telemetry_params
from edgekit.fleet.collector.validate import Validator
from helpers_collector import db_url, envelope, iso, open_old_store, telemetry_body, wire  # noqa: F401

V = Validator()
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: an hour boundary


def msg(device: str, seq: int, t: float, **body):
    m = V.validate(*wire(envelope("telemetry", device, seq, telemetry_body(**body), sent_at=iso(t))),
                   received_at_s=t + 1)
    assert m.accepted, m
    return m


def rollups(store, name: str) -> list[dict]:
    rows = store.query(f"SELECT {', '.join(COLUMNS)} FROM telemetry_{name} ORDER BY fleet, device_id, bucket_s")
    return [dict(zip(COLUMNS, r)) for r in rows]


def sample_messages():
    """d1: three samples in two minutes of one hour, then one an hour later; d2: one sample without sensors."""
    return [msg("d1", 1, T0 + 5, power_w_avg=3.0, power_w_peak=4.0, energy_j=30.0, temp_c_max=50.0),
            msg("d1", 2, T0 + 15, power_w_avg=5.0, power_w_peak=9.0, energy_j=None, temp_c_max=61.0, throttled=True,
                battery_drain_pct_h=36.0),
            msg("d1", 3, T0 + 65, power_w_avg=2.0, power_w_peak=2.5, energy_j=20.0, temp_c_max=40.0, scope="soc",
                estimated=True),
            msg("d1", 4, T0 + 3600, energy_j=10.0, power_w_avg=None, power_w_peak=None, temp_c_max=None),
            msg("d2", 1, T0 + 30, power_w_avg=None, power_w_peak=None, energy_j=None, temp_c_max=None,
                throttled=None)]


def check_sample_rollups(store) -> None:
    hours = rollups(store, "hour")
    assert [(r["device_id"], r["bucket_s"]) for r in hours] == [("d1", T0), ("d1", T0 + 3600), ("d2", T0)]
    h = hours[0]
    assert (h["samples"], h["covered_s"], h["energy_j"], h["energy_samples"]) == (3, 30.0, 30.0 + 50.0 + 20.0, 3)
    assert (h["power_ws"], h["power_s"]) == (100.0, 30.0)  # 3, 5 and 2 W for 10 s each: mean 3.33 W
    assert (h["power_w_peak"], h["temp_c_max"]) == (9.0, 61.0)
    assert (h["throttled_known"], h["throttled_n"], h["throttled_s"]) == (3, 1, 10.0)
    assert (h["battery_drain_pct"], h["battery_s"]) == (pytest.approx(0.1), 10.0)  # 36 %/h for 10 s
    assert h["estimated_n"] == 1 and h["last_sent_at_s"] == T0 + 65
    assert (h["target"], h["power_source"], h["scope"], h["window_s"]) == ("rpi5", "rpi5-pmic", "soc", 10.0)
    later = hours[1]
    assert (later["samples"], later["energy_j"], later["power_s"], later["power_w_peak"]) == (1, 10.0, 0.0, None)
    d2 = hours[2]
    assert (d2["samples"], d2["energy_samples"], d2["throttled_known"], d2["temp_c_max"]) == (1, 0, 0, None)
    minutes = rollups(store, "minute")
    assert [(r["device_id"], r["bucket_s"], r["samples"]) for r in minutes] == [
        ("d1", T0, 2), ("d1", T0 + 60, 1), ("d1", T0 + 3600, 1), ("d2", T0, 1)]
    assert minutes[0]["energy_j"] == 80.0 and minutes[0]["scope"] == "board"


def test_rollups_follow_each_batch_and_ignore_redeliveries(db_url):  # noqa: F811
    ms = sample_messages()
    with open_store(db_url) as s:
        s.run(lambda tx: tx.store_batch(ms[:2], [], time.time()))
        s.run(lambda tx: tx.store_batch(ms[1:], [], time.time()))  # ms[1] again: a duplicate, counted once
        check_sample_rollups(s)


def test_a_failed_batch_leaves_no_rollup(db_url):  # noqa: F811
    with open_store(db_url) as s:
        def fail(tx):
            tx.store_batch(sample_messages(), [], time.time())
            raise RuntimeError("the batch fails after its telemetry is written")

        with pytest.raises(RuntimeError):
            s.run(fail)
        assert rollups(s, "minute") == [] and rollups(s, "hour") == [] and s.telemetry() == []


def test_migration_5_builds_rollups_of_existing_telemetry(db_url):  # noqa: F811
    with open_old_store(db_url, 4) as old:  # an edgekit before rollups: raw telemetry only
        params = [telemetry_params(m) for m in sample_messages()]
        old.run(lambda tx: tx.cur.executemany(tx.q(
            f"INSERT INTO telemetry ({TELEMETRY_COLS}) VALUES ({', '.join('?' * len(params[0]))})"), params))
    with open_store(db_url) as s:
        assert s.schema_version() == 5
        check_sample_rollups(s)


def test_pruning_raw_telemetry_keeps_the_rollups(db_url):  # noqa: F811
    now = time.time()
    old = [msg("d1", i + 1, now - 10 * 86400 + 10 * i) for i in range(5)]
    new = [msg("d1", 6, now - 60)]
    with open_store(db_url) as s:
        s.run(lambda tx: tx.store_batch(old + new, [], now))
        before = rollups(s, "hour"), rollups(s, "minute")
        pruner = RawTelemetryPruner(s, RawRetention(max_age_s=7 * 86400, chunk_rows=2))
        assert [pruner.prune_once() for _ in range(4)] == [2, 2, 1, 0]  # chunks of at most 2, oldest first
        assert [t.seq for t in s.telemetry()] == [6]
        assert (rollups(s, "hour"), rollups(s, "minute")) == before
        assert sum(r["samples"] for r in before[0]) == 6


def test_the_pruner_thread_runs_beside_ingest(tmp_path):
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    now = time.time()
    with open_store(url) as writer, open_store(url, migrate=False) as own:
        writer.run(lambda tx: tx.store_batch([msg("d1", i + 1, now - 30 * 86400 + i) for i in range(50)], [], now))
        pruner = RawTelemetryPruner(own, RawRetention(max_age_s=86400, chunk_rows=7, pause_s=0.01))
        pruner.start()
        try:
            for i in range(20):  # ingest goes on while the pruner works
                writer.run(lambda tx: tx.store_batch([msg("d1", 100 + i, now - i)], [], now))
            deadline = time.monotonic() + 20
            while pruner.deleted < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            pruner.stop()
        assert pruner.deleted == 50
        assert len(writer.telemetry()) == 20
        assert sum(r["samples"] for r in rollups(writer, "hour")) == 70
