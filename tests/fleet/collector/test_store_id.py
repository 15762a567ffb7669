"""Acks name the store: a second collector on another database cannot make a device drop its messages.

Through a real mosquitto, edgekit's Reporter (device side) and two real collectors on two databases
(SQLite, and PostgreSQL schemas): the device is pinned to store A (by option, or learned from A's first
ack and kept in the spool across a restart of the device); collector B acks alone; nothing is released;
then A runs and every message ends up in A exactly once and released. The store id is made with the
database, kept across collector restarts, and given to a database of version 3 on upgrade.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.store.migrations import LATEST_VERSION
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool
from edgekit.fleet.messages import STORE_ID_RE, parse_broker_url
from helpers_collector import (REPO, InProcessCollector, PgSchema, Subscriber, open_old_store, telemetry_body,
                               wait_until)

ACK_SCHEMA = json.loads((REPO / "edgekit" / "schemas" / "ack-1.json").read_text())
T0 = 1_790_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def two_dbs(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        return
    schemas = [PgSchema(), PgSchema()]
    try:
        yield schemas[0].url, schemas[1].url
    finally:
        for s in schemas:
            s.drop()


def _store_id(url: str) -> str:
    with open_store(url) as s:
        return s.store_id()


def _reporter(port: int, spool: Spool, **kw) -> Reporter:
    return Reporter(parse_broker_url(f"mqtt://127.0.0.1:{port}"), spool, fleet="lab", device_id="pi-01",
                    announce_status=False, resend_after_s=0.5, reconnect_max_s=2, **kw).start()


def _stored_ids(url: str) -> list[str]:
    with open_store(url, migrate=False) as s:
        return sorted(t.message_id for t in s.telemetry())


def _other_store_acks_then_home(port, spool, rep, url_a, url_b, ids, acks):
    """Collector B acks the device's messages alone: none is released. Then A runs: all stored there once."""
    confirmed_before, confirmed_stats = spool.stats().confirmed_total, rep.stats.confirmed
    with InProcessCollector(port, url_b, client_id="collector-b") as b:
        wait_until(lambda: b.metric("messages_stored_total", kind="telemetry") >= len(ids), 30, "B to store all")
        b_id = b.collector.store_id

        def b_acked(n):  # B's acks on the device's topic (seen by an independent subscriber) naming every id
            named = [set(d["message_ids"]) for _, d in acks.json() if d.get("store_id") == b_id]
            return sum(1 for m in named if m & set(ids)) >= n and set(ids) <= set().union(*named)
        wait_until(lambda: b_acked(1), 20, "B to ack every message")
        time.sleep(1.5)  # the device has had B's acks in hand, and re-sent once (resend after 0.5 s)
    assert spool.stats().pending == len(ids) and spool.stats().confirmed_total == confirmed_before, "B's ack released messages"
    assert all(spool.contains(i) for i in ids)
    assert rep.stats.acks_other_store >= 1 and rep.stats.confirmed == confirmed_stats
    assert not set(ids) & set(_stored_ids(url_a))
    with InProcessCollector(port, url_a, client_id="collector-a") as a:
        assert rep.wait_drained(40), f"A's acks did not release the spool: {rep.stats}"
        # re-sends B saw may reach A too (its persistent session queued them): they are duplicates, stored once
        assert a.metric("messages_stored_total", kind="telemetry") == len(ids)
    assert spool.stats().confirmed_total == confirmed_before + len(ids)
    assert set(ids) <= set(_stored_ids(url_a))  # each once: the primary key would refuse a second row anyway
    with open_store(url_a, migrate=False) as s:
        assert s.counts()["telemetry"] == len(_stored_ids(url_a)) == len(set(_stored_ids(url_a)))
        (dev,) = s.devices()
        assert (dev.max_seq, dev.messages) == (spool.last_seq("lab", "pi-01"), len(_stored_ids(url_a)))
    # every ack carries its store's id, in the published schema
    a_id, b_id = _store_id(url_a), _store_id(url_b)
    seen = {d.get("store_id") for _, d in acks.json()}
    assert seen == {a_id, b_id}
    for _, d in acks.json():
        jsonschema.validate(d, ACK_SCHEMA)


def test_pinned_device_ignores_another_stores_acks(mosquitto, tmp_path, two_dbs):
    url_a, url_b = two_dbs
    a_id, b_id = _store_id(url_a), _store_id(url_b)  # A exists (it was set up) but its collector is not running
    assert a_id != b_id and STORE_ID_RE.fullmatch(a_id)
    acks = Subscriber(mosquitto.port, "edgekit/v1/lab/pi-01/ack")
    with Spool(tmp_path / "spool.db") as spool:
        rep = _reporter(mosquitto.port, spool, store_id=a_id)
        try:
            ids = [rep.submit("telemetry", telemetry_body()).message_id for _ in range(3)]
            _other_store_acks_then_home(mosquitto.port, spool, rep, url_a, url_b, ids, acks)
            assert rep.stats.confirmed == 3
        finally:
            rep.stop()
        assert spool.get_state("store_id/lab/pi-01") is None  # pinned by option: nothing learned
    acks.close()


def test_device_learns_its_store_keeps_it_across_restarts_and_ignores_others(mosquitto, tmp_path, two_dbs):
    url_a, url_b = two_dbs
    with open_old_store(url_a, 3) as old:  # store A was made by an edgekit before store ids
        assert old.schema_version() == 3
    acks = Subscriber(mosquitto.port, "edgekit/v1/lab/pi-01/ack")
    with Spool(tmp_path / "spool.db") as spool:
        rep = _reporter(mosquitto.port, spool)
        try:
            with InProcessCollector(mosquitto.port, url_a, client_id="collector-a") as a:  # upgrades A to 4
                first = rep.submit("telemetry", telemetry_body())
                assert rep.wait_confirmed(first.message_id, 30)
                a_id = a.collector.store_id
        finally:
            rep.stop()
        assert spool.get_state("store_id/lab/pi-01") == a_id  # learned on first contact, kept in the spool
    with Spool(tmp_path / "spool.db") as spool:  # the device restarts: it still reports to A
        rep = _reporter(mosquitto.port, spool)
        try:
            assert rep.store_gate.store_id == a_id
            ids = [rep.submit("telemetry", telemetry_body()).message_id for _ in range(3)]
            _other_store_acks_then_home(mosquitto.port, spool, rep, url_a, url_b, ids, acks)
        finally:
            rep.stop()
    assert _store_id(url_a) == a_id  # A restarted: the same id
    assert len(_stored_ids(url_a)) == 4 and first.message_id in _stored_ids(url_a)
    acks.close()


def test_store_id_is_made_once_and_kept(tmp_path, two_dbs):
    url_a, url_b = two_dbs
    with open_old_store(url_a, 3) as old:
        old.run(lambda tx: tx.execute("INSERT INTO dead_letters (received_at_s, topic, reason, detail, "
                                      "payload_bytes, payload_head) VALUES (?, ?, ?, ?, ?, ?)",
                                      (T0, "t", "r", "d", 1, b"x")))
    with open_store(url_a) as s:
        assert s.schema_version() == LATEST_VERSION  # 4, then the migrations after it
        upgraded = s.store_id()
        assert len(s.dead_letters()) == 1  # the upgrade kept the rows
        assert s.migrate() == LATEST_VERSION and s.store_id() == upgraded
    assert _store_id(url_a) == upgraded == _store_id(url_a)
    fresh = _store_id(url_b)
    assert STORE_ID_RE.fullmatch(upgraded) and STORE_ID_RE.fullmatch(fresh) and fresh != upgraded
    assert len(fresh) == 32 and int(fresh, 16) >= 0


def test_collect_logs_its_store_id_and_the_agent_refuses_a_bad_one(mosquitto, tmp_path):
    from helpers_collector import CollectorProcess

    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    proc = CollectorProcess(mosquitto.url, db, tmp_path, client_id="collector-log")
    proc.start()
    try:
        assert f"(store id {_store_id(db)})" in proc.log()
    finally:
        proc.stop()
    out = subprocess.run([sys.executable, "-m", "edgekit", "agent", "--broker", mosquitto.url, "--store-id",
                          "no spaces", "--spool", str(tmp_path / "s.db"), "--power", "none"],
                         capture_output=True, text=True, timeout=60, cwd=Path(REPO))
    assert out.returncode != 0 and "bad store id" in out.stderr
