"""Single passes on their own: quantize choices, QDQ damage ranking, cache entries, packaging."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgekit.builder import qdq_debug, quantize
from edgekit.builder.cache import PassCache, cache_key
from edgekit.builder.data import generated_samples, input_specs
from edgekit.builder.package import Artifact, write_output
from edgekit.errors import ConfigError


def test_int8_mode_choice(features_cnn, mlp_model):
    assert quantize.choose_int8_mode(onnx.load(features_cnn[0])) == "static"
    assert quantize.choose_int8_mode(onnx.load(mlp_model)) == "dynamic"


def test_quantize_config_validation():
    with pytest.raises(ConfigError, match="unknown calibration method 'kl'"):
        quantize.QuantizeConfig("t", 10, "int8", calibration_method="kl")
    with pytest.raises(ConfigError, match="precision"):
        quantize.QuantizeConfig("t", 10, "int4")


def test_ranking_puts_the_node_that_adds_the_error_first(tmp_path, outlier_model):
    samples = generated_samples(input_specs(onnx.load(outlier_model)), 16)
    q = tmp_path / "q.onnx"
    facts = quantize.run(outlier_model, q, quantize.QuantizeConfig("t", 10, "int8"), samples)
    assert facts["quantized_ops"] > 0
    ranked = qdq_debug.rank_nodes(outlier_model, q, samples)
    assert [d.nodes for d in ranked] == [("conv_read",), ("conv_wide",)]
    worst = ranked[0]
    assert worst.added_error > 0.5 and worst.output_snr_db < 3  # the output is destroyed there
    assert ranked[1].output_snr_db > 30                         # the huge channel itself is fine


def test_cache_ignores_incomplete_entries(tmp_path):
    cache = PassCache(tmp_path / "c")
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    key = cache_key("p", {"a": 1}, "h", "t")
    assert key != cache_key("p", {"a": 2}, "h", "t") != cache_key("p", {"a": 1}, "h", "other")
    entry = cache.put(key, {"f.bin": src}, {"facts": {"x": 1}})
    assert entry.file("f.bin").read_bytes() == b"abc" and cache.get(key).meta["facts"] == {"x": 1}
    entry.file("f.bin").unlink()            # a damaged entry is a miss, not a broken build
    assert cache.get(key) is None
    assert PassCache(None).put(key, {"f.bin": src}, {}) is None


def test_write_output_replaces_whole_and_cleans_up(tmp_path):
    a = tmp_path / "a.onnx"
    a.write_bytes(b"one")
    out = tmp_path / "out"
    final = write_output(out, "m-t", [Artifact("m.onnx", a, "onnx", "fp32")], {"v": 1})
    assert sorted(p.name for p in final.iterdir()) == ["m.onnx", "manifest.json"]
    a.write_bytes(b"two")
    final = write_output(out, "m-t", [Artifact("m.onnx", a, "onnx", "fp32")], {"v": 2})
    assert (final / "m.onnx").read_bytes() == b"two" and json.loads((final / "manifest.json").read_text()) == {"v": 2}
    assert sorted(p.name for p in out.iterdir()) == ["m-t"]  # no staging or backup dirs left
    missing = Artifact("gone.onnx", tmp_path / "gone.onnx", "onnx", "fp32")
    with pytest.raises(Exception, match="nothing was written"):
        write_output(out, "m-t", [missing], {"v": 3})
    assert (final / "m.onnx").read_bytes() == b"two" and sorted(p.name for p in out.iterdir()) == ["m-t"]


def test_fp16_keeps_float_io(tmp_path, features_cnn):
    q = tmp_path / "h.onnx"
    quantize.run(features_cnn[0], q, quantize.QuantizeConfig("t", 9, "fp16"), None)
    m = onnx.load(q)
    assert m.ir_version <= 9
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    import onnxruntime as ort

    x = np.load(features_cnn[2])["input"][:16]
    ref = ort.InferenceSession(str(features_cnn[0])).run(None, {"input": x})[0]
    got = ort.InferenceSession(str(q)).run(None, {"input": x})[0]
    assert got.dtype == np.float32 and np.max(np.abs(got - ref)) < 1e-2


def test_first_layers_are_found_through_shape_nodes_on_every_input():
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    m = np.ones((8, 2), np.float32)
    g = helper.make_graph(
        [helper.make_node("Transpose", ["image"], ["t"], perm=[0, 3, 1, 2], name="to_nchw"),
         helper.make_node("Conv", ["t", "w"], ["c"], name="stem"),
         helper.make_node("Conv", ["c", "w2"], ["c2"], name="second"),
         helper.make_node("MatMul", ["extra", "m"], ["e"], name="side_mm"),
         helper.make_node("Identity", ["c2"], ["out"], name="id")],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 5, 5, 3]),
         helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("e", TensorProto.FLOAT, None)],
        initializer=[w, numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w2"), numpy_helper.from_array(m, "m")])
    assert quantize.first_layers(helper.make_model(g)) == ["stem", "side_mm"]
