"""What ``edgekit bench PATH`` runs: a build directory (with ``manifest.json``) or a bare model file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import ModelError
from edgekit.digest import sha256_file

MODEL_FORMATS = {".onnx": "onnx", ".ort": "ort", ".tflite": "tflite"}


@dataclass(frozen=True)
class Artifact:
    path: Path
    format: str                      # "onnx" | "ort" | "tflite"
    sha256: str
    bytes: int
    precision: str | None = None
    target: str | None = None
    manifest_path: Path | None = None
    providers: tuple[str, ...] = ()  # the manifest's execution providers, in preference order
    provider_options: tuple[dict, ...] = ()
    inputs: tuple[dict, ...] = ()    # the manifest's input specs
    manifest: dict = field(default_factory=dict)




def _bare(path: Path) -> Artifact:
    fmt = MODEL_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ModelError(f"{path}: unsupported model format {path.suffix!r}; "
                         "pass a build directory or a .onnx, .ort or .tflite file")
    return Artifact(path=path, format=fmt, sha256=sha256_file(path), bytes=path.stat().st_size)


def _load_manifest(mpath: Path) -> dict:
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{mpath}: not valid JSON ({exc.msg} at line {exc.lineno}); rebuild with `edgekit build`") from None
    if not isinstance(data, dict):
        raise ModelError(f"{mpath}: a manifest must be a JSON object; rebuild with `edgekit build`")
    return data


def _providers(raw, mpath: Path) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    """``execution_providers`` as names and options: ["CPUExecutionProvider", ...] or
    [{"name": ..., "options": {...}}, ...]."""
    if raw is None:
        return (), ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ModelError(f"{mpath}: 'execution_providers' must be a list; rebuild with `edgekit build`")
    names, options = [], []
    for p in raw:
        if isinstance(p, str):
            names.append(p)
            options.append({})
        elif isinstance(p, dict) and isinstance(p.get("name") or p.get("provider"), str):
            names.append(p.get("name") or p.get("provider"))
            opts = p.get("options") or {}
            options.append({str(k): str(v) for k, v in opts.items()} if isinstance(opts, dict) else {})
        else:
            raise ModelError(f"{mpath}: bad execution provider entry {p!r}; rebuild with `edgekit build`")
    return tuple(names), tuple(options)


def _pick(entries: list[dict], prefer: tuple[str, ...]) -> dict | None:
    runnable = [e for e in entries if isinstance(e, dict) and e.get("format") in MODEL_FORMATS.values()]
    for fmt in prefer:
        for e in runnable:
            if e.get("format") == fmt:
                return e
    return runnable[0] if runnable else None


def resolve_artifact(path: Path, *, prefer: tuple[str, ...] = ()) -> Artifact:
    """Resolve PATH; ``prefer`` orders formats when a manifest lists several (else manifest order)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such file or directory; pass a build directory or a model file")
    if path.is_file():
        return _bare(path)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        models = sorted(p.name for p in path.iterdir() if p.suffix.lower() in MODEL_FORMATS)
        hint = f" (it holds {', '.join(models)}: pass one of them)" if models else ""
        raise ModelError(f"{path}: no manifest.json; pass a build directory from `edgekit build` or a model file{hint}")
    m = _load_manifest(mpath)
    entries = m.get("artifacts") or []
    if not isinstance(entries, list):
        raise ModelError(f"{mpath}: 'artifacts' must be a list; rebuild with `edgekit build`")
    entry = _pick(entries, prefer)
    if entry is None or not entry.get("path"):
        raise ModelError(f"{mpath}: no .onnx, .ort or .tflite artifact listed; rebuild with `edgekit build`")
    apath = (path / entry["path"]).resolve() if not Path(entry["path"]).is_absolute() else Path(entry["path"])
    if not apath.is_file():
        raise ModelError(f"{mpath}: artifact {entry['path']} is missing; rebuild with `edgekit build`")
    digest = sha256_file(apath)
    if entry.get("sha256") and entry["sha256"] != digest:
        raise ModelError(f"{apath}: sha256 {digest[:12]}… does not match the manifest's {str(entry['sha256'])[:12]}…; "
                         "the file changed after the build: rebuild it")
    providers, options = _providers(m.get("execution_providers"), mpath)
    return Artifact(
        path=apath, format=entry["format"], sha256=digest, bytes=apath.stat().st_size,
        precision=entry.get("precision") or m.get("precision"),
        target=m.get("target") if isinstance(m.get("target"), str) else (m.get("target") or {}).get("name"),
        manifest_path=mpath, providers=providers, provider_options=options,
        inputs=tuple(s for s in (m.get("inputs") or []) if isinstance(s, dict)), manifest=m,
    )
