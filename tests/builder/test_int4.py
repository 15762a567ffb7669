"""int4 weight-only quantization (MatMulNBits): the pass, the gate, the cache and the targets that refuse it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.builder import int4
from edgekit.builder.pipeline import build_model
from edgekit.errors import BuildError, ConfigError
from edgekit.runtime import open_session
from edgekit.targets import load_target


def wide_mlp(path, *, k: int = 256, gemm: bool = False):
    """Two 256-wide layers (MatMul, or Gemm with transB and a bias) with smooth weights, as trained layers have."""
    rng = np.random.default_rng(7)
    w1 = (rng.normal(0, 1, (k, k)) / np.sqrt(k)).astype(np.float32)
    w2 = (rng.normal(0, 1, (k, 10)) / np.sqrt(k)).astype(np.float32)
    b1 = rng.normal(0, 0.1, k).astype(np.float32)
    if gemm:
        nodes = [helper.make_node("Gemm", ["input", "w1t", "b1"], ["h"], transB=1, name="fc1"),
                 helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("Gemm", ["r", "w2"], ["logits"], name="fc2")]
        inits = [numpy_helper.from_array(np.ascontiguousarray(w1.T), "w1t"), numpy_helper.from_array(b1, "b1"),
                 numpy_helper.from_array(w2, "w2")]
    else:
        nodes = [helper.make_node("MatMul", ["input", "w1"], ["h"], name="mm1"),
                 helper.make_node("Relu", ["h"], ["r"]),
                 helper.make_node("MatMul", ["r", "w2"], ["logits"], name="mm2")]
        inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
    graph = helper.make_graph(nodes, "wide", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", k])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# 4-bit weights of random (untrained) layers: about 18 dB of SNR at the output, under the default 20 dB
LOOSE = {"min_snr_db": 12.0, "min_top1_agreement": 0.8, "min_cosine": 0.95}


@pytest.fixture
def eval_npz(tmp_path):
    p = tmp_path / "eval.npz"
    np.savez(p, input=np.random.default_rng(3).normal(size=(64, 256)).astype(np.float32))
    return p


def test_gemm_rewrite_computes_the_same(tmp_path):
    src = wide_mlp(tmp_path / "gemm.onnx", gemm=True)
    model = onnx.load(str(src))
    assert int4.gemm_to_matmul(model) == 2
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add", "Relu", "MatMul"]
    assert "w1t" not in {i.name for i in model.graph.initializer}  # the transposed original is gone
    dst = tmp_path / "mm.onnx"
    onnx.save(model, str(dst))
    x = {"input": np.random.default_rng(0).normal(size=(4, 256)).astype(np.float32)}
    a, b = open_session(src).run(x)[0], open_session(dst).run(x)[0]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gemm", [False, True])
def test_int4_build_packs_weights_and_passes_the_gate(tmp_path, eval_npz, gemm):
    src = wide_mlp(tmp_path / "m.onnx", gemm=gemm)
    r = build_model(src, "rpi5", precision="int4", eval_data=eval_npz, out_dir=tmp_path / "out",
                    cache_dir=tmp_path / "cache", tolerances=LOOSE)
    q = r.manifest["quantization"]
    assert r.precision == "int4" and q["quantized_ops"] == 2 and q["block_size"] == int4.DEFAULT_BLOCK_SIZE
    assert q["gemm_rewritten_as_matmul"] == (2 if gemm else 0) and q["accuracy_level"] == 0
    assert r.manifest["tflite"]["status"] == "skipped"
    shipped = r.output_dir / "m.onnx"
    ops = [n.op_type for n in onnx.load(str(shipped)).graph.node]
    assert ops.count("MatMulNBits") == 2 and "MatMul" not in ops
    # 4 bits + one fp32 scale per 32 weights: well under a third of the fp32 file
    assert shipped.stat().st_size < 0.3 * src.stat().st_size
    assert {a["path"] for a in r.manifest["artifacts"]} >= {"m.onnx", "m.ort"}


def test_block_size_is_in_the_cache_key_and_the_gate_bites(tmp_path, eval_npz):
    src = wide_mlp(tmp_path / "m.onnx")
    cache = tmp_path / "cache"
    kw = dict(precision="int4", eval_data=eval_npz, out_dir=tmp_path / "out", cache_dir=cache)
    build_model(src, "rpi5", tolerances=LOOSE, **kw)
    again = build_model(src, "rpi5", tolerances=LOOSE, **kw)
    assert "quantize-int4" in again.cache_hits
    other = build_model(src, "rpi5", int4_block_size=128, tolerances=LOOSE, **kw)
    assert "quantize-int4" not in other.cache_hits and other.manifest["quantization"]["block_size"] == 128
    with pytest.raises(BuildError, match="int4 build fails the accuracy gate"):
        build_model(src, "rpi5", tolerances={"min_snr_db": 60.0}, **kw)


def test_targets_that_cannot_run_int4_refuse_it_in_one_line(tmp_path, eval_npz):
    src = wide_mlp(tmp_path / "m.onnx")
    for name, why in (("jetson-orin-nano", "TensorRT"), ("android-arm64", "LiteRT")):
        with pytest.raises(ConfigError, match=f"{name} cannot run int4: .*{why}") as exc:
            build_model(src, name, precision="int4", eval_data=eval_npz, out_dir=tmp_path / "out")
        assert "\n" not in str(exc.value)
    assert int4.refusal(load_target("rpi5")) is None
    with pytest.raises(ConfigError, match="int4 block size 24"):
        build_model(src, "rpi5", precision="int4", int4_block_size=24, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_model_without_constant_matmul_weights_is_refused(tmp_path, features_cnn):
    """The digits CNN with its Gemm's weight made a graph input: nothing constant is left to quantize."""
    model = onnx.load(str(features_cnn[0]))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    w = next(i for i in model.graph.initializer if i.name == gemm.input[1])
    model.graph.initializer.remove(w)
    model.graph.input.append(helper.make_tensor_value_info(w.name, TensorProto.FLOAT, list(w.dims)))
    src = tmp_path / "no_const.onnx"
    onnx.save(model, str(src))
    with pytest.raises(BuildError, match="int4 found no MatMul or Gemm with a constant 2-D weight"):
        int4.run(src, tmp_path / "q.onnx", int4.Int4Config("rpi5", 10))
    assert not (tmp_path / "q.onnx").exists()
