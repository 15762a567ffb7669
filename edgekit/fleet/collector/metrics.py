"""Prometheus metrics of one collector, in a registry of its own (never the global one).

Names (all prefixed ``edgekit_collector_``):

* ``messages_received_total{kind}``     every MQTT message taken from the broker (kind from the topic, or "invalid")
* ``messages_stored_total{kind}``       new rows committed
* ``messages_rejected_total{reason}``   dead-lettered, by validation reason
* ``messages_duplicate_total``          already stored (redelivery, device re-send); acknowledged again
* ``seq_gaps_total`` / ``seq_missing_total``  gaps opened in per-device sequence numbers / messages they miss
* ``seq_gap_fills_total``               late messages that filled a recorded gap
* ``budget_violations_total{kind}``     violations raised; ``budget_clears_total{kind}`` cleared
* ``ingest_latency_seconds``            histogram: from receipt by the collector to the commit of its batch
* ``batch_size``                        histogram of messages per committed batch
* ``stage_cpu_seconds_total{stage}``    the worker thread's CPU time per stage: ``decode_validate``,
  ``store`` (the transaction: rows, gaps, budgets), ``ack`` (acks, alerts and PUBACKs after the commit);
  divided by ``messages_received_total`` it is the CPU cost per message of each stage
* ``process_cpu_seconds_total`` and the other ``process_*`` series of prometheus_client (Linux)
* ``queue_depth``                       messages received but not yet committed
* ``store_errors_total``                batches that failed to commit (they are retried, never acked)
* ``after_commit_errors_total{step}``   failures after a commit (ack, alert, alerts, batch): logged, never retried
* ``dead_letters_dropped_total{why}``  dead letters pruned by retention: ``rows`` (over the row cap), ``age``
* ``rejections_not_logged_total``       rejections past the log's rate limit (summed up in one line instead)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, start_http_server

from edgekit.fleet.collector.validate import REASONS

PREFIX = "edgekit_collector_"


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(PREFIX + "messages_received", "MQTT messages taken from the broker", ["kind"],
                                registry=r)
        self.stored = Counter(PREFIX + "messages_stored", "new messages committed to the store", ["kind"],
                              registry=r)
        self.rejected = Counter(PREFIX + "messages_rejected", "messages dead-lettered by validation", ["reason"],
                                registry=r)
        self.duplicates = Counter(PREFIX + "messages_duplicate", "messages already stored (acknowledged again)",
                                  registry=r)
        self.gaps = Counter(PREFIX + "seq_gaps", "gaps opened in per-device sequence numbers", registry=r)
        self.missing = Counter(PREFIX + "seq_missing", "messages missing in newly opened gaps", registry=r)
        self.gap_fills = Counter(PREFIX + "seq_gap_fills", "late messages that filled a gap", registry=r)
        self.violations = Counter(PREFIX + "budget_violations", "budget violations raised", ["kind"], registry=r)
        self.clears = Counter(PREFIX + "budget_clears", "budget violations cleared", ["kind"], registry=r)
        self.latency = Histogram(PREFIX + "ingest_latency_seconds", "receipt to commit of a message's batch",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=r)
        self.batch_size = Histogram(PREFIX + "batch_size", "messages per committed batch",
                                    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000), registry=r)
        stage = Counter(PREFIX + "stage_cpu_seconds", "CPU time of the worker thread per stage", ["stage"],
                        registry=r)
        self.stage_cpu_s = {name: stage.labels(stage=name) for name in ("decode_validate", "store", "ack")}
        ProcessCollector(registry=r)
        self.queue_depth = Gauge(PREFIX + "queue_depth", "messages received and not yet committed", registry=r)
        self.store_errors = Counter(PREFIX + "store_errors", "batches that failed to commit (retried)", registry=r)
        self.after_commit_errors = Counter(PREFIX + "after_commit_errors",
                                           "failures after a commit (logged once, never retried)", ["step"],
                                           registry=r)
        dropped = Counter(PREFIX + "dead_letters_dropped", "dead letters pruned by retention", ["why"], registry=r)
        self.dead_letters_dropped = {why: dropped.labels(why=why) for why in ("rows", "age")}
        self.rejections_not_logged = Counter(PREFIX + "rejections_not_logged",
                                             "rejections past the log's rate limit", registry=r)
        # children bound once (a labels() lookup per message costs more than the increment); creating them
        # also exposes zeros, so dashboards see every reason and kind from the start
        self._rejected = {reason: self.rejected.labels(reason=reason) for reason in REASONS}
        self._received = {kind: self.received.labels(kind=kind) for kind in ("result", "telemetry", "status")}
        self._stored = {kind: self.stored.labels(kind=kind) for kind in ("result", "telemetry", "status")}

    def received_for(self, kind: str):
        """The ``messages_received_total`` child of a kind (``invalid`` for bad topics)."""
        child = self._received.get(kind)
        return child if child is not None else self._received.setdefault(kind, self.received.labels(kind=kind))

    def stored_for(self, kind: str):
        child = self._stored.get(kind)
        return child if child is not None else self._stored.setdefault(kind, self.stored.labels(kind=kind))

    def rejected_for(self, reason: str):
        child = self._rejected.get(reason)
        return child if child is not None else self._rejected.setdefault(reason, self.rejected.labels(reason=reason))

    def after_commit_for(self, step: str):
        return self.after_commit_errors.labels(step=step)

    def serve(self, port: int, addr: str = "0.0.0.0"):
        """Serve ``/metrics`` over HTTP; returns the server (call ``.shutdown()`` to stop)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server
