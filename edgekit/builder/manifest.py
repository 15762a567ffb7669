"""The build manifest (``manifest.json``) and the one-line summary.

The pipeline hands over plain facts (:class:`BuildFacts`): this module knows nothing of how a build ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import onnx

from edgekit.builder import convert
from edgekit.builder.artifact_io import artifact_io
from edgekit.builder.onnxio import default_opset
from edgekit.builder.package import SCHEMA, SCHEMA_VERSION, Artifact, toolchain_versions
from edgekit.runtime import open_session
from edgekit.targets import Target


@dataclass(frozen=True)
class BuildFacts:
    """What the manifest records of one build: the source, the target, and the attempt that shipped."""

    stem: str                         # the model's name (source file stem)
    model_path: Path                  # the source model
    model_sha256: str
    target: Target
    load_facts: dict                  # facts of the load and optimize passes
    optimize_facts: dict
    verification: dict                # how the accuracy gate ran (verify.describe)
    notes: list[str]
    precision: str                    # the shipped attempt: precision, model, artifacts and their checks
    model: Path
    artifacts: list[Artifact]
    checks: list[Any]                 # verify.ArtifactCheck per artifact (.artifact, .to_json())
    passed: bool
    quantization: dict
    tflite: dict | None
    conversion: dict
    attempts: list[dict]              # every attempt's summary, in order (Attempt.to_json())


def _specs(artifact_path) -> tuple[list, list]:
    s = open_session(artifact_path)
    return list(s.inputs), list(s.outputs)


def _deployment(f: BuildFacts) -> dict:
    t = f.target
    onnx_name = next((a.name for a in f.artifacts if a.format == "onnx"), None)
    dep: dict = {"runtimes": list(t.runtimes), "device_onnxruntime_version": t.onnxruntime_version}
    if t.family == "jetson" and onnx_name:
        engine = f"{f.stem}-{t.name}-{f.precision}-trt{t.tensorrt_version or 'X'}.engine"
        dep["trtexec"] = convert.trtexec_command(onnx_name, f.precision, engine)
        dep["tensorrt_version"] = t.tensorrt_version
        dep["engine_note"] = ("TensorRT engines are specific to the GPU and TensorRT version: build the engine "
                              "on the device with the trtexec command, or let onnxruntime's TensorRT provider "
                              "build and cache it on first run (options above)")
    return dep


def assemble_manifest(f: BuildFacts) -> dict:
    t = f.target
    model = onnx.load(str(f.model), load_external_data=False)
    main = next((a for a in f.artifacts if a.format in ("onnx", "ort")), f.artifacts[0])
    inputs, outputs = _specs(main.source)
    source_bytes = f.model_path.stat().st_size
    artifacts = []
    for a in f.artifacts:
        d = a.to_json()
        if a.format in ("onnx", "ort", "tflite"):
            d["size_ratio_vs_source"] = round(source_bytes / max(1, d["bytes"]), 3)
            d.update(artifact_io(a.source, a.format, inputs))  # the artifact's own I/O (NHWC int8 for .tflite)
        artifacts.append(d)
    checks = {c.artifact: c.to_json() for c in f.checks}
    verification = {
        **f.verification,
        "passed": f.passed,
        "artifacts": checks,
    }
    quant = dict(f.quantization)
    quant.setdefault("nodes_excluded", [])
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "model": {
            "name": f.stem, "source": str(f.model_path), "sha256": f.model_sha256,
            "bytes": source_bytes, "source_opset": f.load_facts["source_opset"],
            "source_ir_version": f.load_facts["source_ir_version"],
        },
        "target": {
            "name": t.name, "family": t.family, "arch": t.arch, "cpu": t.cpu,
            "max_opset": t.max_opset, "max_ir_version": t.max_ir_version,
        },
        "precision": f.precision,
        "opset": default_opset(model),
        "ir_version": int(model.ir_version),
        "artifacts": artifacts,
        "inputs": [t.to_json() for t in inputs],
        "outputs": [t.to_json() for t in outputs],
        "quantization": quant,
        "verification": verification,
        "execution_providers": convert.execution_provider_config(t.execution_providers, f.precision,
                                                                 cpu_cores=t.cpu_cores),
        "deployment": _deployment(f),
        "tflite": f.tflite if f.tflite is not None else {"status": "not requested by the target profile"},
        "passes": {"load": f.load_facts, "optimize": f.optimize_facts, **f.conversion},
        "attempts": list(f.attempts),
        "toolchain": toolchain_versions(),
        "notes": list(f.notes),
    }
    if f.tflite and f.tflite.get("status") == "skipped":
        manifest["notes"].append(f"tflite: {f.tflite['reason']}")  # the reason starts with "skipped —"
    elif f.tflite and f.tflite.get("status") == "failed":
        manifest["notes"].append(f"tflite: failed — {f.tflite['reason']}; no .tflite artifact shipped")
    return manifest


def summary_line(m: dict) -> str:
    checks = list(m["verification"]["artifacts"].values())
    main = checks[0] if checks else {}
    if main.get("accuracy_drop_pts") is not None:
        gate = (f"accuracy {main['accuracy_fp32']:.4f} → {main['accuracy']:.4f} "
                f"(drop {main['accuracy_drop_pts']:.2f} pts, top-1 agreement {main['top1_agreement']:.4f}) "
                f"on {m['verification']['samples']} eval samples")
    else:
        worst_cos = min((c["cosine"] for c in checks if c["cosine"] is not None), default=0.0)
        worst_snr = min((c["snr_db"] for c in checks if c["snr_db"] is not None), default=0.0)
        gate = (f"cosine {worst_cos:.5f}, SNR {worst_snr:.1f} dB on {m['verification']['samples']} "
                f"{m['verification']['data']} samples (accuracy not verified on real data)")
    excl = m["quantization"].get("nodes_excluded") or []
    excl_txt = f"; {len(excl)} node{'s' if len(excl) != 1 else ''} kept in float: {', '.join(excl)}" if excl else ""
    files = ", ".join(f"{a['path']} {a['bytes'] / 1024:.0f} KB" for a in m["artifacts"]
                      if a["format"] in ("onnx", "ort", "tflite"))
    tfl = m.get("tflite", {})
    tfl_txt = f"; tflite {tfl['status']}" if tfl.get("status") in ("skipped", "failed") else ""
    names = [p["name"] + (" (emulated)" if p.get("emulated") else "") for p in m["verification"].get("platforms", [])]
    where = f" on {' and '.join(names)}" if names else ""
    return (f"{m['model']['name']} → {m['target']['name']}: {m['precision']} passed the gate{where} — {gate}"
            f"{excl_txt}; {files}{tfl_txt}")
