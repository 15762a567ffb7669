"""onnxruntime sessions (.onnx and .ort)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgekit.errors import ModelError
from edgekit.runtime.base import TensorSpec, image_layout

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
}


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type), image_layout(shape, "NCHW"))


class OrtSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path, *, providers: list[str] | None = None, threads: int | None = None,
                 provider_options: list[dict] | None = None):
        available = ort.get_available_providers()
        wanted = list(providers or ["CPUExecutionProvider"])
        options = list(provider_options or [{} for _ in wanted])
        chosen = [(p, o) for p, o in zip(wanted, options) if p in available]
        if not any(p == "CPUExecutionProvider" for p, _ in chosen):
            chosen.append(("CPUExecutionProvider", {}))
        #: providers asked for that this onnxruntime build does not have
        self.missing_providers = [p for p in wanted if p not in available]
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 4  # errors reach the caller as exceptions, not as extra log lines on stderr
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._sess = ort.InferenceSession(
                    str(path), sess_options=so,
                    providers=[p for p, _ in chosen], provider_options=[o for _, o in chosen])
        except Exception as exc:  # onnxruntime raises several unrelated types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path}: onnxruntime cannot load this model: {first}") from None
        self.runtime_version = ort.__version__
        self.providers = list(self._sess.get_providers())
        self.inputs = [_spec(a) for a in self._sess.get_inputs()]
        self.outputs = [_spec(a) for a in self._sess.get_outputs()]
        self._out_names = [o.name for o in self.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(self._out_names, feeds)
