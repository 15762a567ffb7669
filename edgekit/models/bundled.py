"""Models committed to the repository under ``models/`` (no download needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ConfigError
from edgekit.models.catalog import MODELS_DIR


@dataclass(frozen=True)
class BundledModel:
    name: str
    onnx: str
    eval: str | None
    calibration: str | None
    card: str | None
    description: str


def bundled_models() -> dict[str, BundledModel]:
    """The bundled models by name."""
    digits = BundledModel(
        name="digits",
        onnx="digits_cnn.onnx",
        eval="digits_eval.npz",
        calibration="digits_calib.npz",
        card="digits_cnn.json",
        description="40k-parameter CNN trained on scikit-learn's digits (8x8 images, 10 classes); "
        "held-out eval set with labels",
    )
    return {digits.name: digits}


def _bundled(name: str) -> BundledModel:
    models = bundled_models()
    if name not in models:
        raise ConfigError(f"unknown bundled model {name!r}; bundled models: {', '.join(sorted(models))}")
    return models[name]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ConfigError(
            f"{path}: bundled file missing; run edgekit from a checkout of the repository "
            "(the files live in models/)"
        )
    return path


def bundled_model_path(name: str, models_dir: Path = MODELS_DIR) -> Path:
    """Path of a bundled model's ONNX file, e.g. ``bundled_model_path("digits")``."""
    return _existing(Path(models_dir) / _bundled(name).onnx)


def bundled_eval_path(name: str, models_dir: Path = MODELS_DIR) -> Path:
    """Path of a bundled model's held-out eval .npz (inputs + ``labels``)."""
    entry = _bundled(name)
    if entry.eval is None:
        raise ConfigError(f"bundled model {name!r} has no eval set")
    return _existing(Path(models_dir) / entry.eval)


def bundled_calibration_path(name: str, models_dir: Path = MODELS_DIR) -> Path:
    """Path of a bundled model's calibration .npz (training images only)."""
    entry = _bundled(name)
    if entry.calibration is None:
        raise ConfigError(f"bundled model {name!r} has no calibration set")
    return _existing(Path(models_dir) / entry.calibration)
