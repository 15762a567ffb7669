"""EfficientNet-Lite0: real download, the graph built by edgekit without torch, real predictions.

The pull runs in an interpreter where ``import torch`` fails, as on a machine without torch. Where
torch is installed, the graph is also compared with the model code of ``efficientnet-lite-pytorch``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgekit.errors import ModelError
from edgekit.models.catalog import MODELS_DIR, load_catalog
from edgekit.models.efficientnet_lite import build
from edgekit.models.fetch import download_wheel
from edgekit.models.pull import cached_path, pull
from edgekit.digest import sha256_file

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (the comparison with torch's model code)")

# ImageNet class ids (standard 1000-class index order).
DAISY = 985
ESPRESSO = 967
DOMESTIC_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CODE_WHEEL_SHA256 = "ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"  # efficientnet-lite-pytorch 0.1.0


@pytest.fixture(scope="module")
def pulled(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from edgekit.commands.main import main\n"
        f"sys.exit(main(['models', 'pull', 'efficientnet-lite0', '--cache-dir', {str(cache)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    entry = next(e for e in load_catalog() if e.name == "efficientnet-lite0")
    path = cached_path(entry, cache)
    assert path is not None
    return cache, entry, path


def _eval_top1(path) -> dict[str, list[int]]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with np.load(MODELS_DIR / "efficientnet_eval.npz") as z:
        x = z["input"]
    card = json.loads((MODELS_DIR / "efficientnet_sample.json").read_text())
    by_photo: dict[str, list[int]] = {}
    for desc, i in zip(card["eval_images"], range(len(x))):
        by_photo.setdefault(desc["photo"], []).append(int(sess.run(None, {"input": x[i : i + 1]})[0].argmax()))
    return by_photo


@pytest.mark.slow
def test_pull_without_torch_builds_a_model_that_sees_the_photos(pulled):
    _, _, path = pulled
    model = onnx.load(str(path))
    assert model.ir_version == 8
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)  # folded
    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["export_report"]["exporter"] == "edgekit"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 224, 224] and sess.get_outputs()[0].shape == [1, 1000]
    by_photo = _eval_top1(path)
    # The centred crop (first of each photo) must get the obvious ImageNet class: a wrong padding,
    # a batch norm folded the wrong way or a skip connection in the wrong place fails this.
    assert by_photo["flower"][0] == DAISY
    assert by_photo["coffee"][0] == ESPRESSO
    assert by_photo["chelsea"][0] in DOMESTIC_CATS
    assert all(c in DOMESTIC_CATS for c in by_photo["chelsea"])


@pytest.mark.slow
def test_the_graph_is_a_function_of_the_weights(pulled):
    _, entry, path = pulled
    weights = path.parent / entry.file_name
    again = build(weights, "efficientnet-lite0", opset=17, ir_version=8)
    assert again.SerializeToString() == path.read_bytes()
    with pytest.raises(ModelError, match="architecture 'efficientnet-lite1' is not known"):
        build(weights, "efficientnet-lite1", opset=17, ir_version=8)


@pytest.mark.slow
def test_second_pull_reuses_and_corruption_rebuilds(pulled):
    cache, entry, path = pulled
    said: list[str] = []
    assert pull("efficientnet-lite0", cache_dir=cache, log=said.append) == path
    assert said == []
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cached_path(entry, cache) is None
    assert pull("efficientnet-lite0", cache_dir=cache, log=said.append) == path
    assert any("exporting again" in s for s in said)
    assert not any(s.startswith("downloading") for s in said)  # the weights were reused
    assert cached_path(entry, cache) == path


@needs_torch
@pytest.mark.slow
def test_equals_the_model_code_in_torch(pulled, tmp_path):
    import torch

    _, entry, path = pulled
    wheel = download_wheel("efficientnet-lite-pytorch", "0.1.0", tmp_path)
    assert sha256_file(wheel) == CODE_WHEEL_SHA256
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "code")
    sys.path.insert(0, str(tmp_path / "code"))
    try:
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path.parent / entry.file_name)).eval()
    finally:
        sys.path.remove(str(tmp_path / "code"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with np.load(MODELS_DIR / "efficientnet_eval.npz") as z:
        xs = list(z["input"][:6])
    xs += [np.random.default_rng(s).uniform(-1, 1, (3, 224, 224)).astype(np.float32) for s in range(2)]
    for x in xs:
        with torch.no_grad():
            expected = net(torch.from_numpy(x[None])).numpy()
        got = sess.run(None, {"input": x[None]})[0]
        assert np.abs(expected - got).max() < 1e-4
