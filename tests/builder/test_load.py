"""Pass 1: reading, checking and adapting models; every bad model gives one clear ModelError."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.builder import load
from edgekit.builder.onnxio import default_opset
from edgekit.errors import ModelError


def cfg(**over):
    base = dict(target_name="test-pi", max_opset=21, max_ir_version=10, min_opset=None)
    return load.LoadConfig(**{**base, **over})


def tiny(opset=17, *, constant_weights=False, op="Relu", domain=""):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             helper.make_node(op, ["h"], ["y"], name="act", domain=domain)]
    inits = [numpy_helper.from_array(w, "w")]
    if constant_weights:
        nodes.insert(0, helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w, "w")))
        inits = []
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = 8
    return m


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load.read_model(tmp_path / "nope.onnx")


def test_not_an_onnx_file(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("this is a text file, not a model\n" * 20)
    with pytest.raises(ModelError, match="not (a readable ONNX|an ONNX) model"):
        load.read_model(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        load.read_model(p)


def test_truncated_model(tmp_path, features_cnn):
    data = features_cnn[0].read_bytes()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError) as err:
        load.run(p, tmp_path / "out.onnx", cfg())
    assert "truncated" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out.onnx").exists()


def test_opset_beyond_target_is_refused_with_the_offending_operators(tmp_path):
    m = tiny(opset=20, op="Gelu")  # Gelu exists from opset 20 on
    p = tmp_path / "gelu.onnx"
    onnx.save(m, p)
    with pytest.raises(ModelError) as err:
        load.run(p, tmp_path / "o.onnx", cfg(max_opset=17))
    msg = str(err.value)
    assert "opset 20" in msg and "at most opset 17" in msg and "Gelu" in msg and "opset_version=17" in msg


def test_unknown_operator_domain_is_refused(tmp_path):
    p = tmp_path / "custom.onnx"
    onnx.save(tiny(op="FancyAct", domain="com.example"), p)
    with pytest.raises(ModelError, match="FancyAct.*com.example"):
        load.run(p, tmp_path / "o.onnx", cfg())


def test_unknown_default_domain_operator_is_refused(tmp_path):
    m = tiny(op="NoSuchOp")
    p = tmp_path / "nosuch.onnx"
    onnx.save(m, p)
    with pytest.raises(ModelError, match="NoSuchOp"):
        load.run(p, tmp_path / "o.onnx", cfg())


def test_constants_become_initializers(tmp_path):
    p = tmp_path / "const.onnx"
    onnx.save(tiny(constant_weights=True), p)
    facts = load.run(p, tmp_path / "o.onnx", cfg())
    out = onnx.load(tmp_path / "o.onnx")
    assert facts["constants_moved"] == 1
    assert [n.op_type for n in out.graph.node] == ["MatMul", "Relu"]
    assert [i.name for i in out.graph.initializer] == ["w"]


def test_opset_upgraded_for_per_channel_and_ir_clamped(tmp_path):
    m = tiny(opset=11)
    m.ir_version = 14  # what onnx 1.23 writes by default; older runtimes refuse it
    p = tmp_path / "old.onnx"
    onnx.save(m, p)
    facts = load.run(p, tmp_path / "o.onnx", cfg(min_opset=13, max_ir_version=9))
    out = onnx.load(tmp_path / "o.onnx")
    assert default_opset(out) == 13 and facts["source_opset"] == 11
    assert out.ir_version == 9 and facts["ir_version"] == 9


def test_ir_version_the_opset_needs_beyond_target(tmp_path):
    p = tmp_path / "o21.onnx"
    m = tiny(opset=21)  # opset 21 needs IR 10
    m.ir_version = 10
    onnx.save(m, p)
    with pytest.raises(Exception, match="IR version 10.*at most IR 8"):
        load.run(p, tmp_path / "o.onnx", cfg(max_ir_version=8))


def test_config_is_validated():
    with pytest.raises(Exception, match="min_opset 13 exceeds"):
        load.LoadConfig("t", max_opset=12, max_ir_version=7, min_opset=13)
