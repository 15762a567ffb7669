"""open_session on real models: .onnx, .ort (written by onnxruntime itself), .tflite where a file exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgekit.errors import ModelError
from edgekit.runtime import open_session
from litert_models import tiny_tflite

REPO = Path(__file__).resolve().parents[2]


def small_cnn(path: Path) -> Path:
    """Conv(3->4, 3x3) + Relu + GlobalAveragePool with a dynamic batch, written with onnx.helper."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype(np.float32))
    b = helper.make_tensor("b", TensorProto.FLOAT, [4], np.zeros(4, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"]),
         helper.make_node("GlobalAveragePool", ["r"], ["pooled"])],
        "small_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", 4, 1, 1])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def to_ort_format(src: Path, dst: Path) -> Path:
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(dst)
    so.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
    return dst


def reference(src: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


def test_onnx_session_specs_and_run(tmp_path):
    m = small_cnn(tmp_path / "m.onnx")
    s = open_session(m, threads=1)
    assert s.runtime == "onnxruntime" and s.runtime_version == ort.__version__
    assert s.providers == ["CPUExecutionProvider"]
    spec = s.inputs[0]
    assert spec.name == "image" and spec.shape == ("batch", 3, 16, 16)
    assert spec.dtype == "float32" and spec.layout == "NCHW"
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32)
    (y,) = s.run({"image": x})
    assert y.shape == (2, 4, 1, 1)
    np.testing.assert_allclose(y, reference(m, x), rtol=1e-6)


def test_ort_format_session(tmp_path):
    m = small_cnn(tmp_path / "m.onnx")
    o = to_ort_format(m, tmp_path / "m.ort")
    assert o.read_bytes()[4:8] == b"ORTM"  # flatbuffer file identifier of the ORT format
    s = open_session(o)
    x = np.ones((1, 3, 16, 16), np.float32)
    np.testing.assert_allclose(s.run({"image": x})[0], reference(m, x), rtol=1e-5)


def test_missing_providers_fall_back_and_are_recorded(tmp_path):
    m = small_cnn(tmp_path / "m.onnx")
    wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    s = open_session(m, providers=wanted)
    available = set(ort.get_available_providers())
    assert s.missing_providers == [p for p in wanted if p not in available]
    assert s.providers[-1] == "CPUExecutionProvider"
    assert all(p in available for p in s.providers)


def test_cpu_is_added_when_no_requested_provider_exists(tmp_path):
    s = open_session(small_cnn(tmp_path / "m.onnx"), providers=["NoSuchExecutionProvider"])
    assert s.providers == ["CPUExecutionProvider"] and s.missing_providers == ["NoSuchExecutionProvider"]


def test_bad_files_give_one_line_model_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        open_session(tmp_path / "absent.onnx")
    (tmp_path / "m.pt").write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported model format"):
        open_session(tmp_path / "m.pt")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="onnxruntime cannot load") as exc:
        open_session(tmp_path / "junk.onnx")
    assert "\n" not in str(exc.value)


def test_tflite_session(tmp_path):
    pytest.importorskip("ai_edge_litert")
    s = open_session(tiny_tflite(tmp_path / "add.tflite"), threads=1)
    assert s.runtime == "litert" and s.providers == ["cpu"]
    assert [(i.name, i.shape, i.dtype) for i in s.inputs] == [("x", (1, 4), "float32")]
    (y,) = s.run({"x": np.array([[0, 1, 2, 3]], np.float32)})
    np.testing.assert_array_equal(y, [[0, 2, 4, 6]])


def test_a_failing_run_raises_without_onnxruntime_log_lines(tmp_path, capfd):
    # any image size is accepted at the door, so the failure happens inside the Conv kernel (onnxruntime logs it)
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, np.float32))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["y"])], "anysize",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, "oh", "ow"])], initializer=[w])
    path = tmp_path / "anysize.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    s = open_session(path)
    capfd.readouterr()
    with pytest.raises(Exception, match="INVALID_ARGUMENT"):
        s.run({"image": np.zeros((1, 1, 1, 1), np.float32)})   # too small for the 3x3 convolution
    out, err = capfd.readouterr()
    assert "onnxruntime" not in err and "onnxruntime" not in out  # the caller reports it, in one line
