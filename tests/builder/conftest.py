"""Fixtures for the build tests: small real models, target profiles, isolated cache and output dirs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modelkit  # noqa: E402
from buildkit import PROFILES, write_profile  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"

@pytest.fixture
def targets_dir(tmp_path) -> Path:
    d = tmp_path / "targets"
    d.mkdir()
    for name in PROFILES:
        write_profile(d, name)
    return d


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One pass cache for the session: later tests reuse earlier passes (and so exercise cache hits)."""
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def real_target():
    """A bundled profile when it exists (targets/NAME.toml), else the stand-in test profile."""
    def pick(name: str, stand_in: str, stand_in_dir: Path) -> tuple[str, Path]:
        bundled = REPO / "targets"
        if (bundled / f"{name}.toml").is_file():
            return name, bundled
        return stand_in, stand_in_dir
    return pick


@pytest.fixture
def out_dir(tmp_path) -> Path:
    return tmp_path / "out"


@pytest.fixture(scope="session")
def features_cnn(tmp_path_factory):
    """(model path, calibration npz, eval npz) of the small trained digits CNN made with onnx.helper."""
    d = tmp_path_factory.mktemp("features_cnn")
    path, data = modelkit.digits_features_cnn(d / "features_cnn.onnx")
    calib = d / "calib.npz"
    np.savez(calib, input=data["x_train"][:96])
    ev = d / "eval.npz"
    np.savez(ev, input=data["x_test"], labels=data["y_test"])
    return path, calib, ev


@pytest.fixture(scope="session")
def outlier_model(tmp_path_factory) -> Path:
    return modelkit.outlier_cnn(tmp_path_factory.mktemp("outlier") / "outlier_cnn.onnx")


@pytest.fixture(scope="session")
def mlp_model(tmp_path_factory) -> Path:
    return modelkit.mlp(tmp_path_factory.mktemp("mlp") / "mlp.onnx")


@pytest.fixture
def digits_files():
    model = MODELS / "digits_cnn.onnx"
    if not model.is_file():
        pytest.skip("models/digits_cnn.onnx not committed yet")
    return model, MODELS / "digits_calib.npz", MODELS / "digits_eval.npz"
