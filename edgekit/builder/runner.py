"""The build pass contract (:class:`BuildPass`) and the runner that runs one pass with its cache.

Cache key = sha256(pass name, config, input model hash(es), target name, tool versions).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from edgekit.builder.cache import PassCache, cache_key
from edgekit.digest import sha256_file
from edgekit.builder.package import toolchain_versions
from edgekit.builder.progress import Progress

#: Bump when a pass's output or facts change for the same inputs, so older cache entries are not reused.
PASS_FORMAT_VERSION = 2

# produce(out_dir) -> ({entry name: file path}, facts for the manifest)
Producer = Callable[[Path], tuple[dict[str, Path], dict]]


class BuildPass(Protocol):
    """What every build pass is to the runner (load, optimize, quantize, convert-ort, convert-tflite).

    ``name`` names the pass in the cache key and the progress display; ``config`` (a dataclass, or a
    dict) holds everything the output depends on besides the input files; ``produce(out_dir)`` writes
    the output files into ``out_dir`` and returns ``({entry name: path}, facts for the manifest)``.
    The runner calls ``produce`` only when the cache has no entry for the same name, config, inputs,
    target and tool versions.
    """

    @property
    def name(self) -> str: ...

    @property
    def config(self) -> Any: ...

    def produce(self, out_dir: Path) -> tuple[dict[str, Path], dict]: ...


@dataclasses.dataclass(frozen=True)
class Pass:
    """A :class:`BuildPass` from its three parts, for a pass module that offers a ``run`` function."""

    name: str
    config: Any
    produce: Producer


@dataclasses.dataclass
class PassOutput:
    files: dict[str, Path]
    facts: dict
    cached: bool
    key: str


def _tool_versions() -> dict:
    """What the passes' outputs depend on besides their inputs and config."""
    return {"pass_format": PASS_FORMAT_VERSION, **toolchain_versions()}


class PassRunner:
    def __init__(self, cache: PassCache, work_dir: Path, progress: Progress, target_name: str):
        self.cache = cache
        self.work_dir = Path(work_dir)
        self.progress = progress
        self.target_name = target_name
        self.cache_hits: list[str] = []
        self.cache_misses: list[str] = []
        self._hashes: dict[Path, str] = {}
        self._versions = _tool_versions()

    def file_hash(self, path: Path) -> str:
        path = Path(path)
        if path not in self._hashes:
            self._hashes[path] = sha256_file(path)
        return self._hashes[path]

    def run(self, step: BuildPass, inputs: list[Path], *, label: str,
            describe: Callable[[dict], str] = lambda f: "") -> PassOutput:
        """Run ``step`` on ``inputs`` (or take its output from the cache)."""
        name, config = step.name, step.config
        cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
        keyed = {**cfg, "_tools": self._versions}
        key = cache_key(name, keyed, "+".join(self.file_hash(p) for p in inputs), self.target_name)
        self.progress.start(name, label)
        entry = self.cache.get(key)
        if entry is not None:
            files = {f: entry.file(f) for f in entry.meta["files"]}
            facts = entry.meta.get("facts", {})
            self.cache_hits.append(name)
            self.progress.done(name, describe(facts), cached=True)
            return PassOutput(files, facts, True, key)
        out = self.work_dir / f"{name}-{key[:12]}"
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        files, facts = step.produce(out)
        stored = self.cache.put(key, files, {"pass": name, "config": cfg, "facts": facts})
        if stored is not None:
            files = {f: stored.file(f) for f in files}
        self.cache_misses.append(name)
        self.progress.done(name, describe(facts))
        return PassOutput(files, facts, False, key)
