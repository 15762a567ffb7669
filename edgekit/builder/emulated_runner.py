"""Runs inside the emulated arm64 root (``/venv/bin/python emulated_runner.py WORKDIR``), not on the host.

Standalone on purpose: the root has numpy, onnxruntime and LiteRT, not edgekit. The host writes
``WORKDIR/request.json`` (the model file name, its format, the thread count, the input names and the number
of chunks) and ``WORKDIR/feeds.npz`` (key ``c<chunk>_i<input>``: the arrays exactly as the artifact takes
them, already laid out and quantized by the host); this script runs every chunk through the model with the
runtime's default session options, as the device would, and writes ``outputs.npz`` (``c<chunk>_o<output>``,
raw, in the runtime's output order) and ``info.json`` (runtime, version, arch, providers, timing).
"""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def _ort(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds):
        return sess.run(names, feeds)

    return run, "onnxruntime", ort.__version__, list(sess.get_providers())


def _litert(path, threads):
    import ai_edge_litert
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads or None)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()

    def run(feeds):
        for d in ins:
            it.set_tensor(d["index"], feeds[d["name"]])
        it.invoke()
        return [it.get_tensor(d["index"]).copy() for d in outs]

    return run, "litert", "litert " + str(getattr(ai_edge_litert, "__version__", "unknown")), ["cpu"]


def open_model(path, fmt, threads):
    """(run(feeds by input name) -> outputs, runtime, version, providers) for a .tflite (LiteRT) or an
    .onnx/.ort (onnxruntime); ``edgekit/bench/emulated_bench.py`` opens its model with it too."""
    return (_litert if fmt == "tflite" else _ort)(path, threads)


def main(workdir):
    work = Path(workdir)
    req = json.loads((work / "request.json").read_text())
    run, runtime, version, providers = open_model(work / req["model"], req["format"], req.get("threads"))
    feeds = np.load(work / "feeds.npz")
    outputs = {}
    started = time.monotonic()
    for c in range(req["chunks"]):
        chunk = {name: feeds[f"c{c}_i{i}"] for i, name in enumerate(req["inputs"])}
        for k, y in enumerate(run(chunk)):
            outputs[f"c{c}_o{k}"] = np.asarray(y)
    took_s = time.monotonic() - started
    np.savez(work / "outputs.npz", **outputs)
    info = {"runtime": runtime, "runtime_version": version, "providers": providers, "arch": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__, "run_s": round(took_s, 3)}
    (work / "info.json").write_text(json.dumps(info))


if __name__ == "__main__":
    main(sys.argv[1])
