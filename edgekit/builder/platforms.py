"""Verification per platform: each ARM artifact gated on the host and in the emulated arm64 device.

The host's onnxruntime is not the runtime a Pi runs: int8 kernels differ by CPU (x86 u8s8/u8u8 paths against
ARM's), so a gate passed on the host can hide a failure on the device. With the arm64 root installed
(``edgekit toolchain install arm64``) every artifact of an ARM target also runs in onnxruntime / LiteRT for
aarch64 under qemu, on the same inputs (``edgekit.builder.emulated``), and is gated there against the same
fp32 reference. The artifact passes only if it passes on every platform. The platforms' outputs are also
compared with each other: where they disagree beyond the gate's tolerances the build fails (``disagreement
= "fail"``, the default) or, with ``"worst"``, records the worst platform's figures as the artifact's and
says so in a note naming the model.
"""

from __future__ import annotations

import platform as host_platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgekit.builder import verify
from edgekit.builder.arm64root import INSTALL_HINT, Arm64Root, find_arm64, qemu_cpu
from edgekit.builder.data import SampleSet
from edgekit.errors import ConfigError, EdgekitError
from edgekit.runtime import open_session
from edgekit.targets import Target, Tolerances

PLATFORMS = ("host", "arm64")
DISAGREEMENT = ("fail", "worst")
ARM_ARCHES = ("aarch64", "arm64")
EMULATED_FORMATS = ("onnx", "ort", "tflite")


def parse_verify_on(text: str | None) -> tuple[str, ...] | None:
    """``"host,arm64"`` -> ("host", "arm64"); None (all available) for None or ``"all"``."""
    if text is None or text.strip() == "all":
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown or not names:
        raise ConfigError(f"--verify-on {text!r}: unknown platform {', '.join(unknown) or '(none)'}; "
                          f"use a comma-separated list of {', '.join(PLATFORMS)}, or all")
    if "host" not in names:
        raise ConfigError(f"--verify-on {text!r}: include host (the fp32 reference and the gate run there), "
                          f"e.g. --verify-on host,arm64")
    return names


@dataclass
class PlatformPlan:
    """Where the build verifies: ``verify_on`` None means every platform available here."""

    verify_on: tuple[str, ...] | None = None
    disagreement: str = "fail"
    toolchain_dir: Path | None = None
    arm64: Arm64Root | None = field(default=None, init=False)
    why_not_arm64: str | None = field(default=None, init=False)

    def __post_init__(self):
        if self.disagreement not in DISAGREEMENT:
            raise ConfigError(f"unknown disagreement policy {self.disagreement!r}; use fail or worst")
        self.arm64 = find_arm64(self.toolchain_dir)
        if self.arm64 is None:
            self.why_not_arm64 = f"the arm64 runtime is not installed ({INSTALL_HINT})"
        else:
            from edgekit.builder.arm64_install import missing_prerequisite

            if (problem := missing_prerequisite(install=False)) is not None:
                self.why_not_arm64, self.arm64 = f"the arm64 root is installed but cannot run here: {problem}", None
        if self.verify_on is not None and "arm64" in self.verify_on and self.arm64 is None:
            raise ConfigError(f"--verify-on arm64: {self.why_not_arm64}")

    def platforms_for(self, target: Target) -> list[str]:
        if self.arm64 is None or target.arch.lower() not in ARM_ARCHES:
            return ["host"]
        return ["host", "arm64"] if self.verify_on is None or "arm64" in self.verify_on else ["host"]

    def require(self, target: Target) -> None:
        """A target whose profile lists ``verify_requires`` is not built without those platforms (one line why)."""
        missing = [p for p in target.verify_requires if p not in self.platforms_for(target)]
        if not missing:
            return
        if self.verify_on is not None and "arm64" not in self.verify_on:
            fix = "drop --verify-on host (or pass --verify-on host,arm64)"
        else:
            fix = self.why_not_arm64 or INSTALL_HINT
        raise ConfigError(f"{target.name} must be verified in its own runtime ({', '.join(missing)}, its profile's "
                          f"verify_requires), and it cannot be here: {fix}")

    def describe(self, target: Target) -> dict:
        """The manifest's account of where the artifacts were verified."""
        names = self.platforms_for(target)
        hosts = [{"name": "host", "arch": host_platform.machine(), "emulated": False}]
        if "arm64" in names:
            v = self.arm64.versions
            hosts.append({"name": "arm64", "arch": "aarch64", "emulated": True, "qemu_cpu": qemu_cpu(target.cpu),
                          "root": f"Debian {v.get('debian', '?')}, Python {v.get('python', '?')}",
                          "qemu": v.get("qemu"), "onnxruntime": v.get("onnxruntime"),
                          "ai_edge_litert": v.get("ai-edge-litert")})
            note = (f"verified on host and arm64 (emulated {qemu_cpu(target.cpu)} under qemu-user, the target's own "
                    f"runtime builds for aarch64); every platform must pass; platforms that disagree beyond the "
                    f"tolerances {'fail the build' if self.disagreement == 'fail' else 'record the worst'}")
        elif target.arch.lower() not in ARM_ARCHES:
            note = f"verified on the host only: {target.name} is {target.arch}, not an ARM target"
        elif self.verify_on is not None:
            note = "verified on the host only (--verify-on host)"
        else:
            note = f"verified on the host only: {self.why_not_arm64}"
        return {"platforms": hosts, "platforms_note": note, "platform_disagreement": self.disagreement}


@dataclass(frozen=True)
class _Ran:
    """What ran an artifact elsewhere, for ``verify.compare`` (which asks only these two)."""

    runtime: str
    providers: list[str]


class Verifier:
    """The build's accuracy gate on every platform of ``plan``; notes of a disagreement go to ``notes``."""

    def __init__(self, plan: PlatformPlan, target: Target, notes: list[str]):
        self.plan, self.target, self.notes = plan, target, notes

    def check(self, path: Path, fmt: str, samples: SampleSet, ref: list[np.ndarray], ref_info: dict,
              cfg: verify.VerifyConfig, *, int8_source: Path | None = None) -> verify.ArtifactCheck:
        return check_artifact(self.plan, self.target, path, fmt, samples, ref, ref_info, cfg, int8_source=int8_source,
                              notes=self.notes)

    def describe(self, cfg: verify.VerifyConfig, samples: SampleSet, ref_info: dict) -> dict:
        """The manifest's 'how it was measured' (``verify.describe``) with the platforms."""
        return {**verify.describe(cfg, samples, ref_info), **self.plan.describe(self.target)}


def check_artifact(plan: PlatformPlan, target: Target, path: Path, fmt: str, samples: SampleSet,
                   ref: list[np.ndarray], ref_info: dict, cfg: verify.VerifyConfig, *,
                   int8_source: Path | None = None, notes: list[str] | None = None) -> verify.ArtifactCheck:
    """Gate ``path`` on every platform of ``plan`` and combine the verdicts (module doc)."""
    host, host_out = verify.check_on_host(path, fmt, samples, ref, ref_info, cfg, int8_source=int8_source)
    runs = {"host": (host, host_out, {"runtime": host.runtime, "runtime_version": ref_info["runtime_version"]
                                      if host.runtime == "onnxruntime" else _version(path),
                                      "arch": host_platform.machine(), "emulated": False})}
    if "arm64" in plan.platforms_for(target) and fmt in EMULATED_FORMATS:
        runs["arm64"] = run_arm64(plan.arm64, path, fmt, samples, ref, ref_info, cfg, cpu=qemu_cpu(target.cpu))
    return combine(runs, samples.labels, cfg.tolerances, plan.disagreement, notes=notes)


def _version(path: Path) -> str:
    return open_session(Path(path)).runtime_version


def run_arm64(chain: Arm64Root, path: Path, fmt: str, samples: SampleSet, ref: list[np.ndarray], ref_info: dict,
              cfg: verify.VerifyConfig, *, cpu: str) -> tuple[verify.ArtifactCheck, list[np.ndarray], dict]:
    """Run ``path`` in the emulated root on the chunks this host's session would take; gate the outputs."""
    from edgekit.builder.emulated import run_in_root

    session = open_session(Path(path))  # the host's view of the same file: chunking and post-processing
    is_tflite = fmt == "tflite"
    names = [s.name for s in session.inputs]
    chunks = [[c[n] for n in names] for c in verify.feed_chunks(session, samples, is_tflite)]
    try:
        raw, info = run_in_root(chain, Path(path), fmt, names, chunks, threads=cfg.threads, cpu=cpu)
    except EdgekitError as exc:
        raise type(exc)(f"{Path(path).name} on arm64: {exc}") from None
    got = verify.stack_outputs(verify.postprocess(session, outs, is_tflite, ref_info["output_shapes"]) for outs in raw)
    name = Path(path).name
    check = verify.compare(name, fmt, _Ran(info["runtime"], info["providers"]), ref, got, samples.labels,
                           cfg.tolerances, samples.count)
    check.kernels = (f"{info['runtime']} {info['runtime_version']} for {info['arch']} in the emulated arm64 root "
                     f"(qemu-user, CPU {cpu}, Python {info['python']})")
    return check, got, {"runtime": info["runtime"], "runtime_version": info["runtime_version"], "arch": info["arch"],
                        "emulated": True, "qemu_cpu": cpu}


def combine(runs: dict[str, tuple[verify.ArtifactCheck, list[np.ndarray], dict]], labels: np.ndarray | None,
            tol: Tolerances, disagreement: str = "fail", *, notes: list[str] | None = None) -> verify.ArtifactCheck:
    """One verdict from the platforms' checks: ``runs`` maps a platform (the first is the host) to its check,
    the outputs it judged and what ran it. Every platform must pass; platforms that disagree with the first
    beyond ``tol`` fail the artifact (``"fail"``) or hand it the worst platform's figures (``"worst"``)."""
    (first, (base, base_out, _)), *others = runs.items()
    headline = replace(base, failures=list(base.failures))
    headline.platforms = {p: {**meta, **_figures(c)} for p, (c, _, meta) in runs.items()}
    disagree: list[str] = []
    cross = {}
    for p, (c, out, _) in others:
        headline.failures += [f"on {p}: {f}" for f in c.failures]
        cross[p] = agreement(base_out, out, labels, tol)
        if cross[p]["failures"]:
            disagree.append(f"{first} and {p} disagree beyond the gate's tolerance: {'; '.join(cross[p]['failures'])}")
    headline.cross_platform = {"against": first, **cross} if cross else None
    if disagree and disagreement == "fail":
        headline.failures += disagree
    elif disagree:
        worst = min(runs, key=lambda p: _score(runs[p][0]))
        w = runs[worst][0]
        keep = {"artifact": headline.artifact, "platforms": headline.platforms, "failures": headline.failures,
                "cross_platform": headline.cross_platform}
        headline = replace(w, **keep)
        headline.figures_from = worst
        if notes is not None:
            notes.append(f"{headline.artifact}: {'; '.join(disagree)}; the figures recorded are {worst}'s, "
                         f"the worst platform")
    headline.passed = not headline.failures
    return headline


def _score(c: verify.ArtifactCheck) -> tuple:
    """Lower is worse: accuracy when gated on accuracy, else cosine, then SNR."""
    return (c.accuracy if c.accuracy is not None else c.cosine, c.top1_agreement or 0.0, c.snr_db)


def _figures(c: verify.ArtifactCheck) -> dict:
    d = c.to_json()
    keep = ("cosine", "max_abs_error", "snr_db", "top1_agreement", "accuracy_fp32", "accuracy", "accuracy_drop_pts",
            "gated_on", "kernels", "passed", "failures")
    return {k: d[k] for k in keep}


def agreement(a: list[np.ndarray], b: list[np.ndarray], labels: np.ndarray | None, tol: Tolerances) -> dict:
    """How far two platforms' outputs of one artifact are apart, judged by the gate's own tolerances: with
    labels, accuracy may differ by at most ``max_accuracy_drop_pts`` either way and top-1 must agree on at
    least ``min_top1_agreement``; without, cosine and SNR of one against the other."""
    c = verify.compare("", "", _Ran("", []), a, b, labels, tol, len(labels) if labels is not None else 0)
    out = {"top1_agreement": c.top1_agreement, "cosine": round(c.cosine, 6), "snr_db": round(c.snr_db, 2),
           "max_abs_difference": round(c.max_abs_error, 6) if np.isfinite(c.max_abs_error) else None,
           "accuracy_difference_pts": None, "failures": []}
    if c.accuracy_drop_pts is not None:
        diff = abs(c.accuracy_drop_pts)
        out["accuracy_difference_pts"] = round(diff, 4)
        if diff > tol.max_accuracy_drop_pts + 1e-9:
            out["failures"].append(f"accuracy {c.accuracy_fp32:.4f} vs {c.accuracy:.4f} ({diff:.2f} pts apart "
                                   f"> {tol.max_accuracy_drop_pts:g})")
        if c.top1_agreement < tol.min_top1_agreement:
            n = len(labels)
            out["failures"].append(f"top-1 agreement {c.top1_agreement:.4f} < {tol.min_top1_agreement:g} "
                                   f"({round(c.top1_agreement * n)}/{n} samples agree)")
    else:
        out["failures"] = list(c.failures)
    return out
