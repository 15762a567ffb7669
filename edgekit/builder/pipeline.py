"""The build pipeline: load → optimize → precision → convert → verify → package.

``build_model`` is the Python API (``edgekit build``, the demo). Each pass has a small config dataclass and is
cached by (pass name, config, input hash, target). ``precision='auto'`` ships the first of the target's preferred
precisions that passes the gate (on every platform: ``platforms``); a failed int8 gate retries with nodes kept in
float, for a bounded number of rounds: first the first compute layer on each input (kept only if it helps), then
the nodes that hurt most (``qdq_debug``); every round is reported.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import onnx

from edgekit.builder import (calib_budget, convert, exclusion, int4, load, optimize, platforms, qdq_debug, quantize,
                             sparsity, tflite, verify)
from edgekit.builder.choices import candidates, tolerances_for
from edgekit.builder.cache import PassCache, check_cache_dir, default_cache_dir
from edgekit.builder.data import SampleSet, check_generatable, generated_samples, input_specs, load_samples
from edgekit.builder.outcome import Attempt, BuildResult, check_text, failure_line, named
from edgekit.builder.manifest import BuildFacts, assemble_manifest, summary_line
from edgekit.builder.package import Artifact, check_out_dir, write_output
from edgekit.builder.progress import Progress, SilentProgress
from edgekit.builder.runner import Pass, PassRunner
from edgekit.runtime.ort import runtime_reason
from edgekit.errors import BuildError, ConfigError, EdgekitError, ModelError
from edgekit.targets import Target, Tolerances, load_target

MAX_CALIBRATION_SAMPLES = 256
VERIFY_SAMPLES_WITHOUT_EVAL = 64
DEBUG_SAMPLES = 32
MIN_EVAL_TO_SPLIT = 16              # fewer --eval samples stay whole for the gate (int8 then calibrates on noise)
EVAL_SHARE_FOR_CALIBRATION = 4     # a quarter of --eval (at most MAX_CALIBRATION_SAMPLES) calibrates
_KEEP_CACHE = object()


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
                 threads: int | None, plan: platforms.PlatformPlan | None):
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
        plan = plan or platforms.PlatformPlan()
        plan.require(target)
        self.verifier = platforms.Verifier(plan, target, self.notes)
        self.specs: list = []
        self._calibration: SampleSet | None = None
        self.int4_block_size = int4.DEFAULT_BLOCK_SIZE

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
        self.specs = specs = input_specs(onnx.load(str(self.loaded), load_external_data=False))
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
        if "int8" in candidates and self.calib is None and self.eval is not None:
            self._calibrate_on_held_out_eval()
        self._prepare_reference(specs)

    def _calibrate_on_held_out_eval(self) -> None:
        """Only --eval given and static int8 possible: calibrate on part of it, gate on the rest (disjoint),
        rather than on generated noise; too few samples to split keep the whole set for the gate."""
        mode = quantize.choose_int8_mode(onnx.load(str(self.optimized), load_external_data=False))
        if mode != "static" or self.eval.count < MIN_EVAL_TO_SPLIT:
            return
        take = min(MAX_CALIBRATION_SAMPLES, self.eval.count // EVAL_SHARE_FOR_CALIBRATION)
        self.calib, self.eval = self.eval.split(take)
        self.notes.append(f"int8 calibrated on {self.calib.count} of the --eval samples ({self.calib.source}); "
                          f"the accuracy gate runs on the other {self.eval.count}")
        self.progress.warn(f"no --calibration: int8 calibrates on {self.calib.count} --eval samples, "
                           f"held out of the gate, which runs on the other {self.eval.count}")

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
            verification=self.verifier.describe(self.verify_cfg, self.verify_samples, self.reference_info),
            notes=self.notes, precision=att.precision, model=att.model, artifacts=att.artifacts, checks=att.checks,
            passed=att.passed, quantization=att.quantization, tflite=att.tflite, conversion=att.conversion,
            attempts=[a.to_json() for a in attempts])

    # --- one precision --------------------------------------------------------------------
    def attempt(self, precision: str) -> Attempt:
        if precision == "fp32":
            att = Attempt("fp32", False, self.optimized, quantization={"precision": "fp32"})
            self._convert_and_verify(att)
            return att
        if precision in ("fp16", "int4"):
            q = (int4.run_pass(self.runner, self.optimized, self.target, self.int4_block_size) if precision == "int4"
                 else self._quantize(quantize.QuantizeConfig(self.target.name, self.target.max_ir_version, "fp16"), None))
            att = Attempt(precision, False, q.files["model.onnx"], quantization=q.facts)
            self._convert_and_verify(att)
            return att
        return self._attempt_int8()

    def _calibration_samples(self) -> SampleSet:
        if self._calibration is None:
            self._calibration = self._within_memory(self._wanted_calibration())
        return self._calibration

    def _wanted_calibration(self) -> SampleSet:
        if self.calib is not None:
            return self.calib.head(MAX_CALIBRATION_SAMPLES)
        specs = self.specs  # basic graph optimizations keep the model's inputs
        check_generatable(specs, self.model_path.name, "int8 calibration")
        self.progress.warn("int8 calibrated on generated random inputs (no --calibration data): "
                           "activation ranges may not match real data")
        return generated_samples(specs, 32)

    def _within_memory(self, samples: SampleSet) -> SampleSet:
        """As many calibration samples as onnxruntime's calibrator can hold in memory (measured)."""
        feed = next(samples.batches(max_batch=1))
        try:
            per_sample = calib_budget.activation_bytes(self.optimized, feed)
        except Exception:  # the calibrator will fail on it too, and say so in its own step
            return samples
        step = max(1, len(next(iter(feed.values()))) if not any(samples.per_sample_axis.values()) else 1)
        b = calib_budget.budget(per_sample // step, samples.count, calib_budget.available_bytes())
        note = b.note(samples.count)
        if note is None:
            return samples
        self.notes.append(note)
        self.progress.warn(note)
        return samples.head(b.samples)

    def _quantize(self, qcfg: quantize.QuantizeConfig, samples: SampleSet | None):
        what = qcfg.precision if qcfg.precision == "fp16" else f"int8 {qcfg.int8_mode}"
        if qcfg.nodes_to_exclude:
            n = len(qcfg.nodes_to_exclude)
            what += f", {n} node{'s' if n != 1 else ''} kept in float"
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
        last_reason = "int8 quantization left no node in int8"
        first = quantize.first_layers(onnx.load(str(self.optimized), load_external_data=False)) \
            if mode == "static" else []
        search = exclusion.Search(first, self.max_rounds, lambda model, excl: self._rank(model, samples, excl),
                                  self.progress.warn)
        while True:
            qcfg = quantize.QuantizeConfig(
                self.target.name, self.target.max_ir_version, "int8", int8_mode=mode,
                calibration_method=self.calibration_method, per_channel=per_channel,
                nodes_to_exclude=tuple(search.excluded), calibration_hash=_samples_hash(samples))
            q = self._quantize(qcfg, samples)
            att = Attempt("int8", False, q.files["model.onnx"], quantization=dict(q.facts))
            att.rounds = search.rounds
            if not q.facts.get("quantized_ops"):
                att.reason = f"{last_reason}; keeping more nodes in float leaves no node in int8"
                return att
            self._convert_and_verify(att, calibration=samples)
            last_reason = att.reason
            if att.passed or mode != "static" or not search.again(att):
                search.settle(att)
                return att

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
            out = self._ort(att.model, style)
            att.conversion["convert-ort"] = out.facts
            arts.append(Artifact(f"{self.stem}.ort", out.files["model.ort"], "ort", att.precision))
            arts.append(Artifact("required_operators.config", out.files["required_operators.config"],
                                 "ort-ops-config", None))
        if "tflite" in t.formats:
            att.tflite = self._tflite(att, calibration, arts) if att.precision != "int4" else dict(int4.NO_TFLITE)
        att.artifacts = arts
        for a in arts:
            if a.format not in ("onnx", "ort", "tflite"):
                continue
            self.progress.start("verify", f"{a.name} vs fp32 on {self.verify_samples.count} samples")
            try:
                check = self.verifier.check(
                    a.source, a.format, self.verify_samples, self.reference, self.reference_info, self.verify_cfg,
                    int8_source=att.model if a.format == "ort" and att.precision == "int8" else None)
            except EdgekitError as exc:
                raise type(exc)(f"{att.precision} {named(exc, a.source, a.name)}") from None
            check.artifact = a.name
            att.checks.append(check)
            self.progress.done("verify", f"{a.name}: {check_text(check)}")
        self._drop_failed_tflite(att)
        failed = [c for c in att.checks if not c.passed]
        att.passed = not failed
        att.reason = "; ".join(f"{c.artifact}: {c.reason()}" for c in failed)

    def _drop_failed_tflite(self, att: Attempt) -> None:
        """A .tflite that fails the gate while the ONNX-derived artifacts pass is not shipped, and says why.

        onnx2tf quantizes on its own (full integer, no nodes kept in float), so keeping ONNX nodes in float
        cannot mend it; the .onnx/.ort decide the precision's verdict, as when the conversion fails.
        """
        tfl = [c for c in att.checks if c.format == "tflite" and not c.passed]
        others = [c for c in att.checks if c.format != "tflite"]
        if not tfl or not others or not all(c.passed for c in others):
            return
        check = tfl[0]
        why = (f"the {att.precision} .tflite (onnx2tf's own quantization) fails the accuracy gate: {check.reason()}")
        self.progress.warn(f"tflite: {why}; it is not shipped")
        att.tflite = {**(att.tflite or {}), "status": "failed", "reason": why, "gate": check.to_json()}
        att.checks = [c for c in att.checks if c is not check]
        att.artifacts = [a for a in att.artifacts if a.name != check.artifact]

    def _ort(self, src: Path, style: str):
        """ORT format in ``style``; where onnxruntime's Runtime-optimization style fails to convert (its QDQ
        Conv bias rewrite gives an invalid node on PP-OCR int8), the Fixed style, said so in the facts."""
        def run(st: str):
            ocfg = convert.OrtFormatConfig(self.target.name, optimization_style=st, target_platform="arm")
            return self.runner.run(Pass(convert.NAME, ocfg, lambda d: self._ort_files(src, d, ocfg)), [src],
                                   label=f"ORT format ({st}, arm)", describe=lambda f: f.get("command", ""))
        try:
            return run(style)
        except BuildError as exc:
            if style == "Fixed":
                raise
            out = run("Fixed")
            why = str(exc)
            out.facts = {**out.facts, "runtime_style_failed": why}
            note = (f"ORT format: the Runtime-optimization style failed ({why}); the .ort uses the Fixed style, "
                    f"optimized for the CPU EP: NNAPI/CoreML may take fewer of its nodes")
            self.notes.append(note)
            self.progress.warn(note)
            return out

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
        shapes = self._sample_shapes()
        cfg = tflite.TFLiteConfig(self.target.name, tfl_prec, _samples_hash(calibration or self.calib)
                                  if tfl_prec == "int8" else None, tuple(sorted(shapes.items())))
        try:
            out = self.runner.run(
                tflite.TFLitePass(self.optimized, cfg, calib), [self.optimized],
                label=f"TFLite {tfl_prec} via onnx2tf", describe=lambda f: f"{f['precision']} .tflite")
        except BuildError as exc:
            reason = named(exc, self.optimized, f"{self.stem} ({tfl_prec})")
            self.progress.warn(f"tflite: conversion failed — {reason}")
            return {"status": "failed", "reason": reason}
        suffix = {"fp32": "float32", "fp16": "float16", "int8": "int8"}[tfl_prec]
        arts.append(Artifact(f"{self.stem}_{suffix}.tflite", out.files["model.tflite"], "tflite", tfl_prec))
        facts = {"status": "built", "precision": tfl_prec, "toolchain": convert.toolchain_versions()}
        if self._has_dynamic_size():
            # the .tflite takes one size only: the one of the data it was verified on
            facts["input_shapes"] = {k: list(v) for k, v in shapes.items()}
        return facts

    def _sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """One sample's shape per input, batch 1 (what fixes a dynamic H×W for a fixed-shape format)."""
        s = self.verify_samples
        return {k: tuple(v.shape[1:]) if s.per_sample_axis[k] else (1, *v.shape[1:]) for k, v in s.arrays.items()}

    def _has_dynamic_size(self) -> bool:
        return any(not isinstance(d, int) for sp in self.specs for d in sp.shape[1:])


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
    int4_block_size: int = int4.DEFAULT_BLOCK_SIZE,
    verify_on: platforms.PlatformPlan | None = None,
) -> BuildResult:
    """Build ``model_path`` for ``target`` (a profile name, family alias or Target) into ``out_dir``.

    ``tolerances`` overrides the target's gate thresholds (keys of ``edgekit.targets.Tolerances``); ``verify_on``
    says where artifacts are verified (default: every platform available, ``platforms.PlatformPlan()``).
    ``cache_dir=None`` disables the pass cache (default: ``$XDG_CACHE_HOME/edgekit/build``). Raises an
    :class:`~edgekit.errors.EdgekitError` (one line) on bad input or a failed gate; nothing is then written.
    """
    model_path = Path(model_path)
    progress = progress or SilentProgress()
    tgt = target if isinstance(target, Target) else load_target(target, Path(targets_dir) if targets_dir else None)
    tried = candidates(tgt, precision)
    if "int4" in tried:
        int4.Int4Config(tgt.name, tgt.max_ir_version, int4_block_size)  # a bad block size fails before any work
    if calibration_method not in quantize.CALIBRATION_METHODS:
        raise ConfigError(f"unknown calibration method {calibration_method!r}; "
                          f"use one of {', '.join(quantize.CALIBRATION_METHODS)}")
    if not 0 <= max_exclusion_rounds <= 10:
        raise ConfigError(f"{max_exclusion_rounds} int8 exclusion rounds is out of range; "
                          f"pass --exclusion-rounds between 0 and 10")
    tol = tolerances_for(tgt, tolerances)
    out_root = check_out_dir(Path(out_dir))
    cache_root = default_cache_dir() if cache_dir is _KEEP_CACHE else cache_dir
    cache = PassCache(check_cache_dir(Path(cache_root)) if cache_root is not None else None)

    with tempfile.TemporaryDirectory(prefix="edgekit-build-") as work:
        runner = PassRunner(cache, Path(work), progress, tgt.name)
        b = _Build(model_path, tgt, runner, progress, tol, calibration_method, max_exclusion_rounds, threads, verify_on)
        b.int4_block_size = int4_block_size
        b.load_and_optimize(tried, Path(calibration) if calibration else None,
                            Path(eval_data) if eval_data else None)
        attempts: list[Attempt] = []
        for prec in tried:
            try:
                att = b.attempt(prec)
            except EdgekitError as exc:
                if len(tried) == 1:  # an explicit --precision: its error is the answer
                    raise
                # --precision auto: an error in one precision (an fp16 model that does not load, an ORT
                # conversion that fails) is that precision's verdict, not the build's; the next one may ship
                att = Attempt(prec, False, reason=f"could not be built: {exc}", errored=True)
            attempts.append(att)
            if att.passed:
                break
            if len(tried) > 1:
                what = att.reason if att.errored else f"failed the accuracy gate ({att.reason})"
                progress.warn(f"{prec} {what}; trying the next precision")
        chosen = attempts[-1]
        if not chosen.passed:
            raise BuildError(failure_line(model_path, tgt, attempts, len(tried) > 1))
        manifest = sparsity.apply(assemble_manifest(b.facts(chosen, attempts)), tgt, chosen.model)
        summary = summary_line(manifest)
        progress.start("package", f"writing {out_root / (model_path.stem + '-' + tgt.name)}")
        final = write_output(out_root, f"{model_path.stem}-{tgt.name}", chosen.artifacts, manifest)
        progress.done("package", f"{final} ({len(chosen.artifacts)} artifacts + manifest.json)")
    return BuildResult(final, manifest, summary, list(getattr(progress, "warnings", [])), runner.cache_hits)
