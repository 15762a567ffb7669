"""The result document (``edgekit/schemas/result-1.json``): building it and checking it."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import jsonschema

from edgekit.atomicfile import write_atomic
from edgekit.bench.artifact import Artifact
from edgekit.bench.energy import EnergyReport, WindowEnergy
from edgekit.bench.sampler import Sampler
from edgekit.bench.settings import BenchSettings
from edgekit.errors import EdgekitError
from edgekit.sensors.report import source_json

SCHEMA_NAME = "edgekit.result"
SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "result-1.json"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate(doc: dict) -> None:
    """Raise EdgekitError naming the first schema violation (path and message)."""
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise EdgekitError(f"result document invalid at {where}: {e.message}{more}; this is an edgekit bug, report it")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(x):
    """JSON has no NaN/inf: turn them into null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def build(*, device: dict, artifact: dict, runtime: dict, settings: dict, latency: dict, rate: dict | None,
          power: dict | None, energy: dict | None, thermal: dict | None, battery: dict | None,
          flags: list, android: dict | None = None, measured_at: str | None = None) -> dict:
    doc = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "measured_at": measured_at or utc_now(),
        "device": device,
        "artifact": artifact,
        "runtime": runtime,
        "settings": settings,
        "latency": latency,
        "rate": rate,
        "power": power,
        "energy": energy,
        "thermal": thermal,
        "battery": battery,
        "validity": {
            "energy_valid": energy is not None and not any(f.severity == "invalid" for f in flags),
            "flags": [f.to_json() for f in flags],
        },
    }
    if android is not None:
        doc["android"] = android
    doc = _clean(doc)
    validate(doc)
    return doc


def write(doc: dict, path: Path) -> None:
    """Write atomically: a temp file beside ``path``, then rename (no partial file on failure)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise EdgekitError(f"{path.parent}: no such directory for --out; create it first")
    write_atomic(path, json.dumps(doc, indent=2) + "\n")


# ------------------------------------------------------------ document sections

def _window_json(w: WindowEnergy | None) -> dict | None:
    if w is None:
        return None
    return {"duration_s": w.duration_s, "energy_j": w.energy_j, "avg_power_w": w.avg_power_w,
            "peak_power_w": w.peak_power_w, "samples": w.samples, "mean_interval_s": w.mean_interval_s,
            "max_interval_s": w.max_interval_s, "uncertainty_j": w.uncertainty_j, "covered": w.covered,
            "undersampled": w.undersampled, "basis": w.basis}


def power_json(sampler: Sampler, rep: EnergyReport, run: tuple[float, float], info,
               *, sample_hz: float | None = None) -> dict:
    """``sample_hz`` overrides the sampler's rate for sources that were not polled (a meter trace)."""
    polled = sample_hz is None
    return {
        "source": info.name, "scope": info.scope, "description": info.description, "rails": list(info.rails),
        "estimated": bool(info.estimated), "has_counter": bool(info.has_counter),
        "sample_hz": sampler.sample_hz if polled else sample_hz,
        "achieved_hz": rep.run.samples / rep.run.duration_s,
        "samples": rep.run.samples,
        "samples_read": sampler.samples_read if polled else rep.run.samples,
        "samples_kept": sampler.samples_kept if polled else rep.run.samples,
        "decimation": sampler.decimation, "late_ticks": sampler.late_ticks if polled else 0,
        "resolution_w": info.resolution_w,
        "idle_w": rep.idle_power_w,
        "idle_before_w": rep.idle_before.avg_power_w if rep.idle_before else None,
        "idle_after_w": rep.idle_after.avg_power_w if rep.idle_after else None,
        "avg_w": rep.run.avg_power_w, "peak_w": rep.run.peak_power_w,
        "rails_avg_w": sampler.rails_mean_w(*run) if polled else {},
        **source_json(info), **(sampler.quality_json() if polled else {}),
    }


def energy_json(rep: EnergyReport, *, estimated: bool) -> dict:
    return {
        "method": rep.method, "estimated": estimated, "inferences": rep.inferences,
        "total_mj_per_inference": rep.total_mj_per_inference, "net_mj_per_inference": rep.net_mj_per_inference,
        "uncertainty_mj_per_inference": rep.uncertainty_mj_per_inference,
        "net_uncertainty_mj_per_inference": rep.net_uncertainty_mj_per_inference,
        "uncertainty_frac": rep.uncertainty_frac, "idle_drift_frac": rep.idle_drift_frac,
        "run": _window_json(rep.run), "idle_before": _window_json(rep.idle_before),
        "idle_after": _window_json(rep.idle_after),
    }


def artifact_json(a: Artifact) -> dict:
    return {"path": str(a.path), "sha256": a.sha256, "bytes": a.bytes, "format": a.format,
            "precision": a.precision, "manifest": str(a.manifest_path) if a.manifest_path else None}


def settings_json(s: BenchSettings, *, input_samples: int) -> dict:
    return {"duration_s": s.duration_s, "iterations": s.iterations, "warmup_s": s.warmup_s, "rate_hz": s.rate_hz,
            "threads": s.threads, "idle_s": s.idle_s, "power": s.power, "sample_hz": s.sample_hz,
            "input": str(s.input_npz) if s.input_npz else "generated", "input_samples": input_samples,
            "sysfs_root": str(s.sysfs_root), "adb_serial": s.adb_serial}
