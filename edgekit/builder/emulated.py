"""Running an artifact in the emulated arm64 root: arrays in, arrays out, through files in a private dir.

The host prepares the chunks exactly as its own session would feed them (``verify.feed_chunks``: batches
the artifact's fixed batch accepts, NHWC int8 per sample for a .tflite); ``emulated_runner.py`` runs them in
the root's onnxruntime or LiteRT and hands back the raw outputs, which the host then treats as it treats its
own (``verify.postprocess``). So both platforms see the same inputs and their figures come from one code path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgekit.builder.arm64root import VENV_PYTHON, Arm64Root
from edgekit.errors import BuildError

RUNNER = Path(__file__).with_name("emulated_runner.py")


def run_in_root(chain: Arm64Root, model: Path, fmt: str, input_names: list[str],
                chunks: list[list[np.ndarray]], *, threads: int | None = None,
                cpu: str = "max") -> tuple[list[list[np.ndarray]], dict]:
    """Run ``chunks`` (each a list of arrays in ``input_names`` order) through ``model`` inside the root.

    Returns the raw outputs per chunk (the runtime's output order) and what the root said of itself
    (runtime, runtime_version, arch, python, numpy, providers, run_s). The files live in a private
    directory inside the root, removed on the way out (a SIGTERM included)."""
    with chain.private_dir() as (host_dir, root_dir):
        suffix = Path(model).suffix
        shutil.copyfile(model, host_dir / f"model{suffix}")
        shutil.copyfile(RUNNER, host_dir / RUNNER.name)
        np.savez(host_dir / "feeds.npz",
                 **{f"c{c}_i{i}": np.ascontiguousarray(a) for c, arrays in enumerate(chunks)
                    for i, a in enumerate(arrays)})
        request = {"model": f"model{suffix}", "format": fmt, "threads": threads, "inputs": list(input_names),
                   "chunks": len(chunks)}
        (host_dir / "request.json").write_text(json.dumps(request))
        chain.run([VENV_PYTHON, "-I", f"{root_dir}/{RUNNER.name}", root_dir], cpu=cpu)
        try:
            info = json.loads((host_dir / "info.json").read_text())
            with np.load(host_dir / "outputs.npz") as got:
                keys = set(got.files)
                outs = []
                for c in range(len(chunks)):
                    n = sum(1 for k in keys if k.startswith(f"c{c}_o"))
                    outs.append([got[f"c{c}_o{k}"] for k in range(n)])
        except (OSError, ValueError, KeyError) as exc:
            raise BuildError(f"the emulated arm64 run of {Path(model).name} left no readable result ({exc}); "
                             f"report this as an edgekit bug") from None
    return outs, info
