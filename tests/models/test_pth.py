"""Reading PyTorch state dicts without torch: the real legacy-format file of the catalog, crafted
files that must be refused, and (where torch is installed) both of torch's formats as torch writes them."""

from __future__ import annotations

import importlib.util
import os
import pickle

import numpy as np
import pytest

from edgekit.errors import ModelError
from edgekit.models.catalog import load_catalog
from edgekit.models.pth import read_state_dict
from edgekit.models.pull import pull

HAS_TORCH = importlib.util.find_spec("torch") is not None
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@pytest.mark.slow
def test_reads_the_catalog_weights(tmp_path):
    entry = next(e for e in load_catalog() if e.name == "efficientnet-lite0")
    pull("efficientnet-lite0", cache_dir=tmp_path)
    weights = tmp_path / entry.name / entry.version / entry.file_name
    sd = read_state_dict(weights)
    assert len(sd) == 296
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3) and sd["_conv_stem.weight"].dtype == np.float32
    assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.bias"].shape == (1000,)
    assert sd["_bn0.num_batches_tracked"].dtype == np.int64
    # every float32 byte of the file is accounted for: 8-byte headers + data, after the pickles
    floats = sum(v.size for v in sd.values() if v.dtype == np.float32)
    assert 4 * floats < weights.stat().st_size < 4 * floats + 64 * 1024
    assert all(np.isfinite(v).all() for v in sd.values() if v.dtype == np.float32)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as f:
        for part in (_LEGACY_MAGIC, 1001, {"little_endian": True}):
            pickle.dump(part, f, protocol=2)
        pickle.dump({"weight": _RunsCode()}, f, protocol=2)
    with pytest.raises(ModelError, match="asks for (posix|os|nt).system.*refusing to read it"):
        read_state_dict(bad)


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", pickle.dumps(12345)])
def test_other_files_are_refused_in_one_line(tmp_path, content):
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    with pytest.raises(ModelError) as err:
        read_state_dict(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (writes the files to compare)")
@pytest.mark.parametrize("zip_format", [True, False])
def test_both_torch_formats_read_back_exactly(tmp_path, zip_format):
    import torch

    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    sd = {
        "plain": torch.randn(7, 3),
        "view_with_offset": base[1:, 2:, 1:4],   # shares a storage, starts inside it
        "transposed": base.transpose(0, 2),       # non-contiguous strides
        "ints": torch.tensor([1, -2, 3], dtype=torch.int64),
        "half": torch.randn(4, dtype=torch.float16),
        "scalar": torch.tensor(2.5),
    }
    path = tmp_path / "sd.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    got = read_state_dict(path)
    assert list(got) == list(sd)
    for name, tensor in sd.items():
        np.testing.assert_array_equal(got[name], tensor.numpy())
        assert got[name].dtype == tensor.numpy().dtype
