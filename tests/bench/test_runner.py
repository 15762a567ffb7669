"""The runner end to end on this machine: real onnxruntime sessions on real models, fake sensors under tmp_path."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import jsonschema
import numpy as np
import pytest

from benchfakes import orin_nano_hwmon, thermal_zone, write
from edgekit.bench.result import load_schema
from edgekit.bench.runner import run_bench
from edgekit.bench.settings import BenchSettings
from edgekit.commands.main import main
from edgekit.errors import ModelError


def quick(**kw) -> BenchSettings:
    base = dict(duration_s=1.0, warmup_s=0.1, idle_s=0.3, sample_hz=100)
    base.update(kw)
    return BenchSettings(**base)


def check_schema(doc: dict) -> None:
    jsonschema.Draft202012Validator(load_schema()).validate(doc)


def test_jetson_hwmon_energy_is_checkable(digits_model, sysroot):
    orin_nano_hwmon(sysroot, vdd_in_mv=5000, vdd_in_ma=1240)    # VDD_IN = 6.2 W, the test's value
    thermal_zone(sysroot, 0, "cpu-thermal", 51250)
    doc = run_bench(digits_model, quick(power="jetson", sysfs_root=sysroot))
    check_schema(doc)
    p, e, lat = doc["power"], doc["energy"], doc["latency"]
    assert p["source"] == "jetson-ina3221-hwmon" and p["scope"] == "module" and p["rails"] == ["VDD_IN"]
    assert p["avg_w"] == pytest.approx(6.2) and p["idle_w"] == pytest.approx(6.2) and p["peak_w"] == pytest.approx(6.2)
    assert p["samples"] >= 30 and not p["estimated"]
    assert e["method"] == "trapezoid"
    expected_mj = 6.2 * lat["window_s"] / lat["count"] * 1e3
    assert e["total_mj_per_inference"] == pytest.approx(expected_mj, rel=1e-3)
    assert abs(e["net_mj_per_inference"]) <= e["net_uncertainty_mj_per_inference"]
    codes = {f["code"] for f in doc["validity"]["flags"]}
    assert "window_short" in codes and not doc["validity"]["energy_valid"]   # 1 s < 10 s
    assert doc["runtime"]["providers"] == ["CPUExecutionProvider"]
    th = doc["thermal"]
    assert th["zones"][0]["name"] == "cpu-thermal" and th["max_temp_c"] == pytest.approx(51.25)
    assert th["throttled"] is False
    assert doc["artifact"]["format"] == "onnx" and len(doc["artifact"]["sha256"]) == 64
    assert lat["count"] > 10 and lat["first_inference_ms"] > 0
    assert datetime.fromisoformat(doc["measured_at"].replace("Z", "+00:00")).tzinfo == timezone.utc


def test_estimate_source_is_labelled_everywhere(digits_model, sysroot):
    doc = run_bench(digits_model, quick(power="estimate", target="jetson-orin-nano", sysfs_root=sysroot,
                                        sample_hz=20))
    check_schema(doc)
    assert doc["power"]["estimated"] and doc["power"]["scope"] == "estimate"
    assert doc["energy"]["estimated"]
    assert "estimated_source" in {f["code"] for f in doc["validity"]["flags"]}
    assert doc["device"]["target"] == "jetson-orin-nano"


def test_fixed_rate_run_has_gaps_and_counts_arrivals(digits_model, sysroot):
    orin_nano_hwmon(sysroot)
    doc = run_bench(digits_model, quick(power="jetson", sysfs_root=sysroot, rate_hz=25.0, idle_s=0.0))
    check_schema(doc)
    r, lat = doc["rate"], doc["latency"]
    assert r["rate_hz"] == 25.0 and r["arrivals"] == 25
    assert r["missed_deadlines"] <= 2  # only a badly overloaded machine oversleeps a 40 ms gap
    assert lat["count"] + r["dropped_arrivals"] == 25
    assert lat["throughput_ips"] == pytest.approx(lat["count"] / lat["window_s"])
    assert lat["window_s"] == pytest.approx(1.0, abs=0.06)
    assert doc["power"]["idle_w"] is None and doc["energy"]["net_mj_per_inference"] is None
    assert "no_idle_baseline" in {f["code"] for f in doc["validity"]["flags"]}


def test_sparse_sampling_in_rate_mode_is_flagged(digits_model, sysroot):
    orin_nano_hwmon(sysroot)
    doc = run_bench(digits_model, quick(power="jetson", sysfs_root=sysroot, rate_hz=20.0, sample_hz=15,
                                        idle_s=0.0))
    assert "sparse_sampling" in {f["code"] for f in doc["validity"]["flags"]}


def test_iterations_mode_with_real_inputs_cycled(digits_model, sysroot, tmp_path):
    x = np.random.default_rng(0).random((7, 1, 8, 8), dtype=np.float32)
    npz = tmp_path / "in.npz"
    np.savez(npz, input=x, labels=np.arange(7))
    name = __import__("onnx").load(str(digits_model)).graph.input[0].name
    if name != "input":
        np.savez(npz, **{name: x, "labels": np.arange(7)})
    doc = run_bench(digits_model, BenchSettings(iterations=40, warmup_s=0.0, idle_s=0.0, input_npz=npz,
                                                sysfs_root=sysroot))
    check_schema(doc)
    assert doc["latency"]["count"] == 40
    assert doc["settings"]["input_samples"] == 7 and doc["settings"]["input"] == str(npz)


def test_build_directory_with_missing_provider_falls_back_visibly(digits_model, sysroot, tmp_path, capsys):
    build = tmp_path / "build"
    build.mkdir()
    (build / "model.onnx").write_bytes(digits_model.read_bytes())
    import hashlib
    manifest = {"target": "jetson-orin-nano", "precision": "fp32",
                "artifacts": [{"path": "model.onnx", "format": "onnx", "bytes": digits_model.stat().st_size,
                               "sha256": hashlib.sha256(digits_model.read_bytes()).hexdigest()}],
                "execution_providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}
    (build / "manifest.json").write_text(json.dumps(manifest))
    orin_nano_hwmon(sysroot)
    doc = run_bench(build, quick(power="jetson", sysfs_root=sysroot, idle_s=0.0))
    check_schema(doc)
    rt = doc["runtime"]
    assert rt["providers"] == ["CPUExecutionProvider"]
    assert rt["missing_providers"] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert "provider_fallback" in {f["code"] for f in doc["validity"]["flags"]}
    assert "TensorrtExecutionProvider" in capsys.readouterr().err
    assert doc["artifact"]["precision"] == "fp32" and doc["device"]["target"] == "jetson-orin-nano"


def test_tflite_model_runs_in_litert(sysroot, tmp_path):
    from litert_models import tiny_tflite

    orin_nano_hwmon(sysroot)
    doc = run_bench(tiny_tflite(tmp_path / "add.tflite"), quick(power="jetson", sysfs_root=sysroot, idle_s=0.0))
    check_schema(doc)
    assert doc["runtime"]["name"] == "litert" and doc["artifact"]["format"] == "tflite"
    assert doc["latency"]["count"] > 10


def test_build_directory_with_changed_artifact_is_refused(digits_model, tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "model.onnx").write_bytes(digits_model.read_bytes())
    (build / "manifest.json").write_text(json.dumps(
        {"artifacts": [{"path": "model.onnx", "format": "onnx", "sha256": "0" * 64}]}))
    with pytest.raises(ModelError, match="does not match the manifest"):
        run_bench(build, quick())


def test_battery_device_drain_figures(digits_model, sysroot):
    # energy-based ACPI laptop battery (xmobar #315 numbers): 27.758 W at 10.459 V, 25.86 Wh full
    d = sysroot / "class/power_supply/BAT0"
    for k, v in dict(type="Battery", status="Discharging", present=1, capacity=9, voltage_now=10459000,
                     power_now=27758000, energy_now=2420000, energy_full=25860000).items():
        write(d / k, v)
    doc = run_bench(digits_model, quick(power="battery", sysfs_root=sysroot, sample_hz=20, idle_s=0.0))
    check_schema(doc)
    b = doc["battery"]
    assert doc["power"]["scope"] == "battery" and doc["power"]["avg_w"] == pytest.approx(27.758)
    assert b["avg_current_ma"] == pytest.approx(27.758 / 10.459 * 1000, rel=1e-3)
    assert b["capacity_mah"] == pytest.approx(25.86 / 10.459 * 1000, rel=1e-6)
    assert b["projected_life_h"] == pytest.approx(25.86 / 27.758, rel=1e-3)
    assert b["mah_per_1000_inferences"] == pytest.approx(b["drain_mah"] / doc["latency"]["count"] * 1000)
    assert b["capacity_pct_start"] == 9 and b["status"] == "Discharging"


TEST_TIMEOUT_S = 600  # pyproject's pytest timeout


def test_meter_trace_aligned_by_wall_clock(digits_model, sysroot, tmp_path):
    # the trace covers the whole run however slow the machine: from 5 s before now to the test's own timeout
    now = time.time()
    rows = ["timestamp,power_w"] + [f"{now - 5 + i * 0.01:.3f},4.5" for i in range(100 * (5 + TEST_TIMEOUT_S))]
    csv = tmp_path / "meter.csv"
    csv.write_text("\n".join(rows) + "\n")
    doc = run_bench(digits_model, quick(power="trace", trace_file=csv, sysfs_root=sysroot))
    check_schema(doc)
    assert doc["power"]["source"] == "trace"
    assert doc["power"]["avg_w"] == pytest.approx(4.5) and doc["power"]["idle_w"] == pytest.approx(4.5)
    assert doc["power"]["sample_hz"] == pytest.approx(100, rel=0.05)
    assert doc["energy"]["total_mj_per_inference"] == pytest.approx(
        4.5 * doc["latency"]["window_s"] / doc["latency"]["count"] * 1e3, rel=1e-3)


def test_no_sensor_reports_latency_only(digits_model, sysroot, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no vcgencmd / tegrastats
    doc = run_bench(digits_model, quick(power="auto", sysfs_root=sysroot, idle_s=0.0))
    check_schema(doc)
    assert doc["power"] is None and doc["energy"] is None
    assert not doc["validity"]["energy_valid"]
    assert "no_power_sensor" in {f["code"] for f in doc["validity"]["flags"]}


# --- the command line -------------------------------------------------------------------

def run_cli(capsys, *argv):
    rc = main(["bench", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json_and_out(digits_model, sysroot, tmp_path, capsys):
    orin_nano_hwmon(sysroot)
    out = tmp_path / "r.json"
    rc, stdout, _ = run_cli(capsys, digits_model, "--duration", "0.5", "--warmup", "0", "--idle", "0.2",
                            "--power", "jetson", "--sysfs-root", sysroot, "--sample-hz", "50", "--json", "--out", out)
    assert rc == 0
    doc = json.loads(stdout)
    check_schema(doc)
    assert json.loads(out.read_text()) == doc


def test_cli_table_labels_every_energy_figure(digits_model, sysroot, capsys, monkeypatch):
    orin_nano_hwmon(sysroot)
    monkeypatch.setenv("COLUMNS", "240")
    monkeypatch.setenv("EDGEKIT_SYSFS_ROOT", str(sysroot))
    rc, stdout, _ = run_cli(capsys, digits_model, "--duration", "0.5", "--warmup", "0", "--idle", "0.2",
                            "--power", "jetson", "--sample-hz", "50")
    assert rc == 0
    energy_lines = [ln for ln in stdout.splitlines() if "energy / inference" in ln or "power " in ln]
    assert len(energy_lines) == 5
    for ln in energy_lines:
        assert "jetson-ina3221-hwmon (module)" in ln and "Hz" in ln and "NOT VALID: window_short" in ln


@pytest.mark.parametrize("argv, needle", [
    (["missing.onnx"], "missing.onnx: no such file or directory"),
    (["{model}", "--duration", "1", "--iterations", "3"], "not allowed with argument"),
    (["{model}", "--rate", "0"], "--rate must be a positive rate"),
    (["{model}", "--rate", "inf"], "--rate must be a finite number"),
    (["{model}", "--warmup", "nan"], "--warmup must be a finite number"),
    (["{model}", "--idle", "nan"], "--idle must be a finite number"),
    (["{model}", "--duration", "inf"], "--duration must be a finite number"),
    (["{model}", "--sample-hz", "inf"], "--sample-hz must be a finite number"),
    (["{model}", "--power", "trace"], "--trace FILE"),
    (["{model}", "--input", "{tmp}/nope.npz"], "no such file"),
    (["{model}", "--sysfs-root", "{tmp}/nosys"], "--sysfs-root"),
])
def test_cli_bad_input_is_one_line(digits_model, tmp_path, capsys, argv, needle):
    argv = [a.format(model=digits_model, tmp=tmp_path) for a in argv]
    try:
        rc, _, err = run_cli(capsys, *argv)
    except SystemExit as exc:  # argparse usage errors
        rc, err = exc.code, capsys.readouterr().err
    assert rc != 0
    assert needle in err
    if "usage:" not in err:
        assert len(err.strip().splitlines()) == 1 and err.startswith("edgekit: error: ")


def test_cli_wrong_npz_keys(digits_model, tmp_path, capsys):
    npz = tmp_path / "bad.npz"
    np.savez(npz, images=np.zeros((3, 1, 8, 8), np.float32))
    rc, _, err = run_cli(capsys, digits_model, "--input", npz, "--duration", "0.2", "--idle", "0",
                         "--power", "estimate", "--target", "rpi5")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert "lacks key(s)" in err and "unknown key(s) images" in err


def test_cli_report_needs_a_broker_url(digits_model, capsys):
    rc, _, err = run_cli(capsys, digits_model, "--report", "http://x")
    assert rc == 2 and "mqtt://host:1883" in err


def _fake_vcgencmd(bin_dir, monkeypatch, body: str) -> None:
    import os
    import sys

    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "vcgencmd"
    exe.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_pi_throttle_bits_from_vcgencmd_on_path_mark_the_run(digits_model, sysroot, tmp_path, monkeypatch):
    # get_throttled as the firmware prints it: 0x50005 = under-voltage now, throttled now, both since boot
    _fake_vcgencmd(tmp_path / "bin", monkeypatch,
                   "print('throttled=0x50005' if sys.argv[1:] == ['get_throttled'] else 'error=1', flush=True)")
    thermal_zone(sysroot, 0, "cpu-thermal", 61000)
    doc = run_bench(digits_model, quick(power="estimate", target="rpi5", sysfs_root=sysroot, sample_hz=20,
                                        idle_s=0.0))
    check_schema(doc)
    th = doc["thermal"]
    assert th["throttled_bits"] == 0x50005 and th["throttled"] is True
    assert any("under-voltage now" in r for r in th["reasons"])
    assert "throttled" in {f["code"] for f in doc["validity"]["flags"]}


def test_failing_get_throttled_keeps_the_thermal_zones(digits_model, sysroot, tmp_path, monkeypatch):
    _fake_vcgencmd(tmp_path / "bin", monkeypatch,
                   "sys.stderr.write('cannot open /dev/vcio: Permission denied\\n'); sys.exit(255)")
    thermal_zone(sysroot, 0, "cpu-thermal", 48500)
    logs = []
    doc = run_bench(digits_model, quick(power="estimate", target="rpi5", sysfs_root=sysroot, sample_hz=20,
                                        idle_s=0.0), log=logs.append)
    th = doc["thermal"]
    assert th["max_temp_c"] == pytest.approx(48.5) and th["throttled_bits"] is None
    assert any("throttling flags unavailable" in m and "/dev/vcio" in m for m in logs)
