"""``edgekit demo``: the whole product on one machine, with nothing to install beyond the package.

The simulated devices are :func:`edgekit.fleet.device.demo.run_demo_device`; this module builds,
starts the broker and collector, and prints the report.

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


def run(args) -> int:
    from edgekit.fleet.broker import EmbeddedBroker
    from edgekit.fleet.device.demo import run_demo_device
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
                line = run_demo_device(family, builds[family].output_dir, builds[family].manifest["target"]["name"],
                                       broker, out / "spool", bench_duration_s=args.bench_duration, power=args.power)
                _say(line)
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
