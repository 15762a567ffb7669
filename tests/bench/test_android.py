"""--power android: the host drives a (fake) phone over a fake adb that reproduces real outputs."""

from __future__ import annotations

import os

import jsonschema
import pytest

from benchfakes import BENCHMARK_MODEL_OUT, fake_adb, fake_benchmark_model, fake_phone, thermal_zone
from edgekit.bench.android import parse_benchmark_model, parse_perf_test
from edgekit.bench.result import load_schema
from edgekit.bench.runner import run_bench
from edgekit.bench.settings import BenchSettings
from edgekit.errors import ConfigError, SensorError

PERF_TEST_OUT = """Session creation time cost: 0.0183481 s
First inference time cost: 2 ms
Total inference time cost: 9.40745 s
Total inference requests: 10000
Average inference time cost: 0.940745 ms
Total inference run time: 9.41113 s
Number of inferences per second: 1062.57
Avg CPU usage: 74 %
Peak working set size: 50905088 bytes
Avg CPU usage:74
Peak working set size:50905088
Runs:10000
Min Latency: 0.0007726 s
Max Latency: 0.0018647 s
P50 Latency: 0.0009458 s
P90 Latency: 0.0010243 s
P95 Latency: 0.0010686 s
P99 Latency: 0.0012057 s
P999 Latency: 0.00136 s
"""


def test_parse_benchmark_model_takes_the_measured_statistics_line():
    text = BENCHMARK_MODEL_OUT.format(graph="/data/local/tmp/m.tflite", runs=50, secs=10, count=8000, min_us=1150,
                                      max_us=1700, avg_us=1250.5, median_us=1240).replace("\n", "\r\n")
    r = parse_benchmark_model(text)
    assert r["count"] == 8000 and r["avg_us"] == 1250.5 and r["min_us"] == 1150 and r["median_us"] == 1240
    assert r["init_us"] == 3214 and r["first_us"] == 1610 and r["warmup_avg_us"] == 1213.4
    assert r["timings_line"].startswith("Inference timings in us: Init: 3214")


def test_parse_old_benchmark_model_without_percentiles_or_prefix():
    text = ("count=50 first=249042 curr=250889 min=247067 max=254474 avg=249684 std=1442\n"
            "Inference timings in us: Init: 16242, First inference: 360262, Warmup (avg): 304586, "
            "Inference (avg): 249684\n")
    r = parse_benchmark_model(text)
    assert r["count"] == 50 and r["std_us"] == 1442 and r["median_us"] is None and r["first_us"] == 360262


def test_parse_benchmark_model_scientific_notation():
    text = ("count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798\n\n"
            "Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, "
            "Inference (avg): 2.95034e+06\n")
    assert parse_benchmark_model(text)["avg_us"] == pytest.approx(2.95034e6)


def test_benchmark_model_failure_is_one_line():
    with pytest.raises(SensorError, match="no 'Inference timings in us' line") as exc:
        parse_benchmark_model("ERROR: Could not open '/data/local/tmp/x.tflite'.\nERROR: Benchmarking failed.\n")
    assert "Benchmarking failed" in str(exc.value) and "\n" not in str(exc.value)


def test_parse_perf_test():
    r = parse_perf_test(PERF_TEST_OUT)
    assert r["count"] == 10000 and r["run_s"] == pytest.approx(9.41113)
    assert r["p90_s"] == pytest.approx(0.0010243) and r["p99_s"] == pytest.approx(0.0012057)
    assert r["first_ms"] == 2 and r["avg_ms"] == pytest.approx(0.940745)


@pytest.fixture
def phone(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    ph = fake_phone(tmp_path / "phone", current_now=-450, voltage_now=3850000,   # mA, negative: Huawei-style
                    props={"ro.product.model": "P8 Lite 2017", "ro.product.cpu.abi": "arm64-v8a",
                           "ro.build.version.release": "8.0.0"})
    fake_adb(bin_dir, "PHONE01", ph)
    fake_benchmark_model(bin_dir, avg_us=1200.0)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return ph


def test_android_run_measures_the_phone_battery(phone, tmp_path):
    from litert_models import tiny_tflite

    model = tiny_tflite(tmp_path / "m.tflite")
    thermal_zone(phone / "sys", 0, "battery", 27500)    # the phone's own zones, read over adb
    thermal_zone(phone / "sys", 1, "xo_therm", 36250)
    doc = run_bench(model, BenchSettings(power="android", adb_serial="PHONE01", duration_s=1.0, warmup_s=0.0,
                                         idle_s=0.5, sample_hz=20, sysfs_root=tmp_path))
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert (phone / "data/local/tmp/edgekit/m.tflite").read_bytes() == model.read_bytes()
    assert (phone / "data/local/tmp/edgekit/benchmark_model").is_file()
    lat, p, e, b = doc["latency"], doc["power"], doc["energy"], doc["battery"]
    assert lat["source"] == "benchmark_model" and lat["mean_ms"] == pytest.approx(1.2)
    assert lat["count"] == int(1.0 * 1e6 / 1200) and lat["p90_ms"] is None and lat["p50_ms"] == pytest.approx(1.188)
    assert p["source"] == "android-battery" and p["scope"] == "battery"
    assert p["avg_w"] == pytest.approx(0.450 * 3.85)                  # mA detected, sign detected
    assert e["total_mj_per_inference"] == pytest.approx(0.450 * 3.85 * 1.2, rel=1e-3)  # P x latency
    assert b["capacity_mah"] == pytest.approx(4000) and b["avg_current_ma"] == pytest.approx(450, rel=1e-3)
    assert b["projected_life_h"] == pytest.approx(4000 / 450, rel=1e-3) and b["capacity_pct_start"] == 71
    assert doc["device"]["model"] == "P8 Lite 2017" and doc["device"]["os"] == "Android 8.0.0"
    assert "asimddp" in doc["device"]["cpu_features"]
    assert doc["android"]["timings_line"].startswith("Inference timings in us")
    th = doc["thermal"]
    assert [z["name"] for z in th["zones"]] == ["battery", "xo_therm"] and th["max_temp_c"] == pytest.approx(36.25)
    assert th["throttled"] is False and th["snapshots"] >= 2


def test_android_refuses_a_charging_phone(phone, tmp_path):
    from litert_models import tiny_tflite

    dumpsys = phone / "bin/dumpsys"
    dumpsys.write_text(dumpsys.read_text().replace("USB powered: false", "USB powered: true").replace(
        "status: 3", "status: 2"))
    with pytest.raises(SensorError, match="USB powered"):
        run_bench(tiny_tflite(tmp_path / "m.tflite"),
                  BenchSettings(power="android", adb_serial="PHONE01", duration_s=0.5, sysfs_root=tmp_path))


def test_android_without_a_benchmark_binary(phone, tmp_path, monkeypatch):
    from litert_models import tiny_tflite

    (tmp_path / "bin/android_aarch64_benchmark_model").unlink()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/usr/bin:/bin")
    with pytest.raises(ConfigError, match="EDGEKIT_BENCHMARK_MODEL"):
        run_bench(tiny_tflite(tmp_path / "m.tflite"),
                  BenchSettings(power="android", adb_serial="PHONE01", duration_s=0.5, idle_s=0, sysfs_root=tmp_path))
