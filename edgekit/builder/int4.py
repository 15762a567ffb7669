"""Pass 3 (int4) — weight-only 4-bit quantization of MatMul weights with onnxruntime's MatMulNBits quantizer.

``onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer`` packs each constant 2-D MatMul
weight into 4-bit blocks of ``block_size`` values along K, with one float scale per block (and a 4-bit zero
point when asymmetric), and replaces the MatMul with ``com.microsoft.MatMulNBits``. Activations stay float.
A Gemm with a constant weight and no transposed input is first rewritten as MatMul (+ Add for its bias), so
Gemm-heavy models are covered too; other nodes are left as they are.

``accuracy_level`` is left at 0: the device dequantizes the weights and multiplies in float, so the accuracy
gate on this host measures the arithmetic the device runs (levels 1-4 let each CPU pick its own, possibly
int8, kernels). Only onnxruntime runs MatMulNBits: :func:`refusal` names the targets that cannot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgekit.builder.onnxio import save_model
from edgekit.builder.runner import Pass, PassOutput, PassRunner
from edgekit.errors import BuildError, ConfigError
from edgekit.targets import Target

NAME = "quantize-int4"
BLOCK_SIZES = (16, 32, 64, 128, 256)
DEFAULT_BLOCK_SIZE = 32
QUANTIZED_OP = "MatMulNBits"


@dataclass(frozen=True)
class Int4Config:
    target_name: str
    max_ir_version: int
    block_size: int = DEFAULT_BLOCK_SIZE
    symmetric: bool = True

    def __post_init__(self):
        if self.block_size not in BLOCK_SIZES:
            raise ConfigError(f"int4 block size {self.block_size} is not one of {', '.join(map(str, BLOCK_SIZES))}")


def refusal(target: Target) -> str | None:
    """Why ``target`` cannot run an int4 (MatMulNBits) model, or None when it can."""
    if "int4" in target.precisions:
        return None
    if target.family == "jetson":
        why = "its models run under TensorRT, which has no MatMulNBits (onnxruntime's 4-bit operator)"
    elif target.family == "phone":
        why = ("NNAPI, CoreML and LiteRT have no MatMulNBits (onnxruntime's 4-bit operator), so the phone's "
               "accelerators and its .tflite could not run it")
    else:
        why = "its profile does not list int4 among its precisions"
    return (f"{target.name} cannot run int4: {why}; use one of {', '.join(target.precisions)} "
            f"(int4 builds for onnxruntime CPU targets such as rpi5)")


def _initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in graph.initializer}


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite each Gemm with a constant 2-D weight (alpha = beta = 1, no transA) as MatMul (+ Add); returns
    how many were rewritten. ``transB`` is folded into a transposed copy of the weight."""
    graph = model.graph
    inits = _initializers(graph)
    rewritten = 0
    replaced: set[str] = set()
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = inits.get(node.input[1]) if node.op_type == "Gemm" and len(node.input) > 1 else None
        if (weight is None or len(weight.dims) != 2 or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0
                or attrs.get("beta", 1.0) != 1.0):
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight)
        if attrs.get("transB", 0):
            w = np.ascontiguousarray(w.T)
        name = node.name or f"gemm{rewritten}"
        w_name = f"{weight.name}__matmul_{name}"
        graph.initializer.append(numpy_helper.from_array(w, w_name))
        replaced.add(weight.name)
        has_bias = len(node.input) > 2 and node.input[2]
        mm_out = f"{node.output[0]}__matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], w_name], [mm_out], name=f"{name}_matmul"))
        if has_bias:
            nodes.append(helper.make_node("Add", [mm_out, node.input[2]], [node.output[0]], name=f"{name}_bias"))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    # the original weights, where nothing else reads them (subgraphs of If/Loop may: look there too)
    used = {i for n in _all_nodes(graph) for i in n.input} | {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used or i.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return rewritten


def _all_nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                yield from _all_nodes(g)


def _quantizer():
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError as exc:
        raise BuildError(f"int4 needs onnxruntime's MatMulNBits quantizer, which cannot be imported here "
                         f"({exc}); install the onnx-ir package (pip install onnx-ir)") from None
    return MatMulNBitsQuantizer


def run(src: Path, dst: Path, cfg: Int4Config) -> dict:
    """Write the int4 weight-only model of ``src`` to ``dst``; returns facts for the manifest."""
    quantizer_cls = _quantizer()
    model = onnx.load(str(src))
    matmuls_before = sum(1 for n in model.graph.node if n.op_type in ("MatMul", "Gemm"))
    gemms = gemm_to_matmul(model)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs every node at INFO and WARNING
    try:
        q = quantizer_cls(model, bits=4, block_size=cfg.block_size, is_symmetric=cfg.symmetric,
                          accuracy_level=0, op_types_to_quantize=("MatMul",))
        q.process()
        out = q.model.model
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BuildError(f"int4 quantization failed: {first}") from None
    finally:
        root.setLevel(level)
    quantized = sum(1 for n in out.graph.node if n.op_type == QUANTIZED_OP)
    if not quantized:
        raise BuildError("int4 found no MatMul or Gemm with a constant 2-D weight to quantize; "
                         "use int8 or fp16 for this model")
    save_model(out, dst, max_ir_version=cfg.max_ir_version, target_name=cfg.target_name)
    return {
        "precision": "int4",
        "method": f"weight-only MatMulNBits, block {cfg.block_size}, {'symmetric' if cfg.symmetric else 'asymmetric'}",
        "block_size": cfg.block_size,
        "symmetric": cfg.symmetric,
        "weight_type": "int4",
        "activation_type": "float32",
        "accuracy_level": 0,
        "gemm_rewritten_as_matmul": gemms,
        "quantized_ops": quantized,
        "matmul_like_ops": matmuls_before,
    }


NO_TFLITE = {"status": "skipped", "reason": "LiteRT has no 4-bit weight-only MatMul (MatMulNBits): int4 ships "
                                            "for onnxruntime only"}


def run_pass(runner: PassRunner, src: Path, target: Target, block_size: int) -> PassOutput:
    """The int4 pass on ``src`` through the build's cached runner."""
    cfg = Int4Config(target.name, target.max_ir_version, block_size)
    return runner.run(Pass(NAME, cfg, lambda d: ({"model.onnx": d / "model.onnx"}, run(src, d / "model.onnx", cfg))),
                      [src], label=f"int4 weight-only (MatMulNBits), block {block_size}",
                      describe=lambda f: f"{f['quantized_ops']} of {f['matmul_like_ops']} MatMul/Gemm in int4")
