"""Content-addressed cache of pass outputs.

Key: sha256 over (pass name, pass config, input model hash, target name). An entry is a directory of
files plus ``meta.json``; entries are written to a temporary directory and renamed into place, so a
crash or a full disk never leaves a half-written entry that a later build would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ConfigError

META = "meta.json"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgekit" / "build"


def cache_key(pass_name: str, config: dict, input_hash: str, target_name: str) -> str:
    blob = json.dumps(
        {"pass": pass_name, "config": config, "input": input_hash, "target": target_name},
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class CacheEntry:
    directory: Path
    meta: dict

    def file(self, name: str) -> Path:
        return self.directory / name


class PassCache:
    """A directory of entries, one per key. ``root=None`` disables caching (every lookup misses)."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def get(self, key: str) -> CacheEntry | None:
        if self.root is None:
            return None
        d = self.root / key
        meta = d / META
        if not meta.is_file():
            return None
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        files = data.get("files", [])
        if not all((d / f).is_file() for f in files):
            return None
        return CacheEntry(d, data)

    def put(self, key: str, files: dict[str, Path], meta: dict) -> CacheEntry | None:
        """Store copies of ``files`` (entry name -> source path). Returns None when caching is off
        or the cache cannot be written (a cache problem never fails a build)."""
        if self.root is None:
            return None
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=self.root))
            for name, src in files.items():
                shutil.copyfile(src, tmp / name)
            (tmp / META).write_text(json.dumps({**meta, "files": sorted(files)}, indent=1, sort_keys=True, default=str))
            final = self.root / key
            try:
                os.replace(tmp, final)
            except OSError:  # another build stored the same key first: keep theirs
                shutil.rmtree(tmp, ignore_errors=True)
            tmp = None
            return self.get(key)
        except OSError:
            return None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)


def check_cache_dir(path: Path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: cache path is a file; pass a directory with --cache-dir or --no-cache")
    return path
