"""The emulated arm64 device: a Debian bookworm arm64 root run under qemu-user, with its own onnxruntime.

:func:`~edgekit.builder.arm64_install.install_arm64` builds the root under ``default_toolchain_dir()/arm64``
(``root/`` is the file system, ``/venv`` inside it holds the aarch64 wheels of onnxruntime and LiteRT) and
writes the marker file that :func:`find_arm64` trusts. :meth:`Arm64Root.run` runs a Python script inside it:
``unshare`` gives the run a private mount and PID namespace, mounts a fresh ``/proc`` in the root (never the
host's ``/sys``: onnxruntime's cpuinfo crashes under qemu with it) and kills what is left when it ends, so a
stopped build leaves no mount and no process behind. ``QEMU_CPU`` picks the emulated CPU closest to the
target's (a Cortex-A76 for a Pi 5), so the runtime takes the kernels that CPU's features allow.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.builder.toolchain import default_toolchain_dir, read_marker
from edgekit.errors import BuildError

NAME = "arm64"
MARKER_NAME = "edgekit-arm64.json"
MARKER_SCHEMA = 1
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
DEB_PACKAGES = ("python3", "python3-venv", "python3-pip")
#: what the root's /venv gets; onnxruntime matches the host's edgekit pin, so only the CPU differs
PINS: tuple[str, ...] = ("onnxruntime==1.32.0", "ai-edge-litert==1.4.0")
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux2014_aarch64", "manylinux_2_17_aarch64")
PYTHON_VERSION = "3.11"  # bookworm's python3, as on Raspberry Pi OS bookworm
VENV_PYTHON = "/venv/bin/python"
INSTALL_HINT = "run `edgekit toolchain install arm64` (as root)"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
RUN_TIMEOUT_S = 1800.0

#: target CPU (as the profiles write it) -> the qemu CPU model nearest to it (``qemu-aarch64 -cpu help``)
QEMU_CPUS = {"cortex-a76": "cortex-a76", "cortex-a72": "cortex-a72", "cortex-a57": "cortex-a57",
             "cortex-a53": "cortex-a53", "cortex-a78ae": "neoverse-n1"}


def qemu_cpu(target_cpu: str | None) -> str:
    """The qemu CPU model for a target's ``cpu`` field: the same core where qemu has it (Cortex-A76 for a
    Pi 5), a core of the same architecture level for a Cortex-A78AE (Neoverse-N1: ARMv8.2 with dot
    product), else qemu's ``max`` (every feature qemu emulates)."""
    key = (target_cpu or "").split()[0].lower() if target_cpu else ""
    return QEMU_CPUS.get(key, "max")


@dataclass(frozen=True)
class Arm64Root:
    """An installed, checked emulated arm64 root."""

    dir: Path                        # the toolchain entry (marker, log, wheels)
    versions: dict[str, str] = field(default_factory=dict)
    installed_at: str | None = None

    @property
    def root(self) -> Path:
        return self.dir / "root"

    def to_json(self) -> dict:
        return {"name": NAME, "root": str(self.root), "python": VENV_PYTHON, "versions": dict(self.versions),
                "installed_at": self.installed_at}

    @contextmanager
    def private_dir(self) -> Iterator[tuple[Path, str]]:
        """A temporary directory inside the root, readable by this user only, removed on the way out
        (SIGTERM included, which edgekit's commands turn into an exception): (host path, path in the root)."""
        with tempfile.TemporaryDirectory(prefix="edgekit-", dir=self.root / "tmp") as tmp:
            yield Path(tmp), "/tmp/" + Path(tmp).name

    def run(self, argv: list[str], *, cpu: str = "max", timeout_s: float = RUN_TIMEOUT_S) -> str:
        """Run ``argv`` (in the root's terms: ``[VENV_PYTHON, ...]``) inside the root; its stdout.
        A failure raises BuildError with the last line it printed."""
        cmd = root_command(self.root, argv)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=root_env(cpu))
        except subprocess.TimeoutExpired:
            raise BuildError(f"the emulated arm64 run did not finish in {timeout_s:.0f} s") from None
        except OSError as exc:
            raise BuildError(f"cannot start the emulated arm64 run: {exc.strerror}; {INSTALL_HINT}") from None
        if out.returncode != 0:
            raise BuildError(f"the emulated arm64 run failed (exit {out.returncode}): {last_line(out.stderr)}")
        return out.stdout


def user_namespaces_problem(proc_sys: Path = Path("/proc/sys")) -> str | None:
    """Why this kernel gives a non-root user no user namespace (None when it does): a non-root user runs the
    root as "root" of its own user namespace (``unshare --user --map-root-user``), which needs them."""
    fix = "or run edgekit as root"
    try:
        if int((proc_sys / "user" / "max_user_namespaces").read_text().strip() or 0) <= 0:
            return (f"user namespaces are off (user.max_user_namespaces = 0): "
                    f"`sysctl user.max_user_namespaces=15000`, {fix}")
    except (OSError, ValueError):
        return f"this kernel has no user namespaces, {fix}"
    clone = proc_sys / "kernel" / "unprivileged_userns_clone"  # Debian's switch, where the kernel has it
    try:
        if clone.read_text().strip() == "0":
            return f"unprivileged user namespaces are off: `sysctl kernel.unprivileged_userns_clone=1`, {fix}"
    except OSError:
        pass
    return None


def root_command(root: Path, argv: list[str], *, euid: int | None = None) -> list[str]:
    """``argv`` run in ``root`` with a private /proc. As root: a private mount and PID namespace and chroot. As any
    other user: the same inside a user namespace of its own, as that namespace's root (``--map-root-user``), where
    the kernel allows unprivileged user namespaces; the root's files need only be readable."""
    userns = (os.geteuid() if euid is None else euid) != 0
    if userns and (problem := user_namespaces_problem()) is not None:
        raise BuildError(f"running the emulated arm64 root as a non-root user needs a user namespace: {problem}")
    tools = {t: shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin") for t in ("unshare", "chroot")}
    missing = [t for t, p in tools.items() if p is None]
    if missing:
        raise BuildError(f"{' and '.join(missing)} not found: install util-linux and coreutils")
    return [tools["unshare"], *(["--user", "--map-root-user"] if userns else []), "--mount", "--pid", "--fork",
            "--kill-child", f"--mount-proc={root / 'proc'}", tools["chroot"], str(root), *argv]


def root_env(cpu: str = "max") -> dict[str, str]:
    """The environment inside the root: nothing of the host's pip or Python settings (their find-links and
    index paths do not exist there), the qemu CPU model, onnxruntime's telemetry off (as edgekit sets it on the
    host)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root", "LANG": "C.UTF-8",
            "PYTHONNOUSERSITE": "1", "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "QEMU_CPU": cpu, "ORT_DISABLE_TELEMETRY": "1"}  # onnxruntime's session file: nothing left in /tmp


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(_CPUINFO_NOISE)]
    return lines[-1] if lines else "no output"


#: what onnxruntime prints under qemu without /sys (harmless: it only loses the CPU's cache sizes)
_CPUINFO_NOISE = ("Error in cpuinfo:", "onnxruntime cpuid_info warning:", "onnxruntime warning: cpuinfo")


def entry_dir(dir: Path | None = None) -> Path:
    return Path(dir if dir is not None else default_toolchain_dir()).expanduser().resolve() / NAME


def find_arm64(dir: Path | None = None) -> Arm64Root | None:
    """The installed root under ``dir`` (default ``default_toolchain_dir()``), or None when it is missing,
    unchecked, or installed with other pins. Reads files only (no emulated process starts)."""
    entry = entry_dir(dir)
    marker = entry / MARKER_NAME
    if not (entry / "root" / VENV_PYTHON.lstrip("/")).exists():
        return None
    data = read_marker(marker, MARKER_SCHEMA, PINS)
    if data is None:
        return None
    return Arm64Root(entry, dict(data.get("versions", {})), data.get("installed_at"))


def host_is_arm64() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64")
