"""``edgekit sweep MODEL [MODEL ...] --target NAME``: every build of every model, measured alike, one table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgekit.bench.settings import DEFAULT_IDLE_S, DEFAULT_WARMUP_S
from edgekit.errors import ConfigError
from edgekit.sensors.detect import KINDS as POWER_KINDS

DEFAULT_SWEEP_DURATION_S = 3.0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="build every precision of each model, benchmark them alike, recommend the least energy",
        description="Build each MODEL at every precision the target allows (same pipeline, cache and accuracy "
                    "gate as edgekit build), benchmark the ones that pass in alternating rounds with one shared "
                    "idle baseline, and print one table with the Pareto front and a recommendation.")
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL", help="fp32 ONNX models")
    p.add_argument("--target", "-t", required=True, help="target profile name or alias")
    p.add_argument("--precisions", metavar="LIST", help="comma-separated, e.g. fp32,int8 (default: all the target allows)")
    p.add_argument("--calibration", type=Path, action="append", metavar="FILE.npz",
                   help="calibration data: once for every model, or once per model in order")
    p.add_argument("--eval", dest="eval_data", type=Path, action="append", metavar="FILE.npz",
                   help="eval data (optional 'labels'): once for every model, or once per model in order")
    p.add_argument("--max-accuracy-drop", type=float, metavar="PTS", help="accuracy floor for the recommendation")
    p.add_argument("--max-p99-ms", type=float, metavar="MS", help="latency budget for the recommendation")
    p.add_argument("--power", choices=POWER_KINDS, default="auto", help="power source (default auto-detect)")
    p.add_argument("--duration", type=float, default=DEFAULT_SWEEP_DURATION_S, metavar="S",
                   help=f"measured seconds per variant per round (default {DEFAULT_SWEEP_DURATION_S:g})")
    p.add_argument("--rounds", type=int, default=2, help="measuring rounds, order reversed every other (default 2)")
    p.add_argument("--idle", type=float, default=DEFAULT_IDLE_S, metavar="S", help="idle window per run, each side")
    p.add_argument("--input", type=Path, metavar="FILE.npz", help="bench inputs (default: generated)")
    p.add_argument("--region", default="WORLD", help="grid region for gCO2e (ISO code or US-XX; default WORLD)")
    p.add_argument("--duty-hz", type=float, default=1.0, help="inferences per second for battery life (default 1)")
    p.add_argument("--out", type=Path, default=Path("edgekit-sweep"), help="builds and sweep.json (default ./edgekit-sweep)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="write a self-contained HTML page")
    from edgekit.fleet.messages import add_broker_auth_arguments

    p.add_argument("--report", metavar="URL", help="send every variant's result to a fleet collector (mqtt://...)")
    add_broker_auth_arguments(p)
    p.add_argument("--fleet", default="default", help="fleet name for --report")
    p.add_argument("--device-id", metavar="ID", help="device id for the results (default: host name)")
    p.add_argument("--report-timeout", type=float, default=30.0, metavar="S")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    if not args.duration > 0:
        raise ConfigError(f"--duration {args.duration:g}: give a positive number of seconds")
    if not args.duty_hz > 0:
        raise ConfigError(f"--duty-hz {args.duty_hz:g}: give a positive rate")
    if args.html is not None and not args.html.resolve().parent.is_dir():
        raise ConfigError(f"--html {args.html}: directory {args.html.parent} does not exist")
    if args.report and not args.report.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(f"--report {args.report!r}: give a broker URL like mqtt://host:1883")
    for f in [*(args.calibration or []), *(args.eval_data or []), *([args.input] if args.input else [])]:
        if not f.is_file():
            raise ConfigError(f"{f}: data file not found")


def run(args) -> int:
    from edgekit.atomicfile import write_atomic
    from edgekit.bench.settings import BenchSettings
    from edgekit.report.carbon import grid_intensity
    from edgekit.sweep.choose import Floors
    from edgekit.sweep.render import build_table, html_page, text_lines
    from edgekit.sweep.run import run_sweep

    _check_args(args)
    grid_intensity(args.region)  # an unknown region fails before any build
    broker = None
    if args.report:
        from edgekit.fleet.messages import broker_config_from_args

        broker = broker_config_from_args(args, url=args.report)
    settings = BenchSettings(duration_s=args.duration, warmup_s=min(DEFAULT_WARMUP_S, args.duration),
                             idle_s=args.idle, power=args.power, input_npz=args.input, device_id=args.device_id)
    sweep = run_sweep(args.models, args.target, out_dir=args.out,
                      precisions=args.precisions.split(",") if args.precisions else None,
                      calibration=args.calibration, eval_data=args.eval_data, settings=settings,
                      rounds=args.rounds, log=lambda m: print(m, file=sys.stderr))
    table = build_table(sweep, Floors(args.max_accuracy_drop, args.max_p99_ms), region=args.region,
                        duty_hz=args.duty_hz)
    doc = {"schema": "edgekit.sweep", "schema_version": 1, "target": sweep.target.name, **table.to_json()}
    write_atomic(args.out / "sweep.json", json.dumps(doc, indent=2).encode())
    if args.html is not None:
        title = f"edgekit sweep: {', '.join(m.name for m in args.models)} on {sweep.target.name}"
        write_atomic(args.html, html_page(table, title).encode())
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(text_lines(table)))
    if broker is not None:
        from edgekit.fleet.device import deliver

        unconfirmed = 0
        for r in sweep.runs:
            for result in r.results:
                outcome = deliver.report_result(broker, result, fleet=args.fleet, device_id=args.device_id,
                                                timeout_s=args.report_timeout)
                print(f"{r.key}: {outcome.summary()}", file=sys.stderr)
                unconfirmed += not outcome.confirmed
        return 3 if unconfirmed else 0
    return 0
