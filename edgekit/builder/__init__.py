"""Build: convert, quantize and verify a model for a target profile, and package it with a manifest.

Python API::

    from edgekit.builder import build_model
    result = build_model("models/digits_cnn.onnx", "rpi5", calibration="models/digits_calib.npz",
                         eval_data="models/digits_eval.npz", out_dir="edgekit-out")
    result.output_dir, result.manifest, result.summary
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgekit.builder.outcome import BuildResult
    from edgekit.builder.pipeline import build_model

__all__ = ["BuildResult", "build_model"]


def __getattr__(name: str):
    # Imported on first use: `edgekit --help` should not pay for onnxruntime's quantization package.
    if name in __all__:
        from edgekit.builder import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
