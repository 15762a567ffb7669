"""Runs inside the emulated arm64 root (``/venv/bin/python emulated_bench.py WORKDIR``), not on the host.

Standalone on purpose: the root has numpy, onnxruntime and LiteRT, not edgekit. The host copies this script
into ``WORKDIR`` with two pure-Python parts of edgekit beside it: ``loop.py`` (``edgekit/bench/loop.py``, the
bench's own timed loop, so an emulated run is timed exactly as a run on the device) and
``emulated_runner.py`` (``edgekit/builder/emulated_runner.py``, which opens the model in the root's runtime).
The host writes ``request.json`` (model file, format, threads, duration or iterations, warm-up, rate, the
input names, the number of feeds) and ``feeds.npz`` (key ``f<feed>_i<input>``); this script writes
``bench.json``: the loop's timings (seconds, ``time.monotonic()`` of the emulated process) and what the
root said of itself (runtime, version, providers, arch, python, numpy).
"""

import json
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np


def main(workdir):
    work = Path(workdir)
    sys.path.insert(0, str(work))  # python -I leaves the script's directory off sys.path
    import loop
    from emulated_runner import open_model

    req = json.loads((work / "request.json").read_text())
    run, runtime, version, providers = open_model(work / req["model"], req["format"], req.get("threads"))
    with np.load(work / "feeds.npz") as z:
        feeds = [{name: z[f"f{f}_i{i}"] for i, name in enumerate(req["inputs"])} for f in range(req["feeds"])]

    def infer(i):
        return run(feeds[i % len(feeds)])

    result = loop.run_loop(infer, duration_s=req.get("duration_s"), iterations=req.get("iterations"),
                           warmup_s=req["warmup_s"], rate_hz=req.get("rate_hz"))
    out = {"loop": asdict(result), "runtime": runtime, "runtime_version": version, "providers": providers,
           "arch": platform.machine(), "python": platform.python_version(), "numpy": np.__version__}
    (work / "bench.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
