"""A simulated fleet: many devices report telemetry every 10 s to `edgekit collect`; is anything lost?

One private mosquitto (docs/mosquitto.md settings) on loopback, one
`edgekit collect` process (SQLite), and this process simulating D devices
multiplexed over a few paho connections (MQTT 5, QoS 1): device i sends its
telemetry at offset i/D * interval within every interval, with its own
sequence number. An independent subscriber counts the collector's acks.

At the end it checks, in the database, that every published message is stored
exactly once with no sequence gap, and prints the publish rate, the drain time
after the last publish, and the end-to-end delay (device clock to commit;
same host, same clock).

    python bench/bench_fleet_sim.py --devices 10000 --duration 180
    python bench/bench_fleet_sim.py --ramp 10000,20000,40000 --duration 30   # find the ceiling

In ramp mode each step runs a fresh broker and database; a step "keeps up"
when the collector stored everything within one reporting interval after the
last publish and the p99 delay stayed under one interval.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collector import Broker, count_rows, start_collector, wait_session  # noqa: E402

from edgekit.fleet.messages import build_envelope, encode, utc_timestamp  # noqa: E402


def connect(port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def run_step(devices: int, duration_s: float, interval_s: float, connections: int, keep: bool) -> dict:
    fleet = "sim"
    with tempfile.TemporaryDirectory(prefix="edgekit-fleet-sim-") as tmp:
        tmp = Path(tmp)
        if os.geteuid() == 0:
            os.chmod(tmp, 0o777)
        (tmp / "broker").mkdir()
        broker = Broker(tmp / "broker")
        db_path = tmp / "fleet.db"
        log = tmp / "collector.log"
        proc = start_collector(broker, f"sqlite:///{db_path}", log, "sim-collector")
        try:
            wait_session(proc, db_path)
            acks = [0]
            ack_client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sim-acks", protocol=mqtt.MQTTv5)

            def on_ack(c, u, msg):
                acks[0] += len(json.loads(msg.payload)["message_ids"])
            ack_client.on_message = on_ack
            ack_client.on_connect = lambda c, *a: c.subscribe(f"edgekit/v1/{fleet}/+/ack", qos=1)
            ack_client.connect("127.0.0.1", broker.port)
            ack_client.loop_start()
            clients = [connect(broker.port, f"sim-pub-{k}") for k in range(connections)]
            time.sleep(0.5)

            published = [0] * connections
            errors = [0] * connections
            late_s = [0.0] * connections
            start = time.monotonic() + 0.5
            rounds = max(1, int(duration_s / interval_s))

            def publisher(k: int) -> None:
                client = clients[k]
                mine = list(range(k, devices, connections))
                for r in range(rounds):
                    for i in mine:
                        due = start + r * interval_s + i / devices * interval_s
                        delay = due - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        else:
                            late_s[k] = max(late_s[k], -delay)
                        dev = f"sim-{i:06d}"
                        body = {"window_s": interval_s, "power_w_avg": 3.0 + (i % 10) * 0.1, "power_w_peak": 4.5,
                                "energy_j": 30.0, "temp_c_max": 55.0, "throttled": False, "battery_pct": None,
                                "battery_drain_pct_h": None, "power_source": "sim", "scope": "board",
                                "estimated": True}
                        doc = build_envelope("telemetry", body, fleet=fleet, device_id=dev, seq=r + 1,
                                             target="rpi5", sent_at=utc_timestamp())
                        rc = client.publish(f"edgekit/v1/{fleet}/{dev}/telemetry", encode(doc), qos=1).rc
                        if rc == mqtt.MQTT_ERR_SUCCESS:
                            published[k] += 1
                        else:
                            errors[k] += 1

            threads = [threading.Thread(target=publisher, args=(k,)) for k in range(connections)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            end_pub = time.monotonic()
            total = sum(published)
            expected = devices * rounds
            drained = None
            while time.monotonic() - end_pub < 120:
                if count_rows(db_path) >= total:
                    drained = time.monotonic() - end_pub
                    break
                if proc.poll() is not None:
                    raise RuntimeError("collector exited:\n" + log.read_text())
                time.sleep(0.2)
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            for c in clients + [ack_client]:
                c.disconnect()
                c.loop_stop()
            with sqlite3.connect(db_path) as db:
                stored, uniq = db.execute("SELECT COUNT(*), COUNT(DISTINCT device_id || message_id) "
                                          "FROM messages").fetchone()
                open_gaps = db.execute("SELECT COALESCE(SUM(missing), 0) FROM gaps WHERE missing > 0").fetchone()[0]
                full = db.execute("SELECT COUNT(*) FROM devices WHERE max_seq = ? AND messages = ?",
                                  (rounds, rounds)).fetchone()[0]
                delays = [r[0] for r in db.execute("SELECT stored_at_s - sent_at_s FROM messages ORDER BY 1")]
            p50 = delays[len(delays) // 2] if delays else None
            p99 = delays[int(len(delays) * 0.99)] if delays else None
            out = {
                "devices": devices, "interval_s": interval_s, "rounds": rounds,
                "publish_s": round(end_pub - start, 1), "expected": expected, "published": total,
                "publish_errors": sum(errors), "offered_msg_s": round(devices / interval_s),
                "achieved_publish_msg_s": round(total / (end_pub - start)), "publisher_max_late_s": round(max(late_s), 2),
                "stored": stored, "unique": uniq, "acked": acks[0], "devices_complete": full, "open_gap_messages": open_gaps,
                "drain_after_last_publish_s": None if drained is None else round(drained, 2),
                "delay_p50_s": None if p50 is None else round(p50, 3), "delay_p99_s": None if p99 is None else round(p99, 3),
                "zero_loss": stored == total == expected and uniq == stored and open_gaps == 0 and full == devices,
            }
            out["keeps_up"] = bool(out["zero_loss"] and drained is not None and drained <= interval_s
                                   and p99 is not None and p99 <= interval_s and max(late_s) < interval_s)
            if keep:
                print(log.read_text()[-2000:])
            return out
        finally:
            if proc.poll() is None:
                proc.kill()
            broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of reporting")
    ap.add_argument("--interval", type=float, default=10.0, help="telemetry interval per device, s")
    ap.add_argument("--connections", type=int, default=4, help="paho connections the devices share")
    ap.add_argument("--ramp", help="comma-separated device counts, one short step each")
    ap.add_argument("--show-log", action="store_true")
    args = ap.parse_args()
    steps = [int(x) for x in args.ramp.split(",")] if args.ramp else [args.devices]
    ceiling = None
    for d in steps:
        res = run_step(d, args.duration, args.interval, args.connections, args.show_log)
        print(json.dumps(res))
        print(f"{d} devices x 1 msg/{args.interval:g} s = {res['offered_msg_s']} msg/s offered, "
              f"{res['achieved_publish_msg_s']} published/s; stored {res['stored']}/{res['expected']} "
              f"(unique {res['unique']}, acked {res['acked']}), open gaps {res['open_gap_messages']}, "
              f"drained {res['drain_after_last_publish_s']} s after the last publish, "
              f"delay p50 {res['delay_p50_s']} s p99 {res['delay_p99_s']} s -> "
              f"{'zero loss' if res['zero_loss'] else 'LOSS'}, {'keeps up' if res['keeps_up'] else 'falls behind'}",
              flush=True)
        if res["keeps_up"]:
            ceiling = d
        else:
            break
    if args.ramp:
        print(f"ceiling on this machine: {ceiling} devices reporting every {args.interval:g} s" if ceiling
              else "the first step already fell behind")


if __name__ == "__main__":
    main()
