"""``--power android``: the host drives a phone over adb.

The model and the platform's benchmark binary are pushed to ``/data/local/tmp/edgekit``
and run there — LiteRT ``benchmark_model`` for ``.tflite``, ``onnxruntime_perf_test`` for
``.ort``/``.onnx`` — while the host samples the phone's battery current and voltage through
:class:`edgekit.sensors.android.adb.AdbBatterySource` (which refuses a charging phone).
Latency comes from the binary's own output; the phone's thermal zones and cooling devices are
read through the same adb shell (1 Hz) for the thermal summary. The energy window is the binary's measured
phase: it ends when the command returns and lasts ``count x mean latency`` (plus the idle
gaps in ``--rate`` mode), so model loading and warm-up stay outside it.

The binary is taken from the phone if already pushed, else from the host:
``EDGEKIT_BENCHMARK_MODEL`` / ``EDGEKIT_ORT_PERF_TEST`` (paths), else
``android_aarch64_benchmark_model`` / ``benchmark_model`` / ``onnxruntime_perf_test`` on PATH.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from pathlib import Path

from edgekit.bench import result as resultdoc
from edgekit.bench.artifact import resolve_artifact
from edgekit.bench.battery import battery_summary
from edgekit.bench.energy import energy_report
from edgekit.bench.sampler import Sampler, SharedSource
from edgekit.bench.settings import BenchSettings
from edgekit.bench.thermal import summarize as summarize_thermal
from edgekit.bench.validity import evaluate as evaluate_validity
from edgekit.bench.window import idle_window, load_target, wait_for_sample_after
from edgekit.errors import ConfigError, SensorError
from edgekit.sensors.commands import require_command, run_command

REMOTE_DIR = "/data/local/tmp/edgekit"
BINARIES = {
    "tflite": ("benchmark_model", "EDGEKIT_BENCHMARK_MODEL", ("android_aarch64_benchmark_model", "benchmark_model")),
    "ort": ("onnxruntime_perf_test", "EDGEKIT_ORT_PERF_TEST", ("onnxruntime_perf_test",)),
    "onnx": ("onnxruntime_perf_test", "EDGEKIT_ORT_PERF_TEST", ("onnxruntime_perf_test",)),
}
_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"


def _field(line: str, key: str) -> float | None:
    m = re.search(rf"(?:^|\s){re.escape(key)}={_NUM}", line)
    return float(m.group(1)) if m else None


def parse_benchmark_model(text: str) -> dict:
    """LiteRT ``benchmark_model`` output: the ``Inference timings in us`` line and the measured
    ``count=... avg=... std=...`` statistics line (the last one before the timings line). Times in us."""
    lines = [ln.strip() for ln in text.replace("\r", "").splitlines()]
    timing_i = next((i for i, ln in enumerate(lines) if "Inference timings in us:" in ln), None)
    if timing_i is None:
        last = next((ln for ln in reversed(lines) if ln), "no output")
        raise SensorError(f"benchmark_model printed no 'Inference timings in us' line (last line: {last!r}); "
                          "run it by hand with adb shell to see why")
    t = lines[timing_i]
    m = re.search(rf"Init: {_NUM}, First inference: {_NUM}, Warmup \(avg\): {_NUM}, Inference \(avg\): {_NUM}", t)
    if not m:
        raise SensorError(f"cannot read benchmark_model's timings line {t!r}; this benchmark_model version is unknown")
    stats = next((ln for ln in reversed(lines[:timing_i]) if re.search(r"(?:^|\s)count=\d+", ln) and "avg=" in ln),
                 None)
    if stats is None:
        raise SensorError("benchmark_model printed no 'count=... avg=...' statistics line for the measured runs")
    out = {"init_us": float(m.group(1)), "first_us": float(m.group(2)), "warmup_avg_us": float(m.group(3)),
           "avg_us": float(m.group(4)), "timings_line": t[t.index("Inference timings"):]}
    for key in ("count", "min", "max", "std", "p5", "median", "p95"):
        out[f"{key}_us" if key != "count" else "count"] = _field(stats, key)
    out["count"] = int(out["count"])
    return out


def parse_perf_test(text: str) -> dict:
    """``onnxruntime_perf_test`` output (``Total inference requests: N``, ``P50 Latency: x s``, ...)."""
    vals: dict[str, float] = {}
    for ln in text.replace("\r", "").splitlines():
        k, sep, v = ln.partition(":")
        m = re.match(rf"\s*{_NUM}", v)
        if sep and m:
            vals.setdefault(k.strip().lower(), float(m.group(1)))
    need = ("total inference requests", "total inference run time")
    if not all(k in vals for k in need):
        raise SensorError("onnxruntime_perf_test printed no 'Total inference requests' / 'Total inference run time'; "
                          "run it by hand with adb shell to see why")
    avg_ms = vals.get("average inference time cost") or vals.get("average inference time cost total")
    return {
        "count": int(vals["total inference requests"]), "run_s": vals["total inference run time"],
        "avg_ms": avg_ms, "first_ms": vals.get("first inference time cost"),
        "session_s": vals.get("session creation time cost"),
        "min_s": vals.get("min latency"), "max_s": vals.get("max latency"), "p50_s": vals.get("p50 latency"),
        "p90_s": vals.get("p90 latency"), "p99_s": vals.get("p99 latency"),
    }


class Phone:
    """adb commands against one phone."""

    def __init__(self, serial: str | None):
        self.adb = require_command("adb")
        self.prefix = [self.adb, *(["-s", serial] if serial else [])]
        self.serial = serial

    def shell(self, cmd: str, *, timeout_s: float = 30.0) -> str:
        return run_command([*self.prefix, "shell", cmd], timeout_s=timeout_s).replace("\r\n", "\n")

    def push(self, local: Path, remote: str) -> None:
        run_command([*self.prefix, "push", str(local), remote], timeout_s=300)

    def exists(self, remote: str) -> bool:
        return "yes" in self.shell(f"[ -x {shlex.quote(remote)} ] && echo yes || echo no")

    def getprop(self, name: str) -> str | None:
        v = self.shell(f"getprop {name}").strip()
        return v or None


def _host_binary(fmt: str) -> Path | None:
    _, env, names = BINARIES[fmt]
    if os.environ.get(env):
        p = Path(os.environ[env])
        if not p.is_file():
            raise ConfigError(f"{env}={p}: no such file; point it at the Android build of the benchmark binary")
        return p
    for n in names:
        found = shutil.which(n)
        if found:
            return Path(found)
    return None


def _ensure_binary(phone: Phone, fmt: str) -> str:
    name, env, names = BINARIES[fmt]
    remote = f"{REMOTE_DIR}/{name}"
    local = _host_binary(fmt)
    if local is not None:
        phone.push(local, remote)
        phone.shell(f"chmod 755 {remote}")
        return remote
    if phone.exists(remote):
        return remote
    raise ConfigError(f"no {name} for the phone: download the Android arm64 build, then put it on PATH as "
                      f"{' or '.join(names)} or set {env}=PATH")


def _command(binary: str, model: str, fmt: str, s: BenchSettings) -> str:
    if fmt == "tflite":
        args = [binary, f"--graph={model}", "--warmup_runs=1", f"--warmup_min_secs={s.warmup_s:g}"]
        if s.threads:
            args.append(f"--num_threads={s.threads}")
        if s.iterations is not None:
            args += [f"--num_runs={s.iterations}", "--min_secs=0", f"--max_secs={max(150, s.iterations)}"]
        else:
            args += ["--num_runs=1", f"--min_secs={s.duration_s:g}", f"--max_secs={s.duration_s * 1.5 + 10:g}"]
        if s.rate_hz:
            args.append(f"--run_frequency={s.rate_hz:g}")
        return " ".join(shlex.quote(a) for a in args)
    if s.rate_hz:
        raise ConfigError("onnxruntime_perf_test has no fixed-rate mode; drop --rate or bench a .tflite")
    args = [binary, "-e", "cpu", "-I"]
    if s.threads:
        args += ["-x", str(s.threads)]
    if s.iterations is not None:
        args += ["-m", "times", "-r", str(s.iterations)]
    else:
        args += ["-m", "duration", "-t", f"{max(1, round(s.duration_s))}"]
    return " ".join(shlex.quote(a) for a in [*args, model])


def _latency(fmt: str, r: dict, window_s: float) -> dict:
    if fmt == "tflite":
        us = 1e-3
        return {"count": r["count"], "mean_ms": r["avg_us"] * us, "std_ms": (r["std_us"] or 0.0) * us,
                "min_ms": r["min_us"] * us if r["min_us"] is not None else r["avg_us"] * us,
                "p50_ms": r["median_us"] * us if r["median_us"] is not None else None,
                "p90_ms": None, "p99_ms": None,
                "max_ms": r["max_us"] * us if r["max_us"] is not None else r["avg_us"] * us,
                "throughput_ips": r["count"] / window_s, "window_s": window_s,
                "first_inference_ms": r["first_us"] * us, "warmup_count": 0, "source": "benchmark_model"}
    ms = 1e3
    avg = r["avg_ms"] if r["avg_ms"] is not None else r["run_s"] / r["count"] * ms
    return {"count": r["count"], "mean_ms": avg, "std_ms": 0.0,
            "min_ms": (r["min_s"] or avg / ms) * ms, "p50_ms": r["p50_s"] * ms if r["p50_s"] else None,
            "p90_ms": r["p90_s"] * ms if r["p90_s"] else None, "p99_ms": r["p99_s"] * ms if r["p99_s"] else None,
            "max_ms": (r["max_s"] or avg / ms) * ms, "throughput_ips": r["count"] / window_s, "window_s": window_s,
            "first_inference_ms": r["first_ms"], "warmup_count": 0, "source": "onnxruntime_perf_test"}


def _device(phone: Phone, settings: BenchSettings, target_name: str | None) -> dict:
    feats: set[str] = set()
    try:
        for ln in phone.shell("cat /proc/cpuinfo").splitlines():
            k, sep, v = ln.partition(":")
            if sep and k.strip().lower() in ("features", "flags"):
                feats.update(v.split())
    except SensorError:
        pass
    release = phone.getprop("ro.build.version.release")
    model = phone.getprop("ro.product.model")
    from edgekit.bench.device import runtime_versions

    return {"id": settings.device_id or phone.serial or model or "android", "hostname": phone.serial or "",
            "target": target_name, "arch": phone.getprop("ro.product.cpu.abi") or "unknown",
            "cpu": phone.getprop("ro.soc.model"), "cpu_count": None, "cpu_features": sorted(feats),
            "os": f"Android {release}" if release else "Android", "kernel": None, "model": model,
            "runtimes": runtime_versions()}


def run_android_bench(path: Path, s: BenchSettings, *, log) -> dict:
    artifact = resolve_artifact(path, prefer=("tflite", "ort", "onnx"))
    fmt = artifact.format
    phone = Phone(s.adb_serial)
    from edgekit.sensors.detect import open_power_source

    target_name = s.target or artifact.target
    target = load_target(target_name, explicit=bool(s.target))
    # refuses a charging phone; shared: the sampler thread and this one use its one adb shell
    source = SharedSource(open_power_source("android", adb_serial=s.adb_serial))
    try:
        phone.shell(f"mkdir -p {REMOTE_DIR}")
        binary = _ensure_binary(phone, fmt)
        remote_model = f"{REMOTE_DIR}/{artifact.path.name}"
        phone.push(artifact.path, remote_model)
        cmd = _command(binary, remote_model, fmt, s)
        device = _device(phone, s, target.name if target else target_name)
        sampler = Sampler(source, sample_hz=s.sample_hz, thermal=source.thermal_snapshot, thermal_hz=s.thermal_hz)
        states = []
        sampler.start()
        try:
            wait_for_sample_after(sampler, time.monotonic(), 2.0 + 2.0 / sampler.sample_hz)
            idle_before = idle_window(sampler, s.idle_s) if s.idle_s > 0 else None
            states.append(source.battery_state())
            budget = (s.duration_s or 0) * 2 + s.warmup_s + 120 + (s.iterations or 0)
            out = phone.shell(cmd, timeout_s=budget)
            t_end = time.monotonic()
            states.append(source.battery_state())
            idle_after = idle_window(sampler, s.idle_s) if s.idle_s > 0 else None
            wait_for_sample_after(sampler, (idle_after or (0, t_end))[1], 2.0 + 2.0 / sampler.sample_hz)
        finally:
            sampler.stop()
    finally:
        source.close()
    measured_at = resultdoc.utc_now()
    parsed = parse_benchmark_model(out) if fmt == "tflite" else parse_perf_test(out)
    if fmt == "tflite":
        busy_s = parsed["count"] * parsed["avg_us"] * 1e-6
        window_s = max(busy_s, parsed["count"] / s.rate_hz) if s.rate_hz else busy_s
    else:
        window_s = parsed["run_s"]
    run = (t_end - window_s, t_end)
    lat = _latency(fmt, parsed, window_s)
    rep = energy_report(sampler.trace(), run=run, inferences=lat["count"], resolution_w=source.info.resolution_w,
                        idle_before=idle_before, idle_after=idle_after)
    power = resultdoc.power_json(sampler, rep, run, source.info)
    energy = resultdoc.energy_json(rep, estimated=False)
    battery = battery_summary(source, states, rep, run, target)
    th = summarize_thermal(sampler.thermal_snapshots(), run=run, back_to_back=s.rate_hz is None)
    if sampler.thermal_error:
        log(f"edgekit: warning: the phone's thermal zones stopped answering: {sampler.thermal_error}")
    flags = evaluate_validity(window_s=window_s, power=power, energy=rep, thermal=th, rate=None,
                              missing_providers=[], idle_s=s.idle_s)
    name = "benchmark_model" if fmt == "tflite" else "onnxruntime_perf_test"
    runtime = {"name": name, "version": "on-device binary", "providers_requested": [], "providers": ["cpu"],
               "missing_providers": [], "threads": s.threads}
    settings = {**resultdoc.settings_json(s, input_samples=1), "input": "generated"}  # the binary generates them
    if s.input_npz:
        log("edgekit: warning: --input is not passed to the phone's benchmark binary; it feeds generated inputs")
    return resultdoc.build(
        device=device, artifact=resultdoc.artifact_json(artifact), runtime=runtime, settings=settings, latency=lat, rate=None,
        power=power, energy=energy, thermal=th.to_json() if th else None, battery=battery, flags=flags, measured_at=measured_at,
        android={"serial": s.adb_serial, "binary": binary, "command": cmd,
                 "timings_line": parsed.get("timings_line")})
