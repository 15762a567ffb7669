"""Verification per platform: the verdicts combined, what the manifest says, a disagreement failing the build.

The logic runs everywhere, on real artifacts and real onnxruntime outputs: two real models stand for two
platforms that disagree. The tests marked ``arm64`` need the emulated root (``edgekit toolchain install arm64``,
as root) and skip, saying so, where it is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from edgekit.builder import verify
from edgekit.builder.arm64root import root_command, root_env
from edgekit.builder.data import input_specs, load_samples
from edgekit.builder.pipeline import build_model
from edgekit.builder.platforms import PlatformPlan, combine, parse_verify_on
from edgekit.errors import ConfigError
from edgekit.targets import Tolerances

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
STRICT = Tolerances(max_accuracy_drop_pts=0.0, min_top1_agreement=1.0, min_cosine=0.99999, min_snr_db=60.0)


@pytest.fixture(scope="module")
def two_runs(features_cnn, tmp_path_factory):
    """Real outputs of two real artifacts of one model (its int8 build and the fp32 original), as two platforms
    that disagree would give them."""
    model, calib, ev = features_cnn
    targets = tmp_path_factory.mktemp("targets")
    from buildkit import write_profile

    write_profile(targets, "test-pi")
    r = build_model(model, "test-pi", precision="int8", calibration=calib, eval_data=ev,
                    out_dir=tmp_path_factory.mktemp("out"), targets_dir=targets, cache_dir=None,
                    verify_on=PlatformPlan(("host",)))
    samples = load_samples(ev, input_specs(onnx.load(str(model))), role="eval")
    cfg = verify.VerifyConfig(STRICT, "eval", samples.source)
    ref, ref_info = verify.reference(model, samples, cfg)
    int8 = verify.check_on_host(r.output_dir / "features_cnn.onnx", "onnx", samples, ref, ref_info, cfg)
    fp32 = verify.check_on_host(model, "onnx", samples, ref, ref_info, cfg)
    meta = {"runtime": "onnxruntime", "runtime_version": "1.32.0", "emulated": False}
    return {"int8": (int8[0], int8[1], {**meta, "arch": "a"}), "fp32": (fp32[0], fp32[1], {**meta, "arch": "b"}),
            "labels": samples.labels, "manifest": r.manifest}


def test_platforms_that_disagree_fail_the_artifact(two_runs):
    int8, fp32 = two_runs["int8"], two_runs["fp32"]
    assert int8[0].top1_agreement < 1.0  # the two real runs do disagree on some samples
    c = combine({"host": int8, "arm64": fp32}, two_runs["labels"], STRICT, "fail")
    assert not c.passed
    disagree = [f for f in c.failures if "host and arm64 disagree beyond the gate's tolerance" in f]
    assert len(disagree) == 1 and "top-1 agreement" in disagree[0]
    assert set(c.platforms) == {"host", "arm64"} and c.platforms["arm64"]["arch"] == "b"
    cross = c.cross_platform["arm64"]
    assert cross["top1_agreement"] == pytest.approx(int8[0].top1_agreement)  # the fp32 run is the reference itself
    assert c.to_json()["cross_platform"]["against"] == "host"


def test_by_option_the_worst_platform_is_recorded_and_named(two_runs):
    int8, fp32 = two_runs["int8"], two_runs["fp32"]
    notes: list[str] = []
    c = combine({"host": fp32, "arm64": int8}, two_runs["labels"], STRICT, "worst", notes=notes)
    assert c.figures_from == "arm64" and c.accuracy == int8[0].accuracy and c.artifact == fp32[0].artifact
    assert not any("disagree" in f for f in c.failures)  # not a failure by itself
    assert any(f.startswith("on arm64: ") for f in c.failures)  # arm64's own gate still counts
    assert len(notes) == 1 and notes[0].startswith(f"{fp32[0].artifact}: host and arm64 disagree")
    assert notes[0].endswith("the figures recorded are arm64's, the worst platform")


def test_platforms_that_agree_pass_only_if_each_passes(two_runs):
    fp32 = two_runs["fp32"]
    c = combine({"host": fp32, "arm64": fp32}, two_runs["labels"], STRICT, "fail")
    assert c.passed and c.cross_platform["arm64"]["max_abs_difference"] == 0.0
    # the host passes, arm64 fails its own gate: the artifact fails, saying where
    c = combine({"host": fp32, "arm64": two_runs["int8"]}, two_runs["labels"], STRICT, "worst")
    assert fp32[0].passed and not c.passed and all(f.startswith("on arm64: ") for f in c.failures)


def test_host_only_manifest_says_so(two_runs):
    m = two_runs["manifest"]
    v = m["verification"]
    assert [p["name"] for p in v["platforms"]] == ["host"]
    assert v["platforms_note"] == "verified on the host only (--verify-on host)"
    check = v["artifacts"]["features_cnn.onnx"]
    assert list(check["platforms"]) == ["host"] and check["cross_platform"] is None
    assert check["platforms"]["host"]["runtime"] == "onnxruntime" and check["figures_from"] == "host"


def test_not_installed_means_host_only_and_asking_for_it_is_an_error(tmp_path):
    plan = PlatformPlan(toolchain_dir=tmp_path)
    from edgekit.targets import load_target

    d = plan.describe(load_target("rpi5"))
    assert d["platforms_note"].startswith("verified on the host only: the arm64 runtime is not installed")
    assert "edgekit toolchain install arm64" in d["platforms_note"]
    with pytest.raises(ConfigError, match="--verify-on arm64: the arm64 runtime is not installed"):
        PlatformPlan(("host", "arm64"), toolchain_dir=tmp_path)
    assert parse_verify_on("host, arm64") == ("host", "arm64") and parse_verify_on(None) is None
    with pytest.raises(ConfigError, match="include host"):
        parse_verify_on("arm64")
    with pytest.raises(ConfigError, match="unknown platform pi"):
        parse_verify_on("host,pi")


def test_cli_refuses_an_arm64_that_is_not_there(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "EDGEKIT_TOOLCHAIN_DIR": str(tmp_path / "none")}
    out = subprocess.run([sys.executable, "-m", "edgekit", "build", str(MODELS / "digits_cnn.onnx"), "--target", "rpi5",
                          "--verify-on", "host,arm64", "--out", str(tmp_path / "out"), "--no-cache"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1].startswith("edgekit: error: --verify-on arm64: the arm64 runtime "
                                                          "is not installed")
    assert not (tmp_path / "out").exists()


def _requiring_profile(tmp_path) -> Path:
    from buildkit import write_profile

    d = tmp_path / "targets"
    d.mkdir()
    write_profile(d, "test-pi-arm", extra='verify_requires = ["arm64"]', formats='["onnx"]')
    return d


def test_a_profile_that_requires_arm64_is_not_built_without_it(tmp_path):
    targets = _requiring_profile(tmp_path)
    for plan, fix in ((PlatformPlan(toolchain_dir=tmp_path / "none"), "edgekit toolchain install arm64"),
                      (PlatformPlan(("host",)), "drop --verify-on host")):
        with pytest.raises(ConfigError) as err:
            build_model(MODELS / "digits_cnn.onnx", "test-pi-arm", precision="fp32", out_dir=tmp_path / "out",
                        targets_dir=targets, cache_dir=None, verify_on=plan)
        msg = str(err.value)
        assert msg.startswith("test-pi-arm must be verified in its own runtime (arm64") and fix in msg, msg
        assert "\n" not in msg
    assert not (tmp_path / "out").exists()
    from buildkit import write_profile

    from edgekit.targets import load_target_file

    bad = write_profile(targets, "test-x86-arm", extra='verify_requires = ["arm64"]')
    bad.write_text(bad.read_text().replace('arch = "aarch64"', 'arch = "x86_64"'))
    with pytest.raises(ConfigError, match="verify_requires"):  # an x86 profile cannot ask for the ARM runtime
        load_target_file(bad)


# --- with the emulated root -----------------------------------------------------------------

INDEPENDENT = r'''
import json, sys
import numpy as np
import onnxruntime as ort
work = sys.argv[1]
ev = np.load(work + "/eval.npz")
x, labels = ev["input"], ev["labels"]
def logits(path):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": x[i:i + 64]})[0] for i in range(0, len(x), 64)])
ort_out, ref = logits(work + "/shipped.ort"), logits(work + "/original.onnx")
print(json.dumps({"accuracy": float(np.mean(ort_out.argmax(1) == labels)),
                  "accuracy_fp32": float(np.mean(ref.argmax(1) == labels)),
                  "top1_agreement": float(np.mean(ort_out.argmax(1) == ref.argmax(1)))}))
'''


@pytest.mark.slow
def test_a_profile_that_requires_arm64_builds_where_it_is_installed(arm64, tmp_path):
    r = build_model(MODELS / "digits_cnn.onnx", "test-pi-arm", precision="fp32", out_dir=tmp_path / "out",
                    targets_dir=_requiring_profile(tmp_path), cache_dir=None,
                    eval_data=MODELS / "digits_eval.npz")
    assert [p["name"] for p in r.manifest["verification"]["platforms"]] == ["host", "arm64"]


def test_digits_for_rpi5_arm64_figures_equal_an_independent_run(arm64, tmp_path):
    r = build_model(MODELS / "digits_cnn.onnx", "rpi5", calibration=MODELS / "digits_calib.npz",
                    eval_data=MODELS / "digits_eval.npz", out_dir=tmp_path / "out", cache_dir=None)
    v = r.manifest["verification"]
    assert [p["name"] for p in v["platforms"]] == ["host", "arm64"] and "on host and arm64 (emulated)" in r.summary
    arm = v["artifacts"]["digits_cnn.ort"]["platforms"]["arm64"]
    assert arm["arch"] == "aarch64" and arm["emulated"] and arm["qemu_cpu"] == "cortex-a76"
    with arm64.private_dir() as (host_dir, root_dir):
        (host_dir / "shipped.ort").write_bytes((r.output_dir / "digits_cnn.ort").read_bytes())
        (host_dir / "original.onnx").write_bytes((MODELS / "digits_cnn.onnx").read_bytes())
        (host_dir / "eval.npz").write_bytes((MODELS / "digits_eval.npz").read_bytes())
        (host_dir / "check.py").write_text(INDEPENDENT)
        out = subprocess.run(root_command(arm64.root, ["/venv/bin/python", f"{root_dir}/check.py", root_dir]),
                             capture_output=True, text=True, env=root_env("cortex-a76"), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    independent = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("accuracy", "accuracy_fp32", "top1_agreement"):
        assert arm[key] == pytest.approx(independent[key], abs=1e-6), key


@pytest.mark.slow
def test_sigterm_during_the_arm64_run_leaves_nothing(arm64, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    before = set((arm64.root / "tmp").glob("edgekit-*"))
    proc = subprocess.Popen([sys.executable, "-m", "edgekit", "build", str(MODELS / "digits_cnn.onnx"), "--target",
                             "rpi5", "--precision", "fp32", "--eval", str(MODELS / "digits_eval.npz"), "--out",
                             str(tmp_path / "out"), "--no-cache", "--verify-on", "host,arm64"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (set((arm64.root / "tmp").glob("edgekit-*")) - before):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    assert set((arm64.root / "tmp").glob("edgekit-*")) - before, "the build never reached the arm64 run"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "stopped by SIGTERM" in err.decode()
    assert set((arm64.root / "tmp").glob("edgekit-*")) == before
    assert not (tmp_path / "out").exists()
    assert not [ln for ln in Path("/proc/self/mounts").read_text().splitlines() if str(arm64.root) in ln]


@pytest.mark.slow
def test_fp16_on_arm64_disagrees_with_the_host_and_fails_the_build(arm64, tmp_path):
    """A real disagreement: onnxruntime for aarch64 runs the fp16 model in fp16 kernels on a Cortex-A76 (fp16
    arithmetic), the x86 host in fp32; gated on SNR without labels, arm64 falls below a bar the host clears."""
    import numpy as np

    from edgekit.errors import BuildError

    np.savez(tmp_path / "eval.npz", input=np.load(MODELS / "digits_eval.npz")["input"])
    with pytest.raises(BuildError) as err:
        build_model(MODELS / "digits_cnn.onnx", "rpi5", precision="fp16", eval_data=tmp_path / "eval.npz",
                    tolerances={"min_snr_db": 60.0}, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    text = str(err.value)
    assert "digits_cnn.onnx: on arm64: SNR" in text and "host and arm64 disagree beyond the gate's tolerance" in text
    assert not (tmp_path / "out").exists()
    r = build_model(MODELS / "digits_cnn.onnx", "rpi5", precision="fp16", eval_data=tmp_path / "eval.npz",
                    out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")  # the target's own 20 dB: both pass
    plat = r.manifest["verification"]["artifacts"]["digits_cnn.onnx"]["platforms"]
    assert plat["arm64"]["snr_db"] < plat["host"]["snr_db"] - 5  # measured here: 56.7 against 72.5 dB
