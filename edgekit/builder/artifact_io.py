"""Each shipped artifact's own inputs and outputs, as its runtime reports them, for the manifest.

An .onnx or .ort takes the original model's inputs unchanged. A .tflite from onnx2tf usually does not: its
image inputs are channels last (NHWC) and, in a full-integer model, int8 with a scale and zero point. An app
developer feeds the artifact, not the ONNX model, so the manifest gives every artifact its own specs
(name, shape, dtype, layout, quantization) plus the steps that map the original inputs onto them and its
outputs back, the same steps the verifier and the bench take (``edgekit.builder.tflite.adapt_feeds`` and
``adapt_outputs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.runtime import open_session
from edgekit.runtime.base import TensorSpec


def artifact_io(path: Path, fmt: str, original_inputs: list[TensorSpec]) -> dict:
    """``{"inputs": [...], "outputs": [...], "preprocessing": [...], "postprocessing": [...]}`` of one artifact."""
    session = open_session(Path(path))
    doc = {"inputs": [t.to_json() for t in session.inputs], "outputs": [t.to_json() for t in session.outputs]}
    if fmt != "tflite":
        doc["preprocessing"] = [{"input": t.name, "from": t.name, "steps": []} for t in session.inputs]
        doc["postprocessing"] = [{"output": t.name, "steps": []} for t in session.outputs]
        return doc
    from edgekit.builder.tflite import input_pairs

    by_name = {t.name: t for t in original_inputs}
    pre = []
    for spec, name in input_pairs(session, list(by_name)):
        pre.append({"input": spec.name, "from": name, "steps": _input_steps(by_name[name], spec)})
    doc["preprocessing"] = pre
    doc["postprocessing"] = [{"output": t.name, "steps": _dequantize_step(t)} for t in session.outputs]
    return doc


def _input_steps(original: TensorSpec, spec: TensorSpec) -> list[str]:
    steps = []
    rank = len(original.shape)
    if rank in (3, 4, 5) and original.layout != "NHWC" and spec.layout == "NHWC" and rank == len(spec.shape):
        axes = ", ".join(str(a) for a in (0, *range(2, rank), 1))
        steps.append(f"transpose {original.layout or 'channels first'} -> NHWC (axes {axes})")
    if spec.quantization is not None and np.dtype(spec.dtype).kind in "iu":
        scale, zero = spec.quantization
        info = np.iinfo(np.dtype(spec.dtype))
        steps.append(f"quantize: q = clip(round(x / {scale!r}) + {zero}, {info.min}, {info.max}) as {spec.dtype}")
    elif spec.dtype != original.dtype:
        steps.append(f"cast {original.dtype} -> {spec.dtype}")
    return steps


def _dequantize_step(spec: TensorSpec) -> list[str]:
    if spec.quantization is None or np.dtype(spec.dtype).kind not in "iu":
        return []
    scale, zero = spec.quantization
    return [f"dequantize: y = (q - {zero}) * {scale!r} as float32"]
