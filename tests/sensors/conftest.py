import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fakehw builders


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    """An empty fake /sys."""
    root = tmp_path / "sys"
    root.mkdir()
    return root


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch) -> Path:
    """A directory that is the whole PATH: only the fake commands a test writes there exist."""
    d = tmp_path / "bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))
    return d
