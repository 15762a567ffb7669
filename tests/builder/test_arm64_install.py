"""``edgekit toolchain install arm64``: what is missing, said in one line; the installed root, found and used.

The tests that need the root use the one in the default toolchain directory (built once by
``edgekit toolchain install arm64``, about 6 minutes) and skip, saying why, where it is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from edgekit.builder.arm64_install import missing_prerequisite, remove_arm64
from edgekit.builder.arm64root import MARKER_NAME, PINS, find_arm64, qemu_cpu, root_command, user_namespaces_problem
from edgekit.builder.emulated import run_in_root
from edgekit.builder.toolchain_install import tiny_cnn
from edgekit.runtime.ort import OrtSession

REPO = Path(__file__).resolve().parents[2]


def _binfmt(tmp_path: Path, entry: str | None) -> Path:
    d = tmp_path / "binfmt_misc"
    d.mkdir(parents=True)
    (d / "status").write_text("enabled\n")
    if entry is not None:
        (d / "qemu-aarch64").write_text(entry)
    return d


def test_not_root_says_so_and_how(tmp_path):
    why = missing_prerequisite(tmp_path, euid=1000)
    assert "needs root privileges to build" in why and "sudo edgekit toolchain install arm64" in why
    assert "\n" not in why


def _proc_sys(tmp_path, max_userns: str | None, clone: str | None) -> Path:
    d = tmp_path / "sys"
    (d / "user").mkdir(parents=True)
    (d / "kernel").mkdir()
    if max_userns is not None:
        (d / "user" / "max_user_namespaces").write_text(max_userns + "\n")
    if clone is not None:
        (d / "kernel" / "unprivileged_userns_clone").write_text(clone + "\n")
    return d


def test_a_non_root_user_runs_the_root_in_a_user_namespace_where_the_kernel_allows_it(tmp_path):
    assert user_namespaces_problem(_proc_sys(tmp_path / "a", "15000", None)) is None
    assert user_namespaces_problem(_proc_sys(tmp_path / "b", "15000", "1")) is None
    off = user_namespaces_problem(_proc_sys(tmp_path / "c", "0", None))
    assert "user.max_user_namespaces = 0" in off and "or run edgekit as root" in off
    assert "kernel.unprivileged_userns_clone=1" in user_namespaces_problem(_proc_sys(tmp_path / "d", "15000", "0"))
    assert "no user namespaces" in user_namespaces_problem(_proc_sys(tmp_path / "e", None, None))
    if user_namespaces_problem() is None:
        cmd = root_command(tmp_path, ["/venv/bin/python"], euid=1000)
        assert cmd[1:3] == ["--user", "--map-root-user"]
        assert "--user" not in root_command(tmp_path, ["/venv/bin/python"], euid=0)


def test_missing_tools_name_the_package(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    assert missing_prerequisite(tmp_path, euid=0, path=str(empty)) == \
        "debootstrap is not installed: `apt-get install debootstrap`"
    # running an installed root needs no debootstrap
    assert missing_prerequisite(tmp_path, euid=0, path=str(empty), install=False) == \
        "unshare is not installed: `apt-get install util-linux`"


def test_binfmt_problems_name_the_fix(tmp_path):
    real_tools = "/usr/sbin:/usr/bin:/sbin:/bin"
    if missing_prerequisite(Path("/nonexistent"), euid=0, path=real_tools, emulate=False) is not None:
        pytest.skip("debootstrap, unshare or chroot not installed here (apt-get install debootstrap)")
    if "qemu-user is not installed" in (missing_prerequisite(tmp_path, euid=0, emulate=True) or ""):
        pytest.skip("qemu-user-static not installed here: the binfmt checks come after it")
    assert "binfmt_misc is not mounted: `mount -t binfmt_misc" in missing_prerequisite(
        tmp_path / "nothing", euid=0, emulate=True)
    assert "not registered" in missing_prerequisite(_binfmt(tmp_path / "a", None), euid=0, emulate=True)
    off = _binfmt(tmp_path / "b", "disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    assert "disabled: `update-binfmts --enable qemu-aarch64`" in missing_prerequisite(off, euid=0, emulate=True)
    no_f = _binfmt(tmp_path / "c", "enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n")
    assert "without the F flag" in missing_prerequisite(no_f, euid=0, emulate=True)
    ok = _binfmt(tmp_path / "d", "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    assert missing_prerequisite(ok, euid=0, emulate=True) is None


def test_find_trusts_only_a_marker_with_these_pins(tmp_path):
    entry = tmp_path / "arm64"
    (entry / "root" / "venv" / "bin").mkdir(parents=True)
    (entry / "root" / "venv" / "bin" / "python").write_text("")
    assert find_arm64(tmp_path) is None  # no marker: never checked
    (entry / MARKER_NAME).write_text(json.dumps({"schema": 1, "pins": ["onnxruntime==1.0.0"]}))
    assert find_arm64(tmp_path) is None  # other pins
    (entry / MARKER_NAME).write_text(json.dumps({"schema": 1, "pins": list(PINS), "versions": {"python": "3.11.2"}}))
    assert find_arm64(tmp_path).versions == {"python": "3.11.2"}
    assert remove_arm64(tmp_path) == [entry.resolve()] and not entry.exists()


def test_qemu_cpu_follows_the_target():
    assert qemu_cpu("Cortex-A76") == "cortex-a76"
    assert qemu_cpu("Cortex-A78AE") == "neoverse-n1"
    assert qemu_cpu("Tensor G3 (Cortex-X3/A715/A510)") == "max"


def test_status_json_names_both_toolchains(tmp_path):
    out = subprocess.run([sys.executable, "-m", "edgekit", "toolchain", "status", "--json", "--dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    arm = json.loads(out.stdout)["toolchains"]["arm64"]
    assert arm["installed"] is False and arm["root"] == str(tmp_path.resolve() / "arm64" / "root")


def test_root_runs_a_model_as_the_host_does_and_leaves_nothing(arm64, tmp_path):
    model = tmp_path / "tiny.onnx"
    onnx.save(tiny_cnn(channels=3, size=16), model)
    x = np.random.default_rng(1).random((3, 3, 16, 16), dtype=np.float32)
    outs, info = run_in_root(arm64, model, "onnx", ["input"], [[x[:2]], [x[2:]]], cpu="cortex-a76")
    assert info["arch"] == "aarch64" and info["runtime"] == "onnxruntime"
    assert info["runtime_version"] == arm64.versions["onnxruntime"] and info["python"].startswith("3.11")
    got = np.concatenate([outs[0][0], outs[1][0]])
    assert np.max(np.abs(got - OrtSession(model).run({"input": x})[0])) < 1e-4
    assert not list((arm64.root / "tmp").glob("edgekit-*"))  # the private directory is gone
    assert not [ln for ln in Path("/proc/self/mounts").read_text().splitlines() if str(arm64.root) in ln]


def test_the_user_namespace_command_runs_the_root(arm64):
    """The command a non-root user gets, run for real (as root here the namespace maps root to root, but the
    flags, the chroot and the runtime inside are the same)."""
    from edgekit.builder.arm64root import root_env

    if user_namespaces_problem() is not None:
        pytest.skip(f"no user namespaces here: {user_namespaces_problem()}")
    code = "import os, platform, onnxruntime; print(os.getuid(), platform.machine(), onnxruntime.__version__)"
    out = subprocess.run(root_command(arm64.root, ["/venv/bin/python", "-I", "-c", code], euid=1000),
                         capture_output=True, text=True, env=root_env("cortex-a76"), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    uid, machine, version = out.stdout.split()[-3:]
    assert (uid, machine, version) == ("0", "aarch64", PINS[0].split("==")[1])
