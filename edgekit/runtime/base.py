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

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout}


class Session(Protocol):
    runtime: str                 # "onnxruntime" or "litert"
    runtime_version: str
    providers: list[str]         # what actually runs (onnxruntime), ["cpu"] for LiteRT's default
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference; outputs in ``outputs`` order."""


def image_layout(shape: tuple) -> str | None:
    """Guess NCHW/NHWC for a 4-D image tensor from where its channel count (1, 3 or 4) sits."""
    if len(shape) != 4:
        return None
    c1, c3 = shape[1], shape[3]
    if isinstance(c1, int) and c1 in (1, 3, 4) and not (isinstance(c3, int) and c3 in (1, 3, 4)):
        return "NCHW"
    if isinstance(c3, int) and c3 in (1, 3, 4):
        return "NHWC"
    return None
