"""2:4 structured sparsity on Jetson Orin: detect weights that already follow the pattern, and say so to TensorRT.

Ampere and later GPUs (sm_80 and up; Orin is sm_87) have sparse tensor cores: a weight tensor in which
every group of 4 consecutive values along the reduction axis holds at least 2 zeros can run at up to twice
the math rate. TensorRT uses them only when asked (``trtexec --sparsity=enable``, onnxruntime's
``trt_sparsity_enable``), and then only for layers whose weights already follow the pattern.

This module never prunes. Zeroing half the weights of a trained model without fine-tuning destroys its
accuracy; 2:4 pruning belongs in training (prune, then fine-tune with the mask fixed, e.g. with NVIDIA's
ASP for PyTorch), and the ONNX export of such a model is what this detects. Reduction axis: the input
channels of a Conv weight [K, C, R, S] (axis 1), the K rows of a MatMul weight [K, N] (axis 0), and of a
Gemm weight by its ``transB``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgekit.targets import Target

MIN_SM = 80           # Ampere: the first GPUs with sparse tensor cores
MIN_WEIGHTS = 1024    # smaller layers gain nothing from sparse math (and TensorRT skips them)


def sparse_capable(target: Target) -> bool:
    """A TensorRT target whose GPU is Ampere or later (``sm_NN`` in its accelerators)."""
    if "tensorrt" not in target.runtimes:
        return False
    sms = [int(m) for a in target.accelerators for m in re.findall(r"sm_(\d+)", a)]
    return any(sm >= MIN_SM for sm in sms)


def is_two_four(w: np.ndarray, axis: int) -> bool:
    """Every run of 4 consecutive values along ``axis`` has at least 2 zeros (the axis a multiple of 4)."""
    if w.ndim < 2 or w.shape[axis] % 4 or w.size < MIN_WEIGHTS:
        return False
    moved = np.moveaxis(w, axis, -1)
    groups = moved.reshape(-1, 4)
    return bool(np.all((groups == 0).sum(axis=1) >= 2))


def two_four_layers(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv / MatMul / Gemm nodes whose constant weight follows the 2:4 pattern."""
    inits = {i.name: i for i in model.graph.initializer}
    found = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "MatMul", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if node.op_type == "Conv":
            axis = 1
        elif node.op_type == "Gemm":
            trans_b = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "transB"), 0)
            axis = 1 if trans_b else 0
        else:
            axis = w.ndim - 2
        if is_two_four(w, axis):
            found.append(node.name or node.output[0])
    return found


def apply(manifest: dict, target: Target, model_path: Path) -> dict:
    """Record the 2:4 layers of the shipped model and, where there are any, enable sparsity for TensorRT."""
    if not sparse_capable(target):
        return manifest
    layers = two_four_layers(onnx.load(str(model_path)))
    manifest["sparsity"] = {
        "pattern": "2:4", "layers": layers, "enabled": bool(layers),
        "note": ("weights already in the 2:4 pattern: TensorRT may run these layers on the sparse tensor cores"
                 if layers else "no layer's weights follow the 2:4 pattern; sparsity stays off") +
                "; edgekit detects the pattern and never prunes (pruning belongs in training, with fine-tuning)"}
    if not layers:
        return manifest
    dep = manifest.get("deployment", {})
    if dep.get("trtexec"):
        words = shlex.split(dep["trtexec"])
        dep["trtexec"] = shlex.join([*words[:-1], "--sparsity=enable", words[-1]])
    for ep in manifest.get("execution_providers", []):
        if ep.get("provider") == "TensorrtExecutionProvider":
            ep["options"]["trt_sparsity_enable"] = True
    return manifest
