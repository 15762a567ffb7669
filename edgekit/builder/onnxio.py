"""Small ONNX file helpers shared by the passes: opset/IR reading, saving within a target's IR limit."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgekit.errors import BuildError


def default_opset(model: onnx.ModelProto) -> int:
    """The version of the default ('' / ai.onnx) operator set the model imports."""
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise BuildError("model imports no default ONNX operator set; re-export it with a standard opset")


def min_ir_version(model: onnx.ModelProto) -> int:
    """The lowest IR version that can carry the model's operator sets."""
    opsets = [onnx.helper.make_opsetid(i.domain, i.version) for i in model.opset_import]
    return int(onnx.helper.find_min_ir_version_for(opsets, ignore_unknown=True))


def clamp_ir_version(model: onnx.ModelProto, max_ir_version: int, *, target_name: str) -> None:
    """Lower ``model.ir_version`` to what the target's runtime loads, or explain why it cannot be."""
    if model.ir_version <= max_ir_version:
        return
    needed = min_ir_version(model)
    if needed > max_ir_version:
        raise BuildError(
            f"the model's operator sets need ONNX IR version {needed} but {target_name}'s runtime loads at most "
            f"IR {max_ir_version}; re-export the model with an older opset"
        )
    model.ir_version = max_ir_version


def save_model(model: onnx.ModelProto, path: Path, *, max_ir_version: int, target_name: str) -> Path:
    """Save ``model`` as one self-contained file with an IR version the target's runtime loads."""
    clamp_ir_version(model, max_ir_version, target_name=target_name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))
    return path
