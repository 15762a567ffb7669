"""How many calibration samples fit in memory, measured per model.

onnxruntime's calibrators keep every intermediate activation of every calibration sample until the end
(``MinMaxCalibrater.collect_data``; its ``CalibMaxIntermediateOutputs`` drops the data rather than folding it
into the ranges). PP-OCRv4 text detection at 480x640 holds about 0.5 GB per sample: 32 samples peaked at
16.6 GB, 256 would not fit in most machines. So the build measures one sample's activations (the model with
every node output exposed, run once) and calibrates on as many samples as fit in a share of the memory
available now, never fewer than ``MIN_SAMPLES``; the manifest records the cap and why.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.builder.qdq_debug import debug_session, saved_outputs

#: share of MemAvailable that calibration activations may take
MEMORY_SHARE = 0.25
MIN_SAMPLES = 8


@dataclass(frozen=True)
class CalibrationBudget:
    samples: int                 # how many calibration samples to use
    per_sample_bytes: int        # one sample's intermediate activations, measured
    available_bytes: int | None  # MemAvailable when measured (None: not readable)

    def note(self, wanted: int) -> str | None:
        if self.samples >= wanted:
            return None
        mb = 1 << 20
        return (f"int8 calibrated on {self.samples} of {wanted} samples: one sample's activations take "
                f"{self.per_sample_bytes / mb:.0f} MB and onnxruntime's calibrator keeps them all; "
                f"{MEMORY_SHARE:.0%} of the {self.available_bytes / mb:.0f} MB available allows {self.samples}")


def available_bytes(proc_root: Path = Path("/proc")) -> int | None:
    """MemAvailable from ``<proc_root>/meminfo``, in bytes (None where the file is missing or unreadable)."""
    try:
        for line in (Path(proc_root) / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def activation_bytes(model_path: Path, feed: dict[str, np.ndarray]) -> int:
    """Bytes of every node output of ``model_path`` for one feed (what a calibrator keeps per sample)."""
    from onnxruntime.quantization.qdq_loss_debug import modify_model_output_intermediate_tensors

    with tempfile.TemporaryDirectory(prefix="edgekit-calmem-") as tmp:
        aug = Path(tmp) / "aug.onnx"
        modify_model_output_intermediate_tensors(str(model_path), str(aug))
        sess = debug_session(aug)
        saved = [sess.get_outputs()[i].name for i in saved_outputs(sess).values()]
        return int(sum(np.asarray(o).nbytes for o in sess.run(saved, feed)))


def budget(per_sample_bytes: int, wanted: int, available: int | None) -> CalibrationBudget:
    if available is None or per_sample_bytes <= 0:
        return CalibrationBudget(wanted, per_sample_bytes, available)
    fits = int(available * MEMORY_SHARE // per_sample_bytes)
    return CalibrationBudget(max(MIN_SAMPLES, min(wanted, fits)), per_sample_bytes, available)
