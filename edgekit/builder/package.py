"""Pass 6 — package: ``OUT/<model>-<target>/`` with the artifacts and ``manifest.json``.

Everything is written into a temporary directory next to the destination (same filesystem), then renamed
into place. Any failure — a full disk (ENOSPC) included — removes the temporary directory, so a failed
build leaves nothing behind; an existing output of an earlier build stays untouched until the new one is
complete, and is swapped out only then.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from edgekit.digest import sha256_file
from edgekit.errors import BuildError, ConfigError

MANIFEST = "manifest.json"
SCHEMA = "edgekit.build-manifest"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    name: str          # file name inside the output directory
    source: Path       # where the build made it
    format: str        # onnx, ort, tflite, ort-ops-config
    precision: str | None = None

    def to_json(self) -> dict:
        return {
            "path": self.name, "format": self.format, "precision": self.precision,
            "bytes": self.source.stat().st_size, "sha256": sha256_file(self.source),
        }


def toolchain_versions() -> dict:
    versions = {"python": platform.python_version()}
    for dist in ("edgekit", "onnx", "onnxruntime", "numpy", "sympy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_out_dir(out_root: Path) -> Path:
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise ConfigError(f"{out_root}: output path is a file; pass a directory with --out")
    return out_root


def _disk_error(exc: OSError, out_root: Path) -> BuildError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return BuildError(
            f"{out_root}: no space left on device while writing the build output; nothing was written — "
            f"free some space or pass --out on another disk"
        )
    what = exc.strerror or str(exc)
    return BuildError(f"{out_root}: cannot write the build output ({what}); nothing was written — "
                      f"check permissions or pass another --out")


def write_output(out_root: Path, dir_name: str, artifacts: list[Artifact], manifest: dict) -> Path:
    """Copy artifacts + manifest into ``out_root/dir_name`` atomically; returns the final directory."""
    out_root = check_out_dir(out_root)
    created_root = not out_root.exists()
    final = out_root / dir_name
    stage: Path | None = None
    old: Path | None = None
    done = False
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{dir_name}.tmp-", dir=out_root))
        os.chmod(stage, 0o777 & ~_umask())  # mkdtemp makes it private; the output is an ordinary folder
        for a in artifacts:
            shutil.copyfile(a.source, stage / a.name)
        with open(stage / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dir_name}.old-", dir=out_root))
            os.replace(final, old / dir_name)
        os.replace(stage, final)
        stage = None
        done = True
    except OSError as exc:
        if old is not None and not final.exists():
            os.replace(old / dir_name, final)  # put the earlier build back
        raise _disk_error(exc, out_root) from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if created_root and not done:
            try:
                out_root.rmdir()
            except OSError:
                pass
    return final
