"""``--power auto`` end to end: the choice and every refusal in the result document and one printed line."""

from __future__ import annotations

import sys
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "sensors"))  # fakehw builders

from edgekit.bench.result import load_schema  # noqa: E402
from edgekit.bench.runner import run_bench  # noqa: E402
from edgekit.bench.settings import BenchSettings  # noqa: E402
from fakehw import AGX_ORIN_RAILS_MW, jetson_agx_orin_mainline, jetson_thor_ina238  # noqa: E402


def quick(**kw) -> BenchSettings:
    base = dict(duration_s=0.5, warmup_s=0.05, idle_s=0.2, sample_hz=50, power="auto")
    base.update(kw)
    return BenchSettings(**base)


@pytest.fixture
def empty_path(tmp_path, monkeypatch):
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))
    return d


def test_auto_on_agx_orin_with_unlabelled_spares_measures_with_jetson(digits_model, sysroot, empty_path):
    jetson_agx_orin_mainline(sysroot)
    lines: list[str] = []
    doc = run_bench(digits_model, quick(sysfs_root=sysroot), log=lines.append)
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    p = doc["power"]
    assert p["source"] == "jetson-ina3221-hwmon" and p["scope"] == "module"
    assert p["avg_w"] == pytest.approx(sum(AGX_ORIN_RAILS_MW.values()) / 1000)
    assert p["rail_set"] == "VDD_GPU_SOC+VDD_CPU_CV+VIN_SYS_5V0+VDDQ_VDD2_1V8AO"
    assert len(p["skipped"]) == 2
    assert doc["settings"]["power_decision"] == [
        {"source": "jetson", "outcome": "chosen", "reason": p["description"]}]
    assert [x for x in lines if "--power auto" in x] == ["edgekit: --power auto chose jetson"]


def test_auto_estimate_is_not_silent_about_the_sensor_that_was_there(digits_model, sysroot, empty_path):
    jetson_thor_ina238(sysroot)
    lines: list[str] = []
    doc = run_bench(digits_model, quick(sysfs_root=sysroot, target="jetson-orin-nano", sample_hz=20),
                    log=lines.append)
    steps = doc["settings"]["power_decision"]
    assert [s["source"] for s in steps] == ["jetson", "tegrastats", "rpi", "battery", "rapl", "estimate"]
    assert [s["outcome"] for s in steps] == ["refused"] * 5 + ["chosen"]
    assert "INA238" in steps[0]["reason"] and "tegrastats" in steps[1]["reason"]
    assert doc["power"]["estimated"]
    printed = [x for x in lines if "--power auto" in x]
    assert len(printed) == 1 and "chose estimate (an ESTIMATE" in printed[0] and "jetson (this board's" in printed[0]


def test_named_power_kind_records_no_auto_decision(digits_model, sysroot):
    jetson_agx_orin_mainline(sysroot)
    doc = run_bench(digits_model, quick(power="jetson", sysfs_root=sysroot))
    assert doc["settings"]["power_decision"] is None


def test_a_sysfs_file_vanishing_mid_run_is_a_recorded_gap_not_an_abort(digits_model, sysroot):
    import threading
    import time

    a, _ = jetson_agx_orin_mainline(sysroot)
    f = a / "curr1_input"
    gone = threading.Event()

    def vanish():
        time.sleep(0.8)   # the model and the sensor are open long before (a fraction of a second)
        f.rename(f.with_suffix(".away"))
        gone.set()
        time.sleep(0.25)
        f.with_suffix(".away").rename(f)

    t = threading.Thread(target=vanish, daemon=True)
    t.start()
    doc = run_bench(digits_model, quick(power="jetson", sysfs_root=sysroot, duration_s=2.0, idle_s=0.1))
    t.join(5)
    assert gone.is_set()
    gaps = doc["power"]["gaps"]
    assert len(gaps) == 1 and gaps[0]["end_s"] is not None and "curr1_input" in gaps[0]["reason"]
    flag = {x["code"]: x for x in doc["validity"]["flags"]}["sensor_gap"]
    assert flag["severity"] == "invalid" and "never recovered" not in flag["message"]
    assert doc["power"]["avg_w"] == pytest.approx(sum(AGX_ORIN_RAILS_MW.values()) / 1000)
