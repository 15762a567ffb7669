"""The build pipeline: load → optimize → precision → convert → verify → package.

``build_model`` is the Python API (the ``edgekit build`` command and the demo call it). Every pass has a
small validated config dataclass and is cached by (pass name, config, input model hash, target name).
``precision='auto'`` tries the target's preferred precisions in order and ships the first that passes the
accuracy gate. A failed int8 gate ranks the nodes that hurt most (``qdq_debug``) and retries with them left
in float, for a bounded number of rounds; the excluded nodes are reported.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from pydantic import ValidationError

from edgekit.builder import convert, load, optimize, qdq_debug, quantize, tflite, verify
from edgekit.builder.cache import PassCache, check_cache_dir, default_cache_dir
from edgekit.builder.data import SampleSet, check_generatable, generated_samples, input_specs, load_samples
from edgekit.builder.manifest import BuildFacts, assemble_manifest, summary_line
from edgekit.builder.package import Artifact, check_out_dir, write_output
from edgekit.builder.progress import Progress, SilentProgress
from edgekit.builder.runner import Pass, PassRunner
from edgekit.runtime.ort import runtime_reason
from edgekit.errors import BuildError, ConfigError, EdgekitError, ModelError
from edgekit.targets import Target, Tolerances, load_target

PRECISION_CHOICES = ("auto", "fp32", "fp16", "int8")
MAX_CALIBRATION_SAMPLES = 256
VERIFY_SAMPLES_WITHOUT_EVAL = 64
DEBUG_SAMPLES = 32
RELATIVE_ERROR_SHARE = 0.1   # exclude a node group only if it adds >= 10% of the worst group's error
_KEEP_CACHE = object()


@dataclass
class BuildResult:
    output_dir: Path
    manifest: dict
    summary: str
    warnings: list[str] = field(default_factory=list)
    cache_hits: list[str] = field(default_factory=list)

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    def to_json(self) -> dict:
        m = self.manifest
        return {
            "ok": True, "output_dir": str(self.output_dir), "model": m["model"]["name"],
            "target": m["target"]["name"], "precision": m["precision"], "summary": self.summary,
            "artifacts": m["artifacts"], "verification": m["verification"],
            "nodes_excluded": m.get("quantization", {}).get("nodes_excluded", []),
            "attempts": m["attempts"], "warnings": self.warnings, "cache_hits": self.cache_hits,
        }


@dataclass
class Attempt:
    precision: str
    passed: bool
    model: Path | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    checks: list[verify.ArtifactCheck] = field(default_factory=list)
    quantization: dict = field(default_factory=dict)
    tflite: dict | None = None
    conversion: dict = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict:
        return {"precision": self.precision, "passed": self.passed, "reason": self.reason or "passed",
                "exclusion_rounds": self.rounds}


def _tolerances(target: Target, overrides: dict | None) -> Tolerances:
    data = target.tolerances.model_dump()
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Tolerances.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"tolerance {first['loc'][0]}: {first['msg']}; fix the override") from None


def _candidates(target: Target, precision: str) -> list[str]:
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if precision == "auto":
        return list(target.preferred_precisions)
    if precision not in target.precisions:
        raise ConfigError(
            f"{target.name} does not support {precision}; use one of {', '.join(target.precisions)} or auto"
        )
    return [precision]


def _samples_hash(samples: SampleSet | None) -> str | None:
    if samples is None:
        return None
    h = hashlib.sha256(samples.source.encode())
    for name in sorted(samples.arrays):
        a = np.ascontiguousarray(samples.arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class _Build:
    """State of one build: target, data, runner and the fp32 reference."""

    def __init__(self, model_path: Path, target: Target, runner: PassRunner, progress: Progress,
                 tolerances: Tolerances, calibration_method: str, max_exclusion_rounds: int,
                 threads: int | None):
        self.model_path = model_path
        self.stem = model_path.stem
        self.target = target
        self.runner = runner
        self.progress = progress
        self.tolerances = tolerances
        self.calibration_method = calibration_method
        self.max_rounds = max_exclusion_rounds
        self.threads = threads
        self.calib: SampleSet | None = None
        self.eval: SampleSet | None = None
        self.verify_samples: SampleSet | None = None
        self.verify_cfg: verify.VerifyConfig | None = None
        self.reference: list[np.ndarray] = []
        self.reference_info: dict = {}
        self.load_facts: dict = {}
        self.optimize_facts: dict = {}
        self.loaded: Path | None = None
        self.optimized: Path | None = None
        self.notes: list[str] = []

    # --- passes shared by every precision -------------------------------------------------
    def load_and_optimize(self, candidates: list[str], calibration: Path | None, eval_data: Path | None) -> None:
        t = self.target
        first = load.read_model(self.model_path)  # one clear error for missing / non-ONNX / truncated files
        source_opset = next((int(i.version) for i in first.opset_import if i.domain in ("", "ai.onnx")), 0)
        needs_13 = "int8" in candidates and source_opset < load.PER_CHANNEL_MIN_OPSET
        min_opset = load.PER_CHANNEL_MIN_OPSET if needs_13 and t.max_opset >= load.PER_CHANNEL_MIN_OPSET else None
        cfg = load.LoadConfig(t.name, t.max_opset, t.max_ir_version, min_opset)
        out = self.runner.run(
            Pass(load.NAME, cfg,
                 lambda d: ({"model.onnx": d / "model.onnx"}, load.run(self.model_path, d / "model.onnx", cfg, first))),
            [self.model_path], label=f"checking {self.model_path.name}",
            describe=lambda f: f"opset {f['opset']}, IR {f['ir_version']}, {f['constants_moved']} constants moved")
        self.loaded, self.load_facts = out.files["model.onnx"], out.facts
        specs = input_specs(onnx.load(str(self.loaded), load_external_data=False))
        if calibration is not None:
            self.calib = load_samples(Path(calibration), specs, role="calibration")
        if eval_data is not None:
            self.eval = load_samples(Path(eval_data), specs, role="eval")
        ocfg = optimize.OptimizeConfig(t.name, t.max_ir_version)
        out = self.runner.run(
            Pass(optimize.NAME, ocfg,
                 lambda d: ({"model.onnx": d / "model.onnx"}, optimize.run(self.loaded, d / "model.onnx", ocfg))),
            [self.loaded], label="onnxruntime basic graph optimizations (portable)",
            describe=lambda f: f"{f['nodes_before']} → {f['nodes_after']} nodes, level {f['level']}")
        self.optimized, self.optimize_facts = out.files["model.onnx"], out.facts
        self._prepare_reference(specs)

    def _prepare_reference(self, specs) -> None:
        if self.eval is not None:
            samples, kind = self.eval, "eval"
        elif self.calib is not None:
            samples, kind = self.calib.head(VERIFY_SAMPLES_WITHOUT_EVAL), "calibration"
        else:
            check_generatable(specs, self.model_path.name, "the accuracy gate")
            samples, kind = generated_samples(specs, 16), "generated"
        self.verify_samples = samples
        self.verify_cfg = verify.VerifyConfig(self.tolerances, kind, samples.source, self.threads)
        self.progress.start("reference", f"fp32 original on {samples.count} {kind} samples")
        try:
            self.reference, self.reference_info = verify.reference(self.model_path, samples, self.verify_cfg)
        except ModelError:
            # the host runtime cannot load the file as given (e.g. an IR it does not know): use the checked copy
            self.reference, self.reference_info = verify.reference(self.loaded, samples, self.verify_cfg)
            self.notes.append("fp32 reference run from the checked copy: onnxruntime here cannot load the original")
        except Exception as exc:
            if isinstance(exc, EdgekitError):
                raise
            raise ModelError(f"{self.model_path}: running the fp32 model on the {kind} data fails: "
                             f"{runtime_reason(exc)}; check that the data fits what the model expects") from None
        self.progress.done("reference", f"fp32 outputs of {samples.count} {kind} samples")

    def facts(self, att: Attempt, attempts: list[Attempt]) -> BuildFacts:
        """What the manifest records of this build, shipping ``att``."""
        return BuildFacts(
            stem=self.stem, model_path=self.model_path, model_sha256=self.runner.file_hash(self.model_path),
            target=self.target, load_facts=self.load_facts, optimize_facts=self.optimize_facts,
            verification=verify.describe(self.verify_cfg, self.verify_samples, self.reference_info),
            notes=self.notes, precision=att.precision, model=att.model, artifacts=att.artifacts, checks=att.checks,
            passed=att.passed, quantization=att.quantization, tflite=att.tflite, conversion=att.conversion,
            attempts=[a.to_json() for a in attempts])

    # --- one precision --------------------------------------------------------------------
    def attempt(self, precision: str) -> Attempt:
        if precision == "fp32":
            att = Attempt("fp32", False, self.optimized, quantization={"precision": "fp32"})
            self._convert_and_verify(att)
            return att
        if precision == "fp16":
            qcfg = quantize.QuantizeConfig(self.target.name, self.target.max_ir_version, "fp16")
            q = self._quantize(qcfg, None)
            att = Attempt("fp16", False, q.files["model.onnx"], quantization=q.facts)
            self._convert_and_verify(att)
            return att
        return self._attempt_int8()

    def _calibration_samples(self) -> SampleSet:
        if self.calib is not None:
            return self.calib.head(MAX_CALIBRATION_SAMPLES)
        specs = input_specs(onnx.load(str(self.optimized), load_external_data=False))
        check_generatable(specs, self.model_path.name, "int8 calibration")
        self.progress.warn("int8 calibrated on generated random inputs (no --calibration data): "
                           "activation ranges may not match real data")
        return generated_samples(specs, 32)

    def _quantize(self, qcfg: quantize.QuantizeConfig, samples: SampleSet | None):
        what = qcfg.precision if qcfg.precision == "fp16" else f"int8 {qcfg.int8_mode}"
        if qcfg.nodes_to_exclude:
            what += f", {len(qcfg.nodes_to_exclude)} nodes kept in float"
        return self.runner.run(
            Pass(quantize.NAME, qcfg, lambda d: ({"model.onnx": d / "model.onnx"},
                                                 quantize.run(self.optimized, d / "model.onnx", qcfg, samples))),
            [self.optimized], label=what, describe=lambda f: f.get("method", ""))

    def _attempt_int8(self) -> Attempt:
        mode = quantize.choose_int8_mode(onnx.load(str(self.optimized), load_external_data=False))
        samples = self._calibration_samples() if mode == "static" else None
        per_channel = self.load_facts["opset"] >= load.PER_CHANNEL_MIN_OPSET
        if not per_channel:
            self.notes.append(f"per-tensor int8: {self.target.name} loads at most opset {self.target.max_opset} "
                              f"and per-channel QDQ needs opset 13")
        excluded: list[str] = []
        rounds: list[dict] = []
        last_reason = "int8 quantization left no node in int8"
        while True:
            qcfg = quantize.QuantizeConfig(
                self.target.name, self.target.max_ir_version, "int8", int8_mode=mode,
                calibration_method=self.calibration_method, per_channel=per_channel,
                nodes_to_exclude=tuple(excluded), calibration_hash=_samples_hash(samples))
            q = self._quantize(qcfg, samples)
            att = Attempt("int8", False, q.files["model.onnx"], quantization=dict(q.facts))
            att.rounds = rounds
            if not q.facts.get("quantized_ops"):
                att.reason = f"{last_reason}; keeping more nodes in float leaves no node in int8"
                return att
            self._convert_and_verify(att, calibration=samples)
            last_reason = att.reason
            if att.passed or mode != "static" or len(rounds) >= self.max_rounds:
                return att
            worst = self._rank(att.model, samples, excluded)
            if not worst:
                att.reason += "; no quantized node left to exclude"
                return att
            take = 2 ** len(rounds)  # 1, 2, 4 ... node groups, among those adding a real share of the error
            chosen = [d for d in worst[:take] if d.added_error >= RELATIVE_ERROR_SHARE * worst[0].added_error]
            new = list(dict.fromkeys(n for d in chosen for n in d.nodes if n not in excluded))
            rounds.append({"round": len(rounds) + 1, "failed_because": att.reason, "excluded_now": new,
                           "ranking": [d.to_json() for d in worst[:max(take, 5)]]})
            excluded.extend(new)
            self.progress.warn(f"int8 failed the gate ({att.reason}); retrying with {', '.join(new)} kept in float")

    def _rank(self, qdq_model: Path, samples: SampleSet, excluded: list[str]) -> list[qdq_debug.NodeDamage]:
        self.progress.start("qdq-debug", "comparing float and QDQ activations to find the nodes that hurt most")
        ranked = qdq_debug.rank_nodes(self.optimized, qdq_model, samples.head(DEBUG_SAMPLES))
        ranked = [d for d in ranked if d.added_error > 0 and not set(d.nodes) <= set(excluded)]
        self.progress.done("qdq-debug", ", ".join(f"{'+'.join(d.nodes)} (+{d.added_error:.3f})" for d in ranked[:3])
                           or "no node adds error")
        return ranked

    # --- convert + verify -----------------------------------------------------------------
    def _convert_and_verify(self, att: Attempt, *, calibration: SampleSet | None = None) -> None:
        t = self.target
        arts: list[Artifact] = []
        if "onnx" in t.formats or t.family == "jetson" or not ({"ort", "tflite"} & set(t.formats)):
            arts.append(Artifact(f"{self.stem}.onnx", att.model, "onnx", att.precision))
        if "ort" in t.formats:
            style = "Runtime" if {"NnapiExecutionProvider", "CoreMLExecutionProvider"} & set(t.execution_providers) \
                else "Fixed"
            ocfg = convert.OrtFormatConfig(t.name, optimization_style=style, target_platform="arm")
            src = att.model
            out = self.runner.run(
                Pass(convert.NAME, ocfg, lambda d: self._ort_files(src, d, ocfg)), [src],
                label=f"ORT format ({style}, arm)", describe=lambda f: f.get("command", ""))
            att.conversion["convert-ort"] = out.facts
            arts.append(Artifact(f"{self.stem}.ort", out.files["model.ort"], "ort", att.precision))
            arts.append(Artifact("required_operators.config", out.files["required_operators.config"],
                                 "ort-ops-config", None))
        if "tflite" in t.formats:
            att.tflite = self._tflite(att, calibration, arts)
        att.artifacts = arts
        for a in arts:
            if a.format not in ("onnx", "ort", "tflite"):
                continue
            self.progress.start("verify", f"{a.name} vs fp32 on {self.verify_samples.count} samples")
            try:
                check = verify.check_artifact(
                    a.source, a.format, self.verify_samples, self.reference, self.reference_info, self.verify_cfg,
                    int8_source=att.model if a.format == "ort" and att.precision == "int8" else None)
            except EdgekitError as exc:
                raise type(exc)(f"{att.precision} {_named(exc, a.source, a.name)}") from None
            check.artifact = a.name
            att.checks.append(check)
            self.progress.done("verify", f"{a.name}: {_check_text(check)}")
        failed = [c for c in att.checks if not c.passed]
        att.passed = not failed
        att.reason = "; ".join(f"{c.artifact}: {c.reason()}" for c in failed)

    @staticmethod
    def _ort_files(src: Path, d: Path, ocfg) -> tuple[dict, dict]:
        res = convert.to_ort(src, d, ocfg)
        return ({"model.ort": res["ort"], "required_operators.config": res["ops_config"]},
                {"command": res["command"], "optimization_style": ocfg.optimization_style,
                 "target_platform": ocfg.target_platform})

    def _tflite(self, att: Attempt, calibration: SampleSet | None, arts: list[Artifact]) -> dict:
        ok, why = convert.tflite_available()
        if not ok:
            self.progress.warn(f"tflite: {why}")
            return {"status": "skipped", "reason": why}
        tfl_prec = att.precision
        calib = None
        if tfl_prec == "int8":
            source = calibration or self.calib or self._calibration_samples()
            calib = {k: v for k, v in source.arrays.items()}
        cfg = tflite.TFLiteConfig(self.target.name, tfl_prec, _samples_hash(calibration or self.calib)
                                  if tfl_prec == "int8" else None)
        try:
            out = self.runner.run(
                tflite.TFLitePass(self.optimized, cfg, calib), [self.optimized],
                label=f"TFLite {tfl_prec} via onnx2tf", describe=lambda f: f"{f['precision']} .tflite")
        except BuildError as exc:
            reason = _named(exc, self.optimized, f"{self.stem} ({tfl_prec})")
            self.progress.warn(f"tflite: conversion failed — {reason}")
            return {"status": "failed", "reason": reason}
        suffix = {"fp32": "float32", "fp16": "float16", "int8": "int8"}[tfl_prec]
        arts.append(Artifact(f"{self.stem}_{suffix}.tflite", out.files["model.tflite"], "tflite", tfl_prec))
        return {"status": "built", "precision": tfl_prec, "toolchain": convert.toolchain_versions()}


def _named(exc: Exception, work_path: Path, name: str) -> str:
    """The error text with the build's temporary file path replaced by the name the user knows."""
    return str(exc).replace(str(work_path), name)


def _check_text(c: verify.ArtifactCheck) -> str:
    mark = "pass" if c.passed else "FAIL"
    if c.accuracy_drop_pts is not None:
        return (f"{mark} — accuracy {c.accuracy_fp32:.4f} → {c.accuracy:.4f} (drop {c.accuracy_drop_pts:.2f} pts), "
                f"agreement {c.top1_agreement:.4f}")
    agree = f", agreement {c.top1_agreement:.4f}" if c.top1_agreement is not None else ""
    return f"{mark} — cosine {c.cosine:.5f}, SNR {c.snr_db:.1f} dB, max |Δ| {c.max_abs_error:.3g}{agree}"


def build_model(
    model_path: str | Path,
    target: str | Target,
    *,
    precision: str = "auto",
    calibration: str | Path | None = None,
    eval_data: str | Path | None = None,
    out_dir: str | Path = "edgekit-out",
    calibration_method: str = "minmax",
    targets_dir: str | Path | None = None,
    tolerances: dict | None = None,
    cache_dir: str | Path | None | object = _KEEP_CACHE,
    max_exclusion_rounds: int = 3,
    threads: int | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build ``model_path`` for ``target`` (a profile name, family alias or Target) into ``out_dir``.

    ``tolerances`` overrides the target's gate thresholds (keys of ``edgekit.targets.Tolerances``).
    ``cache_dir=None`` disables the pass cache (default: ``$XDG_CACHE_HOME/edgekit/build``).
    Raises an :class:`~edgekit.errors.EdgekitError` (one line) on bad input or a failed gate; then
    nothing is written to ``out_dir``.
    """
    model_path = Path(model_path)
    progress = progress or SilentProgress()
    tgt = target if isinstance(target, Target) else load_target(target, Path(targets_dir) if targets_dir else None)
    candidates = _candidates(tgt, precision)
    if calibration_method not in quantize.CALIBRATION_METHODS:
        raise ConfigError(f"unknown calibration method {calibration_method!r}; "
                          f"use one of {', '.join(quantize.CALIBRATION_METHODS)}")
    if not 0 <= max_exclusion_rounds <= 10:
        raise ConfigError(f"{max_exclusion_rounds} int8 exclusion rounds is out of range; "
                          f"pass --exclusion-rounds between 0 and 10")
    tol = _tolerances(tgt, tolerances)
    out_root = check_out_dir(Path(out_dir))
    cache_root = default_cache_dir() if cache_dir is _KEEP_CACHE else cache_dir
    cache = PassCache(check_cache_dir(Path(cache_root)) if cache_root is not None else None)

    with tempfile.TemporaryDirectory(prefix="edgekit-build-") as work:
        runner = PassRunner(cache, Path(work), progress, tgt.name)
        b = _Build(model_path, tgt, runner, progress, tol, calibration_method, max_exclusion_rounds, threads)
        b.load_and_optimize(candidates, Path(calibration) if calibration else None,
                            Path(eval_data) if eval_data else None)
        attempts: list[Attempt] = []
        for prec in candidates:
            att = b.attempt(prec)
            attempts.append(att)
            if att.passed:
                break
            if len(candidates) > 1:
                progress.warn(f"{prec} failed the accuracy gate ({att.reason}); trying the next precision")
        chosen = attempts[-1]
        if not chosen.passed:
            raise BuildError(_failure_line(model_path, tgt, attempts, len(candidates) > 1))
        manifest = assemble_manifest(b.facts(chosen, attempts))
        summary = summary_line(manifest)
        progress.start("package", f"writing {out_root / (model_path.stem + '-' + tgt.name)}")
        final = write_output(out_root, f"{model_path.stem}-{tgt.name}", chosen.artifacts, manifest)
        progress.done("package", f"{final} ({len(chosen.artifacts)} artifacts + manifest.json)")
    return BuildResult(final, manifest, summary, list(getattr(progress, "warnings", [])), runner.cache_hits)


def _failure_line(model_path: Path, tgt: Target, attempts: list[Attempt], auto: bool) -> str:
    parts = []
    for a in attempts:
        excl = a.quantization.get("nodes_excluded") or []
        extra = f" even with {len(excl)} nodes kept in float ({', '.join(excl)})" if excl else ""
        parts.append(f"{a.precision}: {a.reason}{extra}")
    what = "no precision passed" if auto else f"{attempts[0].precision} build fails"
    return (f"{model_path.name} for {tgt.name}: {what} the accuracy gate — {' | '.join(parts)}; "
            f"try representative --calibration data, another --calibration-method or --precision, "
            f"or relax the tolerance flags")
