"""Pass 3 — precision: fp16 with float I/O kept, or int8 (static QDQ per-channel, or dynamic for MatMul models).

* fp16: ``onnxruntime.transformers.float16.convert_float_to_float16(keep_io_types=True)`` — the model's inputs
  and outputs stay float32, so callers feed the same arrays. (onnxconverter-common's converter of the same name
  leaves a ``Cast(to=float)`` whose output it declares float16, so YOLOv8 and Silero VAD exports did not load.)
* int8 static: ``onnxruntime.quantization.quantize_static`` in QDQ format, per-channel weights, uint8 activations /
  int8 weights, calibrated with MinMax, Entropy or Percentile on the calibration samples. The model is first run
  through ``quant_pre_process`` (symbolic shape inference; needs sympy).
* int8 dynamic: ``quantize_dynamic`` on MatMul/Gemm only — chosen for MatMul-heavy models without convolutions.
  Never for convolutions: ConvInteger is far slower than float on CPU.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgekit.builder.data import SampleSet
from edgekit.builder.onnxio import save_model
from edgekit.errors import BuildError, ConfigError

NAME = "quantize"
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
PRECISIONS = ("fp16", "int8")
INT8_MODES = ("static", "dynamic")
CONV_OPS = {"Conv", "ConvTranspose"}
MATMUL_OPS = {"MatMul", "Gemm", "LSTM", "GRU", "Attention"}


@dataclass(frozen=True)
class QuantizeConfig:
    target_name: str
    max_ir_version: int
    precision: str
    int8_mode: str = "static"
    calibration_method: str = "minmax"
    per_channel: bool = True
    nodes_to_exclude: tuple[str, ...] = ()
    calibration_hash: str | None = None     # identifies the calibration samples (part of the cache key)
    percentile: float = 99.999

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ConfigError(f"quantize: precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.int8_mode not in INT8_MODES:
            raise ConfigError(f"quantize: int8 mode {self.int8_mode!r} is not one of {', '.join(INT8_MODES)}")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise ConfigError(
                f"unknown calibration method {self.calibration_method!r}; use one of {', '.join(CALIBRATION_METHODS)}"
            )
        if not 90.0 <= self.percentile <= 100.0:
            raise ConfigError(f"quantize: percentile {self.percentile} must lie in [90, 100]")


def op_counts(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


QUANTIZING_OPS = {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearConv",
                  "QLinearMatMul", "DynamicQuantizeMatMul"}


def quantized_op_count(model: onnx.ModelProto) -> int:
    """Nodes that (re)quantize activations or compute in integers: 0 means nothing runs in int8."""
    return sum(1 for n in model.graph.node if n.op_type in QUANTIZING_OPS)


def choose_int8_mode(model: onnx.ModelProto) -> str:
    """'dynamic' only for models with MatMul-like operators and no convolution; otherwise 'static'."""
    ops = op_counts(model)
    if any(ops[o] for o in CONV_OPS):
        return "static"
    return "dynamic" if any(ops[o] for o in MATMUL_OPS) else "static"


def first_layers(model: onnx.ModelProto) -> list[str]:
    """The first Conv/ConvTranspose/MatMul/Gemm node on each graph input (through shape and elementwise nodes).

    Its error travels through the whole network, so it is the usual first candidate to keep in float.
    """
    compute = CONV_OPS | MATMUL_OPS
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    initializers = {t.name for t in model.graph.initializer}
    found: list[str] = []
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        seen: set[int] = set()
        frontier = list(consumers.get(inp.name, []))
        while frontier:
            n = frontier.pop(0)
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.op_type in compute:
                if n.name and n.name not in found:
                    found.append(n.name)
                continue
            frontier.extend(c for o in n.output for c in consumers.get(o, []))
    return found


def calibration_reader(samples: SampleSet, max_batch: int = 32):
    """An onnxruntime CalibrationDataReader over ``samples`` (one pass), ``max_batch`` samples per run."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(samples.batches(max_batch))

        def get_next(self):
            return next(self._it, None)

        def rewind(self):
            self._it = iter(samples.batches(max_batch))

    return _Reader()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def preprocess(src: Path, dst: Path) -> None:
    """``quant_pre_process``: symbolic shape inference (falls back to ONNX shape inference alone).

    When symbolic inference is incomplete (dynamic H/W detectors, Paddle exports) onnxruntime saves
    ``sym_shape_infer_temp.onnx`` and a ``<uuid>.data`` into the *current directory* before it raises. It runs
    here in a private scratch directory (process-wide ``chdir``, for the length of this call), so nothing is
    left in the user's working directory.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src).resolve(), Path(dst).resolve()
    with tempfile.TemporaryDirectory(prefix="edgekit-pre-") as scratch, contextlib.chdir(scratch):
        try:
            quant_pre_process(str(src), str(dst), skip_optimization=True)
        except Exception:
            quant_pre_process(str(src), str(dst), skip_optimization=True, skip_symbolic_shape=True)


def quantize_int8_static(src: Path, dst: Path, cfg: QuantizeConfig, samples: SampleSet) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[cfg.calibration_method]
    extra = {"CalibPercentile": cfg.percentile} if cfg.calibration_method == "percentile" else {}
    quantize_static(
        str(src), str(dst), calibration_reader(samples),
        quant_format=QuantFormat.QDQ, per_channel=cfg.per_channel,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        calibrate_method=method, nodes_to_exclude=list(cfg.nodes_to_exclude), extra_options=extra,
    )


def quantize_int8_dynamic(src: Path, dst: Path, cfg: QuantizeConfig) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"], per_channel=cfg.per_channel,
        weight_type=QuantType.QInt8, nodes_to_exclude=list(cfg.nodes_to_exclude),
    )


def run(src: Path, dst: Path, cfg: QuantizeConfig, samples: SampleSet | None) -> dict:
    """Write the reduced-precision model of ``src`` to ``dst``; returns facts for the manifest."""
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="edgekit-q-") as tmp:
            warnings.simplefilter("ignore")
            if cfg.precision == "fp16":
                from onnxruntime.transformers import float16

                model = onnx.load(str(src))
                try:
                    model = float16.convert_float_to_float16(model, keep_io_types=True)
                except Exception as exc:
                    raise BuildError(f"fp16 conversion failed: {_first_line(exc)}") from None
                save_model(model, dst, max_ir_version=cfg.max_ir_version, target_name=cfg.target_name)
                return {"precision": "fp16", "method": "onnxruntime float16 converter, float32 I/O kept"}
            pre = Path(tmp) / "pre.onnx"
            out = Path(tmp) / "q.onnx"
            try:
                preprocess(src, pre)
                if cfg.int8_mode == "static":
                    if samples is None:
                        raise BuildError("static int8 needs calibration samples; pass --calibration FILE.npz")
                    quantize_int8_static(pre, out, cfg, samples)
                else:
                    quantize_int8_dynamic(pre, out, cfg)
            except BuildError:
                raise
            except Exception as exc:
                raise BuildError(f"int8 {cfg.int8_mode} quantization failed: {_first_line(exc)}") from None
            model = onnx.load(str(out))
            quantized_ops = quantized_op_count(model)
            save_model(model, dst, max_ir_version=cfg.max_ir_version, target_name=cfg.target_name)
    finally:
        quiet.setLevel(level)
    facts = {
        "precision": "int8",
        "method": "static-qdq" if cfg.int8_mode == "static" else "dynamic",
        "per_channel": cfg.per_channel,
        "activation_type": "uint8",
        "weight_type": "int8",
        "nodes_excluded": list(cfg.nodes_to_exclude),
        "quantized_ops": quantized_ops,
    }
    if cfg.int8_mode == "static":
        facts["calibration_method"] = cfg.calibration_method
        facts["calibration_samples"] = samples.count if samples else 0
        facts["calibration_source"] = samples.source if samples else None
    return facts
