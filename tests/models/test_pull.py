"""``pull`` against the real package index: download, sha256, cache, corruption, bad catalogs."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import onnxruntime as ort
import pytest

from edgekit.commands.main import main
from edgekit.errors import ConfigError, ModelError
from edgekit.models.catalog import DEFAULT_CATALOG, load_catalog
from edgekit.digest import sha256_file
from edgekit.models.pull import cached_path, pull

SILERO_SHA = next(e.sha256 for e in load_catalog() if e.name == "silero-vad")


def _files(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def silero(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, pull("silero-vad", cache_dir=cache)


def test_pull_silero_downloads_verifies_and_runs(silero):
    cache, path = silero
    assert path == cache / "silero-vad" / "6.2.3" / "silero_vad_16k_op15.onnx"
    assert sha256_file(path) == SILERO_SHA
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input", "state", "sr"]
    t = np.arange(576) / 16000.0
    tone = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)[None]
    prob, state = sess.run(
        None, {"input": tone, "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
    )
    assert prob.shape == (1, 1) and 0.0 <= float(prob[0, 0]) <= 1.0
    assert state.shape == (2, 1, 128) and np.abs(state).max() > 0  # the recurrent state moved
    # nothing but the model file is left in the cache (no wheels, no temp files)
    assert _files(cache) == [path]


def test_pull_is_idempotent_without_download(silero, tmp_path):
    cache, path = silero
    before = path.stat().st_mtime_ns
    said: list[str] = []
    assert pull("silero-vad", cache_dir=cache, log=said.append) == path
    assert path.stat().st_mtime_ns == before
    assert said == []  # no download
    assert cached_path(load_catalog()[0], cache) == path


def test_corrupted_cache_file_is_detected_and_fetched_again(tmp_path):
    path = pull("silero-vad", cache_dir=tmp_path)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cached_path(load_catalog()[0], tmp_path) is None
    said: list[str] = []
    assert pull("silero-vad", cache_dir=tmp_path, log=said.append) == path
    assert any("does not match" in s for s in said)
    assert sha256_file(path) == SILERO_SHA


def _catalog_with(tmp_path, **changes) -> str:
    text = DEFAULT_CATALOG.read_text()
    data = tomllib.loads(text)
    vad = data["model"][0]
    for key, value in changes.items():
        text = text.replace(f'{key} = "{vad[key]}"', f'{key} = "{value}"', 1)
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def test_sha256_mismatch_is_an_error_and_leaves_nothing(tmp_path):
    catalog = _catalog_with(tmp_path, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        pull("silero-vad", cache_dir=cache, catalog_path=catalog)
    msg = str(err.value)
    assert "sha256 mismatch" in msg and SILERO_SHA in msg and "nothing was written" in msg
    assert not cache.exists() or _files(cache) == []


def test_missing_file_in_wheel_is_an_error_and_leaves_nothing(tmp_path):
    catalog = _catalog_with(tmp_path, file="silero_vad/data/no_such_model.onnx")
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="no file 'silero_vad/data/no_such_model.onnx'"):
        pull("silero-vad", cache_dir=cache, catalog_path=catalog)
    assert not cache.exists() or _files(cache) == []


def test_unknown_version_is_a_clear_error(tmp_path):
    catalog = _catalog_with(tmp_path, version="0.0.0.999")
    with pytest.raises(ModelError, match=r"could not download silero-vad==0\.0\.0\.999"):
        pull("silero-vad", cache_dir=tmp_path / "cache", catalog_path=catalog)


def test_unknown_name_lists_known_names(tmp_path):
    with pytest.raises(ConfigError) as err:
        pull("yolo", cache_dir=tmp_path)
    for name in ("digits", "efficientnet-lite0", "silero-vad"):
        assert name in str(err.value)


def test_bundled_name_needs_no_download(tmp_path):
    path = pull("digits", cache_dir=tmp_path)
    assert path.name == "digits_cnn.onnx" and path.is_file()
    assert _files(tmp_path) == []


def test_cli_pull_and_list(silero, capsys):
    cache, path = silero
    assert main(["models", "pull", "silero-vad", "--cache-dir", str(cache), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"] == str(path) and out["bytes"] == path.stat().st_size
    assert main(["models", "list", "--json", "--cache-dir", str(cache)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["silero-vad"]["cached"] is True and rows["silero-vad"]["path"] == str(path)
    assert rows["digits"]["source"] == "bundled"
    assert set(rows) >= {"digits", "silero-vad", "efficientnet-lite0"}


def test_cli_errors_are_one_line_and_nonzero(tmp_path, capsys):
    assert main(["models", "pull", "nope", "--cache-dir", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgekit: error: unknown model 'nope'") and "\n" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text("schema_version = 1\n[[model]]\nname = 'x'\n")
    assert main(["models", "list", "--catalog", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert "missing key" in err and "\n" not in err


def test_pull_ignores_look_alike_packages_in_the_working_directory(tmp_path, monkeypatch):
    """`python -m pip` used to import a folder named pip/edgekit from the cwd."""
    for name in ("pip", "edgekit"):
        (tmp_path / "cwd" / name).mkdir(parents=True)
        (tmp_path / "cwd" / name / "__init__.py").write_text(f"raise SystemExit('the wrong {name}')\n")
    monkeypatch.chdir(tmp_path / "cwd")
    path = pull("ppocr-mobile-cls", cache_dir=tmp_path / "cache")
    assert sha256_file(path) == next(e.sha256 for e in load_catalog() if e.name == "ppocr-mobile-cls")
    assert sorted(p.name for p in (tmp_path / "cwd").iterdir()) == ["edgekit", "pip"]
