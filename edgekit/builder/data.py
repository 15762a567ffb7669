"""Calibration / evaluation data: ``.npz`` files keyed by the model's input names (optional ``labels``).

Arrays carry samples along their first axis. For an input whose shape is ``[N, ...]`` the array is
``[count, ...]`` and is fed in batches that fit ``N`` (a fixed ``N`` must divide ``count``); for an
input without a batch axis the array is ``[count, *shape]`` and each ``array[i]`` is one feed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from edgekit.errors import ConfigError

LABELS_KEY = "labels"


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | str | None, ...]
    dtype: str

    @property
    def batch_fixed(self) -> int | None:
        """Size of a fixed leading axis, None when it is dynamic (or the input is a scalar)."""
        if not self.shape:
            return None
        return self.shape[0] if isinstance(self.shape[0], int) else None


def input_specs(model: onnx.ModelProto) -> list[InputSpec]:
    init = {i.name for i in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in init:
            continue
        tt = vi.type.tensor_type
        # a dimension is fixed only when it is a positive number: exporters write a dynamic one as a name,
        # as nothing, or (Paddle) as dim_value -1 or 0
        dims = tuple(
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None)
            for d in tt.shape.dim
        )
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        specs.append(InputSpec(vi.name, dims, dtype))
    return specs


@dataclass
class SampleSet:
    """Validated samples for every model input, plus optional integer labels."""

    arrays: dict[str, np.ndarray]
    count: int
    per_sample_axis: dict[str, bool]      # True: array[i] is one whole feed (input has no batch axis)
    source: str                           # "file:<path>" or "generated"
    labels: np.ndarray | None = None
    batch_fixed: int | None = None        # common fixed batch size of batch-axis inputs
    specs: list[InputSpec] = field(default_factory=list)

    def batches(self, max_batch: int = 32) -> Iterator[dict[str, np.ndarray]]:
        step = 1 if any(self.per_sample_axis.values()) else (self.batch_fixed or max_batch)
        for start in range(0, self.count, step):
            stop = min(start + step, self.count)
            feeds = {}
            for name, arr in self.arrays.items():
                # np.asarray: one sample of a scalar input is a numpy scalar, which onnxruntime refuses
                feeds[name] = np.asarray(arr[start]) if self.per_sample_axis[name] else arr[start:stop]
            yield feeds

    def head(self, n: int) -> "SampleSet":
        """The first ``n`` samples (rounded down to whole fixed batches, at least one batch)."""
        step = 1 if any(self.per_sample_axis.values()) else (self.batch_fixed or 1)
        n = max(step, (min(n, self.count) // step) * step)
        return SampleSet(
            {k: v[:n] for k, v in self.arrays.items()}, n, self.per_sample_axis, self.source,
            None if self.labels is None else self.labels[:n], self.batch_fixed, self.specs,
        )

    def split(self, n: int) -> tuple["SampleSet", "SampleSet"]:
        """The first ``n`` samples and the rest, disjoint (``n`` rounded down to whole fixed batches)."""
        first = self.head(n)
        k = first.count
        rest = SampleSet(
            {key: v[k:] for key, v in self.arrays.items()}, self.count - k, self.per_sample_axis,
            f"{self.source} samples {k}-{self.count - 1}",
            None if self.labels is None else self.labels[k:], self.batch_fixed, self.specs,
        )
        first.source = f"{self.source} samples 0-{k - 1}"
        return first, rest


def load_npz(path: Path, *, role: str) -> dict[str, np.ndarray]:
    """Read an .npz file; ``role`` ("calibration"/"eval") names the option in errors."""
    path = Path(path)
    flag = f"--{role}"
    if not path.is_file():
        raise ConfigError(f"{path}: {role} data file not found; pass an existing .npz with {flag}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ConfigError(
            f"{path}: not a readable .npz file ({exc}); save {role} data with numpy.savez keyed by input name"
        ) from None


def _check_dtype(arr: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    want = np.dtype(spec.dtype)
    if arr.dtype == want:
        return arr
    if want.kind == "f" and arr.dtype.kind in "fiu":
        return arr.astype(want)
    if want.kind in "iu" and arr.dtype.kind in "iu":
        return arr.astype(want)
    if want.kind == "b" and arr.dtype.kind in "biu":
        return arr.astype(want)
    raise ConfigError(f"{where}: dtype {arr.dtype} cannot feed input {spec.name!r} of dtype {want}; convert it")


def _dims_match(actual: tuple[int, ...], declared: tuple) -> bool:
    return len(actual) == len(declared) and all(
        not isinstance(d, int) or d == a for a, d in zip(actual, declared)
    )


def validate_samples(
    arrays: dict[str, np.ndarray], specs: list[InputSpec], *, source: str, role: str
) -> SampleSet:
    """Check names, shapes and dtypes against the model's inputs; one clear error naming the fix."""
    where = source.removeprefix("file:")
    names = [s.name for s in specs]
    keys = [k for k in arrays if k != LABELS_KEY]
    missing = [n for n in names if n not in arrays]
    extra = [k for k in keys if k not in names]
    if missing or extra:
        raise ConfigError(
            f"{where}: {role} data keys {keys} do not match the model inputs {names}"
            f"{' (missing ' + ', '.join(missing) + ')' if missing else ''}"
            f"{' (unknown ' + ', '.join(extra) + ')' if extra else ''}; key each array by its input name"
        )
    out: dict[str, np.ndarray] = {}
    per_sample: dict[str, bool] = {}
    counts: dict[str, int] = {}
    fixed_batches: set[int] = set()
    for spec in specs:
        arr = np.asarray(arrays[spec.name])
        declared = spec.shape
        if arr.ndim == len(declared) + 1 and _dims_match(arr.shape[1:], declared):
            per_sample[spec.name] = True
            counts[spec.name] = arr.shape[0]
        elif arr.ndim == len(declared) and arr.ndim > 0 and _dims_match(arr.shape[1:], declared[1:]):
            per_sample[spec.name] = False
            counts[spec.name] = arr.shape[0]
            if spec.batch_fixed:
                fixed_batches.add(spec.batch_fixed)
                if arr.shape[0] % spec.batch_fixed:
                    raise ConfigError(
                        f"{where}: {role} array {spec.name!r} has {arr.shape[0]} samples, not a multiple of the "
                        f"model's fixed batch size {spec.batch_fixed}; trim or pad it"
                    )
        else:
            shown = [d if isinstance(d, int) else (d or "?") for d in declared]
            raise ConfigError(
                f"{where}: {role} array {spec.name!r} has shape {list(arr.shape)} but the model input is {shown} "
                f"(samples go along the first axis); reshape the data"
            )
        if counts[spec.name] == 0:
            raise ConfigError(f"{where}: {role} array {spec.name!r} holds no samples; add some")
        if arr.dtype.kind in "fc":
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise ConfigError(
                    f"{where}: {role} array {spec.name!r} holds {bad} NaN or infinite values; "
                    f"clean or drop those samples"
                )
        out[spec.name] = _check_dtype(arr, spec, where)
    if len(set(counts.values())) > 1:
        raise ConfigError(f"{where}: {role} arrays hold different sample counts {counts}; give each the same count")
    if len(fixed_batches) > 1:
        raise ConfigError(f"{where}: model inputs have different fixed batch sizes {sorted(fixed_batches)}")
    count = next(iter(counts.values()))
    labels = None
    if LABELS_KEY in arrays:
        labels = np.asarray(arrays[LABELS_KEY])
        if labels.ndim != 1 or labels.shape[0] != count or labels.dtype.kind not in "iu":
            raise ConfigError(
                f"{where}: 'labels' must be a 1-D integer array of {count} class indices, "
                f"got {labels.dtype} {list(labels.shape)}; fix the labels"
            )
    return SampleSet(out, count, per_sample, source, labels, next(iter(fixed_batches), None), list(specs))


def load_samples(path: Path, specs: list[InputSpec], *, role: str) -> SampleSet:
    return validate_samples(load_npz(path, role=role), specs, source=f"file:{Path(path)}", role=role)


def check_generatable(specs: list[InputSpec], model_name: str, why: str) -> None:
    """Refuse to generate inputs whose size only the data can tell (a dynamic dimension past the first)."""
    for spec in specs:
        dyn = [str(d or f"axis {i}") for i, d in enumerate(spec.shape) if i > 0 and not isinstance(d, int)]
        if dyn:
            raise ConfigError(
                f"{model_name}: input {spec.name!r} has dynamic dimensions ({', '.join(dyn)}) besides the batch "
                f"axis, so generated inputs cannot guess its size for {why}; pass --calibration or --eval data "
                f"(.npz keyed by input name) with real shapes"
            )


def generated_samples(specs: list[InputSpec], count: int = 16, *, seed: int = 0) -> SampleSet:
    """Synthetic inputs (standard normal floats, zero integers) for when no data file is given.

    Dynamic dimensions become 1 except the batch axis, which holds the samples.
    """
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    fixed = {s.batch_fixed for s in specs if s.batch_fixed}
    batch = next(iter(fixed), None)
    n = count if batch is None else max(batch, (count // batch) * batch)
    for spec in specs:
        dims = [d if isinstance(d, int) else 1 for d in spec.shape[1:]]
        shape = (n, *dims) if spec.shape else (n,)
        dt = np.dtype(spec.dtype)
        if dt.kind == "f":
            arrays[spec.name] = rng.standard_normal(shape).astype(dt)
        else:
            arrays[spec.name] = np.zeros(shape, dtype=dt)
    per_sample = {s.name: not s.shape for s in specs}
    return SampleSet(arrays, n, per_sample, "generated", None, batch, list(specs))
