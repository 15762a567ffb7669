"""The onnx2tf toolchain: a virtual environment of its own, used as a subprocess.

onnx2tf pins numpy 1.26, onnx 1.19, onnxruntime 1.23, protobuf 4.25 and
tensorflow 2.19, none of which can live beside edgekit's numpy 2 stack, so it
gets its own virtual environment under ``default_toolchain_dir()/onnx2tf``.
:func:`~edgekit.builder.toolchain_install.install_tflite` creates it, checks it
by converting a tiny model and only then writes a marker file; ``find_toolchain``
(here) trusts an environment only when that marker is there and what it records
is still installed.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ENV_NAME = "onnx2tf"
MARKER_NAME = "edgekit-toolchain.json"
MARKER_SCHEMA = 1

#: What the environment gets. onnx2tf 1.29.24 declares these exact pins itself;
#: naming them here keeps the environment reproducible if a later 1.29.x moves them.
#: keras is not pinned by onnx2tf (tensorflow 2.19 wants keras>=3.5): pinned to the
#: release this list was checked with.
PINS: tuple[str, ...] = (
    "onnx2tf==1.29.24",
    "tensorflow==2.19.0",
    "tf-keras==2.19.0",
    "keras==3.15.1",
    "numpy==1.26.4",
    "onnx==1.19.1",
    "onnxruntime==1.23.0",
    "protobuf==4.25.5",
    "onnxsim==0.4.36",
    "onnxoptimizer==0.4.2",
    "onnx-graphsurgeon==0.5.8",
    "simple-onnx-processing-tools==1.1.32",  # brings sng4onnx, which onnx2tf imports
    "ai-edge-litert==2.1.0",
    "psutil==5.9.5",
    "h5py==3.11.0",
    "ml-dtypes==0.5.1",
    "flatbuffers==25.12.19",
    "requests==2.32.5",
)

#: Distributions whose installed versions are reported (``Toolchain.versions``).
REPORTED = ("onnx2tf", "tensorflow", "tf-keras", "keras", "numpy", "onnx", "onnxruntime", "protobuf",
            "onnxsim", "ai-edge-litert")

INSTALL_HINT = "run `edgekit toolchain install tflite`"


@dataclass(frozen=True)
class Toolchain:
    """An installed onnx2tf environment."""

    root: Path                      # the virtual environment
    python: Path                    # its interpreter: run ``python -m onnx2tf``
    versions: dict[str, str] = field(default_factory=dict)  # distribution -> version, plus "python"
    installed_at: str | None = None  # UTC ISO timestamp from the marker

    @property
    def bin_dir(self) -> Path:
        """Put this first on PATH: onnx2tf runs ``onnxsim`` as a command."""
        return self.python.parent

    def to_json(self) -> dict:
        return {"name": ENV_NAME, "root": str(self.root), "python": str(self.python),
                "versions": dict(self.versions), "installed_at": self.installed_at}


def default_toolchain_dir() -> Path:
    """Where toolchains live: ``$EDGEKIT_TOOLCHAIN_DIR``, else ``~/.cache/edgekit/toolchains``
    (``$XDG_CACHE_HOME/edgekit/toolchains`` when that is set)."""
    env = os.environ.get("EDGEKIT_TOOLCHAIN_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "edgekit" / "toolchains"


def env_dir(dir: Path | None) -> Path:
    return Path(dir if dir is not None else default_toolchain_dir()).expanduser().resolve() / ENV_NAME


def venv_python(env: Path) -> Path:
    return env / "bin" / "python"


def _site_packages(env: Path) -> Path | None:
    found = sorted(env.glob("lib/python3.*/site-packages"))
    return found[0] if found else None


def installed_versions(env: Path) -> dict[str, str]:
    """Versions of the reported distributions, read from the environment's metadata
    (no interpreter start: this stays fast enough for every ``find_toolchain``)."""
    site = _site_packages(env)
    if site is None:
        return {}
    wanted = {_norm(n): n for n in REPORTED}
    out: dict[str, str] = {}
    for dist in metadata.distributions(path=[str(site)]):
        name = _norm(dist.metadata["Name"] or "")
        if name in wanted and wanted[name] not in out:
            out[wanted[name]] = dist.version
    cfg = env / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                out["python"] = value.strip()
    return dict(sorted(out.items()))


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pinned_versions() -> dict[str, str]:
    return {_norm(p.split("==")[0]): p.split("==")[1] for p in PINS}


def read_marker(marker: Path, schema: int, pins: tuple[str, ...]) -> dict | None:
    """A toolchain's marker file, or None when it is missing, unreadable, or written with another schema or
    other pins (installed by another edgekit: reinstall)."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != schema or list(data.get("pins", [])) != list(pins):
        return None
    return data


@contextmanager
def locked(dir_: Path, name: str) -> Iterator[None]:
    """One installer at a time per toolchain in ``dir_`` (an advisory lock file ``.NAME.lock``)."""
    dir_.mkdir(parents=True, exist_ok=True)
    with open(dir_ / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def find_toolchain(dir: Path | None = None) -> Toolchain | None:
    """The installed toolchain under ``dir`` (default ``default_toolchain_dir()``), or None
    when it is missing, was never checked, is broken, or no longer matches ``PINS``."""
    env = env_dir(dir)
    python = venv_python(env)
    marker = env / MARKER_NAME
    if not (python.exists() and os.access(python, os.X_OK)):
        return None
    data = read_marker(marker, MARKER_SCHEMA, PINS)
    if data is None:
        return None
    versions = installed_versions(env)
    pinned = _pinned_versions()
    for name in REPORTED:
        want = pinned.get(_norm(name))
        if want is not None and versions.get(name) != want:
            return None  # a package was removed or changed since the check
    return Toolchain(root=env, python=python, versions=versions, installed_at=data.get("installed_at"))


def clean_env() -> dict[str, str]:
    """This process's environment without what would mix edgekit's packages into the venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env
