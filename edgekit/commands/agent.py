"""``edgekit agent``: run the device reporting service (also ``python -m edgekit.commands.agent``)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import signal
import sys
from pathlib import Path

from edgekit.errors import ConfigError, EdgekitError

log = logging.getLogger("edgekit.fleet.agent")

POWER_KINDS = ("auto", "jetson", "tegrastats", "rpi", "battery", "rapl", "estimate", "none")


def register(subparsers) -> None:
    from edgekit.fleet.messages import add_broker_arguments

    p = subparsers.add_parser(
        "agent", help="run on a device: periodic power/thermal telemetry and scheduled benchmarks over MQTT",
        description="Publish telemetry every --interval seconds (and a benchmark result every --every seconds "
        "with --bench) to edgekit/v1/<fleet>/<device>/..., through a local spool that keeps every message "
        "until the collector acknowledges it. Stops cleanly on SIGTERM or Ctrl-C.")
    add_arguments(p, add_broker_arguments)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser, add_broker_arguments) -> None:
    add_broker_arguments(p)
    p.add_argument("--fleet", default="default", help="fleet name (one topic level; default 'default')")
    p.add_argument("--device-id", metavar="ID", help="device id (default: the host name)")
    p.add_argument("--interval", type=float, default=60.0, metavar="S", help="telemetry window in seconds (default 60)")
    p.add_argument("--sample-hz", type=float, default=1.0, metavar="HZ",
                   help="power/thermal reads per second within a window (default 1)")
    p.add_argument("--bench", metavar="PATH", help="build directory or model file to benchmark on a schedule")
    p.add_argument("--every", type=float, metavar="S", help="seconds between scheduled benchmarks (with --bench)")
    p.add_argument("--bench-duration", type=float, default=10.0, metavar="S",
                   help="measured window of each scheduled benchmark (default 10)")
    p.add_argument("--spool", type=Path, metavar="PATH",
                   help="spool file (default ~/.local/share/edgekit/spool.db)")
    p.add_argument("--spool-max-rows", type=int, default=100_000, metavar="N",
                   help="most unconfirmed messages kept (default 100000); beyond it the oldest telemetry is dropped "
                   "and counted")
    p.add_argument("--spool-max-mb", type=float, default=256.0, metavar="MB",
                   help="most spool payload bytes, in MiB (default 256)")
    p.add_argument("--store-id", metavar="ID",
                   help="release spooled messages only on acks from this collector store (the id `edgekit collect` "
                   "logs; default: the store of the first ack, kept in the spool)")
    p.add_argument("--resend-after", type=float, default=60.0, metavar="S",
                   help="re-send unconfirmed messages when the collector has not acked for S seconds (default 60)")
    p.add_argument("--power", choices=POWER_KINDS, default="auto",
                   help="power source (default auto-detect; 'none' reports thermal/battery-less telemetry only)")
    p.add_argument("--sysfs-root", type=Path, metavar="DIR",
                   help="read /sys from DIR (a container with the host's /sys mounted elsewhere; "
                   "default $EDGEKIT_SYSFS_ROOT or /sys)")
    p.add_argument("--target", metavar="NAME", help="target profile name (labels messages; feeds --power estimate)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _open_power(kind: str, sysfs_root: Path, target):
    if kind == "none":
        return None
    from edgekit.sensors.detect import open_power_source

    return open_power_source(kind, sysfs_root=sysfs_root, target=target)


def _open_thermal(sysfs_root: Path):
    from edgekit.errors import SensorError
    from edgekit.sensors.thermal import ThermalReader

    reader = ThermalReader(sysfs_root, vcgencmd=shutil.which("vcgencmd"))
    if reader.vcgencmd:
        try:
            reader.read()
        except SensorError as exc:  # e.g. not in the video group: keep zones, cooling devices and clocks
            log.warning("Raspberry Pi throttling flags unavailable (%s); telemetry judges throttling from "
                        "cooling devices only", exc)
            reader = ThermalReader(sysfs_root)
    if not (reader.zones or reader.cooling or reader.cpus or reader.vcgencmd):
        return None
    return reader.read


def _bench_callable(path: str, args, device_id: str, sysfs_root: Path):
    bench_path = Path(path)
    if not bench_path.exists():
        raise ConfigError(f"--bench {path}: no such build directory or model file; pass what `edgekit bench` takes")

    def run_once() -> dict:
        from edgekit.bench.runner import run_bench  # heavy (onnxruntime): imported on first use
        from edgekit.bench.settings import BenchSettings

        settings = BenchSettings(duration_s=args.bench_duration, power="auto" if args.power == "none" else args.power,
                                 sysfs_root=sysfs_root, target=args.target, device_id=device_id)
        return run_bench(bench_path, settings, log=lambda m: log.info("%s", m))

    return run_once


def run(args) -> int:
    from edgekit.fleet import messages
    from edgekit.fleet.device.agent import Agent
    from edgekit.fleet.device.reporter import Reporter
    from edgekit.fleet.device.spool import Spool

    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    broker = messages.broker_config_from_args(args)
    fleet = messages.check_segment(args.fleet, "fleet")
    device_id = messages.check_segment(args.device_id or messages.default_device_id(), "device id")
    for flag, value in (("--interval", args.interval), ("--sample-hz", args.sample_hz), ("--every", args.every),
                        ("--bench-duration", args.bench_duration), ("--spool-max-mb", args.spool_max_mb),
                        ("--resend-after", args.resend_after)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{flag} must be a positive finite number, got {value:g}")
    if (args.bench is None) != (args.every is None):
        raise ConfigError("--bench PATH and --every S go together (benchmark PATH every S seconds)")
    if args.store_id is not None:
        messages.check_store_id(args.store_id)
    if args.spool_max_rows < 1:
        raise ConfigError(f"--spool-max-rows must be at least 1, got {args.spool_max_rows}")
    sysfs_root = Path(args.sysfs_root or os.environ.get("EDGEKIT_SYSFS_ROOT") or "/sys")
    if not sysfs_root.is_dir():
        raise ConfigError(f"--sysfs-root {sysfs_root}: no such directory; point it at the host's /sys")
    target = None
    if args.target:
        from edgekit.targets import load_target

        target = load_target(args.target)
    bench = _bench_callable(args.bench, args, device_id, sysfs_root) if args.bench else None
    # the spool first: a bad --spool must not leave a power source (a tegrastats child) behind
    spool = Spool(args.spool, max_rows=args.spool_max_rows, max_bytes=int(args.spool_max_mb * 1024 * 1024))
    power = None
    try:
        power = _open_power(args.power, sysfs_root, target)
        thermal = _open_thermal(sysfs_root)
        reporter = Reporter(broker, spool, fleet=fleet, device_id=device_id, target=args.target,
                            resend_after_s=args.resend_after, store_id=args.store_id)
        agent = Agent(reporter, power=power, thermal=thermal, interval_s=args.interval, sample_hz=args.sample_hz,
                      bench=bench, every_s=args.every)
    except BaseException:
        if power is not None:
            power.close()
        spool.close()
        raise
    if power is None or power.info.scope == "none":
        log.warning("no power sensor: telemetry carries thermal/battery figures only (%s)",
                    power.info.description if power is not None else "--power none")
    else:
        log.info("power source: %s (%s%s)", power.info.name, power.info.description,
                 ", ESTIMATED" if power.info.estimated else "")

    def _on_signal(signum, frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        agent.stop()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    log.info("agent for device %s in fleet %s: telemetry every %g s to %s; spool %s", device_id, fleet,
             args.interval, broker.redacted_url(), spool.path)
    reporter.start()
    try:
        agent.run()
    finally:
        # Give the last telemetry a moment to be acknowledged; what is not stays spooled.
        reporter.wait_drained(min(5.0, args.interval))
        reporter.stop()
        pending = spool.stats().pending
        spool.close()
        if power is not None:
            power.close()
        for s, h in old.items():
            signal.signal(s, h)
    log.info("agent stopped; %d message(s) unconfirmed stay in the spool for the next start", pending)
    return 0


def main(argv: list[str] | None = None) -> int:
    from edgekit.fleet.messages import add_broker_arguments

    parser = argparse.ArgumentParser(prog="edgekit agent")
    add_arguments(parser, add_broker_arguments)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except EdgekitError as exc:
        print(f"edgekit: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
