"""The manifest gives every artifact its own inputs and outputs, checked against each runtime's own view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgekit.builder.pipeline import build_model
from edgekit.builder.tflite import adapt_feeds

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"

_ORT_DTYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(int64)": "int64"}


def _artifact(manifest: dict, fmt: str) -> dict:
    return next(a for a in manifest["artifacts"] if a["format"] == fmt)


def _ort_view(args) -> list[tuple]:
    # a named dimension stays its name; -1, 0 and unnamed ones are dynamic (None)
    return [(a.name, _ORT_DTYPES[a.type],
             [(d if d > 0 else None) if isinstance(d, int) else (d or None) for d in a.shape]) for a in args]


def test_onnx_and_ort_io_match_onnxruntime(features_cnn, targets_dir, out_dir, shared_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "no-toolchains"))
    model, calib, ev = features_cnn
    r = build_model(model, "test-phone", precision="int8", calibration=calib, eval_data=ev, out_dir=out_dir,
                    targets_dir=targets_dir, cache_dir=shared_cache)
    art = _artifact(r.manifest, "ort")
    sess = ort.InferenceSession(str(r.output_dir / art["path"]), providers=["CPUExecutionProvider"])
    assert [(t["name"], t["dtype"], t["shape"]) for t in art["inputs"]] == _ort_view(sess.get_inputs())
    assert [(t["name"], t["dtype"], t["shape"]) for t in art["outputs"]] == _ort_view(sess.get_outputs())
    assert all(t["quantization"] is None for t in art["inputs"] + art["outputs"])  # float I/O, QDQ inside
    assert art["preprocessing"] == [{"input": "input", "from": "input", "steps": []}]
    assert art["inputs"][0]["layout"] == "NCHW"


@pytest.mark.slow
def test_phone_tflite_io_is_nhwc_int8_as_litert_reports_it(targets_dir, out_dir, shared_cache):
    """Must show of issue 11: the phone build's .tflite I/O with scale and zero point, as LiteRT reports it."""
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.builder.toolchain import find_toolchain

    if find_toolchain() is None:
        pytest.skip("onnx2tf toolchain not installed (`edgekit toolchain install tflite`)")
    r = build_model(MODELS / "digits_cnn.onnx", "test-phone", precision="int8",
                    calibration=MODELS / "digits_calib.npz", eval_data=MODELS / "digits_eval.npz",
                    out_dir=out_dir, targets_dir=targets_dir, cache_dir=shared_cache)
    m = r.manifest
    art = _artifact(m, "tflite")
    it = Interpreter(model_path=str(r.output_dir / art["path"]))
    for mine, theirs in ((art["inputs"], it.get_input_details()), (art["outputs"], it.get_output_details())):
        assert len(mine) == len(theirs)
        for spec, d in zip(mine, theirs):
            assert spec["name"] == d["name"]
            assert spec["dtype"] == np.dtype(d["dtype"]).name == "int8"
            assert spec["shape"] == [int(x) for x in d["shape"]]
            assert (spec["quantization"]["scale"], spec["quantization"]["zero_point"]) == tuple(d["quantization"])
    (inp,) = art["inputs"]
    assert inp["shape"] == [1, 8, 8, 1] and inp["layout"] == "NHWC"
    # the model's own input stays the ONNX one; the artifact says how to get from it to its own
    assert m["inputs"][0]["shape"][1:] == [1, 8, 8] and m["inputs"][0]["dtype"] == "float32"
    (pre,) = art["preprocessing"]
    assert pre["from"] == "input" and pre["input"] == inp["name"]
    assert pre["steps"][0].startswith("transpose NCHW -> NHWC") and pre["steps"][1].startswith("quantize")
    assert art["postprocessing"][0]["steps"][0].startswith("dequantize")

    # the steps written are the ones that work: applied by hand, they give what adapt_feeds gives
    x = np.load(MODELS / "digits_eval.npz")["input"][:1]
    scale, zero = inp["quantization"]["scale"], inp["quantization"]["zero_point"]
    by_hand = np.clip(np.round(np.transpose(x, (0, 2, 3, 1)).astype(np.float64) / scale) + zero, -128, 127)
    from edgekit.runtime.litert import LiteRtSession

    adapted = adapt_feeds(LiteRtSession(r.output_dir / art["path"]), {"input": x})[inp["name"]]
    assert np.array_equal(by_hand.astype(np.int8), adapted)
