"""``edgekit bench --emulate arm64``: the bench's loop in the emulated root's runtime, labelled emulated throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.bench.emulated import run_emulated_bench
from edgekit.bench.provenance import EMULATED_SOURCE, is_emulated
from edgekit.bench.settings import BenchSettings
from edgekit.commands.main import main

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "models" / "digits_cnn.onnx"


def _ours(root_tmp: Path) -> set[str]:
    """The emulated bench's run directories (other runs in the root, e.g. a build's, hold no emulated_bench.py)."""
    return {p.name for p in root_tmp.glob("edgekit-*") if (p / "emulated_bench.py").exists()}


def test_emulated_bench_times_the_roots_runtime_and_says_it_is_no_device_figure(arm64):
    before = _ours(arm64.root / "tmp")
    doc = run_emulated_bench(DIGITS, BenchSettings(iterations=25, warmup_s=0.2, target="rpi5",
                                                   device_id="virtual-pi"))
    assert is_emulated(doc) and doc["latency"]["source"] == EMULATED_SOURCE
    assert doc["latency"]["count"] == 25 and doc["latency"]["p50_ms"] > 0
    # the root's own runtime ran it, on aarch64, as the Pi 5's core
    assert doc["device"]["arch"] == "aarch64" and doc["device"]["id"] == "virtual-pi"
    assert "cortex-a76" in doc["device"]["cpu"] and "qemu-user" in doc["device"]["cpu"]
    assert "emulated" in doc["device"]["os"] and "Debian" in doc["device"]["os"]
    assert doc["runtime"]["name"] == "onnxruntime"
    assert doc["runtime"]["version"] == arm64.versions["onnxruntime"]
    assert doc["device"]["runtimes"]["qemu"] == arm64.versions["qemu"]
    # no power sensor and no power model in an emulated device: no figure rather than the host's
    assert doc["power"] is None and doc["energy"] is None and doc["battery"] is None
    flags = {f["code"]: f for f in doc["validity"]["flags"]}
    assert flags["emulated"]["severity"] == "invalid" and "not the device's" in flags["emulated"]["message"]
    assert not doc["validity"]["energy_valid"]
    assert doc["settings"]["power"] == "none" and doc["settings"]["idle_s"] == 0.0
    assert _ours(arm64.root / "tmp") <= before  # the run's private directory is gone


def test_emulated_cli_prints_the_label_and_writes_the_document(arm64, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["bench", str(DIGITS), "--emulate", "arm64", "--iterations", "10", "--warmup", "0",
               "--target", "rpi5", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "EMULATED" in text and "NOT the device's latency" in text
    doc = json.loads(out.read_text())
    assert is_emulated(doc) and doc["latency"]["count"] == 10


def test_report_goes_out_under_the_emulated_devices_id_not_the_hosts(arm64, mosquitto, tmp_path, capsys):
    """No collector listens: the result stays spooled, unconfirmed (exit 3), under <host>-emulated-arm64."""
    import socket
    import sqlite3

    spool = tmp_path / "spool.db"
    rc = main(["bench", str(DIGITS), "--emulate", "arm64", "--iterations", "5", "--warmup", "0", "--target", "rpi5",
               "--report", mosquitto.url, "--report-timeout", "2", "--spool", str(spool), "--fleet", "lab"])
    assert rc == 3, capsys.readouterr().err
    with sqlite3.connect(spool) as db:
        rows = db.execute("SELECT device_id, kind, payload FROM outbox").fetchall()
    assert [(d, k) for d, k, _ in rows] == [(f"{socket.gethostname()}-emulated-arm64", "result")]
    assert is_emulated(json.loads(rows[0][2])["body"])


def test_without_the_root_the_error_names_the_install_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "none"))
    rc = main(["bench", str(DIGITS), "--emulate", "arm64", "--iterations", "1"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert "not installed" in err and "edgekit toolchain install arm64" in err


@pytest.mark.parametrize("extra", [["--power", "rapl"], ["--adb-serial", "X"]])
def test_power_options_are_refused_in_one_line(extra, capsys):
    rc = main(["bench", str(DIGITS), "--emulate", "arm64", "--iterations", "1", *extra])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "no power sensor" in err and "--emulate arm64" in err


@pytest.mark.slow
def test_sigterm_during_the_emulated_bench_leaves_nothing(arm64, tmp_path):
    """Our run's private directory (the one holding emulated_bench.py) is gone, and so is the emulated process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    tmp = arm64.root / "tmp"

    def ours() -> set[Path]:
        return {p for p in tmp.glob("edgekit-*") if (p / "emulated_bench.py").exists() and (p / "request.json")
                .exists() and json.loads((p / "request.json").read_text()).get("duration_s") == 120}

    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "bench", str(DIGITS), "--emulate", "arm64",
                             "--duration", "120", "--warmup", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ours():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    seen = ours()
    assert seen, "the bench never reached the emulated run"
    time.sleep(1.0)  # the emulated loop is running
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped by SIGTERM" in err.decode()
    assert not any(p.exists() for p in seen)
    names = [p.name for p in seen]
    time.sleep(0.5)
    left = [c for c in _cmdlines() if any(n in c for n in names)]
    assert not left, left  # the emulated python went with the bench
    assert not [ln for ln in Path("/proc/self/mounts").read_text().splitlines() if str(arm64.root) in ln]


def _cmdlines() -> list[str]:
    out = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            out.append(p.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return out
