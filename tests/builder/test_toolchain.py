"""The onnx2tf toolchain: where it lives, when it counts as installed, install failures, the CLI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.commands import toolchain as toolchain_command
from edgekit.builder.toolchain import (ENV_NAME, MARKER_NAME, MARKER_SCHEMA, PINS, REPORTED, default_toolchain_dir,
                                       find_toolchain)
from edgekit.builder.toolchain_install import install_tflite
from edgekit.errors import BuildError, EdgekitError


@pytest.fixture(scope="module")
def chain():
    try:
        return install_tflite()
    except EdgekitError as exc:
        pytest.fail(f"installing the onnx2tf toolchain failed: {exc}")


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="edgekit")
    toolchain_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    rc = args.func(args)
    return rc, capsys.readouterr().out


def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGEKIT_TOOLCHAIN_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_toolchain_dir() == tmp_path / ".cache" / "edgekit" / "toolchains"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_toolchain_dir() == tmp_path / "xdg" / "edgekit" / "toolchains"
    monkeypatch.setenv("EDGEKIT_TOOLCHAIN_DIR", str(tmp_path / "mine"))
    assert default_toolchain_dir() == tmp_path / "mine"


def test_empty_dir_has_no_toolchain(tmp_path):
    assert find_toolchain(tmp_path) is None


def fake_env(root: Path, versions: dict[str, str]) -> Path:
    """A real (pip-less) virtual environment whose site-packages claims ``versions``."""
    env = root / ENV_NAME
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next(env.glob("lib/python3.*/site-packages"))
    for name, version in versions.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return env


def write_marker(env: Path, pins=PINS) -> None:
    (env / MARKER_NAME).write_text(json.dumps({"schema": MARKER_SCHEMA, "pins": list(pins),
                                               "installed_at": "2026-01-01T00:00:00+00:00"}))


def pinned() -> dict[str, str]:
    pins = dict(p.split("==") for p in PINS)
    return {n: pins[n] for n in REPORTED if n in pins}


def test_find_toolchain_trusts_only_checked_matching_envs(tmp_path):
    env = fake_env(tmp_path, pinned())
    assert find_toolchain(tmp_path) is None                  # never checked: no marker
    write_marker(env)
    found = find_toolchain(tmp_path)
    assert found is not None
    assert found.python == env.resolve() / "bin" / "python"
    assert found.versions["onnx2tf"] == pinned()["onnx2tf"] and found.versions["tensorflow"] == "2.19.0"
    write_marker(env, pins=PINS[:-1])                       # installed by an edgekit with other pins
    assert find_toolchain(tmp_path) is None
    write_marker(env)
    site = next(env.glob("lib/python3.*/site-packages"))
    for info in site.glob("numpy-*.dist-info"):            # someone changed numpy in the env
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: numpy\nVersion: 2.4.0\n")
    assert find_toolchain(tmp_path) is None


def test_find_toolchain_rejects_a_missing_interpreter(tmp_path):
    env = fake_env(tmp_path, pinned())
    write_marker(env)
    (env / "bin" / "python").unlink()
    assert find_toolchain(tmp_path) is None


def test_unsupported_python_is_refused_before_anything_is_made(tmp_path):
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\necho 3 9\n")
    fake.chmod(0o755)
    with pytest.raises(BuildError, match=r"Python 3\.9; tensorflow 2\.19 .* needs Python 3\.10, 3\.11, 3\.12"):
        install_tflite(tmp_path / "tc", python=fake)
    assert not (tmp_path / "tc" / ENV_NAME).exists()


def test_failed_install_leaves_no_environment(tmp_path, monkeypatch):
    """pip cannot reach any package (no index, an empty local folder): the env is removed again."""
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    steps: list[str] = []
    with pytest.raises(BuildError, match="installing onnx2tf failed: No matching distribution found for onnx2tf==") as err:
        install_tflite(tmp_path / "tc", on_step=steps.append)
    assert "see " in str(err.value) and (tmp_path / "tc" / f"{ENV_NAME}-install.log").is_file()
    assert any("installing" in s for s in steps)
    assert not (tmp_path / "tc" / ENV_NAME).exists()
    assert find_toolchain(tmp_path / "tc") is None


@pytest.mark.slow
def test_installed_toolchain_is_checked_and_pinned(chain):
    assert (chain.root / MARKER_NAME).is_file()
    marker = json.loads((chain.root / MARKER_NAME).read_text())
    assert marker["pins"] == list(PINS)
    for name, version in pinned().items():
        assert chain.versions[name] == version
    out = subprocess.run([str(chain.python), "-c", "import numpy, onnx; print(numpy.__version__, onnx.__version__)"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONNOUSERSITE": "1"})
    assert out.stdout.split() == ["1.26.4", "1.19.1"]


@pytest.mark.slow
def test_install_is_idempotent(chain):
    stamp = (chain.root / MARKER_NAME).stat().st_mtime_ns
    again = install_tflite(chain.root.parent)
    assert again == chain
    assert (chain.root / MARKER_NAME).stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_cli_status_and_install(chain, capsys, tmp_path):
    rc, out = run_cli(["toolchain", "status", "--json", "--dir", str(chain.root.parent)], capsys)
    doc = json.loads(out)
    assert rc == 0 and doc["toolchains"]["tflite"]["installed"] is True
    assert doc["toolchains"]["tflite"]["versions"]["onnx2tf"] == pinned()["onnx2tf"]
    rc, out = run_cli(["toolchain", "status", "--json", "--dir", str(tmp_path)], capsys)
    assert json.loads(out)["toolchains"]["tflite"]["installed"] is False
    rc, out = run_cli(["toolchain", "status", "--dir", str(tmp_path)], capsys)
    assert "not installed (run `edgekit toolchain install tflite`)" in out
    rc, out = run_cli(["toolchain", "install", "tflite", "--dir", str(chain.root.parent)], capsys)
    assert rc == 0 and f"already installed in {chain.root}" in out and "tensorflow" in out
