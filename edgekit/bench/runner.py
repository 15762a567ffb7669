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
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.bench import result as resultdoc
from edgekit.bench.artifact import resolve_artifact
from edgekit.bench.device import device_info
from edgekit.bench.battery import battery_summary
from edgekit.bench.energy import Trace, energy_report, estimate_options
from edgekit.bench.inputs import generated_feeds, npz_feeds
from edgekit.bench.loop import LoopResult, run_loop
from edgekit.bench.sampler import Sampler, SharedSource
from edgekit.bench.settings import BenchSettings
from edgekit.bench.stats import latency_stats
from edgekit.bench.thermal import summarize as summarize_thermal
from edgekit.bench.validity import evaluate as evaluate_validity
from edgekit.bench.window import idle_window, load_target, wait_for_sample_after
from edgekit.errors import EdgekitError, SensorError
from edgekit.runtime import open_session
from edgekit.sensors.report import decision_json

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


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


def _median(xs) -> float | None:
    return float(sorted(xs)[len(xs) // 2]) if len(xs) else None


def run_bench(path: Path | str, settings: BenchSettings | None = None, *, log: Log = _stderr) -> dict:
    """Benchmark ``path`` (a build directory or a model file) and return the validated result document."""
    s = (settings or BenchSettings()).checked()
    if s.power == "android":
        from edgekit.bench.android import run_android_bench

        return run_android_bench(Path(path), s, log=log)

    artifact = resolve_artifact(Path(path))
    target_name = s.target or artifact.target
    target = load_target(target_name, explicit=bool(s.target))

    session = open_session(artifact.path, providers=list(artifact.providers) or None, threads=s.threads,
                           provider_options=list(artifact.provider_options) or None)
    missing = list(getattr(session, "missing_providers", []))
    if missing:
        log(f"edgekit: warning: execution provider(s) {', '.join(missing)} from the manifest are not in this "
            f"onnxruntime; running on {', '.join(session.providers)} instead")
    feeds = npz_feeds(s.input_npz, session.inputs) if s.input_npz else generated_feeds(session.inputs)

    source = _open_power(s, target)
    has_power = getattr(source.info, "scope", "none") != "none"
    from edgekit.sensors.detect import decision_line

    if decision_line(source.info):  # --power auto says what it chose and why it refused the others
        log(decision_line(source.info))
    if not has_power:
        log(f"edgekit: warning: {source.info.description}; reporting latency only")
    m = _measure(source, has_power, s, lambda i: session.run(feeds[i % len(feeds)]), open_thermal(s, log=log))
    measured_at = resultdoc.utc_now()

    loop, sampler = m.loop, m.sampler
    run = (loop.t_start_s, loop.t_end_s)
    lat = latency_stats(loop.latencies_s, window_s=loop.window_s, first_inference_s=loop.first_inference_s,
                        warmup_count=loop.warmup_count)
    power = energy = rep = None
    if has_power:
        rep = energy_report(m.trace, run=run, inferences=lat.count, resolution_w=source.info.resolution_w,
                            idle_before=m.idle_before, idle_after=m.idle_after,
                            use_counter=bool(source.info.has_counter),
                            **estimate_options(source.info, jittered=m.polled and sampler.jitter, rate_hz=s.rate_hz,
                                               busy_s=_median(loop.latencies_s)))
        power = resultdoc.power_json(sampler, rep, run, source.info,
                                     sample_hz=None if m.polled else source.info.default_sample_hz)
        energy = resultdoc.energy_json(rep, estimated=bool(source.info.estimated))
    th = summarize_thermal(sampler.thermal_snapshots(), run=run, back_to_back=s.rate_hz is None)
    battery = battery_summary(m.source, m.battery_states, rep, run, target) if has_power else None
    rate = loop.rate_json()
    flags = evaluate_validity(window_s=loop.window_s, power=power, energy=rep, thermal=th, rate=rate,
                              missing_providers=missing, idle_s=s.idle_s)
    runtime = {"name": session.runtime, "version": session.runtime_version,
               "providers_requested": list(artifact.providers), "providers": list(session.providers),
               "missing_providers": missing, "threads": s.threads}
    return resultdoc.build(
        device=device_info(device_id=s.device_id, target=target.name if target else target_name,
                           proc_root=s.proc_root),
        artifact=resultdoc.artifact_json(artifact), runtime=runtime,
        settings={**resultdoc.settings_json(s, input_samples=len(feeds)), "power_decision": decision_json(source.info)},
        latency={**lat.to_json(), "source": "edgekit"}, rate=rate, power=power, energy=energy,
        thermal=th.to_json() if th else None, battery=battery, flags=flags, measured_at=measured_at)


def _open_power(s: BenchSettings, target):
    from edgekit.sensors.detect import open_power_source

    try:
        return open_power_source(s.power, sysfs_root=s.sysfs_root, target=target, trace_file=s.trace_file,
                                 adb_serial=s.adb_serial, proc_root=s.proc_root)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("edgekit.sensors"):
            raise
        raise SensorError(f"power source {s.power!r} is not available in this edgekit ({exc.name} missing); "
                          "choose another --power") from None


@dataclass
class _Measurement:
    """What one measured run saw: the loop's timings, the sampler, the power trace and the idle windows."""

    loop: LoopResult
    sampler: Sampler
    source: object                      # the power source (shared with the sampler thread when it reads a battery)
    polled: bool                        # the sampler polled the source (else: a meter trace, or no power)
    trace: Trace | None
    idle_before: tuple[float, float] | None
    idle_after: tuple[float, float] | None
    battery_states: list = field(default_factory=list)


def _measure(source, has_power: bool, s: BenchSettings, infer: Callable[[int], None], thermal) -> _Measurement:
    """Idle window, inference loop, idle window, with the sampler running throughout; closes ``source``."""
    # a finished meter trace is aligned afterwards by wall clock instead of being polled
    windowed = has_power and callable(getattr(source, "window", None))
    sampler = Sampler(source if has_power and not windowed else None, sample_hz=s.sample_hz, thermal=thermal,
                      thermal_hz=s.thermal_hz)
    polled = sampler.source is not None
    battery_reader = None
    if polled and callable(getattr(source, "battery_state", None)):
        source = battery_reader = SharedSource(source)  # the sampler thread and this one both use it
        sampler.source = source
    battery_states = []
    wall0, mono0 = time.time(), time.monotonic()
    try:
        sampler.start()
        if polled:
            wait_for_sample_after(sampler, time.monotonic(), 2.0 + 2.0 / sampler.sample_hz)
        t_begin = time.monotonic()
        idle_before = idle_window(sampler, s.idle_s) if s.idle_s > 0 else None
        if battery_reader is not None:
            battery_states.append(battery_reader.battery_state())
        loop: LoopResult = run_loop(infer, duration_s=s.duration_s, iterations=s.iterations, warmup_s=s.warmup_s,
                                    rate_hz=s.rate_hz, check=sampler.check)
        if battery_reader is not None:
            battery_states.append(battery_reader.battery_state())
        idle_after = idle_window(sampler, s.idle_s) if s.idle_s > 0 else None
        t_finish = (idle_after or (loop.t_start_s, loop.t_end_s))[1]
        if polled:
            wait_for_sample_after(sampler, t_finish, 2.0 + 2.0 / sampler.sample_hz)
        sampler.stop()
    finally:
        if sampler.running:
            sampler.stop()
        source.close()
    trace = None
    if windowed:
        trace = _trace_window(source, wall0 + (t_begin - mono0), wall0 + (t_finish - mono0), t_begin)
    elif polled:
        trace = sampler.trace()
    return _Measurement(loop, sampler, source, polled, trace, idle_before, idle_after, battery_states)


def _trace_window(source, wall_start_s: float, wall_end_s: float, mono_start_s: float):
    """An external meter's trace between two wall-clock times, on this run's monotonic axis.

    The file is opened afresh, so rows the meter appended during the run are included."""
    fresh = type(source)(source.path, scope=source.info.scope, start_wall_s=source.start_wall_s,
                         clock_offset_s=source.clock_offset_s)
    samples = fresh.window(wall_start_s, wall_end_s, mono_start_s=mono_start_s)
    return Trace.from_arrays([x.t_s for x in samples], [x.power_w for x in samples])


__all__ = ["BenchSettings", "EdgekitError", "run_bench"]
