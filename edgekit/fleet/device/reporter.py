"""Device side of the fleet: deliver spooled messages until the collector acknowledges them.

A :class:`Reporter` owns one paho-mqtt 2.x client (MQTT 5, QoS 1, a fixed client
id, ``clean_start=False`` with a session expiry) and one pump thread that
hands messages from the :class:`~edgekit.fleet.device.spool.Spool` to paho, in spool
order, keeping at most ``window`` of them waiting for a PUBACK. A PUBACK only
means the broker took the message; a message leaves the spool when the
collector's ack on ``edgekit/v1/<fleet>/<device>/ack`` names it. Everything
unconfirmed is sent again, in order, after each reconnect and when the oldest
message has waited ``resend_after_s`` for its ack (the collector deduplicates by
message id).

paho's callbacks run in paho's network thread, some while paho holds its own
locks; they only put events on a queue. All decisions happen in the pump
thread.

Checked failure paths: every ``publish()`` return code (``MQTT_ERR_QUEUE_SIZE``
means paho dropped the message: it stays in the spool and is retried;
``MQTT_ERR_NO_CONN`` means paho queued it for the reconnect); PUBACK reason
codes >= 128 (e.g. 135 Not authorized under an ACL) count as not delivered,
are logged and counted, and the message stays spooled; CONNACK refusals
(bad credentials) are logged and retried with paho's exponential backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import paho.mqtt.client as mqtt

from edgekit.fleet import messages
from edgekit.fleet.device.spool import Spool, SpooledMessage
from edgekit.fleet.device.storegate import StoreGate
from edgekit.fleet.messages import BrokerConfig
from edgekit.fleet.mqtt import DEFAULT_SESSION_EXPIRY_S, connect_kwargs, make_client, probe_broker

log = logging.getLogger(__name__)


@dataclass
class ReporterStats:
    """Counters of one reporter's life; safe to read from any thread (copies)."""

    connects: int = 0
    disconnects: int = 0
    connect_refusals: int = 0          # CONNACK reason >= 128 (bad credentials, not authorized)
    last_connect_error: str | None = None
    published: int = 0                 # publish() calls paho accepted (incl. re-sends)
    resent: int = 0                    # of which re-sends of unconfirmed messages
    publish_no_conn: int = 0           # publish() returned MQTT_ERR_NO_CONN (paho queued it)
    publish_queue_full: int = 0        # publish() returned MQTT_ERR_QUEUE_SIZE (paho dropped it; still spooled)
    publish_errors: int = 0            # any other publish() return code
    pubacks: int = 0                   # PUBACKs with a success reason (0 or 16)
    puback_refusals: int = 0           # PUBACKs with reason >= 128: not delivered
    last_refusal: str | None = None    # e.g. "Not authorized (135) for telemetry seq 12"
    confirmed: int = 0                 # messages removed from the spool by collector acks
    rejected_by_collector: int = 0     # removed because the collector refused them for good (dead-lettered)
    last_rejection: str | None = None
    acks_other_store: int = 0          # acks ignored: sent by another store than the one this device reports to
    status: str = "starting"           # starting | connected | disconnected | refused | stopped


@dataclass
class _Sent:
    row_id: int
    sent_mono: float
    mid: int | None           # paho message id while a PUBACK is awaited
    pubacked: bool = False
    refused: bool = False


class Reporter:
    """Deliver a spool's messages to the broker until the collector acks them."""

    def __init__(self, broker: BrokerConfig, spool: Spool, *, fleet: str, device_id: str,
                 client_id: str | None = None, announce_status: bool = True, target: str | None = None,
                 resend_after_s: float = 60.0, window: int = 1000, keepalive_s: int = 30,
                 session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S, reconnect_min_s: int = 1,
                 reconnect_max_s: int = 60, tick_s: float = 0.25, store_id: str | None = None):
        self.broker = broker
        self.spool = spool
        self.fleet = messages.check_segment(fleet, "fleet")
        self.device_id = messages.check_segment(device_id, "device id")
        self.client_id = client_id or f"edgekit-{fleet}-{device_id}"
        self.announce_status = announce_status
        self.target = target
        self.resend_after_s = resend_after_s
        self.window = max(1, window)
        self.keepalive_s = keepalive_s
        self.session_expiry_s = session_expiry_s
        self.tick_s = tick_s
        self._ack_topic = messages.ack_topic(fleet, device_id)
        self.store_gate = StoreGate(spool, fleet, device_id, store_id)  # whose acks release messages
        self._status_topic = messages.topic(fleet, device_id, "status")
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._stats = ReporterStats()
        self._stats_lock = threading.Lock()
        self._confirmed_cv = threading.Condition()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        # pump-thread state
        self._ready = False
        self._cursor = 0
        self._high_water = 0  # highest spool row id ever handed to paho
        self._sent: dict[str, _Sent] = {}
        self._awaiting: dict[int, str] = {}
        self._last_stale_check = 0.0
        self._stale_after_s = resend_after_s  # doubles while re-sends bring no ack back

        self._v5 = broker.protocol == "5"  # 3.1.1: PUBACKs carry no reason code
        self._client = make_client(broker, self.client_id)
        self._client.enable_logger(logging.getLogger("edgekit.fleet.paho"))
        self._client.reconnect_delay_set(min_delay=reconnect_min_s, max_delay=reconnect_max_s)
        self._client.max_inflight_messages_set(min(100, self.window))
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        if announce_status:
            self._set_will()

    # ------------------------------------------------------------ public API
    def start(self) -> "Reporter":
        log.info("connecting to %s as %s", self.broker.redacted_url(), self.client_id)
        if not self._v5:
            log.warning("MQTT 3.1.1 to %s: the broker cannot report refused messages (ACL); delivery is "
                        "still only counted on the collector's ack", self.broker.redacted_url())
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive_s,
                                   **connect_kwargs(self.broker, session_expiry_s=self.session_expiry_s))
        self._client.loop_start()
        self._thread = threading.Thread(target=self._pump, name=f"edgekit-reporter-{self.device_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def submit(self, kind: str, body: dict[str, Any]) -> SpooledMessage:
        """Spool a result or telemetry message (durably) and wake the pump."""
        msg = self.spool.enqueue(kind, body, fleet=self.fleet, device_id=self.device_id, target=self.target)
        self._events.put(("wake",))
        return msg

    def wait_confirmed(self, message_id: str, timeout_s: float) -> bool:
        """Block until the collector acked ``message_id`` (True) or the time is up (False)."""
        deadline = time.monotonic() + timeout_s
        with self._confirmed_cv:
            while self.spool.contains(message_id):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._confirmed_cv.wait(min(left, 0.5))
        return True

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until the spool is empty (every message acked) or the time is up."""
        deadline = time.monotonic() + timeout_s
        with self._confirmed_cv:
            while self.spool.stats().pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._confirmed_cv.wait(min(left, 0.5))
        return True

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    @property
    def stats(self) -> ReporterStats:
        with self._stats_lock:
            return ReporterStats(**asdict(self._stats))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the pump, announce offline (retained) when connected, disconnect cleanly."""
        if self._thread is None:
            return
        self._stop.set()
        self._events.put(("stop",))
        self._thread.join(timeout_s)
        self._thread = None
        if self.announce_status and self._connected.is_set():
            info = self._client.publish(self._status_topic, self._status_payload("offline"), qos=1, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                deadline = time.monotonic() + min(timeout_s, 3.0)
                while not info.is_published() and time.monotonic() < deadline:
                    time.sleep(0.02)
        # paho 2.2's network thread logs a spurious "Client is not connected" error
        # when it loops once more after a clean disconnect; stop listening first.
        self._client.disable_logger()
        self._client.disconnect()
        self._client.loop_stop()
        with self._stats_lock:
            self._stats.status = "stopped"

    def __enter__(self) -> "Reporter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------- status
    def _status_payload(self, state: str) -> bytes:
        st = self.spool.stats()
        body = {"state": state, "client_id": self.client_id, "spool_pending": st.pending,
                "spool_dropped": st.dropped_total}
        env = messages.build_envelope("status", body, fleet=self.fleet, device_id=self.device_id, seq=0,
                                      target=self.target)
        return messages.encode(env)

    def _set_will(self) -> None:
        # A fresh message id for every connection: the collector dedupes by id.
        self._client.will_set(self._status_topic, self._status_payload("offline"), qos=1, retain=True)

    # --------------------------------------------- paho callbacks (paho thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._events.put(("refused", f"{reason_code} ({reason_code.value})"))
            return
        self._connected.set()
        self._events.put(("connected", bool(flags.session_present)))

    def _on_connect_fail(self, client, userdata) -> None:
        self._events.put(("connect_failed",))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        if self.announce_status and not self._stop.is_set():
            self._set_will()
        self._events.put(("disconnected", f"{reason_code}"))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        ok = bool(reason_codes) and not any(rc.is_failure for rc in reason_codes)
        self._events.put(("subscribed", ok, ", ".join(f"{rc} ({rc.value})" for rc in reason_codes)))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._events.put(("puback", mid, reason_code.value, str(reason_code)))

    def _on_message(self, client, userdata, msg) -> None:
        if msg.topic == self._ack_topic:
            ids, rejected, store = messages.parse_ack_doc(msg.payload)
            if ids or rejected:
                self._events.put(("ack", ids, rejected, store))

    # ------------------------------------------------------- pump (own thread)
    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                event = self._events.get(timeout=self.tick_s)
            except queue.Empty:
                event = None
            try:
                while event is not None:
                    self._handle(event)
                    try:
                        event = self._events.get_nowait()
                    except queue.Empty:
                        event = None
                if self._stop.is_set():
                    break
                if self._ready:
                    self._check_stale()
                    self._fill()
            except Exception:  # a long-running service must survive anything here
                log.exception("reporter pump error (continuing; messages stay in the spool)")
                time.sleep(self.tick_s)

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "ack":
            if not self.store_gate.accept(event[3]):
                with self._stats_lock:
                    self._stats.acks_other_store += 1
                return
            if event[1]:
                self._on_ack_ids(event[1])
            if event[2]:
                self._on_rejected(event[2])
        elif kind == "puback":
            self._on_puback(event[1], event[2], event[3])
        elif kind == "connected":
            with self._stats_lock:
                self._stats.connects += 1
                self._stats.status = "connected"
                self._stats.last_connect_error = None
            log.info("connected to %s (session present: %s)", self.broker.redacted_url(), event[1])
            self._ready = False
            self._client.subscribe(self._ack_topic, qos=1)
            if self.announce_status:
                self._client.publish(self._status_topic, self._status_payload("online"), qos=1, retain=True)
        elif kind == "subscribed":
            if event[1]:
                self._ready = True
                self._restart_epoch()
            else:
                log.warning("broker refused the ack subscription %s (%s): messages are sent but cannot be "
                            "confirmed; allow the device to read its ack topic in the broker ACL",
                            self._ack_topic, event[2])
                self._ready = True
                self._restart_epoch()
        elif kind == "disconnected":
            self._ready = False
            with self._stats_lock:
                self._stats.disconnects += 1
                if self._stats.status != "refused":
                    self._stats.status = "disconnected"
            log.warning("disconnected from %s (%s); reconnecting with backoff, messages stay in the spool",
                        self.broker.redacted_url(), event[1])
        elif kind == "refused":
            with self._stats_lock:
                first = self._stats.last_connect_error != event[1]
                self._stats.connect_refusals += 1
                self._stats.last_connect_error = event[1]
                self._stats.status = "refused"
            if first:
                log.error("broker %s refused the connection: %s; check --username and the password "
                          "file/variable", self.broker.redacted_url(), event[1])
        elif kind == "connect_failed":
            with self._stats_lock:
                first = not (self._stats.last_connect_error or "").startswith("unreachable")
            if first:  # paho says only that it failed: find out which check (TCP, TLS) did
                why = f"unreachable: {probe_broker(self.broker)}"
                with self._stats_lock:
                    self._stats.last_connect_error = why
                log.warning("cannot reach broker %s (%s); retrying with backoff", self.broker.redacted_url(),
                            why.split(": ", 1)[1])

    def _restart_epoch(self) -> None:
        """Send everything unconfirmed again, from the oldest, except what paho still holds."""
        self._cursor = 0
        # Forget what the broker already PUBACKed (it goes out again); this also
        # drops entries of messages the spool evicted.
        self._sent = {k: v for k, v in self._sent.items() if v.mid is not None}

    def _on_ack_ids(self, ids: list[str]) -> None:
        removed = self.spool.confirm(ids)
        for mid_id in ids:
            sent = self._sent.pop(mid_id, None)
            if sent is not None and sent.mid is not None:
                self._awaiting.pop(sent.mid, None)
        if removed:
            self._stale_after_s = self.resend_after_s
        with self._stats_lock:
            self._stats.confirmed += removed
        with self._confirmed_cv:
            self._confirmed_cv.notify_all()

    def _on_rejected(self, rejected: list[tuple[str, str]]) -> None:
        removed = self.spool.confirm([mid for mid, _ in rejected], counter="rejected")
        if removed:
            detail = "; ".join(f"{mid}: {why}" for mid, why in rejected[:3])
            with self._stats_lock:
                self._stats.rejected_by_collector += removed
                self._stats.last_rejection = detail
            log.error("the collector refused %d message(s) for good (kept in its dead-letter table): %s",
                      removed, detail)
        self._on_ack_ids([])
        for mid, _ in rejected:
            sent = self._sent.pop(mid, None)
            if sent is not None and sent.mid is not None:
                self._awaiting.pop(sent.mid, None)

    def _on_puback(self, mid: int, code: int, name: str) -> None:
        message_id = self._awaiting.pop(mid, None)
        sent = self._sent.get(message_id) if message_id else None
        if sent is not None:
            sent.mid = None
            sent.pubacked = True
            sent.refused = code >= 128
        if code >= 128:
            detail = f"{name} ({code})"
            with self._stats_lock:
                self._stats.puback_refusals += 1
                self._stats.last_refusal = detail
            log.error("broker refused a message on %s/...: %s; it stays in the spool. Check that the "
                      "broker ACL lets this device's user write edgekit/v1/%s/%s/#",
                      messages.TOPIC_ROOT, detail, self.fleet, self.device_id)
        else:
            with self._stats_lock:
                self._stats.pubacks += 1

    def _check_stale(self) -> None:
        now = time.monotonic()
        if now - self._last_stale_check < min(1.0, self.resend_after_s / 4):
            return
        self._last_stale_check = now
        oldest = self.spool.pending(limit=1)
        if not oldest:
            return
        sent = self._sent.get(oldest[0].message_id)
        if sent is not None and sent.mid is None and now - sent.sent_mono > self._stale_after_s:
            log.info("no collector ack for seq %d after %.0f s: re-sending unconfirmed messages in order",
                     oldest[0].seq, self._stale_after_s)
            self._stale_after_s = min(self._stale_after_s * 2, 16 * self.resend_after_s)
            self._restart_epoch()

    def _fill(self) -> None:
        while len(self._awaiting) < self.window and self._ready:
            batch = self.spool.pending(after_id=self._cursor, limit=min(500, self.window))
            if not batch:
                return
            for msg in batch:
                if len(self._awaiting) >= self.window or not self._ready:
                    return
                prior = self._sent.get(msg.message_id)
                if prior is not None and prior.mid is not None:
                    self._cursor = msg.id  # paho still holds it and resends it itself
                    continue
                if not self._publish(msg, resend=msg.id <= self._high_water):
                    return
                self._cursor = msg.id

    def _publish(self, msg: SpooledMessage, *, resend: bool) -> bool:
        info = self._client.publish(msg.topic, msg.payload, qos=1)
        rc = info.rc
        if rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._awaiting[info.mid] = msg.message_id
            self._sent[msg.message_id] = _Sent(row_id=msg.id, sent_mono=time.monotonic(), mid=info.mid)
            self._high_water = max(self._high_water, msg.id)
            with self._stats_lock:
                self._stats.published += 1
                self._stats.resent += int(resend)
                if rc == mqtt.MQTT_ERR_NO_CONN:
                    self._stats.publish_no_conn += 1
            if rc == mqtt.MQTT_ERR_NO_CONN:
                self._ready = False  # paho queued it for the reconnect; wait for on_connect
                return False
            return True
        with self._stats_lock:
            if rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                self._stats.publish_queue_full += 1
            else:
                self._stats.publish_errors += 1
        log.warning("paho did not take %s seq %d (%s); it stays in the spool and is retried",
                    msg.kind, msg.seq, mqtt.error_string(rc))
        return False
