"""Pass 1 — load and check: read the ONNX file, check it, make it fit the target's runtime.

* ``onnx.checker`` and ONNX shape inference;
* weights stored as ``Constant`` nodes become initializers (the quantizers only see initializers);
* the default opset is upgraded (``onnx.version_converter``) to ``min_opset`` when a later pass needs it
  (per-channel QDQ needs opset >= 13);
* models whose opset exceeds the target's ``max_opset`` or that use operators its runtime lacks are refused;
* the IR version is lowered to the target's ``max_ir_version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import numpy_helper

from edgekit.builder.onnxio import default_opset, save_model
from edgekit.errors import ConfigError, ModelError

NAME = "load"

# Opset 13 gives QuantizeLinear/DequantizeLinear their per-channel ``axis``.
PER_CHANNEL_MIN_OPSET = 13


@dataclass(frozen=True)
class LoadConfig:
    target_name: str
    max_opset: int
    max_ir_version: int
    min_opset: int | None = None      # upgrade to at least this opset (None: keep)

    def __post_init__(self):
        if self.max_opset < 7 or self.max_ir_version < 3:
            raise ConfigError(f"load: max_opset {self.max_opset} / max_ir_version {self.max_ir_version} too low")
        if self.min_opset is not None and self.min_opset > self.max_opset:
            raise ConfigError(
                f"load: min_opset {self.min_opset} exceeds {self.target_name}'s max_opset {self.max_opset}"
            )


def read_model(path: Path) -> onnx.ModelProto:
    """Parse an ONNX file; missing, non-ONNX and truncated files raise one-line ModelErrors."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file; check the path")
    if not path.is_file():
        raise ModelError(f"{path}: is not a file; pass the .onnx model file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: file is empty; re-export the model")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, external-data errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"{path}: not a readable ONNX model ({first}); the file may be truncated or another format — "
            f"re-export it to ONNX"
        ) from None
    if not model.graph.node or not model.graph.output or not model.opset_import:
        raise ModelError(
            f"{path}: not an ONNX model (no graph nodes, outputs or opset); pass a model exported to ONNX"
        )
    return model


def _nodes(graph: onnx.GraphProto):
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _nodes(g)


def _ort_contrib_ops() -> dict[str, set[str]]:
    from onnxruntime.capi import onnxruntime_pybind11_state as C

    ops: dict[str, set[str]] = {}
    for schema in C.get_all_operator_schema():
        ops.setdefault(schema.domain, set()).add(schema.name)
    return ops


def check_operators(model: onnx.ModelProto, cfg: LoadConfig, path: Path) -> None:
    """Refuse opsets and operators the target's runtime cannot run."""
    opsets = {i.domain or "": int(i.version) for i in model.opset_import}
    opset = opsets.get("", opsets.get("ai.onnx"))
    if opset is None:
        raise ModelError(f"{path}: imports no default ONNX opset; re-export the model with a standard opset")
    if opset > cfg.max_opset:
        newer = sorted({
            n.op_type for n in _nodes(model.graph)
            if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type, cfg.max_opset, "")
        })
        extra = f" (operators that do not exist at opset {cfg.max_opset}: {', '.join(newer)})" if newer else ""
        raise ModelError(
            f"{path}: model uses opset {opset} but {cfg.target_name}'s runtime loads at most opset "
            f"{cfg.max_opset}{extra}; re-export it with opset_version={cfg.max_opset}"
        )
    contrib = None
    unsupported: set[str] = set()
    for node in _nodes(model.graph):
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml"):
            version = opsets.get(domain, opsets.get("ai.onnx", opset)) if domain != "ai.onnx.ml" else opsets.get(domain, 1)
            if not onnx.defs.has(node.op_type, version, "" if domain == "ai.onnx" else domain):
                unsupported.add(f"{node.op_type} (domain {domain or 'ai.onnx'}, opset {version})")
            continue
        if contrib is None:
            contrib = _ort_contrib_ops()
        if node.op_type not in contrib.get(domain, set()):
            unsupported.add(f"{node.op_type} (domain {domain})")
    if unsupported:
        raise ModelError(
            f"{path}: operators not supported by {cfg.target_name}'s runtime: {', '.join(sorted(unsupported))}; "
            f"replace them with standard ONNX operators before building"
        )


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Move tensor-valued ``Constant`` nodes of the main graph into initializers; return how many moved."""
    keep, moved = [], 0
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.output) == 1:
            attrs = {a.name: a for a in node.attribute}
            tensor = None
            if "value" in attrs and attrs["value"].type == onnx.AttributeProto.TENSOR:
                tensor = numpy_helper.to_array(attrs["value"].t)
            elif "value_float" in attrs:
                tensor = numpy_helper.to_array(onnx.helper.make_tensor("v", onnx.TensorProto.FLOAT, [], [attrs["value_float"].f]))
            elif "value_floats" in attrs:
                tensor = numpy_helper.to_array(onnx.helper.make_tensor(
                    "v", onnx.TensorProto.FLOAT, [len(attrs["value_floats"].floats)], list(attrs["value_floats"].floats)))
            elif "value_int" in attrs:
                tensor = numpy_helper.to_array(onnx.helper.make_tensor("v", onnx.TensorProto.INT64, [], [attrs["value_int"].i]))
            elif "value_ints" in attrs:
                tensor = numpy_helper.to_array(onnx.helper.make_tensor(
                    "v", onnx.TensorProto.INT64, [len(attrs["value_ints"].ints)], list(attrs["value_ints"].ints)))
            if tensor is not None:
                model.graph.initializer.append(numpy_helper.from_array(tensor, node.output[0]))
                moved += 1
                continue
        keep.append(node)
    if moved:
        del model.graph.node[:]
        model.graph.node.extend(keep)
    return moved


def run(src: Path, dst: Path, cfg: LoadConfig, model: onnx.ModelProto | None = None) -> dict:
    """Check ``src`` and adapt it for the target, save it to ``dst``; returns facts for the manifest.

    ``model`` is ``src`` already parsed by :func:`read_model` (it is modified); None reads the file.
    """
    src = Path(src)
    model = read_model(src) if model is None else model
    source_opset = default_opset(model)
    source_ir = int(model.ir_version)
    check_operators(model, cfg, src)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = (str(exc).strip().splitlines() or ["invalid model"])[0]
        raise ModelError(f"{src}: fails onnx.checker: {first}; fix or re-export the model") from None
    moved = constants_to_initializers(model)
    opset = source_opset
    if cfg.min_opset is not None and opset < cfg.min_opset:
        try:
            model = onnx.version_converter.convert_version(model, cfg.min_opset)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"{src}: cannot upgrade opset {opset} to {cfg.min_opset} for per-channel quantization ({first}); "
                f"re-export the model with opset_version>={cfg.min_opset}"
            ) from None
        opset = cfg.min_opset
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=False, data_prop=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{src}: ONNX shape inference fails ({first}); fix or re-export the model") from None
    save_model(model, dst, max_ir_version=cfg.max_ir_version, target_name=cfg.target_name)
    return {
        "source_opset": source_opset, "source_ir_version": source_ir, "opset": opset,
        "ir_version": int(model.ir_version), "constants_moved": moved,
    }
