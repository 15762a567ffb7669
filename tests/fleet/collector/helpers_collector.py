"""Shared parts of the collector/store tests: envelopes, a plain paho publisher and
subscriber, stores on real SQLite and PostgreSQL, collectors in-process or as
`edgekit collect` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edgekit.fleet.messages import build_envelope, encode

PG_BASE = os.environ.get("EDGEKIT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ messages

def telemetry_body(**over) -> dict:
    body = {"window_s": 10.0, "power_w_avg": 3.0, "power_w_peak": 4.0, "energy_j": 30.0, "temp_c_max": 50.0,
            "throttled": False, "battery_pct": None, "battery_drain_pct_h": None, "power_source": "rpi5-pmic",
            "scope": "board", "estimated": False}
    body.update(over)
    return body


def result_body(*, energy_mj: float = 8.0, avg_w: float = 4.0, peak_w: float = 5.0, max_temp_c: float = 55.0,
                throttled: bool = False, target: str = "rpi5", model: str = "digits") -> dict:
    """A bench result document (result-1.json) with the figures budgets read."""
    window = {"duration_s": 10.0, "energy_j": avg_w * 10, "avg_power_w": avg_w, "peak_power_w": peak_w,
              "samples": 100, "uncertainty_j": 0.1}
    return {
        "schema": "edgekit.result", "schema_version": 1, "measured_at": "2026-11-30T09:00:00.000Z",
        "device": {"id": "pi-01", "hostname": "pi-01", "target": target, "arch": "aarch64",
                   "cpu_features": ["neon"], "os": "Debian 12", "runtimes": {"onnxruntime": "1.32.0"}},
        "artifact": {"path": f"out/{model}-{target}/model.int8.onnx", "sha256": "0" * 64, "bytes": 84000,
                     "format": "onnx", "precision": "int8", "manifest": f"out/{model}-{target}/manifest.json"},
        "runtime": {"name": "onnxruntime", "version": "1.32.0", "providers_requested": ["CPUExecutionProvider"],
                    "providers": ["CPUExecutionProvider"], "missing_providers": []},
        "settings": {"duration_s": 10.0, "iterations": None, "warmup_s": 2.0, "rate_hz": None, "threads": 2,
                     "idle_s": 5.0, "power": "rpi", "sample_hz": 10.0, "input": "random"},
        "latency": {"count": 5000, "mean_ms": 2.0, "std_ms": 0.1, "min_ms": 1.8, "p50_ms": 2.0, "p90_ms": 2.1,
                    "p99_ms": 2.4, "max_ms": 3.0, "throughput_ips": 500.0, "window_s": 10.0,
                    "first_inference_ms": 9.0, "warmup_count": 900},
        "rate": None,
        "power": {"source": "rpi5-pmic", "scope": "board", "description": "PMIC rails", "rails": ["EXT5V_V"],
                  "estimated": False, "sample_hz": 10.0, "samples": 100, "resolution_w": 0.01, "idle_w": 2.5,
                  "avg_w": avg_w, "peak_w": peak_w},
        "energy": {"method": "trapezoid", "inferences": 5000, "total_mj_per_inference": energy_mj,
                   "net_mj_per_inference": energy_mj / 2, "uncertainty_mj_per_inference": 0.05,
                   "net_uncertainty_mj_per_inference": 0.07, "run": window, "estimated": False},
        "thermal": {"zones": [{"name": "cpu-thermal", "max_c": max_temp_c, "end_c": max_temp_c - 1}],
                    "max_temp_c": max_temp_c, "end_temp_c": max_temp_c - 1, "throttled": throttled,
                    "reasons": ["get_throttled 0x4"] if throttled else []},
        "battery": None,
        "validity": {"energy_valid": True, "flags": []},
    }


def envelope(kind: str, device: str, seq: int, body: dict, *, fleet: str = "lab", target: str | None = "rpi5",
             message_id: str | None = None, sent_at: str | None = None) -> dict:
    return build_envelope(kind, body, fleet=fleet, device_id=device, seq=seq, message_id=message_id,
                          target=target, sent_at=sent_at)


def topic_of(doc: dict) -> str:
    return f"edgekit/v1/{doc['fleet']}/{doc['device_id']}/{doc['kind']}"


def wire(doc: dict) -> tuple[str, bytes]:
    return topic_of(doc), encode(doc)


def iso(t_s: float) -> str:
    from edgekit.fleet.messages import utc_timestamp
    from datetime import datetime, timezone
    return utc_timestamp(datetime.fromtimestamp(t_s, timezone.utc))


# --------------------------------------------------------------------- MQTT

class Publisher:
    """A plain paho MQTT 5 client (not edgekit's reporter): publishes and waits for PUBACKs."""

    def __init__(self, port: int, client_id: str | None = None):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self._acked = 0
        self._lock = threading.Lock()
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            self._acked += 1

    def publish_many(self, items, qos: int = 1, timeout_s: float = 60.0) -> None:
        start = self._acked
        n = 0
        for topic, payload in items:
            info = self.client.publish(topic, payload, qos=qos)
            assert info.rc == mqtt.MQTT_ERR_SUCCESS, mqtt.error_string(info.rc)
            n += 1
        if qos:
            wait_until(lambda: self._acked - start >= n, timeout_s, f"PUBACKs for {n} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """An independent subscriber that records what arrives on a topic filter."""

    def __init__(self, port: int, topic_filter: str):
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._ready.wait(10), "subscription not confirmed"

    def _on_message(self, client, userdata, msg):
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def json(self) -> list[tuple[str, dict]]:
        with self._lock:
            return [(t, json.loads(p)) for t, p in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(pred, timeout_s: float = 20.0, what: str = "condition", interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


# ------------------------------------------------------------------- stores

class PgSchema:
    """A private schema in the test database, dropped afterwards."""

    def __init__(self):
        psycopg = pytest.importorskip("psycopg")
        self.name = f"ek_test_{uuid.uuid4().hex[:10]}"
        try:
            with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=5) as c:
                c.execute(f"CREATE SCHEMA {self.name}")
        except psycopg.OperationalError as exc:
            pytest.fail(f"PostgreSQL at {PG_BASE} is not reachable ({exc}); run scripts/test, which starts it")
        sep = "&" if "?" in PG_BASE else "?"
        self.url = f"{PG_BASE}{sep}options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        import psycopg
        with psycopg.connect(PG_BASE, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")


def open_old_store(url: str, version: int):
    """A store created (or opened) by the migrations up to ``version`` only: a database of an older edgekit."""
    import edgekit.fleet.collector.store.base as base
    from edgekit.fleet.collector.store import open_store
    from edgekit.fleet.collector.store.migrations import MIGRATIONS

    with pytest.MonkeyPatch.context() as m:
        m.setattr(base, "MIGRATIONS", tuple(x for x in MIGRATIONS if x[0] <= version))
        m.setattr(base, "LATEST_VERSION", version)
        store = open_store(url)
    assert store.schema_version() == version
    return store


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """A fresh database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fleet.db'}"
    else:
        schema = PgSchema()
        try:
            yield schema.url
        finally:
            schema.drop()


@pytest.fixture
def pg_url():
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


# --------------------------------------------------------------- collectors

class CollectorProcess:
    """`edgekit collect` as a subprocess that a test may SIGKILL and restart."""

    def __init__(self, broker_url: str, db_url: str, workdir: Path, *, client_id: str, extra: list[str] = ()):
        self.args = [sys.executable, "-m", "edgekit", "collect", "--broker", broker_url, "--db", db_url,
                     "--client-id", client_id, *extra]
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"collector-{self.starts}.log"

    def start(self, timeout_s: float = 20.0) -> None:
        self.starts += 1
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_until(lambda: "collecting " in self.log_path.read_text() or self.proc.poll() is not None, timeout_s,
                   "the collector to subscribe")
        assert self.proc.poll() is None, self.log_path.read_text()

    def log(self) -> str:
        return "".join(p.read_text() for p in sorted(self.workdir.glob("collector-*.log")))

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class InProcessCollector:
    """The real Collector class run in this process (faster than a subprocess)."""

    def __init__(self, port: int, db_url: str, *, client_id: str | None = None, budgets=None, share=None,
                 batch_max: int = 500, validator=None, broker=None, **config):
        from edgekit.fleet.collector.ingest import Collector, CollectorConfig
        from edgekit.fleet.messages import parse_broker_url
        from edgekit.fleet.collector.store import open_store

        self.store = open_store(db_url)
        self.config = CollectorConfig(broker=broker or parse_broker_url(f"mqtt://127.0.0.1:{port}"),
                                      client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}", share=share,
                                      batch_max=batch_max, **config)
        self.collector = Collector(self.config, self.store, budgets=budgets, validator=validator)
        self.metrics = self.collector.metrics

    def __enter__(self):
        self.collector.start()
        return self

    def __exit__(self, *exc):
        self.collector.stop()
        self.store.close()

    def metric(self, name: str, **labels) -> float:
        value = self.metrics.registry.get_sample_value(f"edgekit_collector_{name}", labels or None)
        return value or 0.0
