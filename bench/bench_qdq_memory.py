"""Peak memory of the int8 node ranking: onnxruntime's collect_activations against edgekit's running sums.

    python bench/bench_qdq_memory.py [--samples 8] [--height 480 --width 640]

PP-OCRv4 text detection (pulled by sha256) is quantized once; then, each in a fresh process whose peak RSS
(VmHWM of /proc/self/status; ru_maxrss would carry over the parent's) belongs to that step alone, the same
float and QDQ models are compared
  * "collect_activations": onnxruntime's qdq_loss_debug path, which keeps every activation of every sample;
  * "edgekit rank_nodes": edgekit.builder.qdq_debug, one sample at a time with running signal/noise sums.
It prints the peak RSS of each and their ratio, with what each puts first (onnxruntime's worst tensors by SNR,
edgekit's nodes by the error they add: different measures). Needs Pillow (the inputs are rendered text pages,
from bench_corpus.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, sys
from pathlib import Path
import numpy as np, onnx
from edgekit.builder.data import input_specs, validate_samples
way, model, qdq, npz = sys.argv[1:5]
specs = input_specs(onnx.load(model, load_external_data=False))
samples = validate_samples(dict(np.load(npz)), specs, source="bench", role="calibration")
if way == "ort":
    import tempfile
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
        create_activation_matching, modify_model_output_intermediate_tensors)
    from edgekit.builder.quantize import calibration_reader
    with tempfile.TemporaryDirectory() as tmp:
        fa, qa = f"{tmp}/f.onnx", f"{tmp}/q.onnx"
        modify_model_output_intermediate_tensors(model, fa)
        modify_model_output_intermediate_tensors(qdq, qa)
        f = collect_activations(fa, calibration_reader(samples))
        q = collect_activations(qa, calibration_reader(samples))
        err = compute_activation_error({k: v for k, v in create_activation_matching(q, f).items() if "float" in v})
    top = sorted(err, key=lambda k: err[k].get("xmodel_err", 1e9))[:3]
else:
    from edgekit.builder.qdq_debug import rank_nodes
    top = [list(d.nodes) for d in rank_nodes(Path(model), Path(qdq), samples)[:3]]
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across fork+exec into ru_maxrss
hwm_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"peak_rss_mb": hwm_kb / 1024, "top": top}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--only", choices=("ort", "edgekit"), help="run one side (onnxruntime's needs ~1.6 GB a sample)")
    args = ap.parse_args()

    from bench_corpus import _text_page  # the same rendered pages as the corpus
    from edgekit.builder import quantize
    from edgekit.builder.data import input_specs, validate_samples
    from edgekit.models.pull import pull
    import onnx

    model = Path(pull("ppocr-v4-det"))
    rng = np.random.default_rng(0)
    pages = np.stack([_text_page(rng, args.height, args.width) for _ in range(args.samples)])
    mean = np.array([0.485, 0.456, 0.406], np.float32)[::-1].reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32)[::-1].reshape(1, 3, 1, 1)
    x = np.ascontiguousarray((pages[..., ::-1].transpose(0, 3, 1, 2) - mean) / std, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="edgekit-qdqmem-") as tmp:
        npz, qdq = Path(tmp) / "x.npz", Path(tmp) / "q.onnx"
        np.savez(npz, x=x)
        samples = validate_samples({"x": x}, input_specs(onnx.load(str(model), load_external_data=False)),
                                   source="bench", role="calibration")
        quantize.run(model, qdq, quantize.QuantizeConfig("bench", 10, "int8"), samples)
        res = {}
        for way in [args.only] if args.only else ("ort", "edgekit"):
            out = subprocess.run([sys.executable, "-c", CHILD, way, str(model), str(qdq), str(npz)],
                                 capture_output=True, text=True, check=True)
            res[way] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"PP-OCRv4 det, {args.samples} samples at {args.height}x{args.width}")
    if "ort" in res:
        print(f"  onnxruntime collect_activations: peak RSS {res['ort']['peak_rss_mb']:,.0f} MB; "
              f"worst tensors {res['ort']['top']}")
    if "edgekit" in res:
        print(f"  edgekit rank_nodes (running sums): peak RSS {res['edgekit']['peak_rss_mb']:,.0f} MB; "
              f"worst nodes {res['edgekit']['top']}")
    if len(res) == 2:
        print(f"  ratio {res['ort']['peak_rss_mb'] / res['edgekit']['peak_rss_mb']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
