"""The shape of the package (docs/architecture.md): small modules, plain imports, no import circles.

The layers themselves are import-linter contracts in pyproject.toml, checked by `lint-imports`
in scripts/test before pytest runs; the last test here runs it too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "edgekit"
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


def test_nothing_is_imported_by_name():
    pattern = re.compile(r"\bimport_module\s*\(|\b__import__\s*\(")
    found = [f"{p.relative_to(REPO)}:{i}" for p in _modules()
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, f"load modules with a plain import statement, not by name: {found}"


def test_argparse_only_in_the_command_layer():
    commands = PACKAGE / "commands"
    uses = re.compile(r"^\s*(import argparse|from argparse )", re.M)
    found = [str(p.relative_to(REPO)) for p in _modules()
             if commands not in p.parents and uses.search(p.read_text(encoding="utf-8"))]
    assert not found, f"stage packages hold no argparse code; move it to edgekit/commands/: {found}"


def test_no_import_circle_between_modules():
    graph = grimp.build_graph("edgekit")
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if importer == imported or importer.startswith(imported + "."):
                continue  # a module and the package it lives in
            chain = graph.find_shortest_chain(importer=imported, imported=importer)
            if chain and not any(a.startswith(b + ".") for a, b in zip(chain, chain[1:])):
                circles.append(" -> ".join((importer, *chain)))
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_the_layer_contracts_are_kept():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(["lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
