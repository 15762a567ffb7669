"""onnxruntime sessions (.onnx and .ort), and a probe of this host's int8 matrix kernels.

On x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) onnxruntime's u8s8 int8 kernels add pairs of
products in a saturating 16-bit intermediate (``vpmaddubsw``), so an int8 model can score differently on
two x86 hosts, and differently from an ARM device, whose int8 kernels accumulate exactly in 32 bits.
``exact_int8=True`` sets onnxruntime's ``session.x64quantprecision``: the session's graph optimizer then
rewrites the int8 weights of QLinearConv, MatMulInteger, QGemm and related operators to uint8 and runs the
u8u8 kernels, which do not saturate. That rewrite is a graph optimization, so it cannot reach an ORT-format
model whose fused int8 operators were fixed at conversion: ``int8_kernels()`` says whether this host's own
u8s8 kernels are exact, measured on a tiny model rather than guessed from CPU flags.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgekit.errors import ModelError
from edgekit.runtime.base import TensorSpec, image_layout

log = logging.getLogger(__name__)

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(int16)": "int16", "tensor(uint16)": "uint16",
}


def _spec(arg) -> TensorSpec:
    # -1 and 0 (Paddle exports) are dynamic like a named or unnamed dimension
    shape = tuple((d if d > 0 else None) if isinstance(d, int) else (d or None) for d in arg.shape)
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type), image_layout(shape, "NCHW"))


class OrtSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path | bytes, *, providers: list[str] | None = None, threads: int | None = None,
                 provider_options: list[dict] | None = None, exact_int8: bool = False):
        available = ort.get_available_providers()
        wanted = list(providers or ["CPUExecutionProvider"])
        options = list(provider_options or [{} for _ in wanted])
        chosen = [(p, o) for p, o in zip(wanted, options) if p in available]
        if not any(p == "CPUExecutionProvider" for p, _ in chosen):
            chosen.append(("CPUExecutionProvider", {}))
        #: providers asked for that this onnxruntime build does not have
        self.missing_providers = [p for p in wanted if p not in available]
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 4  # errors reach the caller as exceptions, not as extra log lines on stderr
        if exact_int8:
            so.add_session_config_entry(X64_QUANT_PRECISION, "1")
        #: whether int8 operators that the session fuses run on non-saturating kernels (see the module doc)
        self.exact_int8 = exact_int8
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._sess = ort.InferenceSession(
                    path if isinstance(path, bytes) else str(path), sess_options=so,
                    providers=[p for p, _ in chosen], provider_options=[o for _, o in chosen])
        except Exception as exc:  # onnxruntime raises several unrelated types
            where = "the model" if isinstance(path, bytes) else str(path)
            raise ModelError(f"{where}: onnxruntime cannot load this model ({ort.__version__}): "
                             f"{runtime_reason(exc)}") from None
        self.runtime_version = ort.__version__
        self.providers = list(self._sess.get_providers())
        self.inputs = [_spec(a) for a in self._sess.get_inputs()]
        self.outputs = [_spec(a) for a in self._sess.get_outputs()]
        self._out_names = [o.name for o in self.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(self._out_names, feeds)


#: (text in onnxruntime's message, what it means in edgekit's words), first match wins
_REASONS = (
    ("does not match expected type", "a node's output type does not match the type the graph declares"),
    ("Type Error", "the tensor types of a node do not match"),
    ("Unsupported model IR version", "the model's IR version is newer than this onnxruntime reads"),
    ("opset", "the model uses an opset this onnxruntime does not support"),
    ("input arg count", "a node's inputs do not match its operator's definition"),
    ("Could not find an implementation", "an operator or data type has no implementation in this onnxruntime"),
    ("NOT_IMPLEMENTED", "an operator or data type has no implementation in this onnxruntime"),
    ("Protobuf parsing failed", "the file is not a valid ONNX or ORT model"),
    ("INVALID_PROTOBUF", "the file is not a valid ONNX or ORT model"),
    ("Duplicate definition of name", "the graph defines one tensor name twice"),
    ("INVALID_GRAPH", "the graph is not valid"),
    ("This is an invalid model", "the graph is not valid"),
    ("Got invalid dimensions", "an input has the wrong shape"),
    ("Invalid rank", "an input has the wrong number of dimensions"),
    ("INVALID_ARGUMENT", "an input does not fit what the model expects"),
    ("bad_alloc", "it ran out of memory"),
    ("Failed to allocate", "it ran out of memory"),
    ("No data is collected", "calibration collected no activation ranges"),
)


def runtime_reason(exc: BaseException) -> str:
    """onnxruntime's failure in edgekit's words; its own text goes to the log (INFO)."""
    text = str(exc).strip() or type(exc).__name__
    log.info("onnxruntime said: %s", text)
    fallback = ("it reports an internal error" if "ONNXRuntimeError" in text
                else f"its Python tools raised {type(exc).__name__}")
    reason = next((words for key, words in _REASONS if key in text), fallback)
    return f"{reason} (onnxruntime's own message: --log-level info)"


X64_QUANT_PRECISION = "session.x64quantprecision"


def _probe_model() -> bytes:
    """MatMulInteger of uint8 255s by int8 127s over K=64: exact 2,072,640; saturating pairs give 1,048,544."""
    from onnx import TensorProto, helper, numpy_helper

    b = numpy_helper.from_array(np.full((PROBE_K, 16), 127, np.int8), "B")
    node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
    graph = helper.make_graph([node], "int8-probe", [helper.make_tensor_value_info("A", TensorProto.UINT8, [16, PROBE_K])],
                              [helper.make_tensor_value_info("Y", TensorProto.INT32, [16, 16])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


PROBE_K = 64


@functools.cache
def int8_kernels() -> dict:
    """How this host's onnxruntime computes u8s8 int8 products: ``{"exact": bool, "detail": str}``."""
    sess = OrtSession(_probe_model())
    y = sess.run({"A": np.full((16, PROBE_K), 255, np.uint8)})[0]
    want = 255 * 127 * PROBE_K
    exact = bool(np.all(y == want))
    detail = ("exact (32-bit accumulation)" if exact else
              f"saturating (16-bit pair sums: {int(y.flat[0])} where {want} is exact; x86 u8s8 without VNNI)")
    return {"exact": exact, "detail": detail}
