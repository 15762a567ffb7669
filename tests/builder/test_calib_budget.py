"""Calibration sample count from measured activation memory and a fake /proc/meminfo."""

from __future__ import annotations

import numpy as np

import modelkit
from edgekit.builder import calib_budget


def test_activation_bytes_are_every_node_output_of_one_sample(tmp_path):
    path = modelkit.skip_connection_cnn(tmp_path / "skip.onnx")
    x = np.zeros((1, 3, 16, 20), np.float32)
    # conv_full, conv_half (8x10), upsample, skip outputs in float32, plus the exposed graph input x
    want = 4 * (4 * 16 * 20 + 4 * 8 * 10 + 4 * 16 * 20 + 4 * 16 * 20 + 3 * 16 * 20)
    got = calib_budget.activation_bytes(path, {"x": x})
    assert got == want
    assert calib_budget.activation_bytes(path, {"x": np.zeros((1, 3, 32, 40), np.float32)}) == 4 * got


def test_available_bytes_reads_meminfo(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2000000 kB\n")
    assert calib_budget.available_bytes(tmp_path) == 2_000_000 * 1024
    assert calib_budget.available_bytes(tmp_path / "missing") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meminfo").write_text("MemAvailable: lots\n")
    assert calib_budget.available_bytes(tmp_path / "bad") is None


def test_budget_caps_by_memory_and_says_why():
    mb = 1 << 20
    b = calib_budget.budget(500 * mb, 256, 24_000 * mb)   # PP-OCRv4 det at 480x640 on a 24 GB machine
    assert b.samples == 12
    assert "12 of 256 samples" in b.note(256) and "500 MB" in b.note(256)
    assert calib_budget.budget(1 * mb, 256, 24_000 * mb).note(256) is None   # small models keep them all
    assert calib_budget.budget(50_000 * mb, 256, 24_000 * mb).samples == calib_budget.MIN_SAMPLES
    assert calib_budget.budget(500 * mb, 256, None).samples == 256          # unknown memory: no cap
