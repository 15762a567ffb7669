"""What a build leaves behind when a precision errors, when a library writes scratch files, and on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import modelkit
from buildkit import tree
from edgekit.builder.pipeline import build_model
from edgekit.errors import EdgekitError


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """TMPDIR of this test alone, so 'nothing left in /tmp' can be checked exactly."""
    d = tmp_path / "tmpdir"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    return d


def test_auto_ships_the_next_precision_when_one_errors(tmp_path, targets_dir, private_tmp):
    model = modelkit.echoing_mlp(tmp_path / "echo.onnx")
    res = build_model(model, "test-jetson", out_dir=tmp_path / "out", targets_dir=targets_dir, cache_dir=None)
    assert res.precision == "fp32"
    first, second = res.manifest["attempts"]
    assert (first["precision"], first["outcome"]) == ("fp16", "error")
    assert first["reason"].startswith("could not be built: ") and "onnxruntime cannot load" in first["reason"]
    assert (second["precision"], second["outcome"]) == ("fp32", "passed")
    assert tree(private_tmp) == []


def test_an_explicit_precision_that_errors_is_the_answer(tmp_path, targets_dir, private_tmp):
    model = modelkit.echoing_mlp(tmp_path / "echo.onnx")
    with pytest.raises(EdgekitError) as info:
        build_model(model, "test-jetson", precision="fp16", out_dir=tmp_path / "out", targets_dir=targets_dir,
                    cache_dir=None)
    assert "\n" not in str(info.value) and "fp16" in str(info.value)
    assert tree(tmp_path / "out") == [] and tree(private_tmp) == []


def test_symbolic_shape_scratch_files_stay_out_of_the_working_directory(tmp_path, targets_dir, private_tmp,
                                                                        monkeypatch):
    model = modelkit.skip_connection_cnn(tmp_path / "skip.onnx")
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).normal(size=(8, 3, 16, 16)).astype(np.float32))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    res = build_model(model, "test-pi-onnx", precision="int8", calibration=calib, out_dir=tmp_path / "out",
                      targets_dir=targets_dir, cache_dir=None, max_exclusion_rounds=0,
                      tolerances={"min_cosine": 0.0, "min_snr_db": -100.0})
    assert res.precision == "int8"
    assert tree(cwd) == [] and tree(private_tmp) == []
    assert Path.cwd() == cwd


def test_sigterm_mid_build_exits_143_and_leaves_nothing(tmp_path, features_cnn, targets_dir):
    """SIGTERM while the ORT-format converter (a subprocess) runs: exit 143, no output, no temp files."""
    model, calib, ev = features_cnn
    tmpdir, cwd, out = tmp_path / "tmpdir", tmp_path / "cwd", tmp_path / "out"
    tmpdir.mkdir()
    cwd.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgekit", "build", str(model), "--target", "test-pi", "--precision", "int8",
         "--calibration", str(calib), "--eval", str(ev), "--out", str(out), "--targets-dir", str(targets_dir),
         "--no-cache"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "quantize" in line:  # the next pass is the ORT-format conversion in a subprocess
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    rc = proc.wait(timeout=120)
    assert rc == 143, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == "edgekit: stopped by SIGTERM"
    assert not out.exists(), "".join(seen) + rest
    assert tree(cwd) == [] and tree(tmpdir) == []


def test_json_attempts_say_which_precision_errored(tmp_path, targets_dir):
    model = modelkit.echoing_mlp(tmp_path / "echo.onnx")
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "build", str(model), "--target", "test-jetson", "--out",
         str(tmp_path / "out"), "--targets-dir", str(targets_dir), "--no-cache", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [a["outcome"] for a in doc["attempts"]] == ["error", "passed"]
    assert "fp16 could not be built" in proc.stderr and "trying the next precision" in proc.stderr


def test_only_eval_given_int8_calibrates_on_a_held_out_part(tmp_path, features_cnn, targets_dir):
    model, _calib, ev = features_cnn
    res = build_model(model, "test-pi-onnx", precision="int8", eval_data=ev, out_dir=tmp_path / "out",
                      targets_dir=targets_dir, cache_dir=None)
    q, v = res.manifest["quantization"], res.manifest["verification"]
    n_eval = int(np.load(ev)["labels"].shape[0])
    assert q["calibration_source"] == f"file:{ev} samples 0-{q['calibration_samples'] - 1}"
    assert v["samples"] == n_eval - q["calibration_samples"] and v["samples"] >= 3 * q["calibration_samples"]
    assert f"samples {q['calibration_samples']}-{n_eval - 1}" in v["data_source"]
    assert any("held out of the gate" in w for w in res.warnings)


QDQ_CLS = Path(__file__).parent / "data" / "ppocr_cls_int8_qdq.onnx"


def test_ort_runtime_style_failure_is_worded_and_fixed_style_converts(tmp_path, private_tmp):
    """An int8 QDQ PP-OCR orientation classifier (Apache-2.0, from rapidocr-onnxruntime 1.4.4, quantized by
    edgekit on rendered text): onnxruntime's Runtime-optimization ORT conversion rewrites a Conv bias into an
    invalid node; the error is in edgekit's words, and the Fixed style, which the build falls back to, converts."""
    from edgekit.builder import convert

    runtime = convert.OrtFormatConfig("t", optimization_style="Runtime", target_platform="arm")
    with pytest.raises(EdgekitError) as info:
        convert.to_ort(QDQ_CLS, tmp_path / "r", runtime)
    msg = str(info.value)
    assert msg.startswith("ORT format conversion (Runtime style) failed: a node's inputs do not match")
    assert "ONNXRuntimeError" not in msg and "edgekit-ort-" not in msg and "\n" not in msg
    fixed = convert.OrtFormatConfig("t", optimization_style="Fixed", target_platform="arm")
    out = convert.to_ort(QDQ_CLS, tmp_path / "f", fixed)
    assert out["ort"].is_file() and out["ort"].stat().st_size > 0
    assert tree(private_tmp) == []
