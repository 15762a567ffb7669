"""`edgekit fleet status` and `edgekit collect` argument errors, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from edgekit.fleet.collector.status import fleet_status
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator
from helpers_collector import (REPO, CollectorProcess, Publisher, envelope, iso, telemetry_body, wait_until,
                               wire)


def edgekit(*args, timeout=60):
    import os
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env=env)


def test_status_from_status_messages_last_seen_and_violations(tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    v = Validator()
    now = time.time()
    docs = [envelope("status", "pi-01", 0, {"state": "online"}, sent_at=iso(now - 5)),
            envelope("telemetry", "pi-01", 1, telemetry_body(temp_c_max=99.0), sent_at=iso(now - 4)),
            envelope("telemetry", "pi-01", 3, telemetry_body(), sent_at=iso(now - 3)),
            envelope("status", "pi-02", 0, {"state": "online"}, sent_at=iso(now - 10)),
            envelope("status", "pi-02", 0, {"state": "offline"}, sent_at=iso(now - 2)),
            envelope("telemetry", "pi-03", 1, telemetry_body(), sent_at=iso(now - 1))]
    with open_store(db) as s:
        msgs = [v.validate(*wire(d)) for d in docs]
        s.run(lambda tx: tx.store_batch(msgs, [], now))
        s.run(lambda tx: tx.open_violation(device_id="pi-01", fleet="lab", kind="max_temp", subject="",
                                           unit="degC", limit_value=80.0, source="target rpi5", value=99.0,
                                           at_s=now - 4, message_id=msgs[1].message_id))
        rows = {r.device_id: r for r in fleet_status(s, now_s=now + 1)}
        assert (rows["pi-01"].state, rows["pi-01"].basis) == ("online", "status message")
        assert rows["pi-01"].missing_messages == 1 and rows["pi-01"].messages == 3
        assert [o.kind for o in rows["pi-01"].open_violations] == ["max_temp"]
        assert rows["pi-02"].state == "offline"
        assert (rows["pi-03"].state, rows["pi-03"].basis) == ("online", "last seen")
        later = {r.device_id: r for r in fleet_status(s, now_s=now + 1000, stale_after_s=120)}
        assert later["pi-03"].state == "offline" and later["pi-01"].state == "online"

    out = edgekit("fleet", "status", "--db", db, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "edgekit.fleet-status"
    assert {d["device_id"]: d["state"] for d in doc["devices"]} == {"pi-01": "online", "pi-02": "offline",
                                                                   "pi-03": "online"}
    out = edgekit("fleet", "status", "--db", db)
    assert out.returncode == 0 and "pi-01" in out.stdout and "max_temp" in out.stdout, out.stdout


def test_status_errors_are_one_line(tmp_path):
    out = edgekit("fleet", "status", "--db", f"sqlite:///{tmp_path / 'missing.db'}")
    assert out.returncode != 0 and out.stderr.startswith("edgekit: error:") and "does not exist" in out.stderr
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    out = edgekit("fleet", "status", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert out.returncode != 0 and "holds no edgekit fleet data" in out.stderr


def test_collect_argument_errors(tmp_path, mosquitto):
    db = f"sqlite:///{tmp_path / 'f.db'}"
    bad = (tmp_path / "b.toml")
    bad.write_text("[fleet.lab]\npeak_power_w = 'high'\n")
    cases = [
        (["--broker", "http://x", "--db", db], "scheme"),
        (["--broker", mosquitto.url, "--db", "mysql://x"], "unknown database URL"),
        (["--broker", mosquitto.url, "--db", db, "--share", "a/b"], "--share"),
        (["--broker", mosquitto.url, "--db", db, "--fleet", "#"], "--fleet"),
        (["--broker", mosquitto.url, "--db", db, "--budgets", str(bad)], "peak_power_w"),
        (["--broker", "mqtt://127.0.0.1:1", "--db", db], "cannot reach the broker"),
    ]
    for args, needle in cases:
        out = edgekit("collect", *args)
        assert out.returncode != 0, args
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("edgekit: error:") and needle in last, (args, out.stderr)


def test_collect_cli_serves_metrics_and_stops_cleanly(tmp_path, mosquitto):
    import socket
    import urllib.request
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    proc = CollectorProcess(mosquitto.url, db, tmp_path, client_id="cli-metrics",
                            extra=["--metrics-port", str(port), "--metrics-addr", "127.0.0.1"])
    proc.start()
    pub = Publisher(mosquitto.port)
    pub.publish_many([wire(envelope("telemetry", "pi-01", 1, telemetry_body())),
                      ("edgekit/v1/lab/pi-01/telemetry", b"junk")])

    def scrape():
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    wait_until(lambda: 'edgekit_collector_messages_stored_total{kind="telemetry"} 1.0' in scrape(),
               what="stored metric")
    text = scrape()
    assert 'edgekit_collector_messages_rejected_total{reason="not_json"} 1.0' in text
    assert "edgekit_collector_ingest_latency_seconds_count 2.0" in text
    assert "python_gc" not in text          # its own registry, not the global one
    assert proc.stop() == 0
    pub.close()


def test_status_table_keeps_device_ids_whole_at_80_columns(tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    v = Validator()
    now = time.time()
    ids = ["jetson-orin-nano-warehouse-07", "rpi5-dock-camera-12"]
    with open_store(db) as s:
        msgs = [v.validate(*wire(envelope("telemetry", d, 1, telemetry_body(), sent_at=iso(now - 2)))) for d in ids]
        s.run(lambda tx: tx.store_batch(msgs, [], now))
    import os
    out = subprocess.run([sys.executable, "-m", "edgekit", "fleet", "status", "--db", db], capture_output=True,
                         text=True, cwd=REPO, timeout=60, env=dict(os.environ, COLUMNS="80"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert {line.split("│")[2].strip() for line in lines if line.startswith("│")} >= set(ids)


def test_status_of_a_large_fleet_is_counts_and_the_devices_that_need_attention(tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    v = Validator()
    now = time.time()
    # 30 devices heard from just now; dev-07 silent for an hour (offline), dev-11 with a gap of 4 messages
    docs = [envelope("telemetry", f"dev-{i:02d}", 1, telemetry_body(), sent_at=iso(now - 2)) for i in range(30)]
    docs.append(envelope("telemetry", "dev-11", 6, telemetry_body(), sent_at=iso(now - 1)))
    with open_store(db) as s:
        s.run(lambda tx: tx.store_batch([v.validate(*wire(d)) for d in docs if "dev-07" not in d["device_id"]],
                                        [], now))
        s.run(lambda tx: tx.store_batch([v.validate(*wire(d)) for d in docs if d["device_id"] == "dev-07"], [],
                                        now - 3600))
    summary = edgekit("fleet", "status", "--db", db)
    assert summary.returncode == 0, summary.stderr
    out = summary.stdout
    assert "the 20 devices that need attention most" in out and "10 more devices: --all lists every one" in out
    assert "30 devices, 29 online, 0 with open budget violations, 4 messages missing" in out
    assert out.index("dev-07") < out.index("dev-11") < out.index("dev-00")  # offline, then the gap, then the rest
    assert sum(f"dev-{i:02d}" in out for i in range(30)) == 20
    full = edgekit("fleet", "status", "--db", db, "--all").stdout
    assert sum(f"dev-{i:02d}" in full for i in range(30)) == 30 and "more devices" not in full
