"""The committed digits CNN and the bundled sample data: real files, checked in onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgekit.errors import ConfigError
from edgekit.models import (
    bundled_calibration_path,
    bundled_eval_path,
    bundled_model_path,
)
from edgekit.models.catalog import MODELS_DIR


def _rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(x).reshape(len(x), -1)}


@pytest.fixture(scope="module")
def digits_eval():
    with np.load(bundled_eval_path("digits")) as z:
        return z["input"], z["labels"]


def test_digits_onnx_accuracy_in_onnxruntime(digits_eval):
    x, y = digits_eval
    sess = ort.InferenceSession(str(bundled_model_path("digits")), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"input": x})
    assert logits.shape == (len(x), 10)
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= 0.98, f"digits CNN accuracy {accuracy:.4f} < 0.98"
    # The card's figure is what this file really scores.
    card = json.loads((MODELS_DIR / "digits_cnn.json").read_text())
    assert card["eval_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_digits_onnx_signature_and_versions():
    model = onnx.load(str(bundled_model_path("digits")))
    onnx.checker.check_model(model)
    assert model.ir_version <= 8  # older runtimes (onnxruntime <= 1.14 reads IR 8)
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == "input" and out.name == "logits"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param  # dynamic batch
    assert [d.dim_value for d in dims[1:]] == [1, 8, 8]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    card = json.loads((MODELS_DIR / "digits_cnn.json").read_text())
    assert card["parameters"] == params
    assert 30_000 <= params <= 50_000


def test_digits_dynamic_batch(digits_eval):
    x, _ = digits_eval
    sess = ort.InferenceSession(str(bundled_model_path("digits")), providers=["CPUExecutionProvider"])
    one = sess.run(None, {"input": x[:1]})[0]
    many = sess.run(None, {"input": x[:7]})[0]
    np.testing.assert_allclose(one[0], many[0], rtol=1e-5, atol=1e-5)


def test_eval_set_is_the_stratified_holdout(digits_eval):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = digits_eval
    assert x.dtype == np.float32 and x.shape == (450, 1, 8, 8)
    assert y.dtype == np.int64 and y.shape == (450,)
    d = load_digits()
    images = (d.images.astype(np.float32) / 16.0)[:, None]
    _, x_test, _, y_test = train_test_split(images, d.target, test_size=0.25, stratify=d.target, random_state=0)
    np.testing.assert_array_equal(x, x_test)
    np.testing.assert_array_equal(y, y_test)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_calibration_is_training_data_disjoint_from_eval(digits_eval):
    from sklearn.datasets import load_digits

    x_eval, _ = digits_eval
    with np.load(bundled_calibration_path("digits")) as z:
        assert set(z.files) == {"input"}
        calib = z["input"]
    assert calib.dtype == np.float32 and calib.shape[1:] == (1, 8, 8)
    assert 100 <= len(calib) <= 200
    assert len(_rows(calib)) == len(calib)
    assert not _rows(calib) & _rows(x_eval), "calibration images also appear in the eval set"
    all_images = _rows((load_digits().images.astype(np.float32) / 16.0)[:, None])
    assert _rows(calib) <= all_images  # real digits, not synthetic


def test_unknown_bundled_model_names_the_known_ones():
    with pytest.raises(ConfigError, match="digits"):
        bundled_model_path("mnist")


def test_efficientnet_sample_sets():
    with np.load(MODELS_DIR / "efficientnet_calib.npz") as z:
        calib = z["input"]
    with np.load(MODELS_DIR / "efficientnet_eval.npz") as z:
        assert set(z.files) == {"input"}  # no labels: agreement only
        evals = z["input"]
    for x in (calib, evals):
        assert x.dtype == np.float32 and x.shape[1:] == (3, 224, 224)
        assert -1.0 <= x.min() and x.max() <= 1.0
        # (pixel - 127) / 128 of integer pixels
        np.testing.assert_allclose(x * 128 + 127, np.rint(x * 128 + 127), atol=1e-3)
    assert len(calib) >= 16 and len(evals) >= 16
    assert not _rows(calib) & _rows(evals)
    card = json.loads((MODELS_DIR / "efficientnet_sample.json").read_text())
    assert not set(card["calibration_photos"]) & set(card["eval_photos"])
    assert len(card["eval_images"]) == len(evals) and len(card["calibration_images"]) == len(calib)
