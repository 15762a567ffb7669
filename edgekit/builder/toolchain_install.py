"""Installing the onnx2tf toolchain: ``edgekit toolchain install tflite``.

:func:`install_tflite` creates the virtual environment described in
:mod:`edgekit.builder.toolchain`, pip-installs the pinned packages, checks the
result by converting a tiny model to TFLite and comparing it with onnxruntime
(:func:`_self_check`, which uses :mod:`edgekit.builder.tflite`), and only then
writes the marker file that :func:`~edgekit.builder.toolchain.find_toolchain` trusts.
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

from edgekit.builder.toolchain import (ENV_NAME, INSTALL_HINT, MARKER_NAME, MARKER_SCHEMA, PINS, Toolchain, env_dir,
                                       installed_versions, venv_python, clean_env, find_toolchain, locked)
from edgekit.errors import BuildError

#: tensorflow 2.19 ships wheels for CPython 3.9-3.12 only.
SUPPORTED_PYTHONS = ((3, 10), (3, 11), (3, 12))


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def _choose_python(python: str | os.PathLike | None) -> str:
    supported = ", ".join(f"{a}.{b}" for a, b in SUPPORTED_PYTHONS)
    if python is not None:
        ver = _python_version(str(python))
        if ver is None:
            raise BuildError(f"cannot run {python}; pass --python with a working Python {supported}")
        if ver not in SUPPORTED_PYTHONS:
            raise BuildError(f"{python} is Python {ver[0]}.{ver[1]}; tensorflow 2.19 (onnx2tf) needs "
                             f"Python {supported}: pass one of those")
        return str(python)
    if sys.version_info[:2] in SUPPORTED_PYTHONS:
        return sys.executable
    for major, minor in reversed(SUPPORTED_PYTHONS):
        found = shutil.which(f"python{major}.{minor}")
        if found:
            return found
    raise BuildError(f"no Python {supported} found for the onnx2tf environment (this is Python "
                     f"{sys.version_info[0]}.{sys.version_info[1]}); install one and pass it with --python")


def _run_logged(cmd: list[str], log, on_line: Callable[[str], None] | None, env=None) -> int:
    """Run ``cmd``, copy its output to ``log`` and hand each line to ``on_line``."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        if on_line:
            on_line(line.rstrip("\n"))
    rc = proc.wait()
    log.flush()
    return rc


def _last_error(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("ERROR:"):
            return ln[len("ERROR:"):].strip()
    for ln in reversed(lines):
        if not ln.startswith("$ ") and "Error" in ln.split(":")[0]:
            return ln
    return lines[-1] if lines else "no output"


def install_tflite(dir: Path | None = None, *, python: str | os.PathLike | None = None,
                   on_step: Callable[[str], None] | None = None,
                   on_line: Callable[[str], None] | None = None) -> Toolchain:
    """Create (or reuse) the onnx2tf environment under ``dir`` and return it.

    Quick when a checked environment is already there. Otherwise: create the virtual
    environment, pip-install ``PINS``, convert a tiny model with it and compare the
    result with onnxruntime; only then write the marker file. A failure removes the
    environment (nothing half-installed stays behind) and raises ``BuildError``
    naming the log file. ``on_step`` gets a short phrase per phase, ``on_line`` every
    line the installer prints (for progress displays).
    """
    step = on_step or (lambda _msg: None)
    found = find_toolchain(dir)
    if found is not None:
        return found
    env = env_dir(dir)
    with locked(env.parent, ENV_NAME):
        found = find_toolchain(dir)  # another process may have finished it meanwhile
        if found is not None:
            return found
        base_python = _choose_python(python)
        (env / MARKER_NAME).unlink(missing_ok=True)
        log_path = env.parent / f"{ENV_NAME}-install.log"
        started = time.monotonic()
        try:
            with open(log_path, "w") as log:
                if env.exists() and not _healthy_python(env):
                    shutil.rmtree(env)
                step(f"creating virtual environment {env}")
                rc = _run_logged([base_python, "-m", "venv", str(env)], log, on_line, env=clean_env())
                if rc != 0:
                    raise BuildError(f"creating {env} failed ({_last_error(log_path)}); see {log_path}")
                step(f"installing {PINS[0]} and its pinned dependencies (about 2.6 GB)")
                pip = [str(venv_python(env)), "-m", "pip", "install", "--disable-pip-version-check",
                       "--no-input", "--progress-bar", "off", *PINS]
                rc = _run_logged(pip, log, on_line, env=clean_env())
                if rc != 0:
                    raise BuildError(f"installing onnx2tf failed: {_last_error(log_path)}; see {log_path}")
                chain = Toolchain(root=env, python=venv_python(env), versions=installed_versions(env))
                step("checking the environment by converting a tiny model")
                _self_check(chain)
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
        marker = {
            "schema": MARKER_SCHEMA,
            "pins": list(PINS),
            "versions": chain.versions,
            "base_python": base_python,
            "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "install_s": round(time.monotonic() - started, 1),
        }
        tmp = env / f".{MARKER_NAME}.tmp"
        tmp.write_text(json.dumps(marker, indent=2) + "\n")
        os.replace(tmp, env / MARKER_NAME)
    found = find_toolchain(dir)
    if found is None:  # the marker we just wrote does not match what is installed
        raise BuildError(f"the onnx2tf environment in {env} does not match the pinned versions; "
                         f"remove {env} and {INSTALL_HINT} again")
    return found


def _healthy_python(env: Path) -> bool:
    try:
        return subprocess.run([str(venv_python(env)), "-c", "pass"], capture_output=True,
                              timeout=60, env=clean_env()).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _self_check(chain: Toolchain) -> None:
    """Convert a tiny 3-channel CNN to fp32 TFLite and compare it with onnxruntime.

    Three channels on purpose: that is the input for which onnx2tf would fetch its sample
    file from the internet, so the check also proves the offline workaround."""
    import numpy as np
    import onnx

    from edgekit.builder.tflite import adapt_feeds, adapt_outputs, convert_tflite  # onnx, numpy: on first use
    from edgekit.runtime.litert import LiteRtSession
    from edgekit.runtime.ort import OrtSession

    with tempfile.TemporaryDirectory(prefix="edgekit-selfcheck-") as tmp:
        tmp_path = Path(tmp)
        model = tmp_path / "selfcheck.onnx"
        onnx.save(tiny_cnn(channels=3, size=16), model)
        out = convert_tflite(model, tmp_path / "out", precision="fp32", toolchain=chain)
        x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32)
        ref = OrtSession(model).run({"input": x})[0]
        lite = LiteRtSession(out)
        got = adapt_outputs(lite, lite.run(adapt_feeds(lite, {"input": x})))[0]
        err = float(np.max(np.abs(ref - got)))
        if not err < 1e-4:
            raise BuildError(f"the onnx2tf self-check converted a model whose output differs from "
                             f"onnxruntime by {err:.3g}; the environment is not usable")


def tiny_cnn(*, channels: int = 3, size: int = 16, classes: int = 4, seed: int = 0):
    """A small Conv-Relu-Conv-GlobalAveragePool-Gemm model with fixed random weights
    (input ``input`` [N, channels, size, size], output ``logits`` [N, classes])."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.5):
        return numpy_helper.from_array(rng.normal(0, scale, shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [init("w1", 8, channels, 3, 3), init("b1", 8, scale=0.1), init("w2", 8, 8, 3, 3, scale=0.2),
         init("b2", 8, scale=0.1), init("w3", classes, 8), init("b3", classes, scale=0.1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgekit")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
