"""Nothing lost when the collector dies; shared subscriptions split the load without double counting."""

from __future__ import annotations

import threading
import time

from edgekit.fleet.collector.store import open_store
from helpers_collector import (CollectorProcess, InProcessCollector, Publisher, db_url, envelope,  # noqa: F401
                               telemetry_body, wait_until, wire)


def _stream(devices: int, per_device: int, fleet: str = "lab"):
    for seq in range(1, per_device + 1):
        for d in range(devices):
            yield wire(envelope("telemetry", f"dev-{d:03d}", seq, telemetry_body(), fleet=fleet))


def test_collector_sigkilled_and_restarted_while_devices_publish_loses_nothing(mosquitto, tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    proc = CollectorProcess(mosquitto.url, db, tmp_path, client_id="collector-kill-test")
    proc.start()
    items = list(_stream(devices=20, per_device=100))  # 2,000 messages
    pub = Publisher(mosquitto.port)
    done = threading.Event()

    def publish():
        for i in range(0, len(items), 50):
            pub.publish_many(items[i:i + 50])
            time.sleep(0.02)
        done.set()

    t = threading.Thread(target=publish)
    t.start()
    time.sleep(0.5)
    proc.kill()                      # SIGKILL mid-stream: uncommitted batches were never PUBACKed
    time.sleep(1.0)                  # devices keep publishing into the persistent session
    proc.start()
    t.join(60)
    assert done.is_set()
    store = open_store(db)
    try:
        wait_until(lambda: store.counts()["telemetry"] >= len(items), 60, "all messages stored")
        time.sleep(0.5)
        assert store.counts()["telemetry"] == len(items)
        rows = store.telemetry()
        assert len({(r.device_id, r.message_id) for r in rows}) == len(items)
        assert {r.device_id: 0 for r in rows}.keys() == {f"dev-{d:03d}" for d in range(20)}
        assert all(d.max_seq == 100 and d.messages == 100 for d in store.devices())
        assert store.gaps(open_only=True) == []   # any gap seen during redelivery was filled
    finally:
        store.close()
        assert proc.stop() == 0, proc.log()
        pub.close()
    assert "collecting " in proc.log()


def test_two_collectors_on_a_shared_subscription_store_each_message_once(mosquitto, db_url):  # noqa: F811
    items = list(_stream(devices=25, per_device=40))  # 1,000 messages
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db_url, share="g1", client_id="c-a") as a, \
            InProcessCollector(mosquitto.port, db_url, share="g1", client_id="c-b") as b:
        pub.publish_many(items)
        stored = lambda: a.metric("messages_stored_total", kind="telemetry") + \
            b.metric("messages_stored_total", kind="telemetry")  # noqa: E731
        wait_until(lambda: stored() >= len(items), 60, "all messages stored")
        time.sleep(0.3)
        got_a = a.metric("messages_stored_total", kind="telemetry")
        got_b = b.metric("messages_stored_total", kind="telemetry")
        assert got_a + got_b == len(items)
        assert got_a > 0.1 * len(items) and got_b > 0.1 * len(items), (got_a, got_b)   # the load is split
        assert a.metric("messages_duplicate_total") + b.metric("messages_duplicate_total") == 0
    store = open_store(db_url)
    try:
        assert store.counts()["telemetry"] == len(items)
        assert all(d.max_seq == 40 and d.messages == 40 for d in store.devices())
    finally:
        store.close()
        pub.close()
