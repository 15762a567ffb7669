"""The whole build on real (small) models, run in onnxruntime: gate, artifacts, manifest, cache."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from buildkit import tree
from edgekit.builder import build_model
from edgekit.runtime.ort import int8_kernels
from edgekit.errors import BuildError


def test_digits_cnn_int8_for_rpi5_keeps_accuracy(digits_files, real_target, targets_dir, out_dir, shared_cache):
    model, calib, ev = digits_files
    name, tdir = real_target("rpi5", "test-pi", targets_dir)
    r = build_model(model, name, precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=tdir, cache_dir=shared_cache, tolerances={"max_accuracy_drop_pts": 0.5})
    m = r.manifest
    v = m["verification"]
    assert m["precision"] == "int8" and v["passed"] and v["accuracy_verified_on_real_data"]
    assert v["samples"] == 450 and v["data"] == "eval"
    check = v["artifacts"]["digits_cnn.onnx"]
    assert check["gated_on"] == "accuracy" and check["accuracy_drop_pts"] <= 0.5
    # recompute the figure independently from the shipped file
    data = np.load(ev)
    q = ort.InferenceSession(str(r.output_dir / "digits_cnn.onnx"))
    acc = float(np.mean(q.run(None, {"input": data["input"]})[0].argmax(1) == data["labels"]))
    assert acc == pytest.approx(check["accuracy"])
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(r.output_dir / "digits_cnn.onnx").graph.node)
    assert "int8 passed the gate" in r.summary and "\n" not in r.summary


def test_manifest_fields(features_cnn, targets_dir, out_dir, shared_cache):
    model, calib, ev = features_cnn
    r = build_model(model, "test-pi", precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache)
    m = json.loads((r.output_dir / "manifest.json").read_text())
    assert m == json.loads(json.dumps(r.manifest))
    assert r.output_dir == out_dir / "features_cnn-test-pi"
    assert m["target"]["name"] == "test-pi" and m["precision"] == "int8"
    names = sorted(p.name for p in r.output_dir.iterdir())
    assert names == ["features_cnn.onnx", "features_cnn.ort", "manifest.json", "required_operators.config"]
    import hashlib
    for a in m["artifacts"]:
        f = r.output_dir / a["path"]
        assert a["bytes"] == f.stat().st_size
        assert a["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert a["format"] in ("onnx", "ort", "ort-ops-config")
    assert m["inputs"] == [{"name": "input", "shape": ["N", 1, 8, 8], "dtype": "float32", "layout": "NCHW",
                            "quantization": None}]
    assert m["outputs"][0]["name"] == "logits" and m["outputs"][0]["dtype"] == "float32"
    assert set(m["toolchain"]) >= {"onnx", "onnxruntime", "numpy", "python"}
    assert m["toolchain"]["onnxruntime"] == ort.__version__
    assert m["opset"] == 17 and m["ir_version"] <= 10
    q = m["quantization"]
    assert q["method"] == "static-qdq" and q["per_channel"] and q["calibration_method"] == "minmax"
    assert q["calibration_samples"] == 96 and q["nodes_excluded"] == []
    assert m["execution_providers"] == [{"provider": "CPUExecutionProvider", "options": {}}]
    ver = m["verification"]
    assert set(ver["artifacts"]) == {"features_cnn.onnx", "features_cnn.ort"}
    for c in ver["artifacts"].values():
        assert c["passed"] and 0.9 < c["accuracy_fp32"] <= 1 and c["top1_agreement"] >= 0.98
        assert c["runtime"] == "onnxruntime" and c["providers"] == ["CPUExecutionProvider"]
    assert ver["tolerances"]["max_accuracy_drop_pts"] == 1.0
    assert m["attempts"] == [{"precision": "int8", "passed": True, "reason": "passed", "outcome": "passed",
                              "exclusion_rounds": []}]


def test_ort_format_artifacts_load_back(features_cnn, targets_dir, out_dir, shared_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "no-toolchains"))  # TFLite: test_convert.py
    model, calib, ev = features_cnn
    data = np.load(ev)
    ref = ort.InferenceSession(str(model)).run(None, {"input": data["input"][:20]})[0]
    for target, style in (("test-pi", "Fixed"), ("test-phone", "Runtime")):
        r = build_model(model, target, precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                        targets_dir=targets_dir, cache_dir=shared_cache)
        ort_file = r.output_dir / "features_cnn.ort"
        assert ort_file.read_bytes()[4:8] == b"ORTM"  # the ORT format's flatbuffer identifier
        got = ort.InferenceSession(str(ort_file)).run(None, {"input": data["input"][:20]})[0]
        assert got.shape == ref.shape
        kernels = r.manifest["verification"]["artifacts"]["features_cnn.ort"]["kernels"]
        if int8_kernels()["exact"]:
            # this host runs the .ort's fused int8 operators as the device does: its outputs must agree
            assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.95
            assert kernels.startswith("onnxruntime")
        else:
            # they saturate here (x86 without VNNI): the gate must not have trusted them
            assert kernels.startswith("figures of the QDQ model this .ort was converted from")
        conv = r.manifest["passes"]["convert-ort"]
        assert conv["optimization_style"] == style and f"--optimization_style={style}" in conv["command"]
        assert "--target_platform=arm" in conv["command"]


def test_fp16_for_jetson_keeps_float_io(features_cnn, real_target, targets_dir, out_dir, shared_cache):
    from edgekit.targets import load_target

    model, calib, ev = features_cnn
    name, tdir = real_target("jetson-orin-nano", "test-jetson", targets_dir)
    t = load_target(name, tdir)
    r = build_model(model, name, calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=tdir, cache_dir=shared_cache)
    m = r.manifest
    assert m["precision"] == "fp16"  # Jetson profiles prefer fp16
    f = onnx.load(r.output_dir / "features_cnn.onnx")
    assert f.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert f.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in f.graph.initializer)
    assert f.ir_version <= t.max_ir_version
    dep = m["deployment"]
    assert dep["trtexec"] == (f"trtexec --onnx=features_cnn.onnx --fp16 "
                              f"--saveEngine=features_cnn-{name}-fp16-trt{t.tensorrt_version}.engine")
    trt = m["execution_providers"][0]
    assert trt["provider"] == "TensorrtExecutionProvider" and trt["options"]["trt_fp16_enable"] is True
    assert [e["provider"] for e in m["execution_providers"]] == list(t.execution_providers)
    assert sorted(p.name for p in r.output_dir.iterdir()) == ["features_cnn.onnx", "manifest.json"]
    # the artifact runs with float32 feeds; its accuracy was checked against the fp32 original
    c = m["verification"]["artifacts"]["features_cnn.onnx"]
    assert c["passed"] and c["top1_agreement"] >= t.tolerances.min_top1_agreement


def test_int8_for_jetson_gives_int8_trtexec(features_cnn, targets_dir, out_dir, shared_cache):
    model, calib, ev = features_cnn
    r = build_model(model, "test-jetson", precision="int8", calibration=calib, eval_data=ev,
                    out_dir=out_dir, targets_dir=targets_dir, cache_dir=shared_cache)
    assert "--int8 --fp16" in r.manifest["deployment"]["trtexec"]
    assert r.manifest["execution_providers"][0]["options"]["trt_int8_enable"] is True


def test_outputs_stay_within_the_target_ir_version(tmp_path, features_cnn, targets_dir, out_dir, shared_cache):
    model, calib, ev = features_cnn
    m = onnx.load(model)
    m.ir_version = 10  # newer than test-oldpi's max (7); its opset (17) is beyond test-oldpi too: use 11
    m.opset_import[0].version = 11
    p = tmp_path / "ir10.onnx"
    onnx.save(m, p)
    r = build_model(p, "test-oldpi", precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache)
    shipped = onnx.load(r.output_dir / "ir10.onnx")
    assert shipped.ir_version <= 7 and r.manifest["ir_version"] <= 7
    # opset 12 is test-oldpi's max: per-channel QDQ (opset 13) is impossible, per-tensor is used and said
    assert r.manifest["opset"] <= 12 and r.manifest["quantization"]["per_channel"] is False
    assert any("per-tensor" in n for n in r.manifest["notes"])


def test_gate_bites_and_exclusion_rescues(tmp_path, targets_dir, out_dir, shared_cache):
    import modelkit

    model = modelkit.outlier_cnn(tmp_path / "outlier_plus.onnx", well_behaved_layers=True)
    r = build_model(model, "test-pi-onnx", precision="int8", out_dir=out_dir, targets_dir=targets_dir,
                    cache_dir=shared_cache)
    m = r.manifest
    excluded = m["quantization"]["nodes_excluded"]
    assert "conv_read" in excluded and excluded[0] == "conv_read"  # the node that adds the error ranks first
    rounds = m["attempts"][0]["exclusion_rounds"]
    assert 1 <= len(rounds) <= 3 and "cosine" in rounds[0]["failed_because"]
    assert m["quantization"]["quantized_ops"] > 0  # still an int8 model
    assert "kept in float: " in r.summary and "conv_read" in r.summary
    qm = onnx.load(r.output_dir / "outlier_plus.onnx")
    quantized_convs = {n.name for n in qm.graph.node if n.op_type == "Conv"
                       and any(i.endswith("_DequantizeLinear_Output") for i in n.input[1:])}
    assert "conv_out" in quantized_convs and "conv_read" not in quantized_convs
    assert not m["verification"]["accuracy_verified_on_real_data"]
    assert "NOT verified" in m["verification"]["note"]


def test_gate_failure_is_one_clean_line_and_leaves_nothing(tmp_path, targets_dir, out_dir, shared_cache):
    import modelkit

    model = modelkit.outlier_cnn(tmp_path / "outlier.onnx")
    with pytest.raises(BuildError) as err:
        build_model(model, "test-pi-onnx", precision="int8", out_dir=out_dir, targets_dir=targets_dir,
                    cache_dir=shared_cache)
    msg = str(err.value)
    assert "\n" not in msg and "accuracy gate" in msg and "conv_read" in msg
    assert tree(out_dir) == []


def test_tolerance_override_makes_a_passing_build_fail(features_cnn, targets_dir, out_dir, shared_cache):
    model, calib, _ = features_cnn
    # without --eval the gate compares outputs on the calibration inputs; int8 cannot reach 150 dB SNR
    with pytest.raises(BuildError, match=r"int8 build fails the accuracy gate.*SNR [0-9.]+ dB < 150 dB"):
        build_model(model, "test-pi-onnx", precision="int8", calibration=calib, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache, tolerances={"min_snr_db": 150.0},
                    max_exclusion_rounds=0)
    assert tree(out_dir) == []


def test_auto_falls_back_to_the_next_preferred_precision(tmp_path, targets_dir, out_dir, shared_cache):
    import modelkit

    model = modelkit.outlier_cnn(tmp_path / "outlier_auto.onnx")
    r = build_model(model, "test-pi-onnx", out_dir=out_dir, targets_dir=targets_dir, cache_dir=shared_cache,
                    max_exclusion_rounds=1)
    assert r.precision == "fp32"  # test-pi prefers int8, then fp32
    assert [a["precision"] for a in r.manifest["attempts"]] == ["int8", "fp32"]
    assert r.manifest["attempts"][0]["passed"] is False


def test_cache_is_idempotent(features_cnn, targets_dir, tmp_path, cache_dir):
    model, calib, ev = features_cnn
    kw = dict(precision="int8", calibration=calib, eval_data=ev, targets_dir=targets_dir, cache_dir=cache_dir)
    first = build_model(model, "test-pi", out_dir=tmp_path / "a", **kw)
    second = build_model(model, "test-pi", out_dir=tmp_path / "b", **kw)
    assert first.cache_hits == []
    assert set(second.cache_hits) == {"load", "optimize", "quantize", "convert-ort"}
    digest = lambda r: [(a["path"], a["sha256"]) for a in r.manifest["artifacts"]]  # noqa: E731
    assert digest(first) == digest(second)
    assert first.manifest["verification"] == second.manifest["verification"]
    # a different calibration method is a different key: quantize runs again, load/optimize do not
    # a different target is a different key for every pass
    third = build_model(model, "test-pi-onnx", out_dir=tmp_path / "c", **kw)
    assert third.cache_hits == []
    # a different calibration method is a different key: quantize runs again, load/optimize do not
    fourth = build_model(model, "test-pi-onnx", out_dir=tmp_path / "c", calibration_method="percentile", **kw)
    assert set(fourth.cache_hits) == {"load", "optimize"}
    assert fourth.manifest["quantization"]["calibration_method"] == "percentile"
    # rebuilding into the same output replaces it whole
    again = build_model(model, "test-pi", out_dir=tmp_path / "a", **kw)
    assert digest(again) == digest(first) and sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "features_cnn-test-pi"]


def test_dynamic_int8_only_for_matmul_models(mlp_model, features_cnn, targets_dir, out_dir, shared_cache):
    r = build_model(mlp_model, "test-pi-onnx", precision="int8", out_dir=out_dir, targets_dir=targets_dir,
                    cache_dir=shared_cache)
    assert r.manifest["quantization"]["method"] == "dynamic"
    ops = {n.op_type for n in onnx.load(r.output_dir / "mlp.onnx").graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops
    model, calib, _ = features_cnn
    r2 = build_model(model, "test-pi-onnx", precision="int8", calibration=calib, eval_data=features_cnn[2], out_dir=out_dir,
                     targets_dir=targets_dir, cache_dir=shared_cache)
    ops2 = {n.op_type for n in onnx.load(r2.output_dir / "features_cnn.onnx").graph.node}
    assert r2.manifest["quantization"]["method"] == "static-qdq" and "ConvInteger" not in ops2


def test_scalar_input_is_fed_per_sample(tmp_path, targets_dir, out_dir):
    # a scalar input (Silero VAD's 'sr' is one) is fed one 0-d array per sample: onnxruntime refuses numpy scalars
    import modelkit

    model = modelkit.scaled_by_scalar(tmp_path / "scaled.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 16)).astype(np.float32)
    gain = np.linspace(0.5, 3.0, 6).astype(np.float32)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=x, gain=gain)
    r = build_model(model, "test-pi-onnx", precision="fp32", calibration=calib, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=None)
    check = r.manifest["verification"]["artifacts"]["scaled.onnx"]
    assert r.manifest["verification"]["samples"] == 6 and check["passed"] and check["max_abs_error"] == 0.0
    assert [i["shape"] for i in r.manifest["inputs"]] == [[1, 16], []]
