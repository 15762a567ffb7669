import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # benchfakes builders
sys.path.insert(0, str(Path(__file__).parent.parent / "runtime"))  # litert_models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def digits_model() -> Path:
    return REPO / "models" / "digits_cnn.onnx"
