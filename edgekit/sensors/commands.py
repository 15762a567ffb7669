"""Finding and running the vendor commands sensors rely on (vcgencmd, tegrastats, nvpmodel, adb)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from edgekit.errors import SensorError

#: How to get each command when it is missing.
INSTALL_HINTS = {
    "vcgencmd": "it ships with Raspberry Pi OS (package libraspberrypi-bin / raspi-utils)",
    "tegrastats": "it ships with NVIDIA L4T / JetPack (/usr/bin/tegrastats)",
    "nvpmodel": "it ships with NVIDIA L4T / JetPack (/usr/sbin/nvpmodel)",
    "adb": "install Android platform-tools (apt install adb) and put adb on PATH",
}


def find_command(name: str, explicit: str | None = None) -> str | None:
    """The executable path for ``explicit`` (a path or name) or ``name`` on PATH, else None."""
    return shutil.which(explicit or name)


def require_command(name: str, explicit: str | None = None) -> str:
    path = find_command(name, explicit)
    if path is None:
        hint = INSTALL_HINTS.get(name, "install it or pass its path")
        raise SensorError(f"command {explicit or name!r} not found on PATH; {hint}")
    return path


def run_command(argv: Sequence[str], *, timeout_s: float = 10.0) -> str:
    """Run a command and return its stdout; SensorError (one line) when it fails."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise SensorError(f"command {argv[0]!r} not found; install it or put it on PATH") from None
    except PermissionError:
        raise SensorError(f"command {argv[0]!r} is not executable; fix its permissions") from None
    except subprocess.TimeoutExpired:
        raise SensorError(f"`{' '.join(argv)}` did not answer within {timeout_s:g} s; check the device") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        why = detail[-1] if detail else f"exit status {proc.returncode}"
        raise SensorError(f"`{' '.join(argv)}` failed: {why}")
    return proc.stdout
