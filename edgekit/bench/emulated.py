"""``edgekit bench --emulate arm64``: the bench run inside the emulated arm64 device (qemu-user, Debian bookworm).

The host resolves the artifact and prepares the inputs as for a bench on the device (the host's runtime gives
the input specs); ``emulated_bench.py`` then runs the bench's own timed loop (``loop.py``) in the root's
onnxruntime or LiteRT and hands back its timings, from which the host builds the one result document.

What the figures mean: the outputs come from the device's runtime build (arm64 kernels); the *time* is qemu
translating arm64 code on this host, so it says nothing about the device's latency. The document says so
everywhere a reader looks: ``latency.source`` is :data:`EMULATED_SOURCE`, the ``emulated`` validity flag, the
device's ``cpu`` and ``os``. There is no power sensor in an emulated device and no honest model of one, so
power and energy are absent (never the host's power, which is qemu's).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import socket
from pathlib import Path

import numpy as np

from edgekit.bench import result as resultdoc
from edgekit.bench.artifact import resolve_artifact
from edgekit.bench.device import os_name
from edgekit.bench.inputs import generated_feeds, npz_feeds
from edgekit.bench.loop import LoopResult
from edgekit.bench.provenance import EMULATED_SOURCE
from edgekit.bench.settings import BenchSettings
from edgekit.bench.stats import latency_stats
from edgekit.bench.validity import Flag
from edgekit.bench.validity import evaluate as evaluate_validity
from edgekit.bench.window import load_target
from edgekit.errors import ConfigError, EdgekitError

PLATFORMS = ("arm64",)
_HERE = Path(__file__).resolve().parent
RUNNER = _HERE / "emulated_bench.py"
#: the pure-Python parts of edgekit the runner imports inside the root
LOOP = _HERE / "loop.py"
OPENER = _HERE.parent / "builder" / "emulated_runner.py"


def check_settings(s: BenchSettings, platform_name: str) -> None:
    """Refuse what an emulated device cannot do, naming the flag to drop."""
    if platform_name not in PLATFORMS:
        raise ConfigError(f"--emulate {platform_name}: unknown platform; the emulated platforms are "
                          f"{', '.join(PLATFORMS)}")
    if s.power not in ("auto", "none") or s.trace_file is not None or s.adb_serial is not None:
        raise ConfigError(f"--emulate {platform_name} has no power sensor (an emulated device draws no power of "
                          "its own): drop --power/--trace/--adb-serial, or bench on the device itself")


def run_emulated_bench(path: Path | str, settings: BenchSettings | None = None, *,
                       platform_name: str = "arm64") -> dict:
    """Benchmark ``path`` inside the emulated ``platform_name`` root; the validated result document."""
    from edgekit.builder.arm64root import INSTALL_HINT, VENV_PYTHON, find_arm64, qemu_cpu
    from edgekit.runtime import open_session

    s = (settings or BenchSettings()).checked()
    check_settings(s, platform_name)
    chain = find_arm64()
    if chain is None:
        raise ConfigError(f"--emulate {platform_name}: the emulated arm64 root is not installed; {INSTALL_HINT}")
    artifact = resolve_artifact(Path(path))
    target_name = s.target or artifact.target
    target = load_target(target_name, explicit=bool(s.target))
    cpu = qemu_cpu(target.cpu if target else None)
    specs = open_session(artifact.path, threads=s.threads).inputs  # the host's runtime: the inputs only
    feeds = npz_feeds(s.input_npz, specs) if s.input_npz else generated_feeds(specs)
    names = [sp.name for sp in specs]

    with chain.private_dir() as (host_dir, root_dir):
        model = f"model{artifact.path.suffix}"
        shutil.copyfile(artifact.path, host_dir / model)
        for part in (RUNNER, LOOP, OPENER):
            shutil.copyfile(part, host_dir / part.name)
        np.savez(host_dir / "feeds.npz", **{f"f{f}_i{i}": np.ascontiguousarray(feed[n])
                                            for f, feed in enumerate(feeds) for i, n in enumerate(names)})
        request = {"model": model, "format": artifact.format, "threads": s.threads, "inputs": names,
                   "feeds": len(feeds), "duration_s": s.duration_s, "iterations": s.iterations,
                   "warmup_s": s.warmup_s, "rate_hz": s.rate_hz}
        (host_dir / "request.json").write_text(json.dumps(request))
        chain.run([VENV_PYTHON, "-I", f"{root_dir}/{RUNNER.name}", root_dir], cpu=cpu)
        try:
            got = json.loads((host_dir / "bench.json").read_text())
            loop = LoopResult(**got["loop"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EdgekitError(f"the emulated {platform_name} bench left no readable result ({exc}); "
                               "report this as an edgekit bug") from None
    measured_at = resultdoc.utc_now()

    lat = latency_stats(loop.latencies_s, window_s=loop.window_s, first_inference_s=loop.first_inference_s,
                        warmup_count=loop.warmup_count)
    missing = [p for p in artifact.providers if p not in got["providers"]]
    rate = loop.rate_json()
    flags = [emulated_flag(platform_name, cpu)]
    flags += evaluate_validity(window_s=loop.window_s, power=None, energy=None, thermal=None, rate=rate,
                               missing_providers=missing, idle_s=0.0)
    runtime = {"name": got["runtime"], "version": got["runtime_version"],
               "providers_requested": list(artifact.providers), "providers": list(got["providers"]),
               "missing_providers": missing, "threads": s.threads}
    no_idle = dataclasses.replace(s, idle_s=0.0)  # no idle baseline runs: there is no power to compare
    return resultdoc.build(
        device=_device(chain, s, target.name if target else target_name, cpu, got),
        artifact=resultdoc.artifact_json(artifact), runtime=runtime,
        settings={**resultdoc.settings_json(no_idle, input_samples=len(feeds)), "power": "none",
                  "power_decision": None},
        latency={**lat.to_json(), "source": EMULATED_SOURCE}, rate=rate, power=None, energy=None,
        thermal=None, battery=None, flags=flags, measured_at=measured_at)


def emulated_flag(platform_name: str, cpu: str) -> Flag:
    return Flag("emulated", "invalid",
                f"emulated {platform_name} device (qemu-user, CPU model {cpu}, on {platform.machine()}): the outputs "
                "are the device runtime's, the latency is emulated time, not the device's; no power or energy; "
                "bench on the device itself for those")


def _device(chain, s: BenchSettings, target: str | None, cpu: str, got: dict) -> dict:
    from edgekit import __version__

    host = socket.gethostname()
    qemu = chain.versions.get("qemu")
    return {
        "id": s.device_id or f"{host}-{EMULATED_SOURCE}",
        "hostname": host,
        "target": target,
        "arch": got["arch"],
        "cpu": f"{cpu} emulated by qemu-user on {platform.machine()}",
        "cpu_count": None,
        "cpu_features": [],
        "os": f"{os_name(chain.root / 'etc')} (emulated root, qemu-user {qemu or 'unknown version'})",
        "kernel": None,
        "runtimes": {"edgekit": __version__, "python": got["python"], "numpy": got["numpy"],
                     got["runtime"]: got["runtime_version"], "qemu": qemu},
    }
