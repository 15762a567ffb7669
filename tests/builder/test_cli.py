"""`edgekit build` end to end through the real CLI entry point: success, --json, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from buildkit import tree
from edgekit.commands.main import main


def run_cli(capsys, *argv):
    rc = main(["build", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_build_json_summary(capsys, features_cnn, targets_dir, out_dir, shared_cache):
    model, calib, ev = features_cnn
    rc, out, err = run_cli(capsys, model, "--target", "test-pi", "--precision", "int8", "--calibration", calib,
                           "--eval", ev, "--out", out_dir, "--targets-dir", targets_dir,
                           "--cache-dir", shared_cache, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and doc["precision"] == "int8" and doc["target"] == "test-pi"
    assert doc["output_dir"] == str(out_dir / "features_cnn-test-pi")
    assert {a["path"] for a in doc["artifacts"]} >= {"features_cnn.onnx", "features_cnn.ort"}
    assert doc["verification"]["passed"] is True and doc["nodes_excluded"] == []
    # progress goes to stderr, one line per pass
    for step in ("load", "optimize", "quantize", "convert-ort", "verify", "package"):
        assert step in err


def test_json_stdout_stays_parseable_when_the_calibrator_prints(capsys, features_cnn, targets_dir, out_dir):
    """onnxruntime's entropy calibrator prints to stdout; with --json, stdout must hold the JSON alone."""
    model, calib, ev = features_cnn
    rc, out, err = run_cli(capsys, model, "--target", "test-pi-onnx", "--precision", "int8", "--calibration", calib,
                           "--calibration-method", "entropy", "--out", out_dir, "--targets-dir", targets_dir,
                           "--no-cache", "--exclusion-rounds", "0", "--json")
    doc = json.loads(out)  # the whole of stdout is one JSON document, whether the gate passed or not
    assert doc["ok"] is (rc == 0)
    assert "histogram" in err  # the calibrator's chatter went to stderr


def test_family_alias_and_plain_output(capsys, features_cnn, tmp_path, out_dir, shared_cache):
    from buildkit import write_profile

    d = tmp_path / "aliased"
    d.mkdir()
    write_profile(d, "jetson-orin-nano", **{})  # the alias 'jetson' resolves to this name
    model, calib, ev = features_cnn
    rc, out, err = run_cli(capsys, model, "--target", "jetson", "--eval", ev, "--out", out_dir,
                           "--targets-dir", d, "--no-cache")
    assert rc == 0, err
    assert out.strip().endswith("features_cnn-jetson-orin-nano")
    assert "passed the gate" in err


def test_module_entry_point_exit_code(tmp_path):
    # a separate interpreter: the real exit status of `python -m edgekit build`
    proc = subprocess.run([sys.executable, "-m", "edgekit", "build", str(tmp_path / "nope.onnx"),
                           "--target", "rpi"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("edgekit: error:") and len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture
def bad_inputs(tmp_path, features_cnn):
    model, calib, _ = features_cnn
    d = tmp_path / "bad"
    d.mkdir()
    text = d / "readme.onnx"
    text.write_text("not a model\n" * 50)
    cut = d / "cut.onnx"
    data = model.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    m = onnx.load(model)
    m.opset_import[0].version = 20
    m.ir_version = 10
    newer = d / "newer.onnx"
    onnx.save(m, newer)
    wrong_names = d / "names.npz"
    np.savez(wrong_names, image=np.zeros((8, 1, 8, 8), np.float32))
    wrong_shape = d / "shape.npz"
    np.savez(wrong_shape, input=np.zeros((8, 3, 32, 32), np.float32))
    nan = d / "nan.npz"
    x = np.zeros((8, 1, 8, 8), np.float32)
    x[5, 0, 1, 1] = np.nan
    np.savez(nan, input=x)
    empty = d / "empty.onnx"
    empty.write_bytes(b"")
    return {"model": model, "text": text, "cut": cut, "newer": newer, "names": wrong_names,
            "shape": wrong_shape, "nan": nan, "empty": empty, "calib": calib, "dir": d}


@pytest.mark.parametrize("case, expect", [
    ("missing", "no such model file"),
    ("text", "not"),
    ("cut", "truncated"),
    ("opset", "at most opset 17"),
    ("target", "unknown target 'no-such-board'"),
    ("names", "do not match the model inputs"),
    ("shape", "has shape [8, 3, 32, 32] but the model input is ['N', 1, 8, 8]"),
    ("precision", "test-oldpi does not support fp16"),
    ("nan", "'input' holds 1 NaN or infinite values; clean or drop those samples"),
    ("empty", "file is empty; re-export the model"),
    ("directory", "is not a file; pass the .onnx model file"),
    ("rounds", "11 int8 exclusion rounds is out of range; pass --exclusion-rounds between 0 and 10"),
])
def test_bad_input_one_line_nonzero_nothing_written(capsys, bad_inputs, targets_dir, out_dir, cache_dir,
                                                     case, expect):
    b = bad_inputs
    model, target, extra = b["model"], "test-jetson", []
    if case == "missing":
        model = b["dir"] / "missing.onnx"
    elif case in ("text", "cut", "empty"):
        model = b[case]
    elif case == "directory":
        model = b["dir"]
    elif case == "opset":
        model = b["newer"]                      # opset 20 for a profile that loads opset 17 at most
    elif case == "target":
        target = "no-such-board"
    elif case in ("names", "shape", "nan"):
        target, extra = "test-pi", ["--precision", "int8", "--calibration", b[case]]
    elif case == "precision":
        target, extra = "test-oldpi", ["--precision", "fp16"]
    elif case == "rounds":
        extra = ["--exclusion-rounds", "11"]
    rc, out, err = run_cli(capsys, model, "--target", target, "--out", out_dir, "--targets-dir", targets_dir,
                           "--cache-dir", cache_dir, *extra)
    assert rc != 0
    assert expect in error_line(err)
    assert tree(out_dir) == []                  # no partial output, not even the output root
    assert out == ""


def test_out_pointing_at_a_file_is_refused(capsys, features_cnn, targets_dir, tmp_path):
    model, _, _ = features_cnn
    taken = tmp_path / "results.txt"
    taken.write_text("keep me\n")
    rc, out, err = run_cli(capsys, model, "--target", "test-pi", "--out", taken, "--targets-dir", targets_dir,
                           "--no-cache")
    assert rc != 0 and "output path is a file; pass a directory with --out" in error_line(err)
    assert taken.read_text() == "keep me\n" and sorted(p.name for p in tmp_path.iterdir()) == ["results.txt", "targets"]


def test_json_failure_is_machine_readable(capsys, bad_inputs, targets_dir, out_dir):
    rc, out, err = run_cli(capsys, bad_inputs["text"], "--target", "test-pi", "--out", out_dir,
                           "--targets-dir", targets_dir, "--no-cache", "--json")
    assert rc != 0
    doc = json.loads(out)
    assert doc["ok"] is False and "not" in doc["error"]
    assert doc["error"] in error_line(err)


@pytest.fixture
def full_disk(tmp_path):
    """A real 64 KiB tmpfs, filled so that only a few KiB are left (needs root / CAP_SYS_ADMIN)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()}); ENOSPC not simulated")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def fill(mnt, leave_bytes=8192):
    with open(mnt / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    size = (mnt / "filler").stat().st_size
    os.truncate(mnt / "filler", max(0, size - leave_bytes))


def test_full_disk_leaves_nothing_and_keeps_the_previous_build(capsys, full_disk, features_cnn, targets_dir,
                                                                 shared_cache):
    model, calib, ev = features_cnn
    out = full_disk / "out"
    args = ["--target", "test-jetson", "--eval", ev, "--out", out, "--targets-dir", targets_dir,
            "--cache-dir", shared_cache]
    rc, _, err = run_cli(capsys, model, *args)            # fits while the disk is empty
    assert rc == 0, err
    before = {p.name: p.read_bytes() for p in (out / "features_cnn-test-jetson").iterdir()}
    fill(full_disk)
    rc, stdout, err = run_cli(capsys, model, *args, "--precision", "fp32")  # fp32 is bigger: cannot fit
    assert rc != 0
    line = error_line(err)
    assert "no space left on device" in line and "--out" in line
    assert sorted(p.name for p in out.iterdir()) == ["features_cnn-test-jetson"]  # no temp dirs left
    after = {p.name: p.read_bytes() for p in (out / "features_cnn-test-jetson").iterdir()}
    assert after == before                                # the earlier build is intact


def test_full_disk_first_build_leaves_no_output_root(capsys, full_disk, features_cnn, targets_dir,
                                                      shared_cache):
    model, calib, ev = features_cnn
    fill(full_disk, leave_bytes=2048)
    out = full_disk / "out"
    rc, _, err = run_cli(capsys, model, "--target", "test-jetson", "--precision", "fp32", "--out", out,
                         "--targets-dir", targets_dir, "--cache-dir", shared_cache)
    assert rc != 0 and "no space left on device" in error_line(err)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_dynamic_image_size_without_data_asks_for_data(capsys, tmp_path, targets_dir, out_dir):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
         helper.make_node("MaxPool", ["c"], ["y"], kernel_shape=[2, 2], strides=[2, 2], name="pool")], "anysize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "h", "w"])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "anysize.onnx"
    onnx.save(model, path)
    # gate inputs (fp32) and int8 calibration (eval data given, no calibration data) both need real sizes
    ev = tmp_path / "eval.npz"
    np.savez(ev, x=np.random.default_rng(1).standard_normal((4, 3, 12, 12)).astype(np.float32))
    for extra, why in (([], "the accuracy gate"), (["--precision", "int8", "--eval", ev], "int8 calibration")):
        rc, out, err = run_cli(capsys, path, "--target", "test-pi-onnx", "--out", out_dir, "--targets-dir",
                               targets_dir, "--no-cache", *extra)
        assert rc != 0
        line = error_line(err)
        assert "input 'x' has dynamic dimensions (H, W) besides the batch axis" in line and why in line
        assert "pass --calibration or --eval data" in line
        assert tree(out_dir) == []
