"""The agent against a real mosquitto, real readers on a fake sysfs tree, and a test-local acker."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from test_reporter_acker import Acker

from edgekit.errors import EdgekitError
from edgekit.fleet.device.agent import Agent
from edgekit.commands.agent import _bench_callable, _open_thermal
from edgekit.fleet.messages import parse_broker_url, topic
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool
from edgekit.sensors.detect import open_power_source

REPO = Path(__file__).resolve().parents[3]


# ----------------------------------------------------- fake sysfs builders
def _write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def add_rapl_package(root: Path, energy_uj: int = 0) -> Path:
    """``class/powercap/intel-rapl:0`` named package-0: a cumulative uJ counter."""
    d = root / "class/powercap/intel-rapl:0"
    _write(d / "name", "package-0")
    _write(d / "energy_uj", energy_uj)
    _write(d / "max_energy_range_uj", 262143328850)
    return d


def add_thermal_zone(root: Path, k: int, type_: str, temp_mc: int) -> None:
    d = root / "class/thermal" / f"thermal_zone{k}"
    _write(d / "type", type_)
    _write(d / "temp", temp_mc)


def add_cooling_device(root: Path, k: int, type_: str, cur_state: int, max_state: int) -> None:
    d = root / "class/thermal" / f"cooling_device{k}"
    _write(d / "type", type_)
    _write(d / "cur_state", cur_state)
    _write(d / "max_state", max_state)


class RaplDriver:
    """Advances energy_uj as a package drawing ``power_w`` would (rewritten every 20 ms)."""

    def __init__(self, zone: Path, power_w: float):
        self.zone, self.power_w = zone, power_w
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.wait(0.02):
            uj = int((time.monotonic() - t0) * self.power_w * 1e6)
            tmp = self.zone / "energy_uj.tmp"
            tmp.write_text(f"{uj}\n")
            tmp.replace(self.zone / "energy_uj")

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


@pytest.fixture
def sysroot(tmp_path) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    return root


def _telemetry(acker, device):
    return [json.loads(r[5]) for r in acker.rows(device) if r[2] == "telemetry"]


def test_telemetry_from_rapl_and_thermal_zones(mosquitto, tmp_path, sysroot):
    zone = add_rapl_package(sysroot)
    add_thermal_zone(sysroot, 0, "x86_pkg_temp", 61500)
    add_thermal_zone(sysroot, 1, "acpitz", 45000)
    add_cooling_device(sysroot, 0, "Processor", 1, 10)   # CPU throttling requested
    add_cooling_device(sysroot, 1, "Fan", 3, 5)           # a fan does not count
    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    spool = Spool(tmp_path / "spool.db")
    rep = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="nuc-1", target="x86").start()
    agent = Agent(rep, power=open_power_source("rapl", sysfs_root=sysroot), thermal=_open_thermal(sysroot),
                  interval_s=1.0, sample_hz=20)
    try:
        with RaplDriver(zone, power_w=7.5):
            t = threading.Thread(target=agent.run)
            t.start()
            time.sleep(3.3)
            agent.stop()
            t.join(5)
        assert rep.wait_drained(10)
    finally:
        rep.stop()
        acker.stop()
        spool.close()
    tel = _telemetry(acker, "nuc-1")
    assert len(tel) >= 3
    full = [m["body"] for m in tel if m["body"]["window_s"] >= 0.9]
    assert len(full) >= 2
    for b in full:
        assert b["power_w_avg"] == pytest.approx(7.5, rel=0.1)
        assert b["energy_j"] == pytest.approx(7.5 * b["window_s"], rel=0.15)
        assert b["power_w_peak"] >= b["power_w_avg"] * 0.9
        assert (b["power_source"], b["scope"], b["estimated"]) == ("rapl", "package", False)
        assert b["temp_c_max"] == 61.5 and b["throttled"] is True
        assert b["battery_pct"] is None and b["spool_dropped"] == 0 and b["samples"] >= 15
    assert [m["seq"] for m in tel] == sorted(m["seq"] for m in tel)
    assert all(m["target"] == "x86" for m in tel)


def test_no_power_sensor_gives_nulls_not_guesses(mosquitto, tmp_path, sysroot):
    add_thermal_zone(sysroot, 0, "cpu-thermal", 48000)
    add_cooling_device(sysroot, 0, "Processor", 0, 10)
    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    spool = Spool(tmp_path / "spool.db")
    rep = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="bare").start()
    agent = Agent(rep, power=open_power_source("auto", sysfs_root=sysroot), thermal=_open_thermal(sysroot),
                  interval_s=0.5, sample_hz=10)
    try:
        t = threading.Thread(target=agent.run)
        t.start()
        time.sleep(1.2)
        agent.stop()
        t.join(5)
        assert rep.wait_drained(10)
    finally:
        rep.stop()
        acker.stop()
        spool.close()
    b = _telemetry(acker, "bare")[0]["body"]
    assert b["power_w_avg"] is None and b["energy_j"] is None and b["power_w_peak"] is None
    assert b["scope"] == "none" and b["estimated"] is None
    assert b["temp_c_max"] == 48.0 and b["throttled"] is False


def test_spool_drops_are_counted_and_reported_in_later_telemetry(mosquitto, tmp_path, sysroot):
    add_thermal_zone(sysroot, 0, "cpu-thermal", 50000)
    spool = Spool(tmp_path / "spool.db", max_rows=3)
    # No collector at first: nothing is acknowledged, the bounded spool overflows.
    rep = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="tiny", resend_after_s=1).start()
    agent = Agent(rep, thermal=_open_thermal(sysroot), interval_s=0.1, sample_hz=20)
    t = threading.Thread(target=agent.run)
    t.start()
    acker = None
    try:
        deadline = time.monotonic() + 10
        while spool.stats().dropped_total < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert spool.stats().dropped_total >= 5
        acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
        time.sleep(1.0)
        agent.stop()
        t.join(5)
        assert rep.wait_drained(10)
        dropped = spool.stats().dropped_total
    finally:
        agent.stop()
        rep.stop()
        if acker:
            acker.stop()
        spool.close()
    tel = sorted(_telemetry(acker, "tiny"), key=lambda m: m["seq"])
    last = tel[-1]
    # every seq the collector will never see is accounted for by the reported drop counter
    assert last["seq"] - len(tel) == dropped == last["body"]["spool_dropped"]
    assert dropped >= 5


def test_a_failing_benchmark_is_counted_and_the_agent_keeps_reporting(mosquitto, tmp_path, sysroot):
    add_thermal_zone(sysroot, 0, "cpu-thermal", 50000)
    junk = tmp_path / "broken.onnx"
    junk.write_bytes(b"this is not an onnx model")

    class Args:
        bench_duration = 1.0
        power = "none"
        target = None

    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    spool = Spool(tmp_path / "spool.db")
    rep = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="b1").start()
    agent = Agent(rep, thermal=_open_thermal(sysroot), interval_s=0.3, sample_hz=5,
                  bench=_bench_callable(str(junk), Args, "b1", sysroot), every_s=0.5, first_bench_after_s=0.0)
    try:
        t = threading.Thread(target=agent.run)
        t.start()
        time.sleep(2.0)
        agent.stop()
        t.join(10)
        assert rep.wait_drained(10)
    finally:
        rep.stop()
        acker.stop()
        spool.close()
    assert agent.stats.bench_failures >= 1 and agent.stats.benches_run == 0
    assert len(_telemetry(acker, "b1")) >= 3


def test_bench_option_errors():
    class Args:
        bench_duration = 1.0
        power = "auto"
        target = None
    with pytest.raises(EdgekitError, match="no such build directory"):
        _bench_callable("/nonexistent/model.onnx", Args, "d", Path("/sys"))
    with pytest.raises(EdgekitError, match="--every"):
        Agent(None, bench=lambda: {}, every_s=None)


@pytest.mark.slow
def test_scheduled_benchmark_of_the_bundled_model_is_reported(mosquitto, tmp_path, sysroot):
    model = REPO / "models" / "digits_cnn.onnx"
    if not model.is_file():
        pytest.skip("bundled digits model missing")
    zone = add_rapl_package(sysroot)
    add_thermal_zone(sysroot, 0, "x86_pkg_temp", 55000)

    class Args:
        bench_duration = 1.0
        power = "rapl"
        target = None

    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    spool = Spool(tmp_path / "spool.db")
    rep = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="bench-1").start()
    agent = Agent(rep, thermal=_open_thermal(sysroot), interval_s=5.0, sample_hz=2,
                  bench=_bench_callable(str(model), Args, "bench-1", sysroot), every_s=600, first_bench_after_s=0.0)
    try:
        with RaplDriver(zone, power_w=12.0):
            t = threading.Thread(target=agent.run)
            t.start()
            deadline = time.monotonic() + 60
            while agent.stats.benches_run + agent.stats.bench_failures == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            agent.stop()
            t.join(10)
        assert agent.stats.benches_run == 1, agent.stats
        assert rep.wait_drained(10)
    finally:
        rep.stop()
        acker.stop()
        spool.close()
    results = [json.loads(r[5]) for r in acker.rows("bench-1") if r[2] == "result"]
    assert len(results) == 1
    body = results[0]["body"]
    assert body["schema"] == "edgekit.result"
    assert body["power"]["source"] == "rapl" and body["power"]["scope"] == "package"
    assert body["power"]["avg_w"] == pytest.approx(12.0, rel=0.15)
    assert body["latency"]


# ------------------------------------------------------- the service process
def _retained_status(port: int, device: str, timeout_s: float = 5.0) -> dict | None:
    got: list[dict] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: got.append(json.loads(m.payload))
    c.connect("127.0.0.1", port)
    c.subscribe(topic("lab", device, "status"), qos=1)
    deadline = time.monotonic() + timeout_s
    while not got and time.monotonic() < deadline:
        c.loop(0.1)
    c.disconnect()
    return got[-1] if got else None


def _agent_proc(mosquitto, tmp_path, sysroot, device: str):
    return subprocess.Popen(
        [sys.executable, "-m", "edgekit.commands.agent", "--broker", mosquitto.url, "--fleet", "lab",
         "--device-id", device, "--interval", "0.5", "--sample-hz", "10", "--power", "rapl",
         "--sysfs-root", str(sysroot), "--spool", str(tmp_path / f"{device}.db"), "--resend-after", "2"],
        stderr=subprocess.PIPE, text=True)


def test_agent_service_survives_broker_outage_and_stops_on_sigterm(mosquitto, tmp_path, sysroot):
    zone = add_rapl_package(sysroot)
    add_thermal_zone(sysroot, 0, "x86_pkg_temp", 40000)
    acker = Acker(mosquitto.url, tmp_path / "acks.db").start()
    with RaplDriver(zone, power_w=3.0):
        proc = _agent_proc(mosquitto, tmp_path, sysroot, "svc-1")
        try:
            assert acker.wait_count(2, 20) >= 2
            assert _retained_status(mosquitto.port, "svc-1")["body"]["state"] == "online"
            mosquitto.kill()
            time.sleep(2.0)            # telemetry piles up in the spool meanwhile
            assert proc.poll() is None  # no crash
            mosquitto.start()
            time.sleep(4.0)
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(20)
            err = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    status = _retained_status(mosquitto.port, "svc-1")
    acker.stop()
    assert rc == 0, err
    assert "Traceback" not in err
    assert status["body"]["state"] == "offline" and status["seq"] == 0
    stored = [m["seq"] for m in _telemetry(acker, "svc-1")]
    with Spool(tmp_path / "svc-1.db") as sp:
        pending = {m.seq for m in sp.pending()}
        last = sp.last_seq("lab", "svc-1")
        assert sp.stats().dropped_total == 0
    # every telemetry window made, across the outage, is stored exactly once or still spooled
    assert len(stored) == len(set(stored))
    assert set(stored) | pending == set(range(1, last + 1))
    assert len(stored) >= 10


def test_killed_agent_leaves_a_last_will_offline(mosquitto, tmp_path, sysroot):
    add_rapl_package(sysroot)
    proc = _agent_proc(mosquitto, tmp_path, sysroot, "svc-2")
    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            status = _retained_status(mosquitto.port, "svc-2", 1.0)
            if status and status["body"]["state"] == "online":
                break
        assert status and status["body"]["state"] == "online"
    finally:
        proc.kill()  # SIGKILL: no clean disconnect, the broker publishes the will
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = _retained_status(mosquitto.port, "svc-2", 1.0)
        if status and status["body"]["state"] == "offline":
            break
    assert status["body"]["state"] == "offline"
    assert status["kind"] == "status" and len(status["message_id"]) == 32


@pytest.mark.parametrize("argv,match", [
    (["--broker", "http://h"], "scheme"),
    (["--broker", "mqtt://h", "--bench", "m.onnx"], "--every"),
    (["--broker", "mqtt://h", "--interval", "0"], "--interval"),
    (["--broker", "mqtt://h", "--interval", "nan"], "--interval must be a positive finite"),
    (["--broker", "mqtt://h", "--sample-hz", "nan"], "--sample-hz must be a positive finite"),
    (["--broker", "mqtt://h", "--resend-after", "-1"], "--resend-after must be a positive finite"),
    (["--broker", "mqtt://h", "--bench", "m.onnx", "--every", "inf"], "--every must be a positive finite"),
    (["--broker", "mqtt://h", "--bench", "m.onnx", "--every", "5", "--bench-duration", "-5"], "--bench-duration"),
    (["--broker", "mqtt://h", "--device-id", "a/b"], "topic level"),
    (["--broker", "mqtt://h", "--sysfs-root", "/nonexistent-sysfs"], "--sysfs-root"),
])
def test_agent_command_bad_input_is_one_line_and_nonzero(argv, match, capsys, tmp_path):
    from edgekit.commands.agent import main

    rc = main(argv + ["--spool", str(tmp_path / "s.db")])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("edgekit: error:") and match in err and "\n" not in err
    assert not (tmp_path / "s.db").exists()  # nothing half-made


def test_counter_only_battery_telemetry_is_encodable(sysroot):
    # energy_now only (no power_now/current_now): power is NaN until the gauge stepped twice
    from edgekit.fleet.device.agent import TelemetryWindow
    from edgekit.fleet.messages import encode

    bat = sysroot / "class/power_supply/BAT0"
    for k, v in dict(type="Battery", status="Discharging", capacity=80, energy_now=30_000_000,
                     energy_full=50_000_000, voltage_now=11_400_000).items():
        _write(bat / k, v)
    src = open_power_source("battery", sysfs_root=sysroot)
    window = TelemetryWindow(start_s=time.monotonic())
    for uwh in (30_000_000, 29_999_000, 29_999_000, 29_998_000, 29_997_000):
        _write(bat / "energy_now", uwh)
        window.add_power(src.read())
        time.sleep(0.01)
    assert any(s.power_w != s.power_w for s in window.samples)  # the first reads carry NaN
    body = window.body(time.monotonic(), src, spool_dropped=0, spool_pending=0)
    encode(body)  # NaN would make the message unsendable
    assert body["power_w_peak"] > 0 and body["energy_j"] == pytest.approx(3 * 3.6)


def test_bad_spool_leaves_no_sensor_process_behind(tmp_path, capsys, monkeypatch):
    # a fake tegrastats (Orin NX line from the reference) that records that it was started
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    started = tmp_path / "tegrastats.pid"
    line = ("RAM 6334/15388MB (lfb 1770x4MB) CPU [6%@729,9%@729] EMC_FREQ 0%@2133 GR3D_FREQ 0%@611 CPU@47.937C "
            "VDD_IN 5299mW/5299mW VDD_CPU_GPU_CV 773mW/773mW VDD_SOC 1424mW/1424mW")
    fake = bin_dir / "tegrastats"
    fake.write_text(f"#!{sys.executable}\nimport os, sys, time\nopen({str(started)!r}, 'w').write(str(os.getpid()))\n"
                    f"while True:\n    print({line!r}, flush=True)\n    time.sleep(0.1)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    not_a_db = tmp_path / "spool.db"
    not_a_db.write_text("not a database\n")
    from edgekit.commands.agent import main

    rc = main(["--broker", "mqtt://127.0.0.1:1", "--power", "tegrastats", "--spool", str(not_a_db)])
    assert rc != 0 and "cannot open the spool" in capsys.readouterr().err
    assert not started.exists()  # the sensor process was never started for a run that could not spool


def test_failing_get_throttled_keeps_the_agents_thermal_zones(sysroot, tmp_path, monkeypatch, caplog):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "vcgencmd"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('cannot open /dev/vcio: Permission denied\\n')\n"
                   "sys.exit(255)\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    add_thermal_zone(sysroot, 0, "cpu-thermal", 47000)
    with caplog.at_level("WARNING", logger="edgekit.fleet.agent"):
        read = _open_thermal(sysroot)
    assert read().max_temp_c == pytest.approx(47.0)
    assert "throttling flags unavailable" in caplog.text
