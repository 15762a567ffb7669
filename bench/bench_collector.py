"""How fast `edgekit collect` drains a backlog, next to a bare C subscriber.

Each run, on a fresh private mosquitto (the configuration of docs/mosquitto.md, on a free loopback port,
persistence in a temp folder):

1. both consumers get a persistent MQTT 5 session (``mosquitto_sub -c`` and a
   short `edgekit collect` start), then go away;
2. a paho publisher sends N bench result documents (QoS 1), so the broker
   queues the same N messages for each session;
3. ``mosquitto_sub`` (QoS 1, printing only each message's receipt time, ``-F %U``)
   drains its backlog; rate = N / (last receipt - first receipt); then a bare
   paho-mqtt subscriber (MQTT 5, automatic PUBACK, doing nothing) drains its own
   copy the same way: the ceiling of any Python collector built on paho;
4. ``edgekit collect`` (SQLite, default settings) drains the same backlog:
   validated, stored, acknowledged to the devices, PUBACKed; rate =
   N / (last commit - first receipt), from the database's own timestamps.

Both rates leave out process start-up and connecting (the C client's wall time,
start-up included, is printed too). Prints every run, then the medians and
their ratio (goal: at least 50 %).

    python bench/bench_collector.py [--messages 10000] [--devices 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
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


def start_collector(broker: Broker, db: str, log: Path, client_id: str) -> subprocess.Popen:
    fh = open(log, "a")
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "collect", "--broker", broker.url, "--db", db,
                             "--client-id", client_id, "--log-level", "warning"],
                            stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    return proc


def count_rows(db_path: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_session(proc: subprocess.Popen, db_path: Path, timeout_s: float = 30) -> None:
    """The collector has subscribed once its schema exists and it answered (give it a moment)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db_path.exists() and count_rows(db_path) == 0:
            try:
                with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as c:
                    c.execute("SELECT 1 FROM schema_version").fetchone()
                time.sleep(1.5)
                return
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    raise RuntimeError("collector did not start")


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


def one_run(n: int, devices: int) -> dict:
    fleet = "bench"
    topic = f"edgekit/v1/{fleet}/+/result"
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-collector-") as tmp:
        tmp = Path(tmp)
        if os.geteuid() == 0:
            os.chmod(tmp, 0o777)
        (tmp / "broker").mkdir()
        broker = Broker(tmp / "broker")
        db_path = tmp / "fleet.db"
        db = f"sqlite:///{db_path}"
        log = tmp / "collector.log"
        try:
            # 1. persistent sessions for both consumers
            subprocess.run(["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(broker.port), "-c",
                            "-i", "bench-c-sub", "-q", "1", "-x", "3600", "-t", topic, "-E"], check=True)
            client, subscribed = paho_session(broker.port, topic)
            client.loop_start()
            subscribed.wait(10)
            client.disconnect()
            client.loop_stop()
            proc = start_collector(broker, db, log, "bench-collector")
            wait_session(proc, db_path)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            # 2. the backlog
            t = time.monotonic()
            size = publish_backlog(broker.port, n, devices, fleet)
            pub_s = time.monotonic() - t
            # 3. bare C subscriber: one receipt time per message (ns resolution, wall clock)
            times_path = tmp / "c-sub-times.txt"
            t = time.monotonic()
            with open(times_path, "w") as out:
                subprocess.run(["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p", str(broker.port), "-c",
                                "-i", "bench-c-sub", "-q", "1", "-x", "3600", "-t", topic, "-C", str(n),
                                "-F", "%U"], check=True, stdout=out, timeout=600)
            c_wall_s = time.monotonic() - t
            stamps = [float(line) for line in times_path.read_text().split()]
            if len(stamps) != n:
                raise RuntimeError(f"mosquitto_sub printed {len(stamps)} receipt times for {n} messages")
            c_s = stamps[-1] - stamps[0]
            p_s = drain_paho(broker.port, topic, n)
            # 4. edgekit collect
            t = time.monotonic()
            proc = start_collector(broker, db, log, "bench-collector")
            while count_rows(db_path) < n:
                if proc.poll() is not None:
                    raise RuntimeError("collector exited:\n" + log.read_text())
                if time.monotonic() - t > 900:
                    raise RuntimeError(f"collector stored only {count_rows(db_path)} of {n}")
                time.sleep(0.2)
            e_wall_s = time.monotonic() - t
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            with sqlite3.connect(db_path) as c:
                first, last, stored = c.execute(
                    "SELECT MIN(received_at_s), MAX(stored_at_s), COUNT(*) FROM messages").fetchone()
                dup = c.execute("SELECT COUNT(*) FROM (SELECT device_id, message_id FROM messages "
                                "GROUP BY 1, 2 HAVING COUNT(*) > 1)").fetchone()[0]
                letters = c.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
            e_s = last - first
        finally:
            broker.stop()
    return {"payload_bytes": size, "publish_s": pub_s, "c_s": c_s, "c_wall_s": c_wall_s, "c_msg_s": n / c_s,
            "p_s": p_s, "p_msg_s": n / p_s,
            "e_s": e_s, "e_wall_s": e_wall_s, "e_msg_s": n / e_s, "stored": stored, "duplicates": dup,
            "dead_letters": letters, "load_avg": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.messages
    runs = []
    for i in range(args.runs):
        r = one_run(n, args.devices)
        runs.append(r)
        print(f"run {i + 1}: {n} result messages of {r['payload_bytes']:.0f} bytes from {args.devices} devices "
              f"(published in {r['publish_s']:.1f} s); load average {r['load_avg']:.1f}")
        print(f"  mosquitto_sub (QoS 1, discarding):       {r['c_msg_s']:10,.0f} msg/s  ({r['c_s']:.3f} s first to "
              f"last receipt; {r['c_wall_s']:.2f} s wall with start-up)")
        print(f"  bare paho subscriber (auto PUBACK):      {r['p_msg_s']:10,.0f} msg/s  ({r['p_s']:.2f} s first to "
              f"last receipt)")
        print(f"  edgekit collect (validate, SQLite, ack): {r['e_msg_s']:10,.0f} msg/s  ({r['e_s']:.2f} s first "
              f"receipt to last commit; {r['e_wall_s']:.1f} s wall with start-up)")
        print(f"  stored {r['stored']} of {n}, duplicates {r['duplicates']}, dead letters {r['dead_letters']}, "
              f"ratio {r['e_msg_s'] / r['c_msg_s']:.1%}")
    c_med = statistics.median(r["c_msg_s"] for r in runs)
    e_med = statistics.median(r["e_msg_s"] for r in runs)
    spread = lambda key: f"{min(r[key] for r in runs):,.0f}-{max(r[key] for r in runs):,.0f}"  # noqa: E731
    p_med = statistics.median(r["p_msg_s"] for r in runs)
    print(f"median of {len(runs)}: mosquitto_sub {c_med:,.0f} msg/s (runs {spread('c_msg_s')}), "
          f"bare paho {p_med:,.0f} msg/s (runs {spread('p_msg_s')}), "
          f"edgekit collect {e_med:,.0f} msg/s (runs {spread('e_msg_s')})")
    print(f"ratio of the medians edgekit collect / mosquitto_sub: {e_med / c_med:.1%} (goal >= 50 %); "
          f"bare paho / mosquitto_sub: {p_med / c_med:.1%}; edgekit collect / bare paho: {e_med / p_med:.1%}")
    print(json.dumps({"messages": n, "runs": len(runs), "payload_bytes": round(runs[0]["payload_bytes"]),
                      "mosquitto_sub_msg_s": [round(r["c_msg_s"]) for r in runs],
                      "collector_msg_s": [round(r["e_msg_s"]) for r in runs],
                      "bare_paho_msg_s": [round(r["p_msg_s"]) for r in runs],
                      "median_mosquitto_sub_msg_s": round(c_med), "median_bare_paho_msg_s": round(p_med), "median_collector_msg_s": round(e_med),
                      "ratio": round(e_med / c_med, 4), "stored": [r["stored"] for r in runs]}))


if __name__ == "__main__":
    main()
