"""``run_sweep``: build every (model x precision) the target allows, then measure the ones that passed their gate.

Builds go through :func:`edgekit.builder.pipeline.build_model` (the same passes, cache and accuracy gate as
``edgekit build``), one explicit precision at a time. A precision whose gate fails is recorded with the
reason and never benchmarked.

Measuring: ``rounds`` rounds, each running every passed variant once with the same settings; the order is
reversed every other round (A B C, C B A, A B C, ...), so each variant's mean position in the sequence, and
so its share of drift and heat, is the same. Every run keeps its own idle windows, and the sweep pools all
of them into one shared idle baseline: each variant's net energy per inference is its total minus the shared
idle power times its time per inference. Per variant: the mean over rounds of energy per inference, the
median of the rounds' p50 latencies and the largest of their p99s; the uncertainty combines the runs' own
energy uncertainty, the idle baseline's spread and the spread between rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from edgekit.bench.runner import run_bench
from edgekit.bench.settings import BenchSettings
from edgekit.builder.pipeline import build_model
from edgekit.errors import BuildError, ConfigError
from edgekit.sweep.choose import Variant
from edgekit.targets import Target, load_target

Log = Callable[[str], None]


@dataclass
class VariantRun:
    """One variant: its build, its bench result documents (one per round) and its summary record."""

    model: Path
    precision: str
    build_dir: Path | None = None
    manifest: dict | None = None
    gate_reason: str = ""
    results: list[dict] = field(default_factory=list)
    record: Variant | None = None

    @property
    def key(self) -> str:
        return f"{self.model.stem}/{self.precision}"


@dataclass
class SweepResult:
    target: Target
    runs: list[VariantRun]
    rounds: int
    idle_w: float | None
    idle_samples: int
    order: list[list[str]]
    provenance: str

    @property
    def variants(self) -> list[Variant]:
        return [r.record for r in self.runs]


def precisions_for(target: Target, wanted: list[str] | None) -> list[str]:
    if not wanted:
        return list(target.precisions)
    for p in wanted:
        if p not in ("fp32", "fp16", "int8", "int4"):
            raise ConfigError(f"--precisions: unknown precision {p!r}; use fp32, fp16, int8 or int4")
    return list(dict.fromkeys(wanted))


def _data_for(paths: list[Path] | None, models: list[Path], what: str) -> list[Path | None]:
    if not paths:
        return [None] * len(models)
    if len(paths) == 1:
        return paths * len(models)
    if len(paths) != len(models):
        raise ConfigError(f"--{what} given {len(paths)} times for {len(models)} models; give it once (for every "
                          f"model) or once per model, in the models' order")
    return list(paths)


def build_variants(models: list[Path], target: Target, precisions: list[str], *, out_dir: Path,
                   calibration: list[Path] | None, eval_data: list[Path] | None, tolerances: dict | None = None,
                   cache_dir=None, log: Log = lambda m: None) -> list[VariantRun]:
    for m in models:
        if not Path(m).is_file():
            raise ConfigError(f"{m}: model file not found")
    calibs, evals = _data_for(calibration, models, "calibration"), _data_for(eval_data, models, "eval")
    runs: list[VariantRun] = []
    for model, calib, ev in zip(models, calibs, evals):
        for prec in precisions:
            run = VariantRun(Path(model), prec)
            kw = {"cache_dir": cache_dir} if cache_dir is not None else {}
            try:
                r = build_model(model, target, precision=prec, calibration=calib, eval_data=ev,
                                out_dir=out_dir / "builds" / f"{Path(model).stem}-{prec}", tolerances=tolerances, **kw)
                run.build_dir, run.manifest = r.output_dir, r.manifest
                log(f"built {run.key}: {r.summary}")
            except BuildError as exc:  # the gate (or a conversion) failed: listed, never benchmarked
                run.gate_reason = str(exc)
                log(f"{run.key}: not benchmarked: {exc}")
            runs.append(run)
    return runs


def measure(runs: list[VariantRun], target: Target, settings: BenchSettings, rounds: int,
            log: Log = lambda m: None) -> tuple[list[list[str]], str]:
    """Run the passed variants ``rounds`` times, alternating the order; returns the orders and the provenance."""
    if rounds < 1:
        raise ConfigError(f"--rounds {rounds}: give at least 1")
    passed = [r for r in runs if r.build_dir is not None]
    orders: list[list[str]] = []
    provenance = "no power figures"
    for i in range(rounds):
        order = passed if i % 2 == 0 else list(reversed(passed))
        orders.append([r.key for r in order])
        for r in order:
            doc = run_bench(r.build_dir, replace(settings, target=target.name), log=log)
            r.results.append(doc)
            p = doc.get("power") or {}
            if p:
                provenance = (f"{p.get('source')} ({p.get('scope')}{', ESTIMATE' if p.get('estimated') else ''}), "
                              f"{p.get('sample_hz') or 0:g} Hz")
            log(f"round {i + 1}/{rounds}: {r.key} p50 {doc['latency']['p50_ms']:.3f} ms")
    return orders, provenance


def shared_idle(runs: list[VariantRun]) -> tuple[float | None, float, int]:
    """(mean idle power W, its standard error W, windows) over every idle window of every run."""
    ws = [(doc.get("power") or {}).get(k) for r in runs for doc in r.results for k in ("idle_before_w", "idle_after_w")]
    ws = [w for w in ws if isinstance(w, (int, float))]
    if not ws:
        return None, 0.0, 0
    sem = statistics.stdev(ws) / math.sqrt(len(ws)) if len(ws) > 1 else 0.0
    return statistics.fmean(ws), sem, len(ws)


def summarize(run: VariantRun, idle_w: float | None, idle_sem_w: float) -> Variant:
    check = _check(run)
    acc = check.get("accuracy") if check.get("gated_on") == "accuracy" else None
    base = Variant(run.model.stem, run.precision, run.build_dir is not None, run.gate_reason,
                   size_bytes=_size(run), accuracy=acc, agreement=check.get("top1_agreement"))
    if not run.results:
        return base
    lat = [d["latency"] for d in run.results]
    totals, nets, uncs = [], [], []
    for d in run.results:
        e = d.get("energy") or {}
        if e.get("total_mj_per_inference") is None:
            continue
        t_inf_s = e["run"]["duration_s"] / max(1, e["inferences"])
        totals.append(e["total_mj_per_inference"])
        if idle_w is not None:
            nets.append(e["total_mj_per_inference"] - idle_w * t_inf_s * 1000.0)
        uncs.append(math.hypot(e.get("uncertainty_mj_per_inference") or 0.0, idle_sem_w * t_inf_s * 1000.0))
    spread = statistics.stdev(nets or totals) / math.sqrt(len(totals)) if len(totals) > 1 else 0.0
    return replace(base, p50_ms=statistics.median(x["p50_ms"] for x in lat), p99_ms=max(x["p99_ms"] for x in lat),
                   energy_total_mj=statistics.fmean(totals) if totals else None,
                   energy_net_mj=statistics.fmean(nets) if nets else None,
                   energy_uncertainty_mj=math.hypot(statistics.fmean(uncs), spread) if totals else None)


def _check(run: VariantRun) -> dict:
    """The gate's figures for the artifact the bench runs (the first .onnx/.ort check otherwise)."""
    if not run.manifest:
        return {}
    checks = run.manifest["verification"].get("artifacts", {})
    ran = Path(run.results[0]["artifact"]["path"]).name if run.results else None
    return checks.get(ran) or next(iter(checks.values()), {})


def _size(run: VariantRun) -> int | None:
    if not run.manifest:
        return None
    ran = Path(run.results[0]["artifact"]["path"]).name if run.results else None
    arts = run.manifest["artifacts"]
    return next((a["bytes"] for a in arts if a["path"] == ran), next((a["bytes"] for a in arts), None))


def run_sweep(models: list[Path], target_name: str, *, precisions: list[str] | None = None, out_dir: Path,
              calibration: list[Path] | None = None, eval_data: list[Path] | None = None,
              settings: BenchSettings | None = None, rounds: int = 2, tolerances: dict | None = None,
              cache_dir=None, log: Log = lambda m: None) -> SweepResult:
    target = load_target(target_name)
    settings = settings or BenchSettings()
    runs = build_variants(models, target, precisions_for(target, precisions), out_dir=Path(out_dir),
                          calibration=calibration, eval_data=eval_data, tolerances=tolerances,
                          cache_dir=cache_dir, log=log)
    orders, provenance = measure(runs, target, settings, rounds, log=log)
    idle_w, idle_sem, n = shared_idle(runs)
    for r in runs:
        r.record = summarize(r, idle_w, idle_sem)
    return SweepResult(target, runs, rounds, idle_w, n, orders, provenance)
