"""Calibration / eval files: names, shapes, dtypes and labels are checked against the model's inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.builder.data import InputSpec, generated_samples, load_npz, load_samples, validate_samples
from edgekit.errors import ConfigError

SPECS = [InputSpec("input", ("N", 1, 8, 8), "float32")]


def save(tmp_path, **arrays):
    p = tmp_path / "data.npz"
    np.savez(p, **arrays)
    return p


def test_valid_file_batches_and_casts(tmp_path):
    p = save(tmp_path, input=np.random.default_rng(0).random((70, 1, 8, 8)), labels=np.arange(70) % 10)
    s = load_samples(p, SPECS, role="eval")
    assert s.count == 70 and s.arrays["input"].dtype == np.float32  # float64 cast to the model's dtype
    batches = list(s.batches(max_batch=32))
    assert [b["input"].shape[0] for b in batches] == [32, 32, 6]
    assert np.array_equal(np.concatenate([b["input"] for b in batches]), s.arrays["input"])
    assert s.head(10).count == 10 and s.head(10).labels.tolist() == list(range(10))


def test_wrong_input_name(tmp_path):
    p = save(tmp_path, image=np.zeros((4, 1, 8, 8), np.float32))
    with pytest.raises(ConfigError) as err:
        load_samples(p, SPECS, role="calibration")
    msg = str(err.value)
    assert "missing input" in msg and "unknown image" in msg and "key each array by its input name" in msg


def test_wrong_shape(tmp_path):
    p = save(tmp_path, input=np.zeros((4, 1, 28, 28), np.float32))
    with pytest.raises(ConfigError, match=r"shape \[4, 1, 28, 28\] but the model input is \['N', 1, 8, 8\]"):
        load_samples(p, SPECS, role="calibration")


def test_fixed_batch_must_divide_the_sample_count(tmp_path):
    specs = [InputSpec("input", (4, 1, 8, 8), "float32")]
    p = save(tmp_path, input=np.zeros((6, 1, 8, 8), np.float32))
    with pytest.raises(ConfigError, match="not a multiple of the model's fixed batch size 4"):
        load_samples(p, specs, role="calibration")


def test_per_sample_arrays_for_inputs_without_batch_axis():
    specs = [InputSpec("state", (2, 1, 16), "float32"), InputSpec("sr", (), "int64")]
    s = validate_samples({"state": np.zeros((5, 2, 1, 16)), "sr": np.full(5, 16000)}, specs,
                         source="x", role="calibration")
    feeds = list(s.batches())
    assert len(feeds) == 5 and feeds[0]["state"].shape == (2, 1, 16) and int(feeds[0]["sr"]) == 16000
    assert isinstance(feeds[0]["sr"], np.ndarray) and feeds[0]["sr"].shape == ()  # not a numpy scalar


def test_float_data_for_integer_input_is_refused():
    specs = [InputSpec("ids", ("N", 4), "int64")]
    with pytest.raises(ConfigError, match="dtype float64 cannot feed input 'ids'"):
        validate_samples({"ids": np.zeros((3, 4))}, specs, source="f.npz", role="eval")


def test_bad_labels():
    with pytest.raises(ConfigError, match="'labels' must be a 1-D integer array of 3"):
        validate_samples({"input": np.zeros((3, 1, 8, 8), np.float32), "labels": np.zeros(4, np.int64)},
                         SPECS, source="f.npz", role="eval")


def test_not_an_npz_and_missing(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load_npz(bad, role="calibration")
    with pytest.raises(ConfigError, match="--eval"):
        load_npz(tmp_path / "missing.npz", role="eval")


def test_generated_samples_follow_the_specs():
    specs = [InputSpec("input", ("N", 3, "H", 4), "float32"), InputSpec("k", ("N",), "int64")]
    s = generated_samples(specs, 8)
    assert s.arrays["input"].shape == (8, 3, 1, 4) and s.arrays["k"].dtype == np.int64
    assert s.source == "generated" and s.labels is None


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values_are_refused(tmp_path, value):
    x = np.zeros((4, 1, 8, 8), np.float32)
    x[2, 0, 3, 3] = value
    with pytest.raises(ConfigError, match=r"'input' holds 1 NaN or infinite values; clean or drop those samples"):
        load_samples(save(tmp_path, input=x), SPECS, role="calibration")


def test_batch_written_as_minus_one_or_zero_is_dynamic():
    """Paddle exports write a dynamic batch as dim_value -1 (or 0): it must not read as a fixed batch."""
    import onnx
    from onnx import TensorProto, helper

    from edgekit.builder.data import input_specs

    for value in (-1, 0):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [value, 3, 48, 192])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [value, 3, 48, 192])
        model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
        (spec,) = input_specs(model)
        assert spec.shape == (None, 3, 48, 192) and spec.batch_fixed is None
        samples = validate_samples({"x": np.zeros((5, 3, 48, 192), np.float32)}, [spec], source="t", role="eval")
        assert sum(b["x"].shape[0] for b in samples.batches(max_batch=2)) == 5
