"""Find the nodes whose quantization hurts most, with onnxruntime's QDQ debugging tools.

Both the float model (the one fed to the quantizer) and its QDQ model are augmented to expose every
float activation (``modify_model_output_intermediate_tensors``), run on the same samples
(``collect_activations``), and compared:

* ``xmodel`` SNR per tensor: float model vs QDQ model, same tensor name — after its QuantizeLinear/
  DequantizeLinear pair where it has one (what the error has grown to there);
* ``qdq`` SNR per activation: before vs after its own QuantizeLinear/DequantizeLinear pair
  (``create_activation_matching`` + ``compute_activation_error``);
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
from edgekit.builder.quantize import calibration_reader

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


def _snr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    from onnxruntime.quantization.qdq_loss_debug import compute_signal_to_quantization_noice_ratio

    try:
        value = compute_signal_to_quantization_noice_ratio(
            [np.asarray(x, np.float64) for x in a], [np.asarray(x, np.float64) for x in b])
    except (ValueError, RuntimeError):
        return -SNR_CAP_DB
    if not math.isfinite(value):
        return -SNR_CAP_DB
    return min(value, SNR_CAP_DB)


def _nsr(snr_db: float) -> float:
    """Noise-to-signal amplitude ratio of an SNR in dB (0 = exact, 1 = noise as large as the signal)."""
    return 10.0 ** (-snr_db / 20.0)


def rank_nodes(float_model: Path, qdq_model: Path, samples: SampleSet) -> list[NodeDamage]:
    """Quantized nodes of the float model, worst first."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        compute_weight_error,
        create_activation_matching,
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
            float_acts = collect_activations(str(fa), calibration_reader(samples))
            qdq_acts = collect_activations(str(qa), calibration_reader(samples))
            matching = create_activation_matching(qdq_acts, float_acts)
            matching = {k: v for k, v in matching.items() if "float" in v}
            qdq_err = compute_activation_error(matching)
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
    touched_names = set(weight_err) | set(qdq_err)

    def qdq_value(t: str):
        # where the QDQ model quantizes a tensor, compare what its consumers see: the dequantized value
        # (the quantizer folds Relu/Clip into the quantization range, so the raw tensor of that name is
        # the unclipped producer output)
        m = matching.get(t)
        return m["post_qdq"] if m is not None else qdq_acts.get(t)

    def compared(t: str) -> bool:
        return t in float_acts and qdq_value(t) is not None

    def upstream(node, seen) -> tuple[float, list]:
        """(worst input SNR, nodes merged with this one): a float tensor the quantizer removed
        (e.g. Conv->Relu folded into one QDQ group) merges its producer into this node's group."""
        snrs, group = [], [node]
        for i in node.input:
            if compared(i):
                snrs.append(_snr(float_acts[i], qdq_value(i)))
            elif i in graph_inputs:
                snrs.append(SNR_CAP_DB)
            elif i in float_acts and i in producer and producer[i].name not in seen:
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
        out_snr = min(_snr(float_acts[o], qdq_value(o)) for o in outs)
        w = [weight_err[i] for n in group for i in n.input if i in weight_err]
        added = _nsr(out_snr) - _nsr(in_snr)
        ranked.append(NodeDamage(tuple(n.name or n.output[0] for n in group), node.op_type, added, out_snr,
                                 min(w) if w else None))
    ranked.sort(key=lambda d: (-d.added_error, d.output_snr_db))
    return ranked
