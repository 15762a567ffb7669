"""Pass 2 — optimize: onnxruntime's *basic* graph optimizations, applied offline.

Basic level (constant folding, redundant-node elimination, Conv+BatchNorm/Add/Mul fusion) only uses
standard ONNX operators, so the result stays portable to every target. Extended/all levels would bake in
fused operators and layouts specific to this host's CPU, which the device may not have.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime as ort

from edgekit.builder.onnxio import save_model
from edgekit.runtime.ort import runtime_reason
from edgekit.errors import BuildError, ConfigError

NAME = "optimize"
LEVELS = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}


@dataclass(frozen=True)
class OptimizeConfig:
    target_name: str
    max_ir_version: int
    level: str = "basic"

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ConfigError(
                f"optimize: level {self.level!r} is not portable; use one of {', '.join(LEVELS)}"
            )


def run(src: Path, dst: Path, cfg: OptimizeConfig) -> dict:
    before = onnx.load(str(src), load_external_data=False)
    nodes_before = len(before.graph.node)
    with tempfile.TemporaryDirectory(prefix="edgekit-opt-") as tmp:
        out = Path(tmp) / "optimized.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = LEVELS[cfg.level]
        so.optimized_model_filepath = str(out)
        so.log_severity_level = 3
        try:
            ort.InferenceSession(str(src), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BuildError(f"{src}: onnxruntime cannot load the model to optimize it: "
                             f"{runtime_reason(exc)}") from None
        model = onnx.load(str(out))
    save_model(model, dst, max_ir_version=cfg.max_ir_version, target_name=cfg.target_name)
    return {"level": cfg.level, "nodes_before": nodes_before, "nodes_after": len(model.graph.node)}
