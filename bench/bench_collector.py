"""How fast `edgekit collect` drains a backlog, next to a bare paho subscriber and a bare C one.

Each run, on a fresh private mosquitto (the configuration of docs/mosquitto.md, on a free loopback port,
persistence in a temp folder):

1. every consumer gets a persistent MQTT 5 session (``mosquitto_sub -c``, a bare paho client, and a short
   start of each `edgekit collect` setup), then goes away;
2. a paho publisher sends N bench result documents (QoS 1), so the broker queues the same N messages for
   each session;
3. ``mosquitto_sub`` (QoS 1, printing only each message's receipt time, ``-F %U``) drains its backlog;
   rate = N / (last receipt - first receipt); then a bare paho-mqtt subscriber (MQTT 5, automatic PUBACK,
   doing nothing) drains its own copy the same way: the ceiling of any Python collector built on paho;
4. each `edgekit collect` setup drains the same backlog (validated, stored, acknowledged to the devices,
   PUBACKed); rate = N / (last commit - first receipt), from the database's own timestamps:
   ``after``  this checkout, SQLite;
   ``before`` edgekit as of ``--before REF`` (default: the last commit before the msgspec hot path), SQLite;
   before and after swap places every run, so neither always drains first;
   ``one-<db>`` and ``<N>-shared-<db>``: one collector, then N sharing one subscription (``--share``),
   on PostgreSQL when it answers at 127.0.0.1:5432/test (else SQLite).

Rates leave out process start-up and connecting. Then bench/collector_stages.py times each stage per
message (decode+validate, store, ack) in one process on both trees, and the running ``after`` collector's
own ``stage_cpu_seconds_total`` metric gives the same split in place. Prints every run, the medians and the
ratios (goal: edgekit collect at least 60 % of bare paho).

    python bench/bench_collector.py [--messages 10000] [--devices 100] [--runs 3] [--before REF|none]
                                    [--share N] [--share-db auto|postgres|sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgekit.fleet.broker import free_port  # noqa: E402
from edgekit.fleet.broker import wait_port as _wait_port  # noqa: E402
from edgekit.fleet.messages import build_envelope, encode  # noqa: E402

MOSQUITTO_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_interval 1
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 1000
log_dest file {log}
log_type error
log_type warning
"""


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    if not _wait_port(port, timeout_s):
        raise RuntimeError(f"mosquitto did not listen on {port}")


class Broker:
    def __init__(self, workdir: Path):
        if not shutil.which("mosquitto"):
            sys.exit("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
        self.port = free_port()
        data = workdir / "data"
        data.mkdir()
        log = workdir / "mosquitto.log"
        log.touch()
        conf = workdir / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, data=data, log=log))
        if os.geteuid() == 0:
            for p in (workdir, data, log):
                shutil.chown(p, user="mosquitto")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def result_doc(i: int, device: str) -> dict:
    """A bench result document of realistic size (result-1.json)."""
    avg_w = 4.0 + (i % 7) * 0.1
    return {
        "schema": "edgekit.result", "schema_version": 1, "measured_at": "2026-11-30T09:00:00.000Z",
        "device": {"id": device, "hostname": device, "target": "rpi5", "arch": "aarch64",
                   "cpu": "Cortex-A76", "cpu_count": 4, "cpu_features": ["neon", "asimddp"], "os": "Debian 12",
                   "kernel": "6.6.51", "model": "Raspberry Pi 5 Model B", "runtimes": {"onnxruntime": "1.32.0"}},
        "artifact": {"path": "out/digits-rpi5/model.int8.onnx", "sha256": "ab" * 32, "bytes": 84213,
                     "format": "onnx", "precision": "int8", "manifest": "out/digits-rpi5/manifest.json"},
        "runtime": {"name": "onnxruntime", "version": "1.32.0", "providers_requested": ["CPUExecutionProvider"],
                    "providers": ["CPUExecutionProvider"], "missing_providers": [], "threads": 4},
        "settings": {"duration_s": 10.0, "iterations": None, "warmup_s": 2.0, "rate_hz": None, "threads": 4,
                     "idle_s": 5.0, "power": "rpi", "sample_hz": 10.0, "input": "random"},
        "latency": {"count": 5000, "mean_ms": 2.01, "std_ms": 0.11, "min_ms": 1.82, "p50_ms": 2.0, "p90_ms": 2.1,
                    "p99_ms": 2.41, "max_ms": 3.05, "throughput_ips": 497.5, "window_s": 10.05,
                    "first_inference_ms": 9.3, "warmup_count": 912},
        "rate": None,
        "power": {"source": "rpi5-pmic", "scope": "board", "description": "PMIC rails (vcgencmd pmic_read_adc)",
                  "rails": ["EXT5V_V"], "estimated": False, "sample_hz": 10.0, "samples": 101,
                  "resolution_w": 0.01, "idle_w": 2.5, "avg_w": avg_w, "peak_w": avg_w + 1.0},
        "energy": {"method": "trapezoid", "inferences": 5000, "total_mj_per_inference": avg_w * 2.0,
                   "net_mj_per_inference": (avg_w - 2.5) * 2.0, "uncertainty_mj_per_inference": 0.05,
                   "net_uncertainty_mj_per_inference": 0.07, "estimated": False,
                   "run": {"duration_s": 10.05, "energy_j": avg_w * 10.05, "avg_power_w": avg_w,
                           "peak_power_w": avg_w + 1.0, "samples": 101, "uncertainty_j": 0.1}},
        "thermal": {"zones": [{"name": "cpu-thermal", "max_c": 61.2, "end_c": 60.1}], "max_temp_c": 61.2,
                    "end_temp_c": 60.1, "throttled": False, "reasons": []},
        "battery": None,
        "validity": {"energy_valid": True, "flags": []},
    }


def publish_backlog(port: int, n: int, devices: int, fleet: str) -> float:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    acked = [0]
    done = threading.Event()

    def on_publish(c, u, mid, rc, props):
        acked[0] += 1
        if acked[0] >= n:
            done.set()
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    seqs = [0] * devices
    payload_bytes = 0
    for i in range(n):
        d = i % devices
        seqs[d] += 1
        dev = f"dev-{d:05d}"
        doc = build_envelope("result", result_doc(i, dev), fleet=fleet, device_id=dev, seq=seqs[d], target="rpi5")
        payload = encode(doc)
        payload_bytes += len(payload)
        while True:
            info = client.publish(f"edgekit/v1/{fleet}/{dev}/result", payload, qos=1)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                break
            time.sleep(0.01)  # paho's queue is full: let PUBACKs drain it
    if not done.wait(600):
        raise RuntimeError(f"only {acked[0]} of {n} PUBACKs")
    client.disconnect()
    client.loop_stop()
    return payload_bytes / n


def start_collector(broker: Broker, db: str, log: Path, client_id: str, *, metrics_port: int | None = None,
                    share: str | None = None, tree: Path = REPO) -> subprocess.Popen:
    """`edgekit collect` from the source tree ``tree`` (this checkout, or an older one: --before)."""
    fh = open(log, "a")
    cmd = [sys.executable, "-m", "edgekit", "collect", "--broker", broker.url, "--db", db,
           "--client-id", client_id, "--log-level", "warning"]
    if metrics_port is not None:
        cmd += ["--metrics-port", str(metrics_port), "--metrics-addr", "127.0.0.1"]
    if share is not None:
        cmd += ["--share", share]
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=tree, env=env)


def scrape(port: int) -> dict[str, float]:
    """The collector's Prometheus samples (name{labels} -> value)."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class BenchDb:
    """A collector's database for one drain: SQLite in the run's folder, or a fresh PostgreSQL schema."""

    def __init__(self, tmp: Path, name: str, kind: str):
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp / f"{name}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.schema = f"bench_{name.replace('-', '_')}_{os.getpid()}"
            with _pg() as c:
                c.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                c.execute(f"CREATE SCHEMA {self.schema}")
            self.url = f"{PG_URL}?options=-csearch_path%3D{self.schema}"

    def query(self, sql: str):
        try:
            if self.kind == "sqlite":
                if not self.path.exists():
                    return None
                with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as c:
                    return c.execute(sql).fetchone()
            with _pg() as c:
                c.execute(f"SET search_path TO {self.schema}")
                return c.execute(sql).fetchone()
        except Exception:
            return None

    def rows(self) -> int:
        row = self.query("SELECT COUNT(*) FROM messages")
        return row[0] if row else 0

    def ready(self) -> bool:
        return self.query("SELECT 1 FROM schema_version") is not None

    def drain(self) -> tuple[float, int, int, int]:
        """(first receipt to last commit in s, rows, duplicated (device, message) pairs, dead letters)."""
        first, last, stored = self.query("SELECT MIN(received_at_s), MAX(stored_at_s), COUNT(*) FROM messages")
        dup = self.query("SELECT COUNT(*) FROM (SELECT fleet, device_id, message_id FROM messages "
                         "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) AS d")[0]
        letters = self.query("SELECT COUNT(*) FROM dead_letters")[0]
        return last - first, stored, dup, letters

    def drop(self) -> None:
        if self.kind == "postgres":
            with _pg() as c:
                c.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _pg():
    import psycopg
    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)


def postgres_reachable() -> bool:
    try:
        with _pg() as c:
            c.execute("SELECT 1")
        return True
    except Exception:
        return False


def wait_sessions(procs: list[subprocess.Popen], db: BenchDb, timeout_s: float = 30) -> None:
    """The collectors have subscribed once their schema exists and they answered (give them a moment)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a collector exited while starting")
        if db.ready() and db.rows() == 0:
            time.sleep(1.5)
            return
        time.sleep(0.1)
    raise RuntimeError("collector did not start")


def stop(procs: list[subprocess.Popen]) -> float:
    """SIGTERM, wait; the CPU seconds (user + system) the processes used in all."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    cpu_s = 0.0
    for p in procs:
        deadline = time.monotonic() + 30
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                cpu_s += usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() > deadline:
                p.kill()
            time.sleep(0.05)
    return cpu_s


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def paho_session(port: int, topic: str):
    """A bare paho-mqtt MQTT 5 subscriber (persistent session, QoS 1, automatic PUBACK) that does nothing."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-paho-sub", protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 1000  # what edgekit collect announces
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    return client, subscribed


def drain_paho(port: int, topic: str, n: int) -> float:
    """Seconds from the first to the n-th message received by a bare paho subscriber."""
    client, _ = paho_session(port, topic)
    stamps: list[float] = []
    done = threading.Event()

    def on_message(c, u, msg):
        stamps.append(time.monotonic())
        if len(stamps) == n:
            done.set()
    client.on_message = on_message
    client.loop_start()
    try:
        if not done.wait(600):
            raise RuntimeError(f"bare paho subscriber got {len(stamps)} of {n}")
    finally:
        client.disconnect()
        client.loop_stop()
    return stamps[-1] - stamps[0]


@dataclass
class Consumer:
    """One `edgekit collect` setup drained in a run: ``count`` collectors sharing (``--share``) or not."""

    label: str
    tree: Path
    db_kind: str
    count: int = 1
    metrics: bool = False

    def client_ids(self) -> list[str]:
        return [f"bench-{self.label}-{i}" for i in range(self.count)]

    @property
    def share(self) -> str | None:
        return f"bench-{self.label}" if self.count > 1 else None


def one_run(n: int, devices: int, consumers: list[Consumer]) -> dict:
    fleet = "bench"
    topic = f"edgekit/v1/{fleet}/+/result"
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-collector-") as tmp:
        tmp = Path(tmp)
        if os.geteuid() == 0:
            os.chmod(tmp, 0o777)
        (tmp / "broker").mkdir()
        broker = Broker(tmp / "broker")
        dbs = {c.label: BenchDb(tmp, c.label, c.db_kind) for c in consumers}
        log = tmp / "collector.log"
        out: dict = {"collectors": {}}
        try:
            # 1. persistent sessions for every consumer
            subprocess.run(["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(broker.port), "-c",
                            "-i", "bench-c-sub", "-q", "1", "-x", "3600", "-t", topic, "-E"], check=True)
            client, subscribed = paho_session(broker.port, topic)
            client.loop_start()
            subscribed.wait(10)
            client.disconnect()
            client.loop_stop()
            idle_cpu_s = {}  # start-up, subscribing and 1.5 s idle, no messages: what a drain's CPU is net of
            for c in consumers:
                procs = [start_collector(broker, dbs[c.label].url, log, cid, share=c.share, tree=c.tree)
                         for cid in c.client_ids()]
                wait_sessions(procs, dbs[c.label])
                idle_cpu_s[c.label] = stop(procs)
            # 2. the backlog
            t = time.monotonic()
            out["payload_bytes"] = publish_backlog(broker.port, n, devices, fleet)
            out["publish_s"] = time.monotonic() - t
            # 3. bare C subscriber: one receipt time per message (ns resolution, wall clock)
            times_path = tmp / "c-sub-times.txt"
            t, cpu0 = time.monotonic(), cpu_s(resource.RUSAGE_CHILDREN)
            with open(times_path, "w") as fh:
                subprocess.run(["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(broker.port), "-c",
                                "-i", "bench-c-sub", "-q", "1", "-x", "3600", "-t", topic, "-C", str(n),
                                "-F", "%U"], check=True, stdout=fh, timeout=600)
            out["c_wall_s"] = time.monotonic() - t
            out["c_cpu_us"] = (cpu_s(resource.RUSAGE_CHILDREN) - cpu0) / n * 1e6
            stamps = [float(line) for line in times_path.read_text().split()]
            if len(stamps) != n:
                raise RuntimeError(f"mosquitto_sub printed {len(stamps)} receipt times for {n} messages")
            out["c_msg_s"] = n / (stamps[-1] - stamps[0])
            cpu0 = cpu_s(resource.RUSAGE_SELF)
            out["p_msg_s"] = n / drain_paho(broker.port, topic, n)
            out["p_cpu_us"] = (cpu_s(resource.RUSAGE_SELF) - cpu0) / n * 1e6
            # 4. each edgekit collect setup drains its own copy of the backlog
            for c in consumers:
                db = dbs[c.label]
                ports = [free_port() if c.metrics else None for _ in range(c.count)]
                t = time.monotonic()
                procs = [start_collector(broker, db.url, log, cid, share=c.share, tree=c.tree, metrics_port=port)
                         for cid, port in zip(c.client_ids(), ports)]
                while db.rows() < n:
                    if any(p.poll() is not None for p in procs):
                        raise RuntimeError("collector exited:\n" + log.read_text()[-4000:])
                    if time.monotonic() - t > 900:
                        raise RuntimeError(f"{c.label} stored only {db.rows()} of {n}")
                    time.sleep(0.2)
                wall_s = time.monotonic() - t
                time.sleep(1.0)
                stages = [scrape(port) for port in ports if port is not None]
                drain_cpu_s = stop(procs)
                span_s, stored, dup, letters = db.drain()
                out["collectors"][c.label] = {"msg_s": n / span_s, "s": span_s, "wall_s": wall_s, "stored": stored,
                                              "cpu_us": (drain_cpu_s - idle_cpu_s[c.label]) / n * 1e6,
                                              "duplicates": dup, "dead_letters": letters,
                                              "stages_us": _stages_us(stages)}
        finally:
            broker.stop()
            for db in dbs.values():
                db.drop()
    out["load_avg"] = os.getloadavg()[0]
    return out


def _stages_us(samples: list[dict[str, float]]) -> dict[str, float] | None:
    """Worker CPU per message of each stage, from the collector's stage_cpu_seconds_total metric."""
    if not samples:
        return None
    received = sum(v for s in samples for k, v in s.items() if k.startswith("edgekit_collector_messages_received_total"))
    out = {}
    for stage in ("decode_validate", "store", "ack"):
        key = f'edgekit_collector_stage_cpu_seconds_total{{stage="{stage}"}}'
        if any(key in s for s in samples):
            out[stage] = sum(s.get(key, 0.0) for s in samples) / max(received, 1) * 1e6
    return out or None


def stage_breakdown(tree: Path, messages: int) -> dict:
    """bench/collector_stages.py on ``tree``: microseconds per message of each stage, in one process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    res = subprocess.run([sys.executable, str(REPO / "bench" / "collector_stages.py"), "--messages", str(messages)],
                         env=env, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"collector_stages.py on {tree} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def before_tree(ref: str, tmp: Path) -> Path:
    """The package as it was at git ``ref`` (with the folders its data links point to), in ``tmp``."""
    tree = tmp / f"edgekit-{ref}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "edgekit", "targets", "models"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


#: The last commit whose hot path was Python's json module and the compiled JSON Schema check (before the
#: msgspec structs): what --before compares with by default.
BEFORE_MSGSPEC = "a8f9de2"


def _median(runs: list[dict], get) -> float:
    return statistics.median(get(r) for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", default=BEFORE_MSGSPEC, metavar="REF",
                    help=f"also drain with edgekit as of git REF (default {BEFORE_MSGSPEC}, the last commit before "
                         "the msgspec hot path; 'none' to skip)")
    ap.add_argument("--share", type=int, default=2, metavar="N",
                    help="also drain with N collectors sharing one subscription ($share/...; default 2, 0 to skip)")
    ap.add_argument("--share-db", choices=("auto", "postgres", "sqlite"), default="auto",
                    help="database of the shared collectors (auto: PostgreSQL at 127.0.0.1:5432/test if it answers)")
    args = ap.parse_args()
    n = args.messages
    share_db = args.share_db
    if share_db == "auto":
        share_db = "postgres" if postgres_reachable() else "sqlite"
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-before-") as tmp:
        before = None if args.before == "none" else before_tree(args.before, Path(tmp))
        after_c = Consumer("after", REPO, "sqlite", metrics=True)
        before_c = Consumer("before", before, "sqlite") if before else None
        shared = []
        if args.share > 1:
            shared = [Consumer(f"one-{share_db}", REPO, share_db),
                      Consumer(f"{args.share}-shared-{share_db}", REPO, share_db, count=args.share)]
        runs = []
        for i in range(args.runs):
            # before and after swap places every run, so neither always drains first
            pair = [after_c, before_c] if i % 2 == 0 else [before_c, after_c]
            consumers = [c for c in pair if c is not None] + shared
            r = one_run(n, args.devices, consumers)
            runs.append(r)
            print(f"run {i + 1}: {n} result messages of {r['payload_bytes']:.0f} bytes from {args.devices} devices "
                  f"(published in {r['publish_s']:.1f} s); load average {r['load_avg']:.1f}")
            print(f"  mosquitto_sub (QoS 1, discarding):  {r['c_msg_s']:10,.0f} msg/s ({r['c_wall_s']:.2f} s wall "
                  f"with start-up)")
            print(f"  bare paho subscriber (auto PUBACK): {r['p_msg_s']:10,.0f} msg/s  CPU {r['p_cpu_us']:6.1f} us/msg")
            for label, c in r["collectors"].items():
                print(f"  edgekit collect [{label}]: {c['msg_s']:10,.0f} msg/s  ({c['s']:.2f} s first receipt to last "
                      f"commit); stored {c['stored']} of {n}, duplicates {c['duplicates']}, "
                      f"dead letters {c['dead_letters']}; CPU {c['cpu_us']:.1f} us/msg (net of an idle start); "
                      f"{c['msg_s'] / r['p_msg_s']:.1%} of bare paho")
        stages = {"after": stage_breakdown(REPO, 5000)}
        if before:
            stages["before"] = stage_breakdown(before, 5000)
    c_med, p_med = _median(runs, lambda r: r["c_msg_s"]), _median(runs, lambda r: r["p_msg_s"])
    med = {label: _median(runs, lambda r, label=label: r["collectors"][label]["msg_s"])
           for label in runs[0]["collectors"]}
    print(f"\nmedians of {len(runs)} runs: mosquitto_sub {c_med:,.0f} msg/s, bare paho {p_med:,.0f} msg/s, "
          + ", ".join(f"edgekit collect [{k}] {v:,.0f} msg/s" for k, v in med.items()))
    ratio = _median(runs, lambda r: r["collectors"]["after"]["msg_s"] / r["p_msg_s"])
    print(f"edgekit collect / bare paho (median of the per-run ratios): {ratio:.1%} (goal >= 60 %); "
          f"edgekit collect / mosquitto_sub: {med['after'] / c_med:.1%}; bare paho / mosquitto_sub: {p_med / c_med:.1%}")
    p_cpu = _median(runs, lambda r: r["p_cpu_us"])
    cpu = {label: _median(runs, lambda r, label=label: r["collectors"][label]["cpu_us"]) for label in med}
    print(f"CPU per message (medians; what the load of other jobs changes least): bare paho {p_cpu:.1f} us, "
          + ", ".join(f"edgekit collect [{k}] {v:.1f} us" for k, v in cpu.items())
          + f"; bare paho / edgekit collect [after]: {p_cpu / cpu['after']:.1%}")
    if before:
        b_ratio = _median(runs, lambda r: r["collectors"]["before"]["msg_s"] / r["p_msg_s"])
        print(f"before ({args.before}): {b_ratio:.1%} of bare paho, {med['before'] / c_med:.1%} of mosquitto_sub; "
              f"after / before: {med['after'] / med['before']:.2f}x")
    if shared:
        one, many = shared[0].label, shared[1].label
        print(f"{args.share} collectors sharing one subscription on {share_db}: {med[many]:,.0f} msg/s, "
              f"{med[many] / med[one]:.2f}x one collector on {share_db} ({med[one]:,.0f} msg/s)")
    print("time per message by stage, in one process without a broker (bench/collector_stages.py, 5000 messages):")
    for label, st in stages.items():
        print(f"  {label:6s}: decode+validate {st['decode_validate_us']:6.1f} us, store {st['store_us']:6.1f} us, "
              f"ack {st['ack_us']:5.1f} us")
    live = [r["collectors"]["after"]["stages_us"] for r in runs if r["collectors"]["after"]["stages_us"]]
    if live:
        print("  after, inside the running collector (the worker thread's stage_cpu_seconds_total / messages, "
              "median of runs): " + ", ".join(
                  f"{k} {statistics.median(x[k] for x in live):.1f} us" for k in ("decode_validate", "store", "ack")))
    print(json.dumps({"messages": n, "runs": len(runs), "payload_bytes": round(runs[0]["payload_bytes"]),
                      "mosquitto_sub_msg_s": [round(r["c_msg_s"]) for r in runs],
                      "bare_paho_msg_s": [round(r["p_msg_s"]) for r in runs],
                      "cpu_us_per_msg": {"bare_paho": round(p_cpu, 1), **{k: round(v, 1) for k, v in cpu.items()}},
                      "collectors_msg_s": {k: [round(r["collectors"][k]["msg_s"]) for r in runs] for k in med},
                      "ratio_to_bare_paho": round(ratio, 4), "ratio_to_mosquitto_sub": round(med["after"] / c_med, 4),
                      "stages_us": stages}))


if __name__ == "__main__":
    main()
