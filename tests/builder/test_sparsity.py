"""2:4 sparsity detection for Orin: found only where the weights already follow it; never pruned."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgekit.builder import sparsity
from edgekit.builder.pipeline import build_model
from edgekit.targets import load_target


def _two_four(shape, axis, rng):
    w = rng.normal(0, 0.1, shape).astype(np.float32)
    moved = np.moveaxis(w, axis, -1).copy()
    flat = moved.reshape(-1, 4)
    flat[:, :2] = 0.0   # the first two of every four along the reduction axis
    return np.moveaxis(flat.reshape(moved.shape), -1, axis)


def conv_mlp(path, *, sparse: bool):
    rng = np.random.default_rng(5)
    conv_w = _two_four((16, 8, 3, 3), 1, rng) if sparse else rng.normal(0, 0.1, (16, 8, 3, 3)).astype(np.float32)
    fc_w = _two_four((16 * 8 * 8, 32), 0, rng) if sparse else rng.normal(0, 0.1, (1024, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "cw"], ["c"], pads=[1, 1, 1, 1], name="conv"),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("Flatten", ["r"], ["f"], axis=1),
         helper.make_node("MatMul", ["f", "fw"], ["out"], name="fc")],
        "s", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 32])],
        [numpy_helper.from_array(conv_w, "cw"), numpy_helper.from_array(fc_w, "fw")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_detection_reads_the_reduction_axis(tmp_path):
    rng = np.random.default_rng(0)
    w = _two_four((16, 8, 3, 3), 1, rng)
    assert sparsity.is_two_four(w, 1) and not sparsity.is_two_four(w, 0)
    w[0, 0, 0, 0] = w[0, 1, 0, 0] = 1.0   # one group with a single zero left breaks the layer
    assert not sparsity.is_two_four(w, 1)
    assert sparsity.two_four_layers(onnx.load(str(conv_mlp(tmp_path / "s.onnx", sparse=True)))) == ["conv", "fc"]
    assert sparsity.two_four_layers(onnx.load(str(conv_mlp(tmp_path / "d.onnx", sparse=False)))) == []


def test_only_ampere_or_later_tensorrt_targets_are_capable():
    assert sparsity.sparse_capable(load_target("jetson-orin-nano"))
    assert not sparsity.sparse_capable(load_target("jetson-nano"))    # Maxwell, sm_53
    assert not sparsity.sparse_capable(load_target("rpi5"))


def test_orin_build_enables_sparsity_only_for_2_4_weights(tmp_path):
    out = {}
    for sparse in (True, False):
        src = conv_mlp(tmp_path / f"m{int(sparse)}.onnx", sparse=sparse)
        r = build_model(src, "jetson-orin-nano", precision="fp16", out_dir=tmp_path / f"o{int(sparse)}",
                        cache_dir=tmp_path / "cache")
        trt = next(e for e in r.manifest["execution_providers"] if e["provider"] == "TensorrtExecutionProvider")
        out[sparse] = (r.manifest["sparsity"], r.manifest["deployment"]["trtexec"], trt["options"])
    s, cmd, opts = out[True]
    assert s["enabled"] and s["layers"] == ["conv", "fc"] and "never prunes" in s["note"]
    assert "--sparsity=enable" in cmd and cmd.endswith(".engine") and opts["trt_sparsity_enable"] is True
    s, cmd, opts = out[False]
    assert not s["enabled"] and "--sparsity" not in cmd and "trt_sparsity_enable" not in opts
    # the shipped weights are the source's: nothing was zeroed
    w = next(i for i in onnx.load(str(tmp_path / "o0" / "m0-jetson-orin-nano" / "m0.onnx")).graph.initializer
             if i.dims == [1024, 32])
    assert np.count_nonzero(numpy_helper.to_array(w)) == 1024 * 32
