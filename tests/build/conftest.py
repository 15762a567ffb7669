"""Fixtures for the build tests: small real models, target profiles, isolated cache and output dirs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modelkit  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"

# Profiles shaped like the bundled ones, so these tests do not depend on their exact values.
PROFILE = """
name = "{name}"
family = "{family}"
description = "test profile"
arch = "aarch64"
cpu = "test cpu"
cpu_cores = 4
memory_mb = 4096
os = "linux"
runtimes = {runtimes}
execution_providers = {eps}
precisions = {precisions}
preferred_precisions = {preferred}
formats = {formats}
max_ir_version = {max_ir}
max_opset = {max_opset}
onnxruntime_version = "1.20.0"
{extra}
power_modes = [{{ name = "default", budget_w = 10.0 }}]
default_power_mode = "default"
thermal_limit_c = 85.0
power_sensor = "external-meter"
estimate = {{ idle_w = 2.0, max_w = 10.0 }}
{tolerances}
"""

PROFILES = {
    "test-pi": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                    precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp32"]',
                    formats='["onnx", "ort"]', max_ir=10, max_opset=21, extra=""),
    # like test-pi but ONNX only: no ORT-format subprocess, for tests about the gate rather than the format
    "test-pi-onnx": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                         precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp32"]',
                         formats='["onnx"]', max_ir=10, max_opset=21, extra=""),
    "test-jetson": dict(family="jetson", runtimes='["onnxruntime", "tensorrt"]',
                        eps='["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]',
                        precisions='["fp32", "fp16", "int8"]', preferred='["fp16", "fp32"]',
                        formats='["onnx", "trt-engine"]', max_ir=9, max_opset=17,
                        extra='tensorrt_version = "8.6.2"'),
    "test-phone": dict(family="phone", runtimes='["onnxruntime", "litert"]',
                       eps='["NnapiExecutionProvider", "XnnpackExecutionProvider", "CPUExecutionProvider"]',
                       precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp16"]',
                       formats='["ort", "tflite"]', max_ir=9, max_opset=18, extra=""),
    "test-oldpi": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                       precisions='["fp32", "int8"]', preferred='["int8", "fp32"]',
                       formats='["onnx"]', max_ir=7, max_opset=12, extra=""),
}


def write_profile(d: Path, name: str, tolerances: str = "", **over) -> Path:
    fields = {**PROFILES.get(name, PROFILES["test-pi"]), **over}
    path = d / f"{name}.toml"
    path.write_text(PROFILE.format(name=name, tolerances=tolerances, **fields))
    return path


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


def tree(path: Path) -> list[str]:
    """Every file and folder under ``path`` (relative), to assert that nothing was left behind."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def copy_to(src: Path, dst_dir: Path) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dst_dir / src.name))
