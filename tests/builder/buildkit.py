"""Helpers for the build tests: target profiles written to a folder, and listing a built tree."""

from __future__ import annotations

from pathlib import Path

# Profiles shaped like the bundled ones, so these tests do not depend on their exact values.
PROFILE = """
name = "{name}"
family = "{family}"
description = "test profile"
arch = "aarch64"
cpu = "test cpu"
cpu_cores = 4
memory_mb = 4096
os = "linux"
runtimes = {runtimes}
execution_providers = {eps}
precisions = {precisions}
preferred_precisions = {preferred}
formats = {formats}
max_ir_version = {max_ir}
max_opset = {max_opset}
onnxruntime_version = "1.20.0"
{extra}
power_modes = [{{ name = "default", budget_w = 10.0 }}]
default_power_mode = "default"
thermal_limit_c = 85.0
power_sensor = "external-meter"
estimate = {{ idle_w = 2.0, max_w = 10.0 }}
{tolerances}
"""

PROFILES = {
    "test-pi": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                    precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp32"]',
                    formats='["onnx", "ort"]', max_ir=10, max_opset=21, extra=""),
    # like test-pi but ONNX only: no ORT-format subprocess, for tests about the gate rather than the format
    "test-pi-onnx": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                         precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp32"]',
                         formats='["onnx"]', max_ir=10, max_opset=21, extra=""),
    "test-jetson": dict(family="jetson", runtimes='["onnxruntime", "tensorrt"]',
                        eps='["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]',
                        precisions='["fp32", "fp16", "int8"]', preferred='["fp16", "fp32"]',
                        formats='["onnx", "trt-engine"]', max_ir=9, max_opset=17,
                        extra='tensorrt_version = "8.6.2"'),
    "test-phone": dict(family="phone", runtimes='["onnxruntime", "litert"]',
                       eps='["NnapiExecutionProvider", "XnnpackExecutionProvider", "CPUExecutionProvider"]',
                       precisions='["fp32", "fp16", "int8"]', preferred='["int8", "fp16"]',
                       formats='["ort", "tflite"]', max_ir=9, max_opset=18, extra=""),
    "test-oldpi": dict(family="rpi", runtimes='["onnxruntime"]', eps='["CPUExecutionProvider"]',
                       precisions='["fp32", "int8"]', preferred='["int8", "fp32"]',
                       formats='["onnx"]', max_ir=7, max_opset=12, extra=""),
}


def write_profile(d: Path, name: str, tolerances: str = "", **over) -> Path:
    fields = {**PROFILES.get(name, PROFILES["test-pi"]), **over}
    path = d / f"{name}.toml"
    path.write_text(PROFILE.format(name=name, tolerances=tolerances, **fields))
    return path


def tree(path: Path) -> list[str]:
    """Every file and folder under ``path`` (relative), to assert that nothing was left behind."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))

