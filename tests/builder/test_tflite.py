"""TFLite conversion through the real onnx2tf environment, checked in LiteRT against onnxruntime.

The toolchain is installed for real once (about 75 s and 2.6 GB the first time, in the
default toolchain directory so reruns find it); if that fails the tests fail, saying why.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.builder.tflite import (SAMPLE_FILE, adapt_feeds, adapt_outputs, convert_tflite, last_error_line,
                                  run_tflite)
from edgekit.builder.toolchain import find_toolchain
from edgekit.builder.toolchain_install import install_tflite, tiny_cnn
from edgekit.errors import BuildError, EdgekitError
from edgekit.runtime.litert import LiteRtSession
from edgekit.runtime.ort import OrtSession

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "models" / "digits_cnn.onnx"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chain():
    try:
        return install_tflite()
    except EdgekitError as exc:
        pytest.fail(f"installing the onnx2tf toolchain failed, so TFLite cannot be tested: {exc}")


@pytest.fixture
def offline(monkeypatch):
    """Any HTTP(S) request from the converter goes to a closed local port and fails at once."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def digits():
    if not DIGITS.is_file():
        pytest.fail(f"{DIGITS} is missing: it is the repository's bundled model (models/train_digits.py)")
    ev = np.load(REPO / "models" / "digits_eval.npz")
    calib = dict(np.load(REPO / "models" / "digits_calib.npz"))
    ref = OrtSession(DIGITS).run({"input": ev["input"]})[0]
    return {"x": ev["input"], "labels": ev["labels"], "calib": calib, "ref": ref}


@pytest.fixture(scope="module")
def digits_tflite(chain, digits, tmp_path_factory):
    """The digits CNN converted once per precision (with the input hashed before and after)."""
    out = tmp_path_factory.mktemp("digits-tflite")
    before = sha256(DIGITS)
    paths = {p: convert_tflite(DIGITS, out, precision=p, calibration=digits["calib"], toolchain=chain)
             for p in ("fp32", "fp16", "int8")}
    return paths, before, sha256(DIGITS)


def lite_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    session = LiteRtSession(path, threads=2)
    return run_tflite(session, {"input": x}, names=["logits"])[0]


def test_input_model_is_not_modified(digits_tflite):
    _, before, after = digits_tflite
    assert after == before


def test_fp32_matches_onnxruntime(digits_tflite, digits):
    paths, _, _ = digits_tflite
    assert paths["fp32"].name == "digits_cnn_fp32.tflite"
    session = LiteRtSession(paths["fp32"])
    assert session.inputs[0].shape == (1, 8, 8, 1) and session.inputs[0].dtype == "float32"
    got = lite_outputs(paths["fp32"], digits["x"])
    assert got.shape == digits["ref"].shape
    assert float(np.max(np.abs(got - digits["ref"]))) < 1e-4
    assert np.array_equal(got.argmax(1), digits["ref"].argmax(1))


def test_fp16_is_smaller_and_agrees(digits_tflite, digits):
    paths, _, _ = digits_tflite
    assert paths["fp16"].stat().st_size < 0.6 * paths["fp32"].stat().st_size
    got = lite_outputs(paths["fp16"], digits["x"])
    assert float(np.max(np.abs(got - digits["ref"]))) < 0.05
    assert (got.argmax(1) == digits["ref"].argmax(1)).mean() >= 0.99


def test_int8_is_full_integer_and_keeps_accuracy(digits_tflite, digits):
    paths, _, _ = digits_tflite
    session = LiteRtSession(paths["int8"])
    assert session.inputs[0].dtype == "int8" and session.outputs[0].dtype == "int8"
    assert session.quantization(session.inputs[0].name)[0] > 0
    assert paths["int8"].stat().st_size < 0.4 * paths["fp32"].stat().st_size
    got = lite_outputs(paths["int8"], digits["x"])
    agreement = (got.argmax(1) == digits["ref"].argmax(1)).mean()
    acc_ref = (digits["ref"].argmax(1) == digits["labels"]).mean()
    acc_int8 = (got.argmax(1) == digits["labels"]).mean()
    assert agreement >= 0.97
    assert acc_int8 >= acc_ref - 0.01


def test_three_channel_ir14_model_converts_offline_and_untouched(chain, offline, tmp_path):
    """onnx2tf fetches a sample file for 3-channel 4-D inputs even for float conversion, and its
    onnxruntime rejects IR 14 (what onnx >= 1.19 writes by default): neither may stop us."""
    model = tiny_cnn(channels=3, size=16)
    model.ir_version = 14
    path = tmp_path / "rgb.onnx"
    onnx.save(model, path)
    before = sha256(path)
    x = np.random.default_rng(3).random((4, 3, 16, 16), dtype=np.float32)
    ref = OrtSession(path).run({"input": x})[0]
    out = tmp_path / "out"
    fp32 = convert_tflite(path, out, precision="fp32", toolchain=chain)
    assert sha256(path) == before
    assert [p.name for p in out.iterdir()] == ["rgb_fp32.tflite"]
    session = LiteRtSession(fp32)
    assert session.inputs[0].shape == (1, 16, 16, 3)
    got = run_tflite(session, {"input": x})[0]
    assert float(np.max(np.abs(got - ref))) < 1e-4


def test_the_sample_file_trap_is_real_here(chain, offline, tmp_path):
    """Without the generated sample file onnx2tf itself fails offline: the workaround is needed."""
    onnx.save(tiny_cnn(channels=3, size=16), tmp_path / "rgb.onnx")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{chain.bin_dir}:{env['PATH']}"
    proc = subprocess.run([str(chain.python), "-m", "onnx2tf", "-i", "rgb.onnx", "-o", "out", "-b", "1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert not (tmp_path / "out" / "rgb_float32.tflite").exists()
    assert "Connection" in proc.stdout + proc.stderr
    assert not (tmp_path / SAMPLE_FILE).exists()


def test_truncated_model_fails_cleanly(chain, tmp_path):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(DIGITS.read_bytes()[:500])
    out = tmp_path / "out"
    with pytest.raises(BuildError, match="not a readable ONNX model"):
        convert_tflite(bad, out, precision="fp32", toolchain=chain)
    assert not out.exists() or not any(out.iterdir())


def test_unsupported_operator_fails_with_the_tools_message(chain, tmp_path):
    graph = helper.make_graph([helper.make_node("FrobnicateXYZ", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])])
    bad = tmp_path / "weird.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), bad)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BuildError, match="FrobnicateXYZ") as err:
        convert_tflite(bad, out, precision="fp32", toolchain=chain)
    assert "\n" not in str(err.value)
    assert list(out.iterdir()) == []


def test_int8_needs_matching_calibration(chain, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(BuildError, match="needs calibration data"):
        convert_tflite(DIGITS, out, precision="int8", toolchain=chain)
    with pytest.raises(BuildError, match="no array for input 'input'"):
        convert_tflite(DIGITS, out, precision="int8", calibration={"x": np.zeros((2, 1, 8, 8))}, toolchain=chain)
    with pytest.raises(BuildError, match=r"shape \[2, 3, 8, 8\]"):
        convert_tflite(DIGITS, out, precision="int8", calibration={"input": np.zeros((2, 3, 8, 8))},
                       toolchain=chain)
    with pytest.raises(BuildError, match="unknown TFLite precision"):
        convert_tflite(DIGITS, out, precision="int4", toolchain=chain)  # type: ignore[arg-type]
    assert not out.exists()


def test_missing_toolchain_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "none"))
    assert find_toolchain() is None
    with pytest.raises(BuildError, match=r"onnx2tf toolchain not installed; run `edgekit toolchain install tflite`"):
        convert_tflite(DIGITS, tmp_path / "out", precision="fp32")
    assert not (tmp_path / "out").exists()


def multi_io_model(path: Path) -> Path:
    """Three inputs (NCHW image, vector, NCW sequence), two outputs listed out of name order."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), "w")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (5, 2)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["img", "w"], ["zfeat"], pads=[1, 1, 1, 1]),
         helper.make_node("MatMul", ["vec", "w2"], ["m"]),
         helper.make_node("ReduceMean", ["seq"], ["sm"], axes=[2], keepdims=0),
         helper.make_node("Add", ["m", "sm"], ["alogits"])],
        "multi",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, 8, 8]),
         helper.make_tensor_value_info("vec", TensorProto.FLOAT, ["N", 5]),
         helper.make_tensor_value_info("seq", TensorProto.FLOAT, ["N", 2, 6])],
        [helper.make_tensor_value_info("zfeat", TensorProto.FLOAT, ["N", 4, 8, 8]),
         helper.make_tensor_value_info("alogits", TensorProto.FLOAT, ["N", 2])],
        [w, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, path)
    return path


def test_multi_input_output_feeds_and_order(chain, tmp_path):
    path = multi_io_model(tmp_path / "multi.onnx")
    rng = np.random.default_rng(1)
    feeds = {"img": rng.random((3, 3, 8, 8), dtype=np.float32), "vec": rng.random((3, 5), dtype=np.float32),
             "seq": rng.random((3, 2, 6), dtype=np.float32)}
    ref = OrtSession(path).run(feeds)
    session = LiteRtSession(convert_tflite(path, tmp_path / "out", precision="fp32", toolchain=chain))
    shapes = {s.name: s.shape for s in session.inputs}
    assert shapes["serving_default_img:0"] == (1, 8, 8, 3)  # channels last
    assert shapes["serving_default_seq:0"] == (1, 6, 2)
    got = run_tflite(session, feeds, names=["zfeat", "alogits"], shapes=[(None, 4, 8, 8), (None, 2)])
    assert [g.shape for g in got] == [(3, 4, 8, 8), (3, 2)]
    for r, g in zip(ref, got):
        assert float(np.max(np.abs(r - g))) < 1e-5
    # without names the outputs come in name order (alogits, zfeat)
    one = {k: v[:1] for k, v in feeds.items()}
    plain = adapt_outputs(session, session.run(adapt_feeds(session, one)))
    assert [p.shape for p in plain] == [(1, 2), (1, 8, 8, 4)]


def test_adapt_feeds_quantizes_int8_inputs(digits_tflite, digits):
    paths, _, _ = digits_tflite
    session = LiteRtSession(paths["int8"])
    x = digits["x"][:1]
    fed = adapt_feeds(session, {"input": x})
    (name, arr), = fed.items()
    scale, zero = session.quantization(name)
    assert arr.dtype == np.int8 and arr.shape == (1, 8, 8, 1)
    back = (arr.astype(np.float32) - zero) * scale
    assert float(np.max(np.abs(back - x.transpose(0, 2, 3, 1)))) <= scale / 2 + 1e-6
    # a feed with a name the model lacks still reaches its only input, by position
    assert adapt_feeds(session, {"pixels": x}).keys() == fed.keys()


def test_adapt_feeds_rejects_a_wrong_shape(digits_tflite):
    paths, _, _ = digits_tflite
    session = LiteRtSession(paths["fp32"])
    with pytest.raises(BuildError, match="wants"):
        adapt_feeds(session, {"input": np.zeros((1, 1, 9, 9), np.float32)})


def test_last_error_line_prefers_the_specific_error():
    log = ("\x1b[31mERROR:\x1b[0m The trace log is below.\nTraceback (most recent call last):\n"
           "  File \"x.py\", line 1\nKeyError: 'ghost'\nERROR: onnx_op_name: sng_Relu_0\n"
           "ERROR: Read this and deal with it. https://example\n")
    assert last_error_line(log) == "KeyError: 'ghost' (at op sng_Relu_0)"
    assert last_error_line("INFO: a\nERROR: Foo OP is not yet implemented.\nModuleNotFoundError: x\n") == \
        "Foo OP is not yet implemented."
    assert last_error_line("") == "onnx2tf printed nothing and wrote no .tflite"


def test_dynamic_height_width_is_fixed_from_the_data(chain, tmp_path):
    """A detector-style input [1, 3, h, w]: converted at the size of the data, and refused without data."""
    import modelkit

    path = modelkit.skip_connection_cnn(tmp_path / "skip.onnx")
    with pytest.raises(BuildError, match=r"input 'x' has a dynamic dimension at axis 2; .*pass --eval or --calibration"):
        convert_tflite(path, tmp_path / "none", precision="fp32", toolchain=chain)
    assert not (tmp_path / "none").exists()
    x = np.random.default_rng(5).normal(size=(1, 3, 24, 40)).astype(np.float32)
    session = LiteRtSession(convert_tflite(path, tmp_path / "out", precision="fp32", toolchain=chain,
                                           fixed_shapes={"x": (1, 3, 24, 40)}))
    assert [s.shape for s in session.inputs] == [(1, 24, 40, 3)]
    got = run_tflite(session, {"x": x}, shapes=[(None, 4, 24, 40)])[0]
    ref = OrtSession(path).run({"x": x})[0]
    assert got.shape == ref.shape == (1, 4, 24, 40)
    assert float(np.max(np.abs(got - ref))) < 1e-4


def test_fixed_shapes_skip_scalars_and_keep_a_fixed_leading_axis():
    """Silero VAD: input [batch, 576], state [2, batch, 128], sr a scalar."""
    from edgekit.builder.tflite import _fixed_input_shapes

    inputs = {"input": ((None, 576), 1), "state": ((2, None, 128), 1), "sr": ((), 7)}
    got = _fixed_input_shapes(Path("silero.onnx"), inputs, {"input": (1, 576), "state": (2, 1, 128), "sr": ()})
    assert got == {"input": (1, 576), "state": (2, 1, 128)}
    with pytest.raises(BuildError, match=r"data shape \[2, 1, 64\] for input 'state' does not fit"):
        _fixed_input_shapes(Path("silero.onnx"), inputs, {"input": (1, 576), "state": (2, 1, 64)})
