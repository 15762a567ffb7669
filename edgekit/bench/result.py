"""The result document (``edgekit/schemas/result-1.json``): building it and checking it."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import jsonschema

from edgekit.atomicfile import write_atomic
from edgekit.errors import EdgekitError

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
