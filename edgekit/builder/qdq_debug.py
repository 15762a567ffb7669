"""Find the nodes whose quantization hurts most, with onnxruntime's QDQ debugging tools.

Both the float model (the one fed to the quantizer) and its QDQ model are augmented to expose every
float activation (``modify_model_output_intermediate_tensors``), run on the same samples one at a time (as
``collect_activations`` runs them, without graph optimization, but keeping only running sums of signal and
noise energy per tensor, so memory holds one sample's activations whatever the sample count), and compared:

* ``xmodel`` SNR per tensor: float model vs QDQ model, same tensor name — after its QuantizeLinear/
  DequantizeLinear pair where it has one (what the error has grown to there);
* which tensors carry a QuantizeLinear/DequantizeLinear pair: onnxruntime's ``create_activation_matching``,
  applied to the tensor names;
* weight SNR: float vs dequantized weights (``create_weight_matching`` + ``compute_weight_error``).

A node's damage is the relative error (noise/signal amplitude) it adds between its worst float input and
its output, so the node that *introduces* the error ranks first, not every node downstream of it.
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgekit.builder.data import SampleSet

SNR_CAP_DB = 120.0


@dataclass(frozen=True)
class NodeDamage:
    nodes: tuple[str, ...]  # the node, plus producers the quantizer fused into it
    op_type: str
    added_error: float      # relative error (noise/signal amplitude) added between inputs and output
    output_snr_db: float    # float vs QDQ model at the node's output
    weight_snr_db: float | None

    def to_json(self) -> dict:
        return {"nodes": list(self.nodes), "op_type": self.op_type, "added_error": round(self.added_error, 4),
                "output_snr_db": round(self.output_snr_db, 2),
                "weight_snr_db": None if self.weight_snr_db is None else round(self.weight_snr_db, 2)}


class _NoiseSums:
    """Signal and noise energy of each compared tensor, summed one sample at a time (memory: one sample's
    activations, whatever the sample count). SNR as onnxruntime's ``compute_signal_to_quantization_noice_ratio``
    computes it over all samples at once: 20·log10(‖float‖ / ‖float − qdq‖), norms floored at float eps."""

    def __init__(self):
        self.signal: dict[str, float] = {}
        self.noise: dict[str, float] = {}

    def add(self, name: str, ref: np.ndarray, got: np.ndarray) -> None:
        a = np.asarray(ref, np.float64).ravel()
        b = np.asarray(got, np.float64).ravel()
        if a.shape != b.shape:
            self.noise[name] = math.inf  # the QDQ model changed the tensor's shape: no usable comparison
            self.signal.setdefault(name, 0.0)
            return
        self.signal[name] = self.signal.get(name, 0.0) + float(a @ a)
        d = a - b
        self.noise[name] = self.noise.get(name, 0.0) + float(d @ d)

    def snr_db(self, name: str) -> float:
        eps = float(np.finfo(float).eps)
        signal, noise = math.sqrt(self.signal[name]), math.sqrt(self.noise[name])
        if not (math.isfinite(signal) and math.isfinite(noise)):
            return -SNR_CAP_DB
        return min(20.0 * math.log10(max(signal, eps) / max(noise, eps)), SNR_CAP_DB)


def _nsr(snr_db: float) -> float:
    """Noise-to-signal amplitude ratio of an SNR in dB (0 = exact, 1 = noise as large as the signal)."""
    return 10.0 ** (-snr_db / 20.0)


def debug_session(path: Path):
    import onnxruntime as ort

    # as onnxruntime's collect_activations runs them: no graph optimization, so Q/DQ pairs stay float
    # arithmetic (no fused int8 kernel of this host is involved) and every intermediate tensor exists
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


#: the suffix modify_model_output_intermediate_tensors gives each tensor it exposes (as collect_activations reads it)
SAVED_SUFFIX = "_ReshapedSavedOutput"


def saved_outputs(session) -> dict[str, int]:
    """Tensor name -> output index, for the tensors the augmentation exposed."""
    return {o.name[: -len(SAVED_SUFFIX)]: i for i, o in enumerate(session.get_outputs())
            if o.name.endswith(SAVED_SUFFIX)}


def _compare(fa: Path, qa: Path, samples: SampleSet) -> tuple[_NoiseSums, dict[str, str], set[str]]:
    """Run both augmented models one sample at a time; returns the noise sums per float tensor, the QDQ
    tensor each float tensor is compared with, and the tensors the quantizer put a Q/DQ pair on."""
    from onnxruntime.quantization.qdq_loss_debug import create_activation_matching

    fs, qs = debug_session(fa), debug_session(qa)
    f_index, q_index = saved_outputs(fs), saved_outputs(qs)
    f_names, q_names = list(f_index), list(q_index)
    # onnxruntime's own pairing of pre/post-QDQ tensor names, applied to the names alone
    pairs = create_activation_matching({n: [n] for n in q_names}, {n: [n] for n in f_names})
    matched = {k for k, v in pairs.items() if "float" in v and v.get("post_qdq")}
    q_set = set(q_names)
    # where the QDQ model quantizes a tensor, compare what its consumers see: the dequantized value (the
    # quantizer folds Relu/Clip into the quantization range, so the raw tensor of that name is the unclipped
    # producer output)
    partner = {t: pairs[t]["post_qdq"][0] if t in matched else t for t in f_names if t in matched or t in q_set}
    sums = _NoiseSums()
    for feeds in samples.batches(max_batch=1):
        f_out = fs.run(None, feeds)
        q_out = qs.run(None, feeds)
        for t, q in partner.items():
            sums.add(t, f_out[f_index[t]], q_out[q_index[q]])
        del f_out, q_out
    return sums, partner, matched


def rank_nodes(float_model: Path, qdq_model: Path, samples: SampleSet) -> list[NodeDamage]:
    """Quantized nodes of the float model, worst first."""
    from onnxruntime.quantization.qdq_loss_debug import (
        compute_weight_error,
        create_weight_matching,
        modify_model_output_intermediate_tensors,
    )

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-qdqdbg-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fa, qa = Path(tmp) / "float_aug.onnx", Path(tmp) / "qdq_aug.onnx"
            modify_model_output_intermediate_tensors(str(float_model), str(fa))
            modify_model_output_intermediate_tensors(str(qdq_model), str(qa))
            sums, partner, matched = _compare(fa, qa, samples)
            # onnxruntime's compute_weight_error takes len() of each weight: scalar weights (e.g. a quantized
            # Mul by a constant) raise a TypeError there, so they are left out of the weight figures
            weights = {k: v for k, v in create_weight_matching(str(float_model), str(qdq_model)).items()
                       if all(np.ndim(a) > 0 for a in v.values())}
            weight_err = compute_weight_error(weights)
    finally:
        root.setLevel(level)

    fm = onnx.load(str(float_model), load_external_data=False)
    graph_inputs = {i.name for i in fm.graph.input}
    producer = {o: n for n in fm.graph.node for o in n.output}
    touched_names = set(weight_err) | matched

    def compared(t: str) -> bool:
        return t in partner

    def upstream(node, seen) -> tuple[float, list]:
        """(worst input SNR, nodes merged with this one): a float tensor the quantizer removed
        (e.g. Conv->Relu folded into one QDQ group) merges its producer into this node's group."""
        snrs, group = [], [node]
        for i in node.input:
            if compared(i):
                snrs.append(sums.snr_db(i))
            elif i in graph_inputs:
                snrs.append(SNR_CAP_DB)
            elif i in producer and producer[i].name not in seen:
                seen.add(producer[i].name)
                s, g = upstream(producer[i], seen)
                snrs.append(s)
                group = g + group
        return (min(snrs) if snrs else SNR_CAP_DB), group

    ranked: list[NodeDamage] = []
    for node in fm.graph.node:
        outs = [o for o in node.output if compared(o)]
        if not outs:
            continue
        in_snr, group = upstream(node, {node.name})
        names = {t for n in group for t in list(n.input) + list(n.output)}
        if not names & touched_names:
            continue  # the quantizer left these nodes alone; excluding them changes nothing
        out_snr = min(sums.snr_db(o) for o in outs)
        w = [weight_err[i] for n in group for i in n.input if i in weight_err]
        added = _nsr(out_snr) - _nsr(in_snr)
        ranked.append(NodeDamage(tuple(n.name or n.output[0] for n in group), node.op_type, added, out_snr,
                                 min(w) if w else None))
    ranked.sort(key=lambda d: (-d.added_error, d.output_snr_db))
    return ranked
