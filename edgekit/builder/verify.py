"""Pass 5 — the accuracy gate.

The fp32 original and every artifact run, through ``edgekit.runtime.open_session``, on the same inputs.
With eval data that has labels: task accuracy of both, the drop in points and top-1 agreement — the gate is
``drop <= max_accuracy_drop_pts`` and ``agreement >= min_top1_agreement``. Without labels (or without eval
data): cosine similarity, max abs error and SNR of the outputs — the gate is ``cosine >= min_cosine`` and
``snr >= min_snr_db`` — and the manifest says accuracy was not verified on real data.
TFLite artifacts are fed as ``edgekit.builder.tflite.tflite_chunks`` lays them out (NHWC, int8 scale/zero-point).

The gate measures the arithmetic the target runs, not this host's shortcuts. ARM int8 kernels (and TensorRT,
and LiteRT on any CPU) accumulate int8 products exactly; onnxruntime's u8s8 kernels on x86 without VNNI do
not (``edgekit.runtime.ort``). So every onnxruntime session here asks for exact int8 kernels, and an int8
ORT-format artifact, whose fused int8 operators no session option can reach, is judged by the figures of
the QDQ model it was converted from whenever this host's own int8 kernels saturate; the .ort itself is then
load-checked and its inputs and outputs compared with that model's. ``ArtifactCheck.kernels`` says which.
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgekit.builder.data import SampleSet
from edgekit.errors import ConfigError, ModelError
from edgekit.runtime import open_session
from edgekit.runtime.ort import int8_kernels
from edgekit.targets import Tolerances

SNR_CAP_DB = 200.0


@dataclass(frozen=True)
class VerifyConfig:
    tolerances: Tolerances
    data_kind: str           # "eval", "calibration" or "generated"
    data_source: str
    threads: int | None = None

    def __post_init__(self):
        if self.data_kind not in ("eval", "calibration", "generated"):
            raise ConfigError(f"verify: data kind {self.data_kind!r} is not eval, calibration or generated")


@dataclass
class ArtifactCheck:
    artifact: str
    format: str
    runtime: str
    providers: list[str]
    samples: int
    cosine: float
    max_abs_error: float
    snr_db: float
    top1_agreement: float | None = None
    accuracy_fp32: float | None = None
    accuracy: float | None = None
    accuracy_drop_pts: float | None = None
    gated_on: str = "outputs"            # "accuracy" or "outputs"
    kernels: str = ""                    # which arithmetic produced the figures (see the module doc)
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    platforms: dict = field(default_factory=dict)  # platform -> its own figures (edgekit.builder.platforms)
    cross_platform: dict | None = None             # how far the platforms' outputs are from each other
    figures_from: str = "host"                     # the platform whose figures these are

    def to_json(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 6) if math.isfinite(v) else None
        return d

    def reason(self) -> str:
        return "; ".join(self.failures) if self.failures else "passed"


def _batches_for(session, feeds: dict[str, np.ndarray]):
    """Split a feed batch into chunks the session's fixed batch size accepts."""
    fixed = {s.shape[0] for s in session.inputs if s.shape and isinstance(s.shape[0], int)}
    sizes = {np.asarray(v).shape[0] for v in feeds.values() if np.asarray(v).ndim > 0}
    if len(fixed) != 1 or len(sizes) != 1:
        yield feeds
        return
    (step,), (n,) = fixed, sizes
    if step >= n:
        yield feeds
        return
    for i in range(0, n, step):
        yield {k: np.asarray(v)[i:i + step] for k, v in feeds.items()}


def run_model(path: Path, samples: SampleSet, *, threads: int | None = None,
              output_shapes: list[tuple] | None = None) -> tuple[list[np.ndarray], object]:
    """All samples through one model; outputs concatenated along the sample axis (exact int8 kernels)."""
    session = open_session(Path(path), threads=threads, exact_int8=True)
    is_tflite = Path(path).suffix.lower() == ".tflite"
    raw = (session.run(chunk) for chunk in feed_chunks(session, samples, is_tflite))
    return stack_outputs(postprocess(session, outs, is_tflite, output_shapes) for outs in raw), session


def feed_chunks(session, samples: SampleSet, is_tflite: bool):
    """The feeds ``session`` takes, chunk by chunk: batches its fixed batch size accepts; for a .tflite,
    channels last and quantized, one sample at a time (``edgekit.builder.tflite.tflite_chunks``)."""
    if is_tflite:
        from edgekit.builder.tflite import tflite_chunks
    for feeds in samples.batches():
        yield from (tflite_chunks(session, feeds) if is_tflite else _batches_for(session, feeds))


def postprocess(session, outs: list[np.ndarray], is_tflite: bool, output_shapes: list[tuple] | None):
    """One chunk's raw outputs as the fp32 original gives them (a .tflite's dequantized, in ONNX order)."""
    if not is_tflite:
        return outs
    from edgekit.builder.tflite import adapt_outputs

    return adapt_outputs(session, outs, shapes=output_shapes)


def stack_outputs(chunks) -> list[np.ndarray]:
    """Per-chunk outputs joined along the sample axis, output by output."""
    per_output: list[list[np.ndarray]] = []
    for outs in chunks:
        if not per_output:
            per_output = [[] for _ in outs]
        for k, y in enumerate(outs):
            per_output[k].append(np.asarray(y))
    stacked = []
    for ys in per_output:
        if all(y.ndim > 0 for y in ys):
            stacked.append(np.concatenate(ys, axis=0))
        else:
            stacked.append(np.stack(ys))
    return stacked


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _snr_db(ref: np.ndarray, got: np.ndarray) -> float:
    noise = float(np.linalg.norm(ref - got))
    signal = float(np.linalg.norm(ref))
    if noise == 0.0:
        return SNR_CAP_DB
    if signal == 0.0:
        return -SNR_CAP_DB
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, 20.0 * math.log10(signal / noise)))


def _is_classifier(y: np.ndarray) -> bool:
    return y.ndim == 2 and y.shape[1] > 1


def compare(artifact: str, fmt: str, session, ref: list[np.ndarray], got: list[np.ndarray],
            labels: np.ndarray | None, tol: Tolerances, samples: int) -> ArtifactCheck:
    if len(ref) != len(got):
        raise ConfigError(f"{artifact}: {len(got)} outputs where the original has {len(ref)}")
    cos, mae, snr = 1.0, 0.0, SNR_CAP_DB
    for r, g in zip(ref, got):
        r64 = np.asarray(r, np.float64).ravel()
        g64 = np.asarray(g, np.float64).ravel()
        if r64.shape != g64.shape:
            cos, mae, snr = 0.0, math.inf, -SNR_CAP_DB
            continue
        bad = ~np.isfinite(g64)
        if bad.any():
            cos, mae, snr = min(cos, 0.0), math.inf, -SNR_CAP_DB
            continue
        cos = min(cos, _cosine(r64, g64))
        mae = max(mae, float(np.max(np.abs(r64 - g64))) if r64.size else 0.0)
        snr = min(snr, _snr_db(r64, g64))
    check = ArtifactCheck(artifact, fmt, session.runtime, list(session.providers), samples, cos, mae, snr)
    if _is_classifier(np.asarray(ref[0])) and np.asarray(got[0]).shape == np.asarray(ref[0]).shape:
        p_ref = np.asarray(ref[0]).argmax(axis=1)
        p_got = np.asarray(got[0]).argmax(axis=1)
        check.top1_agreement = float(np.mean(p_ref == p_got))
        if labels is not None:
            check.accuracy_fp32 = float(np.mean(p_ref == labels))
            check.accuracy = float(np.mean(p_got == labels))
            check.accuracy_drop_pts = (check.accuracy_fp32 - check.accuracy) * 100.0
    if check.accuracy_drop_pts is not None:
        check.gated_on = "accuracy"
        if check.accuracy_drop_pts > tol.max_accuracy_drop_pts + 1e-9:
            check.failures.append(_drop_failure(check, len(p_ref), tol.max_accuracy_drop_pts))
        if check.top1_agreement < tol.min_top1_agreement:
            check.failures.append(_agreement_failure(check.top1_agreement, len(p_ref), tol.min_top1_agreement))
    else:
        if cos < tol.min_cosine:
            check.failures.append(f"cosine {cos:.4f} < {tol.min_cosine:g}")
        if snr < tol.min_snr_db:
            check.failures.append(f"SNR {snr:.1f} dB < {tol.min_snr_db:g} dB")
        if check.top1_agreement is not None and check.top1_agreement < tol.min_top1_agreement:
            check.failures.append(_agreement_failure(check.top1_agreement, len(p_ref), tol.min_top1_agreement))
    check.passed = not check.failures
    return check


def _drop_failure(check: ArtifactCheck, n: int, max_drop_pts: float) -> str:
    """The failure text; says so when one sample of ``n`` moves accuracy by more than the tolerance."""
    text = (f"accuracy drop {check.accuracy_drop_pts:.2f} pts > {max_drop_pts:g} pts "
            f"({check.accuracy_fp32:.4f} -> {check.accuracy:.4f})")
    if n and max_drop_pts > 0 and 100.0 / n > max_drop_pts + 1e-12 and check.accuracy_drop_pts <= 100.0 / n + 1e-9:
        text += (f" — with {n} labelled samples one sample moves accuracy by {100.0 / n:.2f} pts, more than the "
                 f"tolerance; a larger --eval set (at least {math.ceil(100.0 / max_drop_pts)} samples) resolves "
                 f"{max_drop_pts:g} pts")
    return text


def _agreement_failure(agreement: float, n: int, threshold: float) -> str:
    """The failure text; says so when ``n`` samples are too few for one disagreement to stay above ``threshold``."""
    text = f"top-1 agreement {agreement:.4f} < {threshold:g} ({round(agreement * n)}/{n} samples agree)"
    if n and threshold < 1.0 and (1.0 / n) > (1.0 - threshold) + 1e-12:
        text += (f" — with {n} samples a single disagreement fails this gate; a larger --eval set "
                 f"(at least {math.ceil(1.0 / (1.0 - threshold))} samples) resolves {threshold:g}")
    return text


def reference(original: Path, samples: SampleSet, cfg: VerifyConfig) -> tuple[list[np.ndarray], dict]:
    outs, session = run_model(original, samples, threads=cfg.threads)
    return outs, {"runtime": session.runtime, "runtime_version": session.runtime_version,
                  "providers": list(session.providers),
                  "output_shapes": [tuple(d if isinstance(d, int) else None for d in s.shape)
                                    for s in session.outputs]}


def check_artifact(path: Path, fmt: str, samples: SampleSet, ref: list[np.ndarray], ref_info: dict,
                   cfg: VerifyConfig, *, int8_source: Path | None = None) -> ArtifactCheck:
    """Run ``path`` on ``samples`` and gate it against the fp32 reference (see ``check_on_host``)."""
    return check_on_host(path, fmt, samples, ref, ref_info, cfg, int8_source=int8_source)[0]


def check_on_host(path: Path, fmt: str, samples: SampleSet, ref: list[np.ndarray], ref_info: dict,
                  cfg: VerifyConfig, *, int8_source: Path | None = None) -> tuple[ArtifactCheck, list[np.ndarray]]:
    """Run ``path`` on ``samples`` in this host's runtime and gate it; the check and the outputs it judged.

    ``int8_source`` is the QDQ model an int8 .ort was converted from: on a host whose int8 kernels saturate,
    its figures stand for the .ort's (see the module doc).
    """
    name = Path(path).name
    if fmt == "ort" and int8_source is not None and not int8_kernels()["exact"]:
        shipped = open_session(Path(path), threads=cfg.threads)
        got, session = run_model(int8_source, samples, threads=cfg.threads, output_shapes=ref_info["output_shapes"])
        _same_io(name, shipped, session)
        check = compare(name, fmt, shipped, ref, got, samples.labels, cfg.tolerances, samples.count)
        check.kernels = (f"figures of the QDQ model this .ort was converted from, at exact int8 arithmetic: this "
                         f"host's int8 kernels are {int8_kernels()['detail']}, unlike the target's; the .ort "
                         f"was load-checked and its inputs and outputs match")
        return check, got
    got, session = run_model(path, samples, threads=cfg.threads, output_shapes=ref_info["output_shapes"])
    check = compare(name, fmt, session, ref, got, samples.labels, cfg.tolerances, samples.count)
    check.kernels = _kernels_text(session)
    return check, got


def _same_io(name: str, shipped, stand_in) -> None:
    def io(s):
        return ([(t.name, t.dtype) for t in s.inputs], [(t.name, t.dtype) for t in s.outputs])

    if io(shipped) != io(stand_in):
        raise ModelError(f"{name}: its inputs and outputs differ from the QDQ model it was converted from "
                         f"({io(shipped)} vs {io(stand_in)}); report this as an edgekit bug")


def _kernels_text(session) -> str:
    if session.runtime != "onnxruntime":
        return f"{session.runtime} {session.runtime_version} on this host (int8 accumulates exactly)"
    return (f"onnxruntime {session.runtime_version} on this host with exact int8 kernels "
            f"(session.x64quantprecision=1; this host's own u8s8 kernels: {int8_kernels()['detail']})")


def describe(cfg: VerifyConfig, samples: SampleSet, ref_info: dict) -> dict:
    """The 'how it was measured' part of the manifest."""
    real = cfg.data_kind == "eval" and samples.labels is not None
    if real:
        note = "task accuracy measured on labelled eval data"
    elif cfg.data_kind == "eval":
        note = "accuracy NOT verified on real data: eval data has no labels; outputs compared with the fp32 original"
    elif cfg.data_kind == "calibration":
        note = ("accuracy NOT verified on real data: no --eval data; outputs compared with the fp32 original "
                "on the calibration inputs")
    else:
        note = ("accuracy NOT verified on real data: no --eval or --calibration data; outputs compared with the "
                "fp32 original on generated random inputs")
    return {
        "data": cfg.data_kind,
        "data_source": cfg.data_source,
        "samples": samples.count,
        "accuracy_verified_on_real_data": real,
        "note": note,
        "tolerances": cfg.tolerances.model_dump(),
        "reference": (f"fp32 original run in {ref_info['runtime']} {ref_info['runtime_version']} "
                      f"({', '.join(ref_info['providers'])})"),
        "host": f"{platform.system()} {platform.machine()}",
        "host_int8_kernels": int8_kernels()["detail"],
        "metrics": {
            "cosine": "cosine similarity of all outputs flattened over all samples (worst output)",
            "max_abs_error": "largest |artifact - fp32| over all output elements",
            "snr_db": "20*log10(|fp32| / |artifact - fp32|) over all samples (worst output)",
            "top1_agreement": "share of samples whose argmax of the first output matches the fp32 original",
            "accuracy_drop_pts": "(fp32 accuracy - artifact accuracy) * 100 on the labelled eval data",
        },
    }
