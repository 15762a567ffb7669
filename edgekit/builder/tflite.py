"""ONNX -> TFLite through onnx2tf, run in its own environment as a subprocess.

Traps handled here (see docs/tflite.md):
- onnx2tf rewrites its input model in place (onnxsim, op renaming): it converts a copy;
- it fetches a sample-image file from the internet for any 3-channel 4-D input, even for
  float conversion: a generated file of that name is placed in its working directory;
- it rejects IR 14 models in its own onnxruntime check yet exits 0: the copy is saved with
  IR <= 10 and success means "the expected .tflite exists and is a TFLite flatbuffer";
- its TFLite inputs are channels-last (NCHW -> NHWC, NCW -> NWC): ``adapt_feeds`` transposes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

from edgekit.builder.toolchain import INSTALL_HINT, Toolchain, clean_env, find_toolchain
from edgekit.errors import BuildError

Precision = Literal["fp32", "fp16", "int8"]

NAME = "convert-tflite"

#: onnx2tf's output file for each precision, after the model's base name.
OUTPUT_SUFFIX = {"fp32": "_float32.tflite", "fp16": "_float16.tflite", "int8": "_full_integer_quant.tflite"}
#: The file onnx2tf otherwise downloads for 3-channel 4-D inputs (used for its own output check).
SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SAMPLE_SHAPE = (20, 128, 128, 3)
#: Highest IR version written for onnx2tf's onnx 1.19 / onnxruntime 1.23.
MAX_IR_VERSION = 10
DEFAULT_TIMEOUT_S = 1800.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*")
_CALL_INDEX = re.compile(r"PartitionedCall(?:_\d+)?:(\d+)$")


def convert_tflite(onnx_path: Path, out_dir: Path, *, precision: Precision,
                   calibration: dict[str, np.ndarray] | None = None,
                   toolchain: Toolchain | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S,
                   fixed_shapes: dict[str, tuple[int, ...]] | None = None) -> Path:
    """Convert ``onnx_path`` to a ``precision`` TFLite file in ``out_dir`` and return its path.

    fp32 and fp16 keep float32 inputs/outputs; int8 is full-integer (int8 inputs and
    outputs, per-channel weights) calibrated on ``calibration`` (arrays in the ONNX
    layout keyed by input name, already normalised as the model expects). A dynamic
    batch dimension is fixed to 1; other dynamic dimensions (a detector's H×W) are fixed
    from ``fixed_shapes`` (full ONNX-layout shapes keyed by input name, from the data the
    build verifies on) with onnx2tf's ``-ois``. Nothing is written to ``out_dir`` unless the
    conversion succeeded; the input model is never modified.
    """
    if precision not in OUTPUT_SUFFIX:
        raise BuildError(f"unknown TFLite precision {precision!r}; use one of {', '.join(OUTPUT_SUFFIX)}")
    chain = toolchain if toolchain is not None else find_toolchain()
    if chain is None:
        raise BuildError(f"onnx2tf toolchain not installed; {INSTALL_HINT}")
    onnx_path = Path(onnx_path)
    out_dir = Path(out_dir)
    model = _load(onnx_path)
    inputs = _graph_inputs(model)
    overwrite = _fixed_input_shapes(onnx_path, inputs, fixed_shapes or {})
    dynamic_batch = _check_shapes(onnx_path, inputs, overwrite)
    calib = _calibration_arrays(onnx_path, inputs, calibration) if precision == "int8" else {}

    final = out_dir / f"{onnx_path.stem}_{precision}.tflite"
    with tempfile.TemporaryDirectory(prefix="edgekit-onnx2tf-") as tmp:
        work = Path(tmp)
        model.ir_version = min(model.ir_version, MAX_IR_VERSION)
        onnx.save(model, work / "model.onnx")
        # Its output check reads this file for 3-channel images instead of downloading it.
        np.save(work / SAMPLE_FILE, np.random.default_rng(0).random(SAMPLE_SHAPE, dtype=np.float32))
        cmd = [str(chain.python), "-m", "onnx2tf", "-i", "model.onnx", "-o", "out", "-osd"]
        if overwrite:  # full shapes (batch included) for every input, as -ois wants
            cmd += ["-ois", *(f"{name}:{','.join(map(str, shape))}" for name, shape in overwrite.items())]
        elif dynamic_batch:
            cmd += ["-b", "1"]
        if precision == "int8":
            cmd += ["-oiqt", "-qt", "per-channel", "-iqd", "int8", "-oqd", "int8"]
            for i, (name, data) in enumerate(calib.items()):
                path = f"calib_{i}.npy"
                np.save(work / path, data)
                cmd += ["-cind", _tf_input_name(name), path, "[0.0]", "[1.0]"]
        log_path = work / "onnx2tf.log"
        try:
            with open(log_path, "w") as log:
                proc = subprocess.run(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                      env=_subprocess_env(chain), timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BuildError(f"{onnx_path}: onnx2tf did not finish within {timeout_s:.0f} s; "
                             f"simplify the model or raise the timeout") from None
        produced = work / "out" / f"model{OUTPUT_SUFFIX[precision]}"
        if proc.returncode != 0 or not _is_tflite(produced):
            raise BuildError(f"{onnx_path}: onnx2tf could not convert it to {precision} TFLite: "
                             f"{last_error_line(log_path.read_text(errors='replace'))}")
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = out_dir / f".{final.name}.partial-{os.getpid()}"
        try:
            shutil.copyfile(produced, partial)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
    return final


@dataclass(frozen=True)
class TFLiteConfig:
    target_name: str
    precision: str
    calibration_hash: str | None = None  # int8: the calibration samples' hash (they are not in the key)
    fixed_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # input -> shape, for dynamic dims past the batch


@dataclass(frozen=True)
class TFLitePass:
    """TFLite conversion as a :class:`~edgekit.builder.runner.BuildPass`: ``model.tflite``, facts ``{precision}``."""

    source: Path
    config: TFLiteConfig
    calibration: dict | None = None   # int8: input name -> calibration array
    name: str = NAME

    def produce(self, out_dir: Path) -> tuple[dict[str, Path], dict]:
        path = convert_tflite(Path(self.source), Path(out_dir), precision=self.config.precision,
                              calibration=self.calibration, fixed_shapes=dict(self.config.fixed_shapes))
        return {"model.tflite": Path(path)}, {"precision": self.config.precision}


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise BuildError(f"{path}: no such model file; check the path")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BuildError(f"{path}: not a readable ONNX model ({first}); re-export it") from None
    if not model.graph.node:
        raise BuildError(f"{path}: not a readable ONNX model (empty graph); re-export it")
    return model


def _graph_inputs(model: onnx.ModelProto) -> dict[str, tuple[tuple[int | None, ...], int]]:
    """Real inputs (not initializers): name -> (shape with None for dynamic dims, element type)."""
    inits = {t.name for t in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                      for d in tt.shape.dim)
        out[vi.name] = (shape, tt.elem_type)
    return out


def _fixed_input_shapes(path: Path, inputs: dict, fixed: dict[str, tuple[int, ...]]) -> dict[str, tuple]:
    """Batch-1 shapes for every input when some input has a dynamic dimension past the batch and the data
    fixes it; {} when no input needs it."""
    if not any(d is None for shape, _ in inputs.values() for d in shape[1:]):
        return {}
    out = {}
    for name, (shape, _) in inputs.items():
        if not shape:
            continue  # a scalar (Silero's sample rate) has no shape to fix
        given = fixed.get(name)
        if given is None or len(given) != len(shape):
            if any(d is None for d in shape[1:]):
                return {}  # _check_shapes names the input and the fix
            given = tuple(shape)
        if any(d is not None and d != g for d, g in zip(shape[1:], given[1:])):
            raise BuildError(f"{path}: data shape {list(given)} for input {name!r} does not fit the model's "
                             f"{['N' if d is None else d for d in shape]}; give samples in the model's input shape")
        out[name] = (1 if shape[0] is None else shape[0], *(int(g) for g in given[1:]))
    return out


def _check_shapes(path: Path, inputs: dict, overwrite: dict) -> bool:
    """True when some input has a dynamic batch dimension (fixed to 1 for TFLite)."""
    dynamic_batch = False
    for name, (shape, _) in inputs.items():
        for axis, dim in enumerate(shape):
            if dim is None and axis == 0:
                dynamic_batch = True
            elif dim is None and name not in overwrite:
                raise BuildError(f"{path}: input {name!r} has a dynamic dimension at axis {axis}; TFLite "
                                 f"conversion needs fixed shapes: pass --eval or --calibration data whose "
                                 f"samples fix it, or re-export the model with a fixed input shape")
    return dynamic_batch


def _calibration_arrays(path: Path, inputs: dict, calibration: dict | None) -> dict[str, np.ndarray]:
    """Calibration data per input in TFLite's layout (channels last), float32."""
    if not calibration:
        raise BuildError(f"{path}: full-integer int8 TFLite needs calibration data; pass --calibration "
                         f"FILE.npz with one array per input ({', '.join(inputs)})")
    out = {}
    for name, (shape, elem) in inputs.items():
        if name not in calibration:
            raise BuildError(f"{path}: calibration data has no array for input {name!r} "
                             f"(it has {', '.join(sorted(calibration))}); add one keyed by the input name")
        data = np.asarray(calibration[name])
        if data.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape[1:], data.shape[1:])):
            want = "x".join("N" if d is None else str(d) for d in shape)
            raise BuildError(f"{path}: calibration array {name!r} has shape {list(data.shape)}, the input "
                             f"wants {want}; give samples in the model's input shape")
        if data.shape[0] < 1:
            raise BuildError(f"{path}: calibration array {name!r} is empty; give at least one sample")
        if elem != onnx.TensorProto.FLOAT:
            raise BuildError(f"{path}: input {name!r} is not float32; full-integer TFLite needs float "
                             f"inputs: quantize this model to int8 ONNX instead")
        data = data.astype(np.float32)
        if data.ndim in (3, 4, 5):
            data = np.ascontiguousarray(np.moveaxis(data, 1, -1))
        out[name] = data
    return out


def _tf_input_name(name: str) -> str:
    """The name onnx2tf gives an input inside TensorFlow (colons and a leading slash changed)."""
    return re.sub(r"^/", "wa/", name.replace(":", "__"))


def _subprocess_env(chain: Toolchain) -> dict[str, str]:
    env = clean_env()
    env["PATH"] = f"{chain.bin_dir}{os.pathsep}{env.get('PATH', '')}"  # onnx2tf runs `onnxsim`
    env["CUDA_VISIBLE_DEVICES"] = "-1"  # convert on the CPU: same result everywhere, no GPU memory grab
    env["TF_CPP_MIN_LOG_LEVEL"] = "1"
    return env


def _is_tflite(path: Path) -> bool:
    """A TFLite flatbuffer carries the file identifier "TFL3" at bytes 4..8."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == b"TFL3"


#: onnx2tf's ERROR lines that are advice or context, not the error itself.
_GENERIC_ERRORS = ("The trace log is below", "input_onnx_file_path:", "onnx_op_name:", "Read this and deal",
                   "Alternatively, if the input OP", "If the input OP of ONNX", "Also, for models that include")


def last_error_line(log: str) -> str:
    """The most telling line of an onnx2tf log: its own last specific ERROR line, else the
    last Python exception line (with the failing op when onnx2tf names it)."""
    lines = [ln.strip() for ln in _ANSI.sub("", log).splitlines()]
    lines = [ln for ln in lines if ln]
    errors = [ln[len("ERROR:"):].strip() for ln in lines if ln.startswith("ERROR:")]
    specific = [e for e in errors if e and not e.startswith(_GENERIC_ERRORS)]
    if specific:
        return specific[-1]
    op = next((e.split(":", 1)[1].strip() for e in reversed(errors) if e.startswith("onnx_op_name:")), None)
    for ln in reversed(lines):
        if _EXC_LINE.match(ln):
            return f"{ln} (at op {op})" if op else ln
    return lines[-1] if lines else "onnx2tf printed nothing and wrote no .tflite"


# --- feeding a LiteRT session with ONNX-shaped data -------------------------------------

def _plain(name: str) -> str:
    """``serving_default_input:0`` -> ``input``."""
    name = re.sub(r":\d+$", "", name)
    return name[len("serving_default_"):] if name.startswith("serving_default_") else name


def _fits(shape: tuple, spec: tuple) -> bool:
    return len(shape) == len(spec) and all(s is None or s == d for d, s in zip(shape, spec))


def _match_inputs(session, feeds: dict) -> list[tuple[object, str]]:
    specs = list(session.inputs)
    names = list(feeds)
    pairs = []
    unmatched = []
    for spec in specs:
        for cand in (spec.name, _plain(spec.name), _tf_to_onnx(_plain(spec.name), names)):
            if cand in feeds:
                pairs.append((spec, cand))
                break
        else:
            unmatched.append(spec)
    if not unmatched:
        return pairs
    if len(specs) == len(names):  # names differ: match by position
        return list(zip(specs, names))
    raise BuildError(f"cannot match feeds {names} to the TFLite inputs {[s.name for s in specs]}; "
                     f"key the feeds by the model's input names")


def input_pairs(session, names: list[str]) -> list[tuple[object, str]]:
    """(TFLite input spec, ONNX input name) for each input of ``session``, matched as ``adapt_feeds`` does."""
    return _match_inputs(session, dict.fromkeys(names))


def _tf_to_onnx(tf_name: str, onnx_names: list[str]) -> str | None:
    for n in onnx_names:
        if _tf_input_name(n) == tf_name:
            return n
    return None


def adapt_feeds(session, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX-style feeds (NCHW float) -> what ``session`` (a LiteRtSession) takes.

    Inputs are matched by name (TFLite's ``serving_default_<name>:0`` included), else by
    position; 3- to 5-D arrays move their channel axis last where the TFLite input is
    channels-last; int8/uint8 inputs are quantized with the input's scale and zero point.
    Batch size must fit the TFLite input (1 for models converted here: see ``run_tflite``).
    """
    out = {}
    for spec, name in _match_inputs(session, feeds):
        x = np.asarray(feeds[name])
        want = tuple(spec.shape)
        if x.ndim in (3, 4, 5) and _fits(np.moveaxis(x, 1, -1).shape, want):
            x = np.moveaxis(x, 1, -1)
        elif not _fits(x.shape, want):
            raise BuildError(f"feed {name!r} has shape {list(x.shape)}, the TFLite input {spec.name!r} wants "
                             f"{list(want)} (channels last); feed one sample at a time with run_tflite")
        dtype = np.dtype(spec.dtype)
        if dtype.kind in "iu":
            scale, zero = session.quantization(spec.name)
            if scale:
                info = np.iinfo(dtype)
                q = np.round(x.astype(np.float64) / scale) + zero
                x = np.clip(q, info.min, info.max)
        out[spec.name] = np.ascontiguousarray(x.astype(dtype))
    return out


def _output_order(session, names: list[str] | None) -> list[int]:
    """Positions in ``session.outputs`` of the original model's outputs, in its order.

    TFLite lists outputs in no useful order. onnx2tf's converter names them
    ``PartitionedCall:K`` where K is the output's place among the signature's output
    names sorted as strings (TensorFlow flattens the signature dict by sorted key). With
    the ONNX output ``names`` that gives the ONNX order; without them, the sorted-name order.
    """
    keys = [_CALL_INDEX.search(s.name) for s in session.outputs]
    if not all(keys):
        return list(range(len(session.outputs)))  # not from onnx2tf: keep TFLite's order
    by_k = {int(m.group(1)): i for i, m in enumerate(keys)}
    if names is None:
        return [by_k[k] for k in sorted(by_k)]
    tf_names = [_tf_input_name(n) for n in names]
    ranked = sorted(tf_names)
    if len(names) != len(session.outputs) or set(by_k) != set(range(len(ranked))):
        raise BuildError(f"the TFLite model has {len(session.outputs)} outputs, the ONNX model "
                         f"{len(names)} ({', '.join(names)}); convert the model again")
    return [by_k[ranked.index(t)] for t in tf_names]


def adapt_outputs(session, outputs: list[np.ndarray], *, names: list[str] | None = None,
                  shapes: list[tuple] | None = None) -> list[np.ndarray]:
    """TFLite outputs (in ``session.outputs`` order) -> float arrays in the ONNX model's order.

    Pass the ONNX output ``names`` to get the ONNX order (without them: outputs sorted by
    name, which is the same for a single output). int8/uint8 outputs are dequantized
    with their scale and zero point. With ``shapes`` (the ONNX output shapes, None for
    dynamic dims), channels-last outputs of rank 3-5 move their channel axis back to 1.
    """
    adapted = []
    for i in _output_order(session, names):
        spec, y = session.outputs[i], np.asarray(outputs[i])
        if np.dtype(spec.dtype).kind in "iu":
            scale, zero = session.quantization(spec.name)
            if scale:
                y = ((y.astype(np.float32) - np.float32(zero)) * np.float32(scale)).astype(np.float32)
        adapted.append(y)
    if shapes is not None:
        for k, (y, want) in enumerate(zip(adapted, shapes)):
            want = tuple(want)
            if y.ndim in (3, 4, 5) and not _fits(y.shape, want) and _fits(np.moveaxis(y, -1, 1).shape, want):
                adapted[k] = np.moveaxis(y, -1, 1)
    return adapted


def run_tflite(session, feeds: dict[str, np.ndarray], *, names: list[str] | None = None,
               shapes: list[tuple] | None = None) -> list[np.ndarray]:
    """Run ONNX-style feeds with any batch size through a batch-1 TFLite session, one sample
    at a time, and return float outputs stacked along the batch axis."""
    rows = [adapt_outputs(session, session.run(c), names=names, shapes=shapes) for c in tflite_chunks(session, feeds)]
    if len(rows) == 1:
        return rows[0]
    return [np.concatenate([r[k] for r in rows], axis=0) for k in range(len(rows[0]))] if rows else []


def tflite_chunks(session, feeds: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """ONNX-style feeds as the TFLite session takes them (``adapt_feeds``): one sample per chunk when
    the session's batch is 1 and the feeds hold several, else the whole batch."""
    batch = {np.asarray(v).shape[0] for v in feeds.values() if np.asarray(v).ndim > 0}
    fixed = {s.shape[0] for s in session.inputs if s.shape}
    if len(batch) != 1 or fixed - {1}:
        return [adapt_feeds(session, feeds)]
    (n,) = batch
    return [adapt_feeds(session, {k: np.asarray(v)[i:i + 1] for k, v in feeds.items()}) for i in range(n)]
