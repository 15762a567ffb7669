"""Pass 4 — convert per device family.

* ORT format (Raspberry Pi, phones): ``python -m onnxruntime.tools.convert_onnx_models_to_ort DIR
  --optimization_style=Fixed --target_platform=arm``. Without ``--target_platform arm`` the converter bakes
  in this host's x86-only fused operators. (``--optimization_style Fixed`` with a space would swallow DIR.)
* Jetson: no file conversion — TensorRT engines are specific to the device's GPU and TensorRT version, so
  the manifest carries the onnxruntime TensorRT/CUDA execution-provider options and the exact ``trtexec``
  command that builds the engine on the device.
* TFLite: ``edgekit.builder.tflite.convert_tflite`` (onnx2tf in its own environment), when installed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import BuildError, ConfigError
from edgekit.runtime.ort import runtime_reason

NAME = "convert-ort"
ORT_STYLES = ("Fixed", "Runtime")
TFLITE_SKIPPED_NO_TOOLCHAIN = (
    "skipped — onnx2tf toolchain not installed; run `edgekit toolchain install tflite`"
)


@dataclass(frozen=True)
class OrtFormatConfig:
    target_name: str
    optimization_style: str = "Fixed"
    target_platform: str = "arm"

    def __post_init__(self):
        if self.optimization_style not in ORT_STYLES:
            raise ConfigError(f"ORT format: optimization style {self.optimization_style!r} not in {ORT_STYLES}")
        if self.target_platform not in ("arm", "amd64"):
            raise ConfigError(f"ORT format: target platform {self.target_platform!r} must be arm or amd64")


def ort_command(model_dir: Path, cfg: OrtFormatConfig) -> list[str]:
    return [
        sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(model_dir),
        f"--optimization_style={cfg.optimization_style}", f"--target_platform={cfg.target_platform}",
    ]


def to_ort(onnx_path: Path, out_dir: Path, cfg: OrtFormatConfig, *, timeout_s: float = 600) -> dict:
    """Convert one ONNX file to ORT format in ``out_dir``; returns {'ort': path, 'ops_config': path, 'command'}."""
    onnx_path = Path(onnx_path)
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="edgekit-ort-") as tmp:
        work = Path(tmp)
        shutil.copyfile(onnx_path, work / onnx_path.name)  # the tool converts every .onnx in the folder
        cmd = ort_command(work, cfg)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BuildError(f"ORT format conversion did not finish within {timeout_s:.0f} s") from None
        stem = onnx_path.stem
        produced = work / (f"{stem}.ort" if cfg.optimization_style == "Fixed" else f"{stem}.with_runtime_opt.ort")
        if proc.returncode != 0 or not produced.is_file():
            lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
            err = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else "")
            raise BuildError(f"ORT format conversion ({cfg.optimization_style} style) failed: "
                             f"{runtime_reason(RuntimeError(err.strip()))}")
        out_dir.mkdir(parents=True, exist_ok=True)
        ort_path = out_dir / f"{stem}.ort"
        ops_path = out_dir / "required_operators.config"
        shutil.copyfile(produced, ort_path)
        ops_src = work / ("required_operators.config" if cfg.optimization_style == "Fixed"
                          else "required_operators.with_runtime_opt.config")
        shutil.copyfile(ops_src, ops_path)
    printable = ["python", *cmd[1:3], "DIR", *cmd[4:]]
    return {"ort": ort_path, "ops_config": ops_path, "command": shlex.join(printable)}


def trtexec_command(onnx_name: str, precision: str, engine_name: str) -> str:
    flags = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8", "--fp16"]}[precision]
    return shlex.join(["trtexec", f"--onnx={onnx_name}", *flags, f"--saveEngine={engine_name}"])


def execution_provider_config(providers: tuple[str, ...], precision: str, *, cpu_cores: int) -> list[dict]:
    """onnxruntime provider options, in the target's preference order, to pass to InferenceSession."""
    out = []
    for ep in providers:
        if ep == "TensorrtExecutionProvider":
            opts = {
                "trt_fp16_enable": precision in ("fp16", "int8"),
                "trt_int8_enable": precision == "int8",  # QDQ nodes carry the scales: no calibration table
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": "trt-cache",
                "trt_timing_cache_enable": True,
            }
        elif ep == "CUDAExecutionProvider":
            opts = {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC"}
        elif ep == "XnnpackExecutionProvider":
            opts = {"intra_op_num_threads": cpu_cores}
        else:
            opts = {}
        out.append({"provider": ep, "options": opts})
    return out


def tflite_available() -> tuple[bool, str | None]:
    """(usable, reason it is not): is the onnx2tf environment installed?"""
    from edgekit.builder.toolchain import find_toolchain

    if find_toolchain() is None:
        return False, TFLITE_SKIPPED_NO_TOOLCHAIN
    return True, None


def toolchain_versions() -> dict | None:
    from edgekit.builder.toolchain import find_toolchain

    chain = find_toolchain()
    return dict(chain.versions) if chain is not None else None
