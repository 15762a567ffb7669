"""``bench --out`` on a full disk: one clear line with the fix, no partial file (issue 12: 7)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchfakes import orin_nano_hwmon
from edgekit.commands.main import main


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs filled to the last byte (needs root: mount)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}); needs root")
    try:
        import os

        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_bench_out_on_a_full_disk_is_one_line_with_a_fix(digits_model, sysroot, full_disk, capsys):
    orin_nano_hwmon(sysroot)
    out = full_disk / "result.json"
    rc = main(["bench", str(digits_model), "--power", "jetson", "--sysfs-root", str(sysroot), "--duration", "0.3",
               "--warmup", "0.05", "--idle", "0", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    line = [x for x in err if x.startswith("edgekit: error:")]
    assert len(line) == 1, err
    assert f"cannot write {out}: no space left on device" in line[0]
    assert "KiB needed" in line[0] and "another disk" in line[0]
    assert not out.exists() and not list(full_disk.glob(".result.json.*"))
