"""LiteRT (TFLite) sessions: ``ai_edge_litert``, else the older ``tflite_runtime``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.errors import ModelError
from edgekit.runtime.base import TensorSpec, image_layout


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
        import ai_edge_litert

        return Interpreter, "litert", getattr(ai_edge_litert, "__version__", "unknown")
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        import tflite_runtime

        return Interpreter, "tflite_runtime", getattr(tflite_runtime, "__version__", "unknown")
    except ImportError:
        raise ModelError("no TFLite runtime installed; run `pip install ai-edge-litert`") from None


class LiteRtSession:
    runtime = "litert"

    def __init__(self, path: Path, *, threads: int | None = None):
        cls, name, version = _interpreter_class()
        try:
            self._it = cls(model_path=str(path), num_threads=threads or None)
            self._it.allocate_tensors()
        except Exception as exc:
            raise ModelError(f"{path}: {name} cannot load this model: {exc}") from None
        self.runtime_version = f"{name} {version}"
        self.providers = ["cpu"]
        self._in = self._it.get_input_details()
        self._out = self._it.get_output_details()
        self.inputs = [self._spec(d) for d in self._in]
        self.outputs = [self._spec(d) for d in self._out]

    @staticmethod
    def _spec(d) -> TensorSpec:
        shape = tuple(int(x) if x > 0 else None for x in d.get("shape_signature", d["shape"]))
        scale, zero = d.get("quantization", (0.0, 0))
        quant = (float(scale), int(zero)) if scale else None
        return TensorSpec(d["name"], shape, np.dtype(d["dtype"]).name, image_layout(shape, "NHWC"), quant)

    def quantization(self, name: str) -> tuple[float, int]:
        """(scale, zero_point) of an input or output; (0.0, 0) when it is float."""
        for d in self._in + self._out:
            if d["name"] == name:
                return tuple(d["quantization"])  # type: ignore[return-value]
        raise KeyError(name)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        for d in self._in:
            self._it.set_tensor(d["index"], feeds[d["name"]])
        self._it.invoke()
        return [self._it.get_tensor(d["index"]).copy() for d in self._out]
