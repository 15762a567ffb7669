"""Building the emulated arm64 root: ``edgekit toolchain install arm64`` (and ``remove``).

Resumable and atomic: everything is built in ``<toolchain dir>/arm64.partial`` in steps that each leave a
mark (the Debian root, the aarch64 wheels, the virtual environment), so a run stopped half-way goes on where
it stopped; only a root that passed the self-check (a tiny model run in the root's onnxruntime,
compared with the host's, and LiteRT imported) gets its marker file and is renamed to ``<toolchain dir>/arm64``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from edgekit.builder.arm64root import (BINFMT_DIR, DEB_PACKAGES, MARKER_NAME, MARKER_SCHEMA, MIRROR, NAME, PINS,
                                       PYTHON_VERSION, SUITE, VENV_PYTHON, WHEEL_PLATFORMS, Arm64Root, entry_dir,
                                       find_arm64, host_is_arm64, last_line, root_command, root_env,
                                       user_namespaces_problem)
from edgekit.builder.toolchain import locked
from edgekit.errors import BuildError

DEBOOTSTRAP_DONE = ".edgekit-debootstrap-done"
WHEELS_DONE = ".edgekit-wheels-done"
WHEELS_IN_ROOT = "/opt/edgekit-wheels"


def missing_prerequisite(binfmt_dir: Path = BINFMT_DIR, *, euid: int | None = None, path: str | None = None,
                         emulate: bool | None = None, install: bool = True) -> str | None:
    """What stops building (``install``) or running the root here, as one line that names the fix; None when
    nothing."""
    if (os.geteuid() if euid is None else euid) != 0:
        if install:
            return ("the arm64 root needs root privileges to build (debootstrap, chroot, mount /proc): "
                    "run `sudo edgekit toolchain install arm64`")
        if (problem := user_namespaces_problem()) is not None:  # running it: a user namespace of one's own
            return f"running the arm64 root as a non-root user needs a user namespace: {problem}"
    tools = (("debootstrap", "debootstrap"),) if install else ()
    for tool, pkg in (*tools, ("unshare", "util-linux"), ("chroot", "coreutils")):
        if shutil.which(tool, path=path or "/usr/sbin:/usr/bin:/sbin:/bin") is None:
            return f"{tool} is not installed: `apt-get install {pkg}`"
    if not (host_is_arm64() if emulate is None else not emulate):
        return _binfmt_problem(binfmt_dir, path)
    return None


def _binfmt_problem(binfmt_dir: Path, path: str | None) -> str | None:
    if shutil.which("qemu-aarch64-static", path=path or "/usr/bin:/usr/sbin:/bin:/sbin") is None:
        return "qemu-user is not installed: `apt-get install qemu-user-static binfmt-support`"
    if not (binfmt_dir / "status").exists():
        return (f"binfmt_misc is not mounted: `mount -t binfmt_misc binfmt_misc {binfmt_dir}` "
                f"(then `update-binfmts --enable qemu-aarch64`)")
    entry = binfmt_dir / "qemu-aarch64"
    if not entry.is_file():
        return "qemu-aarch64 is not registered with binfmt_misc: `update-binfmts --enable qemu-aarch64`"
    text = entry.read_text(errors="replace")
    if not text.startswith("enabled"):
        return "qemu-aarch64 is registered but disabled: `update-binfmts --enable qemu-aarch64`"
    flags = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("flags:")), "")
    if "F" not in flags:
        return ("qemu-aarch64 is registered without the F flag, so a chroot cannot find qemu: install "
                "Debian's qemu-user-static, which registers it with F")
    return None


def _run(cmd: list[str], log, what: str, env: dict | None = None, timeout_s: float = 3600.0) -> str:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} did not finish in {timeout_s:.0f} s; see {log.name}") from None
    log.write(out.stdout)
    log.flush()
    if out.returncode != 0:
        raise BuildError(f"{what} failed: {last_line(out.stdout)}; see {log.name}")
    return out.stdout


def install_arm64(dir: Path | None = None, *, mirror: str = MIRROR,
                  on_step: Callable[[str], None] | None = None) -> Arm64Root:
    """Build (or reuse, or resume) the emulated arm64 root under ``dir``; return it once checked."""
    step = on_step or (lambda _msg: None)
    if (found := find_arm64(dir)) is not None:
        return found
    problem = missing_prerequisite()
    if problem:
        raise BuildError(problem)
    final = entry_dir(dir)
    partial = final.with_name(final.name + ".partial")
    with locked(final.parent, NAME):
        if (found := find_arm64(dir)) is not None:
            return found
        partial.mkdir(parents=True, exist_ok=True)
        log_path = partial / "install.log"
        started = time.monotonic()
        with open(log_path, "a") as log:
            root = partial / "root"
            if not (root / DEBOOTSTRAP_DONE).is_file():
                _refuse_mounted(root)
                shutil.rmtree(root, ignore_errors=True)  # debootstrap cannot resume a root; its cache can
                step(f"debootstrap {SUITE} arm64 (minbase + {', '.join(DEB_PACKAGES)}; about 350 MB, "
                     f"5-10 minutes)")
                (partial / "cache").mkdir(exist_ok=True)
                _run(["debootstrap", "--arch=arm64", "--variant=minbase", f"--include={','.join(DEB_PACKAGES)}",
                      f"--cache-dir={partial / 'cache'}", SUITE, str(root), mirror], log, "debootstrap")
                (root / DEBOOTSTRAP_DONE).write_text(datetime.now(timezone.utc).isoformat() + "\n")
            wheels = partial / "wheels"
            if not (wheels / WHEELS_DONE).is_file():
                step(f"downloading aarch64 wheels for Python {PYTHON_VERSION}: {', '.join(PINS)}")
                wheels.mkdir(exist_ok=True)
                plats = [a for p in WHEEL_PLATFORMS for a in ("--platform", p)]
                _run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
                      "--progress-bar", "off", "--only-binary=:all:", *plats, "--python-version", PYTHON_VERSION,
                      "-d", str(wheels), *PINS], log, "downloading the aarch64 wheels")
                (wheels / WHEELS_DONE).write_text("\n")
            step("installing them offline in the root's /venv")
            _install_venv(root, wheels, log)
            step("checking the root: a tiny model in its onnxruntime against the host's")
            versions = _self_check(Arm64Root(partial), root, log)
        marker = {"schema": MARKER_SCHEMA, "pins": list(PINS), "suite": SUITE, "mirror": mirror,
                  "versions": versions, "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "install_s": round(time.monotonic() - started, 1)}
        tmp = partial / f".{MARKER_NAME}.tmp"
        tmp.write_text(json.dumps(marker, indent=2) + "\n")
        os.replace(tmp, partial / MARKER_NAME)
        if final.exists():  # an older root with other pins
            _refuse_mounted(final)
            shutil.rmtree(final)
        os.replace(partial, final)
    found = find_arm64(dir)
    if found is None:
        raise BuildError(f"the arm64 root in {final} does not match the pinned versions; "
                         f"`edgekit toolchain remove arm64` and install it again")
    return found


def _install_venv(root: Path, wheels: Path, log) -> None:
    dest = root / WHEELS_IN_ROOT.lstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    for whl in wheels.glob("*.whl"):
        if not (dest / whl.name).exists():
            shutil.copy2(whl, dest / whl.name)
    env = root_env()
    if not (root / VENV_PYTHON.lstrip("/")).exists():
        _run(root_command(root, ["/usr/bin/python3", "-m", "venv", "/venv"]), log, "creating /venv in the root",
             env=env)
    _run(root_command(root, [VENV_PYTHON, "-m", "pip", "install", "--no-index", "--find-links", WHEELS_IN_ROOT,
                             "--progress-bar", "off", *PINS]), log, "installing the wheels in the root", env=env)


def _self_check(chain: Arm64Root, root: Path, log) -> dict[str, str]:
    """Run a tiny CNN in the root's onnxruntime and compare it with the host's; the versions found."""
    import numpy as np
    import onnx

    from edgekit.builder.emulated import run_in_root
    from edgekit.builder.toolchain_install import tiny_cnn
    from edgekit.runtime.ort import OrtSession

    with tempfile.TemporaryDirectory(prefix="edgekit-arm64-check-") as tmp:
        model = Path(tmp) / "selfcheck.onnx"
        onnx.save(tiny_cnn(channels=3, size=16), model)
        x = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
        ref = OrtSession(model).run({"input": x})[0]
        outs, info = run_in_root(chain, model, "onnx", ["input"], [[x]])
    err = float(np.max(np.abs(ref - outs[0][0])))
    log.write(f"self-check: {info}; max |host - arm64| = {err:.3g}\n")
    if info.get("arch") != "aarch64" or not err < 1e-4:
        raise BuildError(f"the arm64 root's self-check failed (arch {info.get('arch')}, max difference from the "
                         f"host {err:.3g}); see {log.name}")
    probe = "import ai_edge_litert, ai_edge_litert.interpreter; print(ai_edge_litert.__version__)"
    litert = chain.run([VENV_PYTHON, "-I", "-c", probe]).strip().splitlines()[-1]
    qemu = subprocess.run(["qemu-aarch64-static", "--version"], capture_output=True, text=True)
    debian = (root / "etc" / "debian_version").read_text().strip()
    return {"onnxruntime": info["runtime_version"], "python": info["python"], "numpy": info["numpy"],
            "ai-edge-litert": litert, "debian": debian,
            "qemu": (qemu.stdout.splitlines() or ["?"])[0].split(" version ")[-1]}


def _refuse_mounted(path: Path) -> None:
    """Never delete a tree with something mounted in it (a /proc left by a killed run)."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = [ln.split()[1] for ln in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    inside = [m for m in mounts if (m + "/").startswith(prefix)]
    if inside:
        raise BuildError(f"{inside[0]} is mounted inside {path}: `umount {inside[0]}` first")


def remove_arm64(dir: Path | None = None) -> list[Path]:
    """Delete the root (and any half-built one); the paths removed."""
    final = entry_dir(dir)
    removed = []
    with locked(final.parent, NAME):
        for p in (final, final.with_name(final.name + ".partial")):
            if p.exists():
                _refuse_mounted(p)
                shutil.rmtree(p)
                removed.append(p)
    return removed
