"""``edgekit demo``: the whole product on one machine, with nothing to install beyond the package.

1. build the bundled digits CNN for each target family (Jetson, Raspberry Pi, phone);
2. start a broker (the embedded default, unless --broker is given) and a collector
   with a SQLite store;
3. for each family, a device agent on this host sends power/thermal telemetry and
   benchmarks that family's build here, with the best power source this host has —
   on a machine without a sensor that is an estimate from the family's target
   profile, and every figure says so;
4. the collector stores, acknowledges and checks budgets; then the fleet report is
   printed and written as HTML.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from edgekit.errors import EdgekitError

FAMILIES = ("jetson", "rpi", "phone")


def register(sub) -> None:
    p = sub.add_parser("demo", help="build, benchmark, report over MQTT, check budgets and write the fleet report")
    p.add_argument("--out", type=Path, default=Path("edgekit-demo"), help="where everything goes (default ./edgekit-demo)")
    p.add_argument("--broker", metavar="URL", help="use this broker instead of the embedded default")
    p.add_argument("--db", metavar="URL", help="fleet database (default sqlite:///OUT/fleet.db)")
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated: jetson,rpi,phone")
    p.add_argument("--bench-duration", type=float, default=4.0, metavar="S",
                   help="seconds of measured inferences per device (default 4; under 10 s is flagged as short)")
    p.add_argument("--power", default="auto", help="power source for the benchmarks (default auto)")
    p.add_argument("--embedded-broker", choices=("auto", "mosquitto", "amqtt"), default="auto",
                   help="without --broker: mosquitto from PATH when there is one (auto), else in-process amqtt")
    p.set_defaults(func=run)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _build_all(families: list[str], out: Path) -> dict[str, object]:
    from edgekit.builder.pipeline import build_model
    from edgekit.models import bundled_calibration_path, bundled_eval_path, bundled_model_path

    model = bundled_model_path("digits")
    builds = {}
    for family in families:
        t0 = time.monotonic()
        result = build_model(model, family, precision="auto", calibration=bundled_calibration_path("digits"),
                             eval_data=bundled_eval_path("digits"), out_dir=out / "builds")
        builds[family] = result
        _say(f"  build  {result.summary}  [{time.monotonic() - t0:.1f} s]")
        for w in result.warnings:
            _say(f"         note: {w}")
    return builds


def _run_device(family: str, build, broker, out: Path, args) -> dict:
    """One simulated device: an agent with telemetry every second and one benchmark of its build."""
    from edgekit.bench.runner import run_bench
    from edgekit.bench.settings import BenchSettings
    from edgekit.fleet.device.agent import Agent
    from edgekit.fleet.device.reporter import Reporter
    from edgekit.fleet.device.spool import Spool
    from edgekit.sensors.detect import open_power_source
    from edgekit.sensors.thermal import ThermalReader
    from edgekit.targets import load_target

    target = load_target(build.manifest["target"]["name"])
    device_id = f"demo-{family}"
    power = open_power_source(args.power, target=target)
    reader = ThermalReader(Path("/sys"))
    thermal = reader.read if (reader.zones or reader.cooling or reader.cpus) else None
    results: list[dict] = []

    def bench() -> dict:
        settings = BenchSettings(duration_s=args.bench_duration, warmup_s=0.5, idle_s=1.0, power=args.power,
                                 target=target.name, device_id=device_id)
        doc = run_bench(build.output_dir, settings, log=lambda m: None)
        results.append(doc)
        return doc

    spool = Spool(out / "spool" / f"{device_id}.db")
    reporter = Reporter(broker, spool, fleet="demo", device_id=device_id, target=target.name)
    agent = Agent(reporter, power=power, thermal=thermal, interval_s=1.0, sample_hz=5.0, bench=bench,
                  every_s=3600.0, first_bench_after_s=0.5)
    reporter.start()
    runner = threading.Thread(target=agent.run, name=f"agent-{device_id}", daemon=True)
    runner.start()
    deadline = time.monotonic() + args.bench_duration + 60
    while time.monotonic() < deadline and not (agent.stats.benches_run + agent.stats.bench_failures >= 1
                                                and agent.stats.telemetry_sent >= 3):
        time.sleep(0.1)
    agent.stop()
    runner.join(10)
    drained = reporter.wait_drained(30)
    reporter.stop()
    pending = spool.stats().pending
    spool.close()
    power.close()
    if agent.stats.bench_failures:
        raise EdgekitError(f"{device_id}: the benchmark of {build.output_dir} failed; run `edgekit bench "
                           f"{build.output_dir}` to see why")
    if not drained or pending:
        raise EdgekitError(f"{device_id}: {pending} message(s) were not confirmed by the collector; "
                           f"they stay in {spool.path}")
    doc = results[0]
    energy = doc.get("energy") or {}
    power_doc = doc.get("power") or {}
    how = f"{power_doc.get('source', 'no sensor')}{' ESTIMATE' if power_doc.get('estimated') else ''}"
    e = energy.get("total_mj_per_inference")
    _say(f"  device {device_id:<12} {target.name:<17} p50 {doc['latency']['p50_ms']:.3f} ms, "
         f"{'%.4g mJ/inference' % e if e is not None else 'no energy figure'} ({how}); "
         f"{agent.stats.telemetry_sent} telemetry + 1 result confirmed")
    return doc


def run(args) -> int:
    from edgekit.fleet.broker import EmbeddedBroker
    from edgekit.fleet.collector.budgets import Budgets
    from edgekit.fleet.collector.ingest import Collector, CollectorConfig
    from edgekit.fleet.messages import parse_broker_url
    from edgekit.fleet.collector.store import open_store
    from edgekit.atomicfile import write_atomic
    from edgekit.report.data import build_report
    from edgekit.report.html import render_html
    from edgekit.report.terminal import print_report

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise EdgekitError(f"--families {args.families!r}: use a comma-separated list of {', '.join(FAMILIES)}")
    if not args.bench_duration > 0:
        raise EdgekitError("--bench-duration must be a positive number of seconds")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    db_url = args.db or f"sqlite:///{(out / 'fleet.db').resolve()}"
    t_start = time.monotonic()

    _say(f"edgekit demo → {out.resolve()}")
    _say("1/4 building the bundled digits CNN for " + ", ".join(families))
    builds = _build_all(families, out)

    embedded = None
    if args.broker:
        broker_url = args.broker
        broker_desc = parse_broker_url(broker_url).redacted_url()
    else:
        embedded = EmbeddedBroker(prefer=args.embedded_broker).start()
        broker_url, broker_desc = embedded.url, embedded.description
    try:
        broker = parse_broker_url(broker_url)
        _say(f"2/4 broker: {broker_desc}; collector → {db_url}")
        store = open_store(db_url)
        collector = Collector(CollectorConfig(broker=broker, client_id="edgekit-demo-collector"), store,
                              budgets=Budgets.from_path(None))
        collector.start()
        try:
            _say("3/4 devices: telemetry every 1 s and one benchmark each, reported over MQTT")
            for family in families:
                _run_device(family, builds[family], broker, out, args)
        finally:
            collector.stop()
        _say("4/4 budgets checked by the collector; fleet report:")
        report = build_report(store, budgets=Budgets.from_path(None))
        html = out / "report.html"
        write_atomic(html, render_html(report))
        print_report(report)
        counts = store.counts()
        store.close()
    finally:
        if embedded is not None:
            embedded.stop()
    _say("")
    _say(f"builds:    {out / 'builds'} ({len(builds)} artifacts with manifest.json)")
    _say(f"database:  {db_url} ({counts['result']} results, {counts['telemetry']} telemetry, "
         f"{counts['dead_letters']} rejected)")
    _say(f"report:    {html}")
    _say(f"violations: {sum(d.open_violations for d in report.devices)} open")
    _say(f"done in {time.monotonic() - t_start:.0f} s")
    return 0
