"""Per-family conversion: ORT format, TFLite through onnx2tf (or a visible skip), Jetson/TensorRT config."""

from __future__ import annotations

import pytest

from edgekit.builder import build_model, convert
from edgekit.builder.progress import SilentProgress


def test_trtexec_and_provider_options():
    assert convert.trtexec_command("m.onnx", "fp16", "m.engine") == "trtexec --onnx=m.onnx --fp16 --saveEngine=m.engine"
    assert convert.trtexec_command("m.onnx", "int8", "e") == "trtexec --onnx=m.onnx --int8 --fp16 --saveEngine=e"
    assert convert.trtexec_command("m.onnx", "fp32", "e") == "trtexec --onnx=m.onnx --saveEngine=e"
    eps = convert.execution_provider_config(("TensorrtExecutionProvider", "CPUExecutionProvider"), "int8",
                                            cpu_cores=6)
    assert eps[0]["options"]["trt_int8_enable"] and eps[0]["options"]["trt_fp16_enable"]
    assert eps[1] == {"provider": "CPUExecutionProvider", "options": {}}


def test_ort_command_uses_equals_forms(tmp_path):
    cmd = convert.ort_command(tmp_path, convert.OrtFormatConfig("t"))
    assert cmd[-2:] == ["--optimization_style=Fixed", "--target_platform=arm"] and cmd[-3] == str(tmp_path)
    with pytest.raises(Exception, match="optimization style"):
        convert.OrtFormatConfig("t", optimization_style="fixed")


def test_tflite_skipped_visibly_without_toolchain(features_cnn, targets_dir, out_dir, shared_cache, tmp_path,
                                                  monkeypatch):
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "empty-toolchains"))
    model, calib, ev = features_cnn
    progress = SilentProgress()
    r = build_model(model, "test-phone", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache, progress=progress)
    assert r.manifest["tflite"]["status"] == "skipped"
    assert "edgekit toolchain install tflite" in r.manifest["tflite"]["reason"]
    assert any("tflite: skipped" in n for n in r.manifest["notes"])
    assert any("onnx2tf toolchain not installed" in w for w in progress.warnings)
    assert "tflite skipped" in r.summary
    assert not list(r.output_dir.glob("*.tflite"))
    assert {a["format"] for a in r.manifest["artifacts"]} == {"ort", "ort-ops-config"}


@pytest.mark.slow
def test_tflite_int8_built_and_verified_in_litert(features_cnn, targets_dir, out_dir, shared_cache):
    from edgekit.builder.toolchain import find_toolchain

    if find_toolchain() is None:
        pytest.skip("onnx2tf toolchain not installed (`edgekit toolchain install tflite`)")
    model, calib, ev = features_cnn
    r = build_model(model, "test-phone", precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache)
    m = r.manifest
    assert m["tflite"]["status"] == "built" and m["tflite"]["toolchain"]["onnx2tf"]
    check = m["verification"]["artifacts"]["features_cnn_int8.tflite"]
    assert check["runtime"] == "litert" and check["passed"] and check["samples"] == 450
    assert check["accuracy_drop_pts"] <= 1.0
    assert (r.output_dir / "features_cnn_int8.tflite").read_bytes()[4:8] == b"TFL3"


@pytest.mark.slow
def test_tflite_takes_the_size_of_the_data_and_failures_name_the_model(tmp_path, targets_dir, out_dir):
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np
    import onnx

    from edgekit.builder.toolchain import find_toolchain

    if find_toolchain() is None:
        pytest.skip("onnx2tf toolchain not installed (`edgekit toolchain install tflite`)")
    # a height and width fixed only at run time: the .tflite takes the size of the build's data
    w = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")], "anysize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "H", "W"])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "anysize.onnx"
    onnx.save(model, path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(1).standard_normal((4, 3, 16, 24)).astype(np.float32))
    r = build_model(path, "test-phone", precision="fp32", calibration=calib, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=None)
    assert r.manifest["tflite"]["status"] == "built"
    assert r.manifest["tflite"]["input_shapes"] == {"x": [1, 3, 16, 24]}
    assert r.manifest["verification"]["artifacts"]["anysize_float32.tflite"]["passed"]

    # an operator onnxruntime runs and onnx2tf does not convert: the build ships without a .tflite
    wm = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.3, (8, 4)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("FusedMatMul", ["x", "w"], ["y"], domain="com.microsoft", alpha=1.0, name="fmm")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [wm])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    path = tmp_path / "fused.onnx"
    onnx.save(model, path)
    r = build_model(path, "test-phone", precision="fp32", out_dir=out_dir, targets_dir=targets_dir, cache_dir=None)
    reason = r.manifest["tflite"]["reason"]
    assert r.manifest["tflite"]["status"] == "failed"
    assert reason.startswith("fused (fp32): onnx2tf could not convert it to fp32 TFLite: FusedMatMul") \
        and "edgekit-" not in reason
    assert f"tflite: failed — {reason}; no .tflite artifact shipped" in r.manifest["notes"]
    assert "tflite failed" in r.summary and not list(r.output_dir.glob("*.tflite"))
