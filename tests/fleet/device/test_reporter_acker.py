"""A minimal collector stand-in for the reporter tests, and a test of it.

``Acker`` is test code, not edgekit's collector: a paho subscriber with a
persistent session that stores every result/telemetry envelope into a real
SQLite file (primary key = message id, so redelivery never double-stores),
commits, and only then publishes the ack the device waits for — also for
duplicates, whose first ack may have been lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgekit.fleet import messages


class Acker:
    def __init__(self, broker_url: str, db_path, *, client_id: str | None = None, ack: bool = True,
                 username: str | None = None, password: str | None = None, tls_ca: str | None = None,
                 reject_if=None):
        self.broker = messages.parse_broker_url(broker_url)
        self.db_path = str(db_path)
        self.ack = ack
        self.reject_if = reject_if  # doc -> reason or None: refuse for good (dead-letter), say so in the ack
        self.rejected: list[str] = []
        self.received = 0
        self.duplicates = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS stored (message_id TEXT PRIMARY KEY, device_id TEXT, "
                         "kind TEXT, seq INTEGER, arrival INTEGER, doc TEXT)")
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                   client_id=client_id or f"acker-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
        if username:
            self._client.username_pw_set(username, password)
        if tls_ca:
            self._client.tls_set(ca_certs=tls_ca)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.on_message = self._on_message

    def start(self, timeout_s: float = 10.0) -> "Acker":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self._client.connect_async(self.broker.host, self.broker.port, clean_start=False, properties=props)
        self._client.loop_start()
        assert self._subscribed.wait(timeout_s), "acker could not subscribe"
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([("edgekit/v1/+/+/result", 1), ("edgekit/v1/+/+/telemetry", 1)])

    def _on_message(self, client, userdata, msg):
        doc = json.loads(msg.payload)
        reason = self.reject_if(doc) if self.reject_if else None
        if reason:
            self.rejected.append(doc["message_id"])
            ack = messages.build_ack([])
            ack["rejected"] = [{"message_id": doc["message_id"], "reason": reason}]
            client.publish(messages.ack_topic(doc["fleet"], doc["device_id"]), json.dumps(ack), qos=1)
            return
        with self._lock:
            self.received += 1
            cur = self._db.execute("INSERT OR IGNORE INTO stored VALUES (?,?,?,?,?,?)",
                                   (doc["message_id"], doc["device_id"], doc["kind"], doc["seq"],
                                    self.received, msg.payload.decode()))
            if cur.rowcount == 0:
                self.duplicates += 1
        if self.ack:
            client.publish(messages.ack_topic(doc["fleet"], doc["device_id"]),
                           json.dumps(messages.build_ack([doc["message_id"]])), qos=1)

    # ------------------------------------------------------------- queries
    def rows(self, device_id: str | None = None) -> list[tuple]:
        with self._lock:
            q = "SELECT message_id, device_id, kind, seq, arrival, doc FROM stored"
            args: tuple = ()
            if device_id:
                q += " WHERE device_id=?"
                args = (device_id,)
            return self._db.execute(q + " ORDER BY arrival", args).fetchall()

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM stored").fetchone()[0]

    def wait_count(self, n: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.count()


def test_acker_stores_each_message_once_and_acks_duplicates(mosquitto, tmp_path):
    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    got_acks: list[list[str]] = []
    dev = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dev-a", protocol=mqtt.MQTTv5)
    dev.on_message = lambda c, u, m: got_acks.append(messages.parse_ack(m.payload))
    dev.connect("127.0.0.1", mosquitto.port)
    dev.loop_start()
    try:
        dev.subscribe(messages.ack_topic("f", "dev-a"), qos=1)
        time.sleep(0.3)
        env = messages.build_envelope("telemetry", {"window_s": 1.0}, fleet="f", device_id="dev-a", seq=1)
        for _ in range(2):  # the same message twice: stored once, acked twice
            dev.publish(messages.topic("f", "dev-a", "telemetry"), messages.encode(env), qos=1)
        deadline = time.monotonic() + 5
        while len(got_acks) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert acker.count() == 1
        assert acker.duplicates == 1
        assert got_acks == [[env["message_id"]], [env["message_id"]]]
    finally:
        dev.loop_stop()
        acker.stop()
