"""The accuracy gate does not depend on this host's int8 instructions.

x86 CPUs without VNNI (AVX2 only) saturate in onnxruntime's u8s8 int8 kernels; ARM devices do not. The
gate must give the same figures on both kinds of x86 host. This test builds the bundled digits CNN as int8
for rpi5, then verifies its artifacts twice: natively, and under ``qemu-x86_64 -cpu Haswell`` — a real
AVX2 CPU without VNNI, emulated — and checks that the emulated CPU really saturates (so the test exercises
that path) and that both runs give the same gate figures.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.builder import build_model
from edgekit.runtime.ort import int8_kernels

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
QEMU = shutil.which("qemu-x86_64-static") or shutil.which("qemu-x86_64")

CHECK = r'''
import json, sys
from pathlib import Path
import numpy as np
from edgekit.builder import verify
from edgekit.builder.data import input_specs, load_samples
from edgekit.runtime.ort import int8_kernels
from edgekit.targets import Tolerances
import onnx

out, original, eval_npz = map(Path, sys.argv[1:4])
specs = input_specs(onnx.load(str(original)))
samples = load_samples(eval_npz, specs, role="eval").head(200)
cfg = verify.VerifyConfig(Tolerances(), "eval", "x")
ref, info = verify.reference(original, samples, cfg)
onnx_art = out / "digits_cnn.onnx"
res = {"kernels": int8_kernels(), "checks": {}}
for name in ("digits_cnn.onnx", "digits_cnn.ort"):
    c = verify.check_artifact(out / name, name.rsplit(".", 1)[1], samples, ref, info, cfg,
                              int8_source=onnx_art if name.endswith(".ort") else None)
    res["checks"][name] = {"passed": c.passed, "accuracy": c.accuracy, "max_abs_error": c.max_abs_error,
                           "top1_agreement": c.top1_agreement, "snr_db": c.snr_db}
print(json.dumps(res))
'''


def _run(prefix: list[str], script: Path, out: Path) -> dict:
    proc = subprocess.run([*prefix, sys.executable, str(script), str(out), str(MODELS / "digits_cnn.onnx"),
                           str(MODELS / "digits_eval.npz")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_probe_reads_this_hosts_kernels():
    k = int8_kernels()
    assert set(k) == {"exact", "detail"} and isinstance(k["exact"], bool)
    if platform.machine() not in ("x86_64", "AMD64"):
        assert k["exact"]  # ARM and others accumulate int8 products in 32 bits


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64" or QEMU is None,
                    reason="needs an x86_64 host with qemu-user (apt-get install qemu-user-static)")
def test_gate_figures_are_the_same_on_an_avx2_cpu_without_vnni(tmp_path):
    result = build_model(MODELS / "digits_cnn.onnx", "rpi5", precision="int8",
                         calibration=MODELS / "digits_calib.npz", eval_data=MODELS / "digits_eval.npz",
                         out_dir=tmp_path / "out", cache_dir=None)
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    native = _run([], script, result.output_dir)
    avx2 = _run([QEMU, "-cpu", "Haswell"], script, result.output_dir)
    # the emulated Haswell's u8s8 kernels saturate: without the exact path the .ort scores worse there
    assert avx2["kernels"]["exact"] is False
    for name, want in native["checks"].items():
        got = avx2["checks"][name]
        assert got["passed"] == want["passed"] is True, (name, got, want)
        assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-9), name
        assert got["top1_agreement"] == pytest.approx(want["top1_agreement"], abs=1e-9), name
        assert got["max_abs_error"] == pytest.approx(want["max_abs_error"], rel=1e-3, abs=1e-4), name
