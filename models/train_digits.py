"""Train the bundled digits CNN and write its ONNX file, eval/calibration sets and card.

Data: scikit-learn's bundled ``load_digits`` (1,797 grey-scale 8x8 images, pixel values 0..16),
split 75/25 stratified with ``random_state=0``. Pixels are divided by 16 so inputs lie in [0, 1].

Reproduce (needs ``pip install 'edgekit[train]'``, i.e. torch and scikit-learn)::

    python models/train_digits.py            # writes into models/
    python models/train_digits.py --out DIR  # writes elsewhere

Outputs (in ``--out``):
  digits_cnn.onnx    input ``input`` float32 [N,1,8,8] (dynamic N), output ``logits`` [N,10];
                     opset 17, saved with ONNX IR version 8 so older runtimes load it.
  digits_eval.npz    the held-out split: ``input`` float32 [450,1,8,8], ``labels`` int64 [450].
  digits_calib.npz   ``input``: 128 training images (stratified), none identical to an eval image.
  digits_cnn.json    the model card: data, split, seed, parameter count, measured accuracy
                     (of the ONNX file, run in onnxruntime), training time, this command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 0
TEST_SIZE = 0.25
CALIB_COUNT = 128
EPOCHS = 60
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
IR_VERSION = 8
OPSET = 17


def load_split():
    """Return (x_train, y_train, x_test, y_test) as float32 [N,1,8,8] in [0,1] and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED
    )
    return x_train, y_train, x_test, y_test


def pick_calibration(x_train, y_train, x_test, count: int) -> np.ndarray:
    """Pick ``count`` training images, stratified by label, skipping any identical to an eval image."""
    test_rows = {row.tobytes() for row in x_test.reshape(len(x_test), -1)}
    usable = np.array(
        [i for i, row in enumerate(x_train.reshape(len(x_train), -1)) if row.tobytes() not in test_rows]
    )
    rng = np.random.default_rng(SEED)
    classes = np.unique(y_train)
    per_class = count // len(classes)
    chosen: list[int] = []
    for c in classes:
        idx = usable[y_train[usable] == c]
        chosen.extend(rng.choice(idx, size=per_class, replace=False).tolist())
    rest = np.setdiff1d(usable, chosen)
    chosen.extend(rng.choice(rest, size=count - len(chosen), replace=False).tolist())
    return x_train[np.sort(np.array(chosen))]


def build_model():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 8x8 -> 4x4
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 4x4 -> 2x2
        nn.Flatten(),
        nn.Linear(64 * 2 * 2, 64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


def shift_batch(xb, rng: np.random.Generator):
    """Light augmentation: shift each image by up to one pixel (zero fill)."""
    import torch
    import torch.nn.functional as F

    n = xb.shape[0]
    padded = F.pad(xb, (1, 1, 1, 1))  # [n,1,10,10]
    shifts = torch.from_numpy(rng.integers(-1, 2, size=(n, 2)))
    base = torch.arange(8)
    rows = (base[None, :] + 1 - shifts[:, :1])[:, :, None]  # [n,8,1]
    cols = (base[None, :] + 1 - shifts[:, 1:])[:, None, :]  # [n,1,8]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols][:, None]


def train(x_train, y_train):
    import torch

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    model = build_model()
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    rng = np.random.default_rng(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            xb = shift_batch(xt[idx], rng)
            opt.zero_grad()
            loss = loss_fn(model(xb), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    return model


def export_onnx(model, path: Path) -> None:
    import onnx
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(
            model,
            (torch.zeros(1, 1, 8, 8),),
            str(raw),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        )
        proto = onnx.load(str(raw))
    proto.ir_version = IR_VERSION
    proto.producer_name = "edgekit models/train_digits.py"
    onnx.checker.check_model(proto)
    write_atomic(path, proto.SerializeToString())


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: Path, **arrays) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def onnx_accuracy(path: Path, x, y) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"input": x})
    return float((logits.argmax(axis=1) == y).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    import onnxruntime
    import sklearn
    import torch

    x_train, y_train, x_test, y_test = load_split()
    calib = pick_calibration(x_train, y_train, x_test, CALIB_COUNT)

    t0 = time.monotonic()
    model = train(x_train, y_train)
    train_s = time.monotonic() - t0
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        torch_acc = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean())

    onnx_path = out / "digits_cnn.onnx"
    export_onnx(model, onnx_path)
    save_npz(out / "digits_eval.npz", input=x_test, labels=y_test)
    save_npz(out / "digits_calib.npz", input=calib)
    acc = onnx_accuracy(onnx_path, x_test, y_test)

    card = {
        "name": "digits-cnn",
        "file": onnx_path.name,
        "task": "10-class handwritten digit classification (8x8 grey-scale)",
        "data": "scikit-learn load_digits (1,797 images, UCI optical recognition of handwritten digits, "
        "pixel values 0..16)",
        "preprocessing": "pixels / 16 -> float32 in [0, 1], layout NCHW [N,1,8,8]",
        "split": {
            "method": "sklearn.model_selection.train_test_split, stratified",
            "test_size": TEST_SIZE,
            "random_state": SEED,
            "train_images": int(len(x_train)),
            "eval_images": int(len(x_test)),
        },
        "eval_file": "digits_eval.npz",
        "calibration_file": "digits_calib.npz",
        "calibration_images": int(len(calib)),
        "calibration_note": "training images only, stratified by class, none identical to an eval image",
        "seed": SEED,
        "architecture": "3 x Conv3x3 (16, 32, 64) + ReLU, 2 x MaxPool, Linear 256->64, Linear 64->10",
        "parameters": int(params),
        "training": {
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "optimizer": f"Adam lr={LEARNING_RATE}, cosine schedule",
            "augmentation": "random shift by up to 1 pixel",
            "train_time_s": round(train_s, 1),
            "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        },
        "inputs": [{"name": "input", "dtype": "float32", "shape": ["N", 1, 8, 8]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": ["N", 10]}],
        "onnx": {"opset": OPSET, "ir_version": IR_VERSION, "exporter": "torch.onnx.export(dynamo=False)"},
        "eval_accuracy": round(acc, 4),
        "eval_accuracy_measured_with": f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider on "
        "digits_eval.npz (top-1 of logits vs labels)",
        "torch_eval_accuracy": round(torch_acc, 4),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "reproduce": "python models/train_digits.py",
        "note": "exact weights may differ across torch versions and CPUs; accuracy should not",
    }
    write_atomic(out / "digits_cnn.json", (json.dumps(card, indent=2) + "\n").encode())
    print(
        f"digits CNN: {params} parameters, trained in {train_s:.1f} s, "
        f"onnxruntime eval accuracy {acc:.4f} on {len(y_test)} images (torch {torch_acc:.4f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
