"""Make the small 224x224 image sample used to calibrate and check EfficientNet-Lite0 builds.

The images are crops of real photographs that scikit-learn and scikit-image ship inside their
wheels (no download). There are no ImageNet labels: the eval set supports an *agreement* check
(does the int8/fp16 build pick the same top-1 class as the fp32 model?), not an accuracy measure.
Calibration and eval come from different photographs, so no eval pixel was seen during calibration.

Reproduce (needs scikit-learn, scikit-image and Pillow)::

    python models/make_image_sample.py            # writes into models/

Outputs:
  efficientnet_calib.npz   ``input`` float32 [16,3,224,224], (pixel - 127) / 128, RGB, NCHW
  efficientnet_eval.npz    ``input`` float32 [18,3,224,224], same scaling, other photographs
  efficientnet_sample.json what each image is (photo, crop box, flip, brightness) and the licences
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

SEED = 0
SIZE = 224
MEAN = 127.0
STD = 128.0

# photo name -> (loader description, licence as stated by the shipping package)
PHOTOS = {
    "china": ("sklearn.datasets.load_sample_image('china.jpg')", "CC BY 2.0, danielbuechele (Flickr)"),
    "flower": ("sklearn.datasets.load_sample_image('flower.jpg')", "CC BY 2.0, vultilion (Flickr)"),
    "astronaut": ("skimage.data.astronaut()", "public domain (NASA)"),
    "camera": ("skimage.data.camera() (grey, repeated to 3 channels)", "CC0, Lav Varshney"),
    "rocket": ("skimage.data.rocket()", "public domain (SpaceX)"),
    "coffee": ("skimage.data.coffee()", "CC0, Rachel Michetti"),
    "chelsea": ("skimage.data.chelsea()", "CC0, Stefan van der Walt"),
}
CALIB_PHOTOS = ("china", "astronaut", "camera", "rocket")
CALIB_CROPS = 4
EVAL_PHOTOS = ("flower", "coffee", "chelsea")
EVAL_CROPS = 6


def load_photo(name: str) -> np.ndarray:
    """Return the photo as uint8 [H,W,3]."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return img[:, :, :3]


def crops(photo: np.ndarray, count: int, rng: np.random.Generator):
    """Yield (uint8 [224,224,3], description) for ``count`` augmented square crops.

    The first crop is the centred full-height square (what a classifier usually sees);
    the others are random squares of 40-100 % of the short side, maybe flipped, with a
    brightness factor in [0.85, 1.15].
    """
    from PIL import Image

    h, w, _ = photo.shape
    short = min(h, w)
    for k in range(count):
        if k == 0:
            side, top, left, flip, gain = short, (h - short) // 2, (w - short) // 2, False, 1.0
        else:
            side = int(rng.uniform(0.4, 1.0) * short)
            top = int(rng.integers(0, h - side + 1))
            left = int(rng.integers(0, w - side + 1))
            flip = bool(rng.random() < 0.5)
            gain = float(rng.uniform(0.85, 1.15))
        patch = Image.fromarray(photo[top : top + side, left : left + side]).resize(
            (SIZE, SIZE), Image.BILINEAR
        )
        arr = np.asarray(patch).astype(np.float32) * gain
        if flip:
            arr = arr[:, ::-1]
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        yield arr, {"box_yxs": [top, left, side], "flip": flip, "gain": round(gain, 3)}


def make_set(photos, per_photo: int, rng: np.random.Generator):
    images, described = [], []
    for name in photos:
        photo = load_photo(name)
        for arr, desc in crops(photo, per_photo, rng):
            images.append(arr)
            described.append({"photo": name, **desc})
    u8 = np.stack(images)  # [N,224,224,3]
    x = ((u8.astype(np.float32) - MEAN) / STD).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x), described


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(SEED)
    calib, calib_desc = make_set(CALIB_PHOTOS, CALIB_CROPS, rng)
    evals, eval_desc = make_set(EVAL_PHOTOS, EVAL_CROPS, rng)
    save_npz(out / "efficientnet_calib.npz", input=calib)
    save_npz(out / "efficientnet_eval.npz", input=evals)
    card = {
        "for": "efficientnet-lite0 (catalog)",
        "purpose": "calibration for static int8 and a top-1 agreement check between builds; "
        "NOT an accuracy measure (no ImageNet labels, few photographs)",
        "layout": "NCHW float32 [N,3,224,224], RGB, (pixel - 127) / 128",
        "seed": SEED,
        "calibration_file": "efficientnet_calib.npz",
        "eval_file": "efficientnet_eval.npz",
        "calibration_photos": list(CALIB_PHOTOS),
        "eval_photos": list(EVAL_PHOTOS),
        "note": "calibration and eval use different photographs",
        "photos": {k: {"source": v[0], "licence": v[1]} for k, v in PHOTOS.items()},
        "calibration_images": calib_desc,
        "eval_images": eval_desc,
        "reproduce": "python models/make_image_sample.py",
    }
    path = out / "efficientnet_sample.json"
    path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {len(calib)} calibration and {len(evals)} eval images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
