"""Inputs for the benchmark: samples from an ``.npz`` (keys = input names), cycled, or generated ones.

Generated inputs match the session's input specs with every dynamic dimension
set to 1; floats are standard-normal, integers uniform over a small range, from
a fixed seed so two runs feed the same data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgekit.errors import ModelError
from edgekit.runtime.base import TensorSpec

LABELS_KEY = "labels"


def _concrete_shape(spec: TensorSpec) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape)


def generated_feeds(specs: list[TensorSpec], *, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    feed = {}
    for s in specs:
        shape = _concrete_shape(s)
        dt = np.dtype(s.dtype)
        if dt.kind == "f":
            feed[s.name] = rng.standard_normal(shape).astype(dt)
        elif dt.kind == "b":
            feed[s.name] = rng.integers(0, 2, shape).astype(dt)
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            feed[s.name] = rng.integers(max(info.min, -8), min(info.max, 8) + 1, shape).astype(dt)
        else:
            raise ModelError(f"input {s.name!r} has dtype {s.dtype}, which edgekit cannot generate; "
                             "pass real inputs with --input FILE.npz")
    return [feed]


def _fits(shape: tuple[int, ...], spec: TensorSpec) -> bool:
    return len(shape) == len(spec.shape) and all(
        not (isinstance(d, int) and d > 0) or d == n for d, n in zip(spec.shape, shape))


def npz_feeds(path: Path, specs: list[TensorSpec]) -> list[dict[str, np.ndarray]]:
    """One feed per sample. Each key holds either one input of the model's shape or a stack of
    samples along a leading axis (``[N, *shape]``, or ``[N, ...]`` sliced ``[i:i+1]`` for a batch-1 model)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ModelError(f"{path}: no such input file; pass --input FILE.npz with one array per model input") from None
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ModelError(f"{path}: not a readable .npz ({exc}); save inputs with numpy.savez") from None
    names = [s.name for s in specs]
    missing = [n for n in names if n not in arrays]
    extra = [k for k in arrays if k not in names and k != LABELS_KEY]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks key(s) {', '.join(missing)}")
        if extra:
            parts.append(f"has unknown key(s) {', '.join(extra)}")
        raise ModelError(f"{path}: {' and '.join(parts)}; its keys must be the model's input names "
                         f"({', '.join(names)}) plus an optional '{LABELS_KEY}'")
    per_input: dict[str, list[np.ndarray]] = {}
    for s in specs:
        a = arrays[s.name]
        dt = np.dtype(s.dtype)
        if a.dtype != dt:
            if not np.can_cast(a.dtype, dt, casting="same_kind"):
                raise ModelError(f"{path}: key {s.name!r} holds {a.dtype}, the model wants {dt}; "
                                 "save the array with the model's dtype")
            a = a.astype(dt)
        lead_free = bool(s.shape) and not (isinstance(s.shape[0], int) and s.shape[0] > 1)
        if a.ndim == len(s.shape) + 1 and _fits(a.shape[1:], s):
            per_input[s.name] = [a[i] for i in range(a.shape[0])]
        elif lead_free and a.ndim == len(s.shape) and _fits((1, *a.shape[1:]), s):
            per_input[s.name] = [a[i:i + 1] for i in range(a.shape[0])]  # batch-1 samples, as generated ones
        elif _fits(a.shape, s):
            per_input[s.name] = [a]
        else:
            want = "x".join(str(d) if isinstance(d, int) and d > 0 else "?" for d in s.shape)
            raise ModelError(f"{path}: key {s.name!r} has shape {a.shape}, the model wants {want} "
                             f"(or N stacked samples); fix the array's shape")
        if not per_input[s.name]:
            raise ModelError(f"{path}: key {s.name!r} holds no samples; save at least one")
    n = max(len(v) for v in per_input.values())
    bad = {k: len(v) for k, v in per_input.items() if len(v) not in (1, n)}
    if bad:
        raise ModelError(f"{path}: inputs hold different sample counts ({bad}, expected {n}); "
                         "save the same number of samples for every input")
    return [{k: v[i % len(v)] for k, v in per_input.items()} for i in range(n)]
