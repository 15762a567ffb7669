"""``edgekit bench``: measure a model on this device (latency, power, energy, thermals, battery)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from edgekit.bench.settings import DEFAULT_DURATION_S, DEFAULT_IDLE_S, DEFAULT_WARMUP_S, BenchSettings
from edgekit.errors import ConfigError, EdgekitError
from edgekit.sensors.detect import KINDS as POWER_KINDS

#: exit status when the run succeeded but the collector did not confirm the report (it stays spooled)
EXIT_NOT_CONFIRMED = 3


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="measure latency, power, energy per inference, temperature and battery drain on this device",
        description="Run a model on this device and measure what it costs. Every energy figure names its "
                    "sensor, scope, sample rate and validity.")
    p.add_argument("path", type=Path, help="a build directory (with manifest.json) or a .onnx/.ort/.tflite file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--duration", type=float, metavar="S", help=f"measured window in seconds (default {DEFAULT_DURATION_S:g})")
    g.add_argument("--iterations", type=int, metavar="N", help="measure N inferences instead of a duration")
    p.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S, metavar="S",
                   help=f"warm-up seconds, excluded from every figure (default {DEFAULT_WARMUP_S:g})")
    p.add_argument("--rate", type=float, metavar="HZ", help="fixed arrival rate with idle gaps (e.g. a 10 fps camera)")
    p.add_argument("--threads", type=int, metavar="N", help="intra-op threads of the runtime")
    p.add_argument("--idle", type=float, default=DEFAULT_IDLE_S, metavar="S",
                   help=f"idle baseline measured before and after the run, each (default {DEFAULT_IDLE_S:g})")
    p.add_argument("--power", choices=POWER_KINDS, default="auto", help="power source (default auto-detect)")
    p.add_argument("--trace", type=Path, metavar="FILE", help="external meter CSV for --power trace")
    p.add_argument("--adb-serial", metavar="S", help="the phone's adb serial (with --power android)")
    p.add_argument("--sample-hz", type=float, metavar="HZ", help="power sampling rate (default: the source's)")
    p.add_argument("--sysfs-root", type=Path, metavar="DIR",
                   help="read /sys from DIR (also EDGEKIT_SYSFS_ROOT), e.g. a container's mount of the host /sys")
    p.add_argument("--target", metavar="NAME", help="target profile (default: the manifest's)")
    p.add_argument("--emulate", choices=("arm64",), metavar="PLATFORM",
                   help="run in the emulated device (arm64: `edgekit toolchain install arm64`); its runtime's "
                        "outputs, emulated latency (not a device figure), no power or energy")
    p.add_argument("--input", type=Path, metavar="FILE.npz", help="real inputs, keys = input names (cycled)")
    p.add_argument("--device-id", metavar="ID", help="device id in the result (default: host name)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write the result document here")
    p.add_argument("--json", action="store_true", help="print the result document instead of the table")
    from edgekit.fleet.messages import add_broker_auth_arguments

    p.add_argument("--report", metavar="URL", help="send the result to a fleet collector (mqtt://host:port or "
                   "mqtts://host:8883; TLS and login with the options below, as for edgekit agent)")
    add_broker_auth_arguments(p)
    p.add_argument("--fleet", default="default", help="fleet name for --report (default 'default')")
    p.add_argument("--store-id", metavar="ID",
                   help="with --report: count only acks from this collector store (default: the spool's, learned "
                   "from the first ack)")
    p.add_argument("--report-timeout", type=float, default=30.0, metavar="S",
                   help="wait this long for the collector's confirmation (default 30); unconfirmed stays spooled")
    p.add_argument("--spool", type=Path, default=None, metavar="PATH",
                   help="store-and-forward spool for --report (default: the agent's, "
                        "$XDG_DATA_HOME/edgekit/spool.db or ~/.local/share/edgekit/spool.db)")
    p.set_defaults(func=run)


def settings_from_args(args) -> BenchSettings:
    root = args.sysfs_root or Path(os.environ.get("EDGEKIT_SYSFS_ROOT") or "/sys")
    return BenchSettings(
        duration_s=args.duration, iterations=args.iterations, warmup_s=args.warmup, rate_hz=args.rate,
        threads=args.threads, idle_s=args.idle, power=args.power, trace_file=args.trace,
        adb_serial=args.adb_serial, sample_hz=args.sample_hz, sysfs_root=root, target=args.target,
        input_npz=args.input, device_id=args.device_id)


def _reporter():
    from edgekit.fleet.device import deliver  # paho: imported only for --report

    return deliver


def run(args) -> int:
    from edgekit.bench.runner import run_bench

    if args.report and not args.report.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(f"--report {args.report!r}: give a broker URL like mqtt://host:1883")
    if not args.report_timeout > 0:
        raise ConfigError(f"--report-timeout must be a positive number of seconds, got {args.report_timeout:g}")
    reporter = _reporter() if args.report else None
    if reporter is not None:  # bad TLS/login options are refused before the run, not after it
        from edgekit.fleet.messages import broker_config_from_args

        broker = broker_config_from_args(args, url=args.report)
        if args.store_id is not None:
            from edgekit.fleet.messages import check_store_id

            check_store_id(args.store_id)
    if args.out is not None and not args.out.parent.resolve().is_dir():
        raise ConfigError(f"--out {args.out}: directory {args.out.parent} does not exist; create it first")
    if args.emulate:
        from edgekit.bench.emulated import run_emulated_bench

        doc = run_emulated_bench(args.path, settings_from_args(args), platform_name=args.emulate)
    else:
        doc = run_bench(args.path, settings_from_args(args))
    if args.out is not None:
        from edgekit.bench import result as resultdoc  # jsonschema: only when a result is written

        resultdoc.write(doc, args.out)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from edgekit.bench.table import print_result

        print_result(doc)
        if args.out is not None:
            print(f"result written to {args.out}")
    if reporter is not None:
        # an emulated device is not this host: it reports under the result's own device id
        device_id = args.device_id or (doc["device"]["id"] if args.emulate else None)
        outcome = reporter.report_result(broker, doc, fleet=args.fleet, device_id=device_id,
                                         spool_path=args.spool, timeout_s=args.report_timeout,
                                         store_id=args.store_id)
        print(outcome.summary(), file=sys.stderr)
        return 0 if outcome.confirmed else EXIT_NOT_CONFIRMED
    return 0


__all__ = ["register", "run", "EdgekitError"]
