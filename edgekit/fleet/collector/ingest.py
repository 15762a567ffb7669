"""The collector: MQTT in, validated rows in a database, acknowledgements and alerts out.

One paho client (MQTT 5, persistent session: ``clean_start=False`` with a
session expiry, QoS 1 subscriptions, optionally shared with ``$share/GROUP/``;
MQTT 3.1.1 with ``clean_session=False`` for a ``?protocol=3.1.1`` broker URL)
feeds a queue; one worker thread takes batches from it (up to ``batch_max``
messages, or what arrived within ``batch_wait_s``), validates them, writes the
batch in one transaction — rows, dead letters, sequence gaps, budget
violations — and only after the commit:

1. publishes the acknowledgement to each device (``edgekit/v1/<fleet>/<device>/ack``,
   duplicates included, so a device that re-sent a stored message can drop it),
2. publishes alerts for violations raised or cleared by the batch,
3. sends the MQTT PUBACKs to the broker (paho runs with ``manual_ack=True``).

So a collector killed at any point loses nothing: what it had not committed
was not PUBACKed, and the broker delivers it again; what it had committed and
not yet acknowledged comes back as a duplicate and is acknowledged then.
Alerts published are marked in the next transaction; those a crash left
unpublished are published at the next start.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from edgekit.errors import EdgekitError
from edgekit.fleet import messages as envelope
from edgekit.fleet.collector.budgets import AlertEvent, BudgetChecker, Budgets, alert_payload
from edgekit.fleet.collector.failures import is_outage, one_line
from edgekit.fleet.collector.metrics import CollectorMetrics
from edgekit.fleet.collector.retention import DeadLetterPruner, DeadLetterRetention, RejectionLog
from edgekit.fleet.collector.store.base import SqlStore
from edgekit.fleet.collector.store.rows import DeadLetter
from edgekit.fleet.collector.validate import Rejection, Validator
from edgekit.fleet.messages import ACKED_KINDS, parse_topic
from edgekit.fleet.mqtt import DEFAULT_SESSION_EXPIRY_S, connect_kwargs, describe_connect_error, make_client

log = logging.getLogger("edgekit.fleet.collector")


def default_client_id() -> str:
    host = socket.gethostname().split(".")[0] or "host"
    return f"edgekit-collector-{host}"[:64]


@dataclass
class CollectorConfig:
    broker: envelope.BrokerConfig
    fleet: str = "+"
    share: str | None = None
    client_id: str = field(default_factory=default_client_id)
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    receive_maximum: int = 1000   # QoS 1 messages the broker may have in flight to us
    batch_max: int = 500
    batch_wait_s: float = 0.05
    linger_s: float = 0.002       # wait this long for more before committing a short batch
    keepalive_s: int = 30
    dead_letters: DeadLetterRetention = field(default_factory=DeadLetterRetention)
    reject_log_max: int = 10          # rejection lines per window; the rest summed up in one line
    reject_log_window_s: float = 60.0

    def subscriptions(self) -> list[str]:
        filters = envelope.device_topics_filter(self.fleet)
        if self.share:
            filters = [f"$share/{self.share}/{f}" for f in filters]
        return filters


class _Incoming(NamedTuple):  # a tuple: built for every message in paho's thread, so kept cheap
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_t_s: float       # monotonic, for latency
    received_at_s: float      # wall clock, stored


class Collector:
    def __init__(self, config: CollectorConfig, store: SqlStore, *, budgets: Budgets | None = None,
                 validator: Validator | None = None, metrics: CollectorMetrics | None = None):
        self.config = config
        self.store, self.store_id = store, store.store_id()  # every ack names the store (devices check it)
        self.validator = validator or Validator()
        self.metrics = metrics or CollectorMetrics()
        self.checker = BudgetChecker(budgets or Budgets())
        self._queue: queue.SimpleQueue[_Incoming] = queue.SimpleQueue()
        self._in_process = 0  # taken from the queue, not yet committed
        self.metrics.queue_depth.set_function(lambda: self._queue.qsize() + self._in_process)
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._generation = 0
        self._connected = threading.Event()
        self._fatal: str | None = None
        self._marks: tuple[list[int], list[int]] = ([], [])  # violations published, to mark in the next tx
        self._committed = False  # the batch in _process is committed: a failure now must not retry it
        self._v5 = config.broker.protocol == "5"
        self._reject_log = RejectionLog(log, config.reject_log_max, config.reject_log_window_s,
                                        not_logged=self.metrics.rejections_not_logged)
        self._pruner = DeadLetterPruner(store, config.dead_letters, self.metrics.dead_letters_dropped.__getitem__, log)
        self.client = self._make_client()

    # ---------------------------------------------------------------- MQTT
    def _make_client(self) -> mqtt.Client:
        c = make_client(self.config.broker, self.config.client_id, manual_ack=True)
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(100)
        c.reconnect_delay_set(min_delay=1, max_delay=30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        return c

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._fatal = f"broker {self.config.broker.redacted_url()} refused the connection: {reason_code}"
            log.error("%s", self._fatal)
            if reason_code.value in (0x86, 0x87, 0x85):  # bad user/password, not authorized, bad client id
                self._stopping.set()
            return
        self._generation += 1
        log.info("connected to %s as %s (session present: %s)", self.config.broker.redacted_url(),
                 self.config.client_id, flags.session_present)
        if self._v5:
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in self.config.subscriptions()])
        else:
            client.subscribe([(f, 1) for f in self.config.subscriptions()])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        bad = [rc for rc in reason_codes if rc.is_failure]
        if bad:
            self._fatal = f"the broker refused the subscriptions ({bad[0]}); check the collector user's ACL"
            log.error("%s", self._fatal)
            self._stopping.set()
        else:
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage):
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")
        self._queue.put(_Incoming(topic, msg.payload, msg.mid, msg.qos, self._generation, time.monotonic(),
                                  time.time()))

    # ------------------------------------------------------------- lifecycle
    def start(self, connect_timeout_s: float = 10.0) -> None:
        """Connect, subscribe and start the worker; raises EdgekitError when the broker is unusable."""
        b = self.config.broker
        try:
            self.client.connect(b.host, b.port, keepalive=self.config.keepalive_s,
                                **connect_kwargs(b, session_expiry_s=self.config.session_expiry_s,
                                                 receive_maximum=self.config.receive_maximum))
        except (OSError, ValueError) as exc:
            raise EdgekitError(f"cannot reach the broker at {b.redacted_url()} ({describe_connect_error(exc)}); "
                               "check --broker and that the broker runs") from None
        self.client.loop_start()
        deadline = time.monotonic() + connect_timeout_s
        while not self._connected.wait(0.05):
            if self._fatal:
                self.client.loop_stop()
                raise EdgekitError(f"{self._fatal}; check --username/--password-file and the broker's ACL")
            if time.monotonic() > deadline:
                self.client.loop_stop()
                raise EdgekitError(f"no answer from the broker at {b.redacted_url()} within {connect_timeout_s:g} s; "
                                   "check the URL, TLS options and the broker")
        self._publish_pending_alerts()
        self._worker = threading.Thread(target=self._work, name="edgekit-collector-worker", daemon=True)
        self._worker.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Commit and acknowledge what was received, then disconnect."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(timeout_s)
        self._flush_marks()
        self.client.disconnect()
        self.client.loop_stop()

    def wait(self, stop: threading.Event) -> str | None:
        """Block until ``stop`` is set or the collector hits a fatal error; returns the error, if any."""
        while not stop.wait(0.2):
            if self._stopping.is_set():
                break
        return self._fatal if self._stopping.is_set() and self._fatal else None

    @property
    def healthy(self) -> bool:
        return self._worker is not None and self._worker.is_alive() and self._connected.is_set()

    # -------------------------------------------------------------- worker
    def _next_batch(self) -> list[_Incoming]:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait_s
        while len(batch) < self.config.batch_max:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=min(remaining, self.config.linger_s)))
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            self._pruner.tick()  # between batches, one short chunk at most; never raises
            self._reject_log.tick()
            if not batch:
                if self._stopping.is_set():
                    return
                continue
            delay_s = 0.1
            pending = [batch]  # parts still to store, last first; split when a part fails for its data
            while pending:
                part = pending[-1]
                try:
                    self._process(part)
                    pending.pop()
                    continue
                except Exception as exc:
                    if self._committed:  # after the commit (acks, alerts, metrics): never retry stored work
                        pending.pop()
                        self._after_commit_error("batch", exc)
                        continue
                    if not is_outage(exc):  # in the data: halves apart, then the single bad row dead-lettered
                        pending.pop()
                        if len(part) > 1:
                            pending += [part[len(part) // 2:], part[:len(part) // 2]]
                            log.warning("could not store a batch of %d messages (%s); storing its halves apart",
                                        len(part), one_line(exc))
                            continue
                        if self._dead_letter_unstorable(part[0], exc):
                            continue
                        pending.append(part)
                    # a database outage: keep the batch, do not ack, retry
                    self.metrics.store_errors.inc()
                    log.error("could not store a batch of %d messages (%s: %s); retrying in %.1f s",
                              len(part), type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "",
                              delay_s)
                    if self._stopping.wait(delay_s):
                        return  # stopping: unacknowledged messages come back from the broker next time
                    delay_s = min(delay_s * 2, 10.0)

    def _after_commit_error(self, step: str, exc: BaseException) -> None:
        """A failure after the commit: logged once, counted, never a reason to store the batch again."""
        self.metrics.after_commit_for(step).inc()
        log.error("after the commit, %s failed (%s); the stored messages stay stored", step, one_line(exc))

    def _dead_letter_unstorable(self, item: _Incoming, exc: BaseException) -> bool:
        """One message the database refused twice: dead-letter it (``store_failed``), tell its device, PUBACK it.

        True when it is done with (stored after all, or dead-lettered); False when the database is out (the
        message is kept and retried)."""
        self._in_process = 1
        try:
            self._process([item])  # once more alone: a passing conflict stores now
            return True
        except Exception as again:
            if self._committed:
                self._after_commit_error("batch", again)
                return True
            if is_outage(again):
                return False
        detail = f"the database refused it: {one_line(exc)}"
        try:
            self.store.run(lambda tx: tx.store_batch([], [DeadLetter(item.topic, "store_failed", detail,
                                                                     item.payload, item.received_at_s)], time.time()))
        except Exception as failed:
            log.error("could not dead-letter a message the database refused (%s); retrying", one_line(failed))
            return False
        self.metrics.rejected_for("store_failed").inc()
        self._reject_log.rejected(item.topic, "store_failed", detail)
        try:
            verdict = self.validator.validate(item.topic, item.payload, received_at_s=item.received_at_s)
            parts = parse_topic(item.topic)
            if verdict.accepted and parts is not None and parts.kind in ACKED_KINDS:
                ack = envelope.build_ack([], [(verdict.message_id, "store_failed")], store_id=self.store_id)
                self.client.publish(envelope.ack_topic(parts.fleet, parts.device_id), envelope.encode(ack), qos=1)
        except Exception as failed:
            self._after_commit_error("ack", failed)
        if item.qos > 0 and item.generation == self._generation:
            self.client.ack(item.mid, item.qos)
        self._in_process = 0
        return True

    def _process(self, batch: list[_Incoming]) -> None:
        self._in_process = len(batch)
        self._committed = False
        accepted, rejects, rejected_ids = [], [], []
        received: dict[str, int] = {}
        validate = self.validator.validate
        started_cpu_s = time.thread_time()  # CPU of this thread: GIL waits left out
        for item in batch:
            verdict = validate(item.topic, item.payload, received_at_s=item.received_at_s)
            if verdict.__class__ is Rejection:
                parts = parse_topic(item.topic)
                kind = parts.kind if parts else "invalid"
                rejects.append(DeadLetter(item.topic, verdict.reason, verdict.detail, item.payload,
                                          item.received_at_s))
                if verdict.message_id is not None:
                    rejected_ids.append(verdict)
            else:
                kind = verdict.kind  # equal to the topic's: checked by the validator
                accepted.append(verdict)
            received[kind] = received.get(kind, 0) + 1
        m = self.metrics
        validated_cpu_s = time.thread_time()
        m.stage_cpu_s["decode_validate"].inc(validated_cpu_s - started_cpu_s)
        for kind, n in received.items():
            m.received_for(kind).inc(n)
        marks = self._marks

        def write(tx):
            out = tx.store_batch(accepted, rejects, time.time())
            events = self.checker.evaluate(tx, out.new)
            tx.mark_published(*marks)
            return out, events

        out, events = self.store.run(write)
        self._committed = True
        committed_t = time.monotonic()
        stored_cpu_s = time.thread_time()
        m.stage_cpu_s["store"].inc(stored_cpu_s - validated_cpu_s)
        self._marks = ([], [])

        m.batch_size.observe(len(batch))
        stored: dict[str, int] = {}
        for msg in out.new:
            stored[msg.kind] = stored.get(msg.kind, 0) + 1
        for kind, n in stored.items():
            m.stored_for(kind).inc(n)
        if out.duplicates:
            m.duplicates.inc(len(out.duplicates))
        for r in rejects:
            m.rejected_for(r.reason).inc()
            self._reject_log.rejected(r.topic, r.reason, r.detail)
        if out.gaps:
            m.gaps.inc(len(out.gaps))
            m.missing.inc(sum(g.missing for g in out.gaps))
        if out.gaps_filled:
            m.gap_fills.inc(out.gaps_filled)

        # 1. acknowledgements to the devices, after the commit, duplicates included; messages refused for
        #    good (dead-lettered, with a well-formed id) are named too, so the device stops re-sending them
        acks: dict[tuple[str, str], list[str]] = {}
        refused: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for msg in out.new + out.duplicates:
            if msg.kind in ACKED_KINDS:
                acks.setdefault((msg.fleet, msg.device_id), []).append(msg.message_id)
        for verdict in rejected_ids:
            parts = parse_topic(verdict.topic)
            if parts is not None and parts.kind in ACKED_KINDS:
                refused.setdefault((parts.fleet, parts.device_id), []).append((verdict.message_id, verdict.reason))
        for key in acks.keys() | refused.keys():
            fleet, device_id = key
            try:
                ack = envelope.build_ack(acks.get(key, []), refused.get(key, []), store_id=self.store_id)
                self.client.publish(envelope.ack_topic(fleet, device_id), envelope.encode(ack), qos=1)
            except Exception as exc:  # logged once and counted; the PUBACKs below still go out
                self._after_commit_error("ack", exc)
        # 2. alerts
        try:
            self._publish_alerts(events)
        except Exception as exc:
            self._after_commit_error("alerts", exc)
        # 3. PUBACKs to the broker: only now may it forget these messages
        generation = self._generation
        ack, observe = self.client.ack, m.latency.observe
        for item in batch:
            if item.qos > 0 and item.generation == generation:
                ack(item.mid, item.qos)
            observe(committed_t - item.received_t_s)
        m.stage_cpu_s["ack"].inc(time.thread_time() - stored_cpu_s)
        self._in_process = 0

    # -------------------------------------------------------------- alerts
    def _publish_alerts(self, events: list[AlertEvent]) -> None:
        raised, cleared = self._marks
        for ev in events:
            v = ev.violation
            try:
                info = self.client.publish(envelope.alert_topic(v.fleet, v.device_id),
                                           json.dumps(alert_payload(ev), separators=(",", ":")), qos=1)
            except Exception as exc:  # an alert that cannot be built: counted, marked, never tried again
                self._after_commit_error("alert", exc)
                (raised if ev.state == "raised" else cleared).append(v.id)
                continue
            if ev.state == "raised":
                self.metrics.violations.labels(kind=v.kind).inc()
                log.warning("budget violation on %s: %s %s %g > %g %s (%s)", v.device_id, v.kind, v.subject,
                            v.value, v.limit_value, v.unit, v.source)
            else:
                self.metrics.clears.labels(kind=v.kind).inc()
                log.info("budget violation cleared on %s: %s %s", v.device_id, v.kind, v.subject)
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued, sent on reconnect
                (raised if ev.state == "raised" else cleared).append(v.id)

    def _publish_pending_alerts(self) -> None:
        pending = self.store.run(lambda tx: tx.unpublished_violations())
        events = []
        for v in pending:
            if not v.raised_published:
                events.append(AlertEvent("raised", v))
            if v.cleared_at_s is not None and not v.cleared_published:
                events.append(AlertEvent("cleared", v))
        if events:
            log.info("publishing %d alerts left unpublished by the last run", len(events))
            self._publish_alerts(events)
            self._flush_marks()

    def _flush_marks(self) -> None:
        marks = self._marks
        if marks[0] or marks[1]:
            try:
                self.store.run(lambda tx: tx.mark_published(*marks))
                self._marks = ([], [])
            except Exception as exc:
                log.error("could not mark alerts as published (%s); they may be published again", exc)
