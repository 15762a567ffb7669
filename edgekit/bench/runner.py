"""``run_bench(path, settings)``: measure a model on this device and return the result document.

Sequence (all intervals on ``time.monotonic()``):
open the model -> open the power source -> start the sampler -> idle window
(``idle_s``) -> first inference (timed on its own) -> warm-up (``warmup_s``,
excluded) -> measured window -> idle window -> stop the sampler -> integrate.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from edgekit.bench import result as resultdoc
from edgekit.bench.artifact import Artifact, resolve_artifact
from edgekit.bench.device import device_info
from edgekit.bench.battery import battery_summary
from edgekit.bench.energy import EnergyReport, Trace, WindowEnergy, energy_report, estimate_options
from edgekit.bench.inputs import generated_feeds, npz_feeds
from edgekit.bench.loop import LoopResult, run_loop
from edgekit.bench.sampler import Sampler, SharedSource
from edgekit.bench.settings import BenchSettings
from edgekit.bench.stats import latency_stats
from edgekit.bench.thermal import summarize as summarize_thermal
from edgekit.bench.validity import evaluate as evaluate_validity
from edgekit.errors import ConfigError, EdgekitError, SensorError
from edgekit.runtime import open_session
from edgekit.sensors.report import decision_json, source_json

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _load_target(name: str | None, *, explicit: bool):
    """The Target profile, or None. A name from the manifest that no profile matches is kept as a name only."""
    if not name:
        return None
    from edgekit.targets import load_target

    try:
        return load_target(name)
    except ConfigError:
        if explicit:
            raise
        return None


def open_thermal(settings: BenchSettings, *, log: Log = _stderr):
    """A callable returning a ThermalSnapshot.

    On a Raspberry Pi (``vcgencmd`` on PATH) the snapshots carry the firmware's ``get_throttled`` bits.
    When ``get_throttled`` fails (e.g. the user is not in the ``video`` group) the run goes on with the
    zones, cooling devices and clocks, and says so.
    """
    from edgekit.sensors.thermal import ThermalReader

    vcgencmd = shutil.which("vcgencmd")
    if vcgencmd:
        reader = ThermalReader(settings.sysfs_root, vcgencmd=vcgencmd)
        try:
            reader.read()
            return reader.read
        except SensorError as exc:
            log(f"edgekit: warning: Raspberry Pi throttling flags unavailable ({exc}); throttling is judged from "
                "cooling devices and CPU clocks only")
    return ThermalReader(settings.sysfs_root).read


def _window_json(w: WindowEnergy | None) -> dict | None:
    if w is None:
        return None
    return {"duration_s": w.duration_s, "energy_j": w.energy_j, "avg_power_w": w.avg_power_w,
            "peak_power_w": w.peak_power_w, "samples": w.samples, "mean_interval_s": w.mean_interval_s,
            "max_interval_s": w.max_interval_s, "uncertainty_j": w.uncertainty_j, "covered": w.covered,
            "undersampled": w.undersampled, "basis": w.basis}


def _median(xs) -> float | None:
    return float(sorted(xs)[len(xs) // 2]) if len(xs) else None


def power_json(sampler: Sampler, rep: EnergyReport, run: tuple[float, float], info,
               *, sample_hz: float | None = None) -> dict:
    """``sample_hz`` overrides the sampler's rate for sources that were not polled (a meter trace)."""
    polled = sample_hz is None
    return {
        "source": info.name, "scope": info.scope, "description": info.description, "rails": list(info.rails),
        "estimated": bool(info.estimated), "has_counter": bool(info.has_counter),
        "sample_hz": sampler.sample_hz if polled else sample_hz,
        "achieved_hz": rep.run.samples / rep.run.duration_s,
        "samples": rep.run.samples,
        "samples_read": sampler.samples_read if polled else rep.run.samples,
        "samples_kept": sampler.samples_kept if polled else rep.run.samples,
        "decimation": sampler.decimation, "late_ticks": sampler.late_ticks if polled else 0,
        "resolution_w": info.resolution_w,
        "idle_w": rep.idle_power_w,
        "idle_before_w": rep.idle_before.avg_power_w if rep.idle_before else None,
        "idle_after_w": rep.idle_after.avg_power_w if rep.idle_after else None,
        "avg_w": rep.run.avg_power_w, "peak_w": rep.run.peak_power_w,
        "rails_avg_w": sampler.rails_mean_w(*run) if polled else {},
        **source_json(info), **(sampler.quality_json() if polled else {}),
    }


def energy_json(rep: EnergyReport, *, estimated: bool) -> dict:
    return {
        "method": rep.method, "estimated": estimated, "inferences": rep.inferences,
        "total_mj_per_inference": rep.total_mj_per_inference, "net_mj_per_inference": rep.net_mj_per_inference,
        "uncertainty_mj_per_inference": rep.uncertainty_mj_per_inference,
        "net_uncertainty_mj_per_inference": rep.net_uncertainty_mj_per_inference,
        "uncertainty_frac": rep.uncertainty_frac, "idle_drift_frac": rep.idle_drift_frac,
        "run": _window_json(rep.run), "idle_before": _window_json(rep.idle_before),
        "idle_after": _window_json(rep.idle_after),
    }


def artifact_json(a: Artifact) -> dict:
    return {"path": str(a.path), "sha256": a.sha256, "bytes": a.bytes, "format": a.format,
            "precision": a.precision, "manifest": str(a.manifest_path) if a.manifest_path else None}


def settings_json(s: BenchSettings, *, input_samples: int) -> dict:
    return {"duration_s": s.duration_s, "iterations": s.iterations, "warmup_s": s.warmup_s, "rate_hz": s.rate_hz,
            "threads": s.threads, "idle_s": s.idle_s, "power": s.power, "sample_hz": s.sample_hz,
            "input": str(s.input_npz) if s.input_npz else "generated", "input_samples": input_samples,
            "sysfs_root": str(s.sysfs_root), "adb_serial": s.adb_serial}


def _idle(sampler: Sampler | None, seconds: float) -> tuple[float, float]:
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            return t0, now
        time.sleep(min(0.2, end - now))
        if sampler is not None:
            sampler.check()


def _wait_for_sample_after(sampler: Sampler, t_s: float, timeout_s: float) -> None:
    """Let the sampler take one read past ``t_s`` so the window's end is covered by data."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sampler.check()
        tr = sampler.trace()
        if len(tr) and tr.t_s[-1] >= t_s:
            return
        time.sleep(min(0.01, 1.0 / sampler.sample_hz))


def run_bench(path: Path | str, settings: BenchSettings | None = None, *, log: Log = _stderr) -> dict:
    """Benchmark ``path`` (a build directory or a model file) and return the validated result document."""
    s = (settings or BenchSettings()).checked()
    if s.power == "android":
        from edgekit.bench.android import run_android_bench

        return run_android_bench(Path(path), s, log=log)

    artifact = resolve_artifact(Path(path))
    target_name = s.target or artifact.target
    target = _load_target(target_name, explicit=bool(s.target))

    session = open_session(artifact.path, providers=list(artifact.providers) or None, threads=s.threads,
                           provider_options=list(artifact.provider_options) or None)
    missing = list(getattr(session, "missing_providers", []))
    if missing:
        log(f"edgekit: warning: execution provider(s) {', '.join(missing)} from the manifest are not in this "
            f"onnxruntime; running on {', '.join(session.providers)} instead")
    feeds = npz_feeds(s.input_npz, session.inputs) if s.input_npz else generated_feeds(session.inputs)

    from edgekit.sensors.detect import decision_line, open_power_source

    try:
        source = open_power_source(s.power, sysfs_root=s.sysfs_root, target=target, trace_file=s.trace_file,
                                   adb_serial=s.adb_serial, proc_root=s.proc_root)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("edgekit.sensors"):
            raise
        raise SensorError(f"power source {s.power!r} is not available in this edgekit ({exc.name} missing); "
                          "choose another --power") from None
    has_power = getattr(source.info, "scope", "none") != "none"
    if decision_line(source.info):  # --power auto says what it chose and why it refused the others
        log(decision_line(source.info))
    if not has_power:
        log(f"edgekit: warning: {source.info.description}; reporting latency only")
    # a finished meter trace is aligned afterwards by wall clock instead of being polled
    windowed = has_power and callable(getattr(source, "window", None))
    thermal = open_thermal(s, log=log)
    sampler = Sampler(source if has_power and not windowed else None, sample_hz=s.sample_hz, thermal=thermal,
                      thermal_hz=s.thermal_hz)
    polled = sampler.source is not None
    battery_reader = None
    if polled and callable(getattr(source, "battery_state", None)):
        source = battery_reader = SharedSource(source)  # the sampler thread and this one both use it
        sampler.source = source
    battery_states = []

    def infer(i: int) -> None:
        session.run(feeds[i % len(feeds)])

    wall0, mono0 = time.time(), time.monotonic()
    try:
        sampler.start()
        if polled:
            _wait_for_sample_after(sampler, time.monotonic(), 2.0 + 2.0 / sampler.sample_hz)
        t_begin = time.monotonic()
        idle_before = _idle(sampler, s.idle_s) if s.idle_s > 0 else None
        if battery_reader is not None:
            battery_states.append(battery_reader.battery_state())
        loop: LoopResult = run_loop(infer, duration_s=s.duration_s, iterations=s.iterations, warmup_s=s.warmup_s,
                                    rate_hz=s.rate_hz, check=sampler.check)
        if battery_reader is not None:
            battery_states.append(battery_reader.battery_state())
        idle_after = _idle(sampler, s.idle_s) if s.idle_s > 0 else None
        t_finish = (idle_after or (loop.t_start_s, loop.t_end_s))[1]
        if polled:
            _wait_for_sample_after(sampler, t_finish, 2.0 + 2.0 / sampler.sample_hz)
        sampler.stop()
    finally:
        if sampler.running:
            sampler.stop()
        source.close()
    if windowed:
        trace = _trace_window(source, wall0 + (t_begin - mono0), wall0 + (t_finish - mono0), t_begin)
    elif polled:
        trace = sampler.trace()
    measured_at = resultdoc.utc_now()

    run = (loop.t_start_s, loop.t_end_s)
    lat = latency_stats(loop.latencies_s, window_s=loop.window_s, first_inference_s=loop.first_inference_s,
                        warmup_count=loop.warmup_count)
    power = energy = rep = None
    if has_power:
        rep = energy_report(trace, run=run, inferences=lat.count, resolution_w=source.info.resolution_w,
                            idle_before=idle_before, idle_after=idle_after,
                            use_counter=bool(source.info.has_counter),
                            **estimate_options(source.info, jittered=polled and sampler.jitter, rate_hz=s.rate_hz,
                                               busy_s=_median(loop.latencies_s)))
        power = power_json(sampler, rep, run, source.info, sample_hz=None if polled else source.info.default_sample_hz)
        energy = energy_json(rep, estimated=bool(source.info.estimated))
    th = summarize_thermal(sampler.thermal_snapshots(), run=run, back_to_back=s.rate_hz is None)
    battery = battery_summary(source, battery_states, rep, run, target) if has_power else None
    rate = loop.rate_json()
    flags = evaluate_validity(window_s=loop.window_s, power=power, energy=rep, thermal=th, rate=rate,
                              missing_providers=missing, idle_s=s.idle_s)
    runtime = {"name": session.runtime, "version": session.runtime_version,
               "providers_requested": list(artifact.providers), "providers": list(session.providers),
               "missing_providers": missing, "threads": s.threads}
    return resultdoc.build(
        device=device_info(device_id=s.device_id, target=target.name if target else target_name,
                           proc_root=s.proc_root),
        artifact=artifact_json(artifact), runtime=runtime,
        settings={**settings_json(s, input_samples=len(feeds)), "power_decision": decision_json(source.info)},
        latency={**lat.to_json(), "source": "edgekit"}, rate=rate, power=power, energy=energy,
        thermal=th.to_json() if th else None, battery=battery, flags=flags, measured_at=measured_at)


def _trace_window(source, wall_start_s: float, wall_end_s: float, mono_start_s: float):
    """An external meter's trace between two wall-clock times, on this run's monotonic axis.

    The file is opened afresh, so rows the meter appended during the run are included."""
    fresh = type(source)(source.path, scope=source.info.scope, start_wall_s=source.start_wall_s,
                         clock_offset_s=source.clock_offset_s)
    samples = fresh.window(wall_start_s, wall_end_s, mono_start_s=mono_start_s)
    return Trace.from_arrays([x.t_s for x in samples], [x.power_w for x in samples])


__all__ = ["BenchSettings", "EdgekitError", "run_bench"]
