"""A simulated device for ``edgekit demo``: a real agent, reporter and spool on this host.

It sends power/thermal telemetry every second and benchmarks one build with the best power
source this host has (on a machine without a sensor: an estimate from the target profile, said so).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from edgekit.bench.runner import run_bench
from edgekit.bench.settings import BenchSettings
from edgekit.errors import EdgekitError
from edgekit.fleet.device.agent import Agent
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool
from edgekit.fleet.messages import BrokerConfig
from edgekit.sensors.detect import open_power_source
from edgekit.sensors.thermal import ThermalReader
from edgekit.targets import load_target


def run_demo_device(family: str, build_dir: Path, target_name: str, broker: BrokerConfig, spool_dir: Path, *,
                    bench_duration_s: float, power: str) -> str:
    """One simulated device: an agent with telemetry every second and one benchmark of its build.

    Returns the line the demo prints for it; raises EdgekitError when the benchmark failed or the
    collector did not confirm every message."""
    target = load_target(target_name)
    device_id = f"demo-{family}"
    source = open_power_source(power, target=target)
    reader = ThermalReader(Path("/sys"))
    thermal = reader.read if (reader.zones or reader.cooling or reader.cpus) else None
    results: list[dict] = []

    def bench() -> dict:
        settings = BenchSettings(duration_s=bench_duration_s, warmup_s=0.5, idle_s=1.0, power=power,
                                 target=target.name, device_id=device_id)
        doc = run_bench(build_dir, settings, log=lambda m: None)
        results.append(doc)
        return doc

    spool = Spool(spool_dir / f"{device_id}.db")
    reporter = Reporter(broker, spool, fleet="demo", device_id=device_id, target=target.name)
    agent = Agent(reporter, power=source, thermal=thermal, interval_s=1.0, sample_hz=5.0, bench=bench,
                  every_s=3600.0, first_bench_after_s=0.5)
    reporter.start()
    runner = threading.Thread(target=agent.run, name=f"agent-{device_id}", daemon=True)
    runner.start()
    deadline = time.monotonic() + bench_duration_s + 60
    while time.monotonic() < deadline and not (agent.stats.benches_run + agent.stats.bench_failures >= 1
                                                and agent.stats.telemetry_sent >= 3):
        time.sleep(0.1)
    agent.stop()
    runner.join(10)
    drained = reporter.wait_drained(30)
    reporter.stop()
    pending = spool.stats().pending
    spool.close()
    source.close()
    if agent.stats.bench_failures:
        raise EdgekitError(f"{device_id}: the benchmark of {build_dir} failed; run `edgekit bench "
                           f"{build_dir}` to see why")
    if not drained or pending:
        raise EdgekitError(f"{device_id}: {pending} message(s) were not confirmed by the collector; "
                           f"they stay in {spool.path}")
    doc = results[0]
    energy = doc.get("energy") or {}
    power_doc = doc.get("power") or {}
    how = f"{power_doc.get('source', 'no sensor')}{' ESTIMATE' if power_doc.get('estimated') else ''}"
    e = energy.get("total_mj_per_inference")
    return (f"  device {device_id:<12} {target.name:<17} p50 {doc['latency']['p50_ms']:.3f} ms, "
            f"{'%.4g mJ/inference' % e if e is not None else 'no energy figure'} ({how}); "
            f"{agent.stats.telemetry_sent} telemetry + 1 result confirmed")
