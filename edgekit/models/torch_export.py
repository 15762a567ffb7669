"""Export PyTorch weights to ONNX with torch's legacy exporter (``dynamo=False``).

Run as a subprocess by :mod:`edgekit.models.pull` (``python -m edgekit.models.torch_export JOB.json``,
the job an :class:`ExportJob` written as JSON)
so that the model code from the downloaded wheel, torch and their prints stay out of the caller's
process. The model code comes from a wheel whose sha256 the caller has already checked.

It writes the ONNX file (opset and IR version as asked) and a JSON report: torch version and the
largest |difference| between torch and onnxruntime outputs on one seeded random input.
"""

from __future__ import annotations

import json
import pkgutil
import sys
import tempfile
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ExportJob:
    """What to export: the model code wheel and its builder, the weights, and the ONNX file's names."""

    code_wheel: Path
    builder: str            # dotted path of the callable: builder(architecture, weights_path=...)
    architecture: str
    weights: Path
    out: Path               # the ONNX file to write
    report: Path            # the JSON report to write
    opset: int
    ir_version: int
    input_name: str
    input_shape: str        # comma-separated, e.g. 1,3,224,224
    output_name: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}))

    @classmethod
    def read(cls, path: Path) -> "ExportJob":
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        paths = ("code_wheel", "weights", "out", "report")
        return cls(**{k: Path(v) if k in paths else v for k, v in doc.items()})


def resolve(dotted: str):
    """``pkg.mod.Class.method``: the importable module prefix, then attributes (:func:`pkgutil.resolve_name`)."""
    return pkgutil.resolve_name(dotted)


def export(args: ExportJob) -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    torch.manual_seed(0)
    shape = [int(d) for d in args.input_shape.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp) / "code"
        with zipfile.ZipFile(args.code_wheel) as zf:
            zf.extractall(code_dir)
        sys.path.insert(0, str(code_dir))
        builder = resolve(args.builder)
        model = builder(args.architecture, weights_path=str(args.weights))
        model.eval()
        raw = Path(tmp) / "raw.onnx"
        sample = torch.zeros(*shape)
        torch.onnx.export(
            model,
            (sample,),
            str(raw),
            dynamo=False,
            opset_version=args.opset,
            input_names=[args.input_name],
            output_names=[args.output_name],
        )
        proto = onnx.load(str(raw))
    proto.ir_version = args.ir_version
    onnx.checker.check_model(proto)
    Path(args.out).write_bytes(proto.SerializeToString())

    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=shape).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    (got,) = sess.run([args.output_name], {args.input_name: x})
    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "opset": args.opset,
        "ir_version": args.ir_version,
        "check": "max |torch - onnxruntime| on one uniform(-1, 1) input, seed 0",
        "max_abs_diff": float(np.abs(expected - got).max()),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m edgekit.models.torch_export JOB.json", file=sys.stderr)
        return 2
    job = ExportJob.read(Path(argv[0]))
    warnings.filterwarnings("ignore")
    report = export(job)
    job.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
