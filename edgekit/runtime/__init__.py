"""Inference sessions behind one small interface: onnxruntime (.onnx, .ort) and LiteRT (.tflite)."""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import ModelError
from edgekit.runtime.base import Session, TensorSpec


def open_session(path: Path, *, providers: list[str] | None = None, threads: int | None = None,
                 provider_options: list[dict] | None = None, exact_int8: bool = False) -> Session:
    """Open ``path`` in the runtime its format needs.

    ``providers`` is the preference order of onnxruntime execution providers;
    those the installed onnxruntime lacks are skipped, and ``session.providers``
    says what actually runs. ``exact_int8`` asks onnxruntime for int8 kernels that do not saturate on
    x86 hosts without VNNI (see ``edgekit.runtime.ort``); LiteRT's int8 kernels are exact already.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".ort"):
        from edgekit.runtime.ort import OrtSession

        return OrtSession(path, providers=providers, threads=threads, provider_options=provider_options,
                          exact_int8=exact_int8)
    if suffix == ".tflite":
        from edgekit.runtime.litert import LiteRtSession

        return LiteRtSession(path, threads=threads)
    raise ModelError(f"{path}: unsupported model format {suffix!r}; use .onnx, .ort or .tflite")


__all__ = ["Session", "TensorSpec", "open_session"]
