"""Who ran the benchmark: host, architecture, CPU features, OS, runtime versions."""

from __future__ import annotations

import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

import edgekit


def cpu_features(proc_root: Path = Path("/proc")) -> list[str]:
    """CPU feature flags from ``/proc/cpuinfo``: ``flags`` (x86) or ``Features`` (Arm), sorted, deduplicated."""
    try:
        text = (Path(proc_root) / "cpuinfo").read_text(errors="replace")
    except OSError:
        return []
    feats: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            feats.update(value.split())
    return sorted(feats)


def cpu_model(proc_root: Path = Path("/proc")) -> str | None:
    try:
        text = (Path(proc_root) / "cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("model name", "hardware", "model", "cpu model"):
            if value.strip():
                return value.strip()
    return None


def os_name(etc_root: Path = Path("/etc")) -> str:
    try:
        for line in (Path(etc_root) / "os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def runtime_versions() -> dict[str, str | None]:
    return {
        "edgekit": edgekit.__version__,
        "python": sys.version.split()[0],
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "ai_edge_litert": _version("ai-edge-litert"),
        "tflite_runtime": _version("tflite-runtime"),
    }


def device_info(*, device_id: str | None, target: str | None, proc_root: Path = Path("/proc")) -> dict:
    host = socket.gethostname()
    return {
        "id": device_id or host,
        "hostname": host,
        "target": target,
        "arch": platform.machine(),
        "cpu": cpu_model(proc_root),
        "cpu_count": _cpu_count(),
        "cpu_features": cpu_features(proc_root),
        "os": os_name(),
        "kernel": platform.release(),
        "runtimes": runtime_versions(),
    }


def _cpu_count() -> int | None:
    import os

    return os.cpu_count()
