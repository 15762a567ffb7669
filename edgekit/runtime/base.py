"""The session interface shared by the build's verifier and the bench runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str | None, ...]  # str/None for a dynamic dimension
    dtype: str                           # numpy dtype name: "float32", "int64", "int8", ...
    layout: str | None = None            # "NCHW", "NHWC" or None when not an image tensor
    quantization: tuple[float, int] | None = None  # (scale, zero point) of a quantized tensor (LiteRT int8)

    def to_json(self) -> dict:
        q = None if self.quantization is None else {"scale": self.quantization[0],
                                                     "zero_point": self.quantization[1]}
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout,
                "quantization": q}


class Session(Protocol):
    runtime: str                 # "onnxruntime" or "litert"
    runtime_version: str
    providers: list[str]         # what actually runs (onnxruntime), ["cpu"] for LiteRT's default
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference; outputs in ``outputs`` order."""


def image_layout(shape: tuple, convention: str) -> str | None:
    """NCHW/NHWC for a 4-D image tensor, from where its channel count (1, 3 or 4) sits.

    ``convention`` ("NCHW" for ONNX, "NHWC" for TFLite) decides when both places could hold channels.
    """
    if len(shape) != 4:
        return None
    chan = (1, 3, 4)
    c1 = isinstance(shape[1], int) and shape[1] in chan
    c3 = isinstance(shape[3], int) and shape[3] in chan
    if c1 and c3:
        return convention
    if c1:
        return "NCHW"
    if c3:
        return "NHWC"
    return None
