"""`edgekit demo` end to end: builds, embedded broker, collector, agents, budgets, report."""

from __future__ import annotations

import subprocess
import sys

from edgekit.fleet.collector.store import open_store


def test_demo_runs_the_whole_loop(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "edgekit", "demo", "--out", str(out), "--bench-duration", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for family_target in ("jetson-orin-nano", "rpi5", "android-arm64"):
        assert (out / "builds" / f"digits_cnn-{family_target}" / "manifest.json").is_file()
    html = (out / "report.html").read_text()
    assert "edgekit fleet report" in html and "<svg" in html
    with open_store(f"sqlite:///{out / 'fleet.db'}", migrate=False) as store:
        counts = store.counts()
        results = store.results()
    assert counts["result"] == 3 and counts["telemetry"] >= 9 and counts["dead_letters"] == 0
    assert {r.device_id for r in results} == {"demo-jetson", "demo-rpi", "demo-phone"}
    # every figure says how it was measured: on a host with no sensor the source is a labelled estimate
    for r in results:
        power = r.document["power"]
        assert power["source"] and power["scope"]
        if power["estimated"]:
            assert r.estimated and power["scope"] == "estimate"
    assert "report:" in proc.stdout and "database:" in proc.stdout


def test_demo_on_the_pure_python_broker(tmp_path):
    """Where mosquitto is not installed the demo falls back to amqtt (MQTT 3.1.1) and still loses nothing."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "edgekit", "demo", "--out", str(out), "--families", "rpi",
                           "--bench-duration", "1", "--embedded-broker", "amqtt"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded amqtt" in proc.stdout
    with open_store(f"sqlite:///{out / 'fleet.db'}", migrate=False) as store:
        counts = store.counts()
    assert counts["result"] == 1 and counts["telemetry"] >= 3 and counts["dead_letters"] == 0


def test_demo_bad_options_are_one_line_errors(tmp_path, capsys):
    from edgekit.commands.main import main

    assert main(["demo", "--out", str(tmp_path / "d"), "--families", "jetson,toaster"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgekit: error: --families") and "\n" not in err
    assert not (tmp_path / "d").exists()
