"""``edgekit collect``: store fleet results and telemetry from MQTT, check budgets, raise alerts."""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from pathlib import Path

from edgekit.errors import ConfigError

_LEVEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_s(text: str, option: str = "--dead-letter-max-age") -> float:
    """``14d``, ``12h``, ``90m``, ``3600s`` or plain seconds."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ConfigError(f"{option} {text!r} is not a duration; use e.g. 14d, 12h, 90m or 3600")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def register(subparsers) -> None:
    from edgekit.fleet.messages import add_broker_arguments

    p = subparsers.add_parser(
        "collect", help="store fleet results and telemetry from MQTT, check budgets, raise alerts",
        description="Subscribe to edgekit/v1/<fleet>/+/result|telemetry|status (MQTT 5, QoS 1, persistent "
                    "session), validate every message, store it once, acknowledge it to the device after the "
                    "commit, and publish budget alerts on edgekit/v1/<fleet>/alerts/<device>.")
    add_broker_arguments(p)
    p.add_argument("--db", required=True, metavar="URL",
                   help="sqlite:///fleet.db (embedded) or postgresql://user@host/db")
    p.add_argument("--fleet", default="+", metavar="NAME", help="collect one fleet (default: + = all fleets)")
    p.add_argument("--budgets", metavar="FILE", type=Path, help="TOML budgets file (see docs/fleet-collector.md)")
    p.add_argument("--targets-dir", metavar="DIR", type=Path, help="target profiles folder (default: the bundled one)")
    p.add_argument("--share", metavar="GROUP",
                   help="MQTT 5 shared subscription group: collectors in one group split the traffic")
    p.add_argument("--client-id", metavar="ID",
                   help="MQTT client id; fixed per collector process, it names the persistent session "
                        "(default: edgekit-collector-<hostname>)")
    p.add_argument("--session-expiry", type=int, default=None, metavar="S",
                   help="seconds the broker keeps the session while the collector is away (default 7 days)")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    p.add_argument("--metrics-addr", default="0.0.0.0", metavar="ADDR", help="address for --metrics-port")
    p.add_argument("--batch-max", type=int, default=500, metavar="N", help="messages per transaction (default 500)")
    p.add_argument("--batch-wait-ms", type=float, default=50.0, metavar="MS",
                   help="longest wait to fill a batch (default 50)")
    p.add_argument("--max-bytes", type=int, default=None, metavar="N",
                   help="largest payload accepted (default 1 MiB)")
    p.add_argument("--dead-letter-max-rows", type=int, default=50_000, metavar="N",
                   help="keep at most the newest N dead letters (default 50000; 0: no row cap)")
    p.add_argument("--dead-letter-max-age", default="14d", metavar="AGE",
                   help="drop dead letters older than AGE: 14d, 12h, 90m, 3600 (seconds) (default 14d; 0: keep)")
    p.add_argument("--raw-retention", default="7d", metavar="AGE",
                   help="delete raw telemetry older than AGE (device clock) in the background; the minute and "
                        "hour rollups that reports read are kept (default 7d; 0: keep raw telemetry)")
    p.add_argument("--reject-log-max", type=int, default=10, metavar="N",
                   help="log at most N rejected messages a minute, then one summary line (default 10)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=run_collect)



def _check_args(args) -> None:
    if args.fleet != "+" and not _LEVEL_RE.match(args.fleet):
        raise ConfigError(f"--fleet {args.fleet!r} is not a fleet name; use letters, digits, _ . : - or + for all")
    if args.share is not None and not _LEVEL_RE.match(args.share):
        raise ConfigError(f"--share {args.share!r} is not a valid group name; use letters, digits, _ . : -")
    if args.client_id is not None and not (0 < len(args.client_id) <= 128):
        raise ConfigError("--client-id must be 1 to 128 characters")
    if args.metrics_port is not None and not (0 < args.metrics_port < 65536):
        raise ConfigError(f"--metrics-port {args.metrics_port} is not a TCP port; use 1-65535")
    if args.batch_max < 1:
        raise ConfigError("--batch-max must be at least 1")
    if not (0 <= args.batch_wait_ms <= 10000):
        raise ConfigError("--batch-wait-ms must be between 0 and 10000")
    if args.max_bytes is not None and args.max_bytes < 256:
        raise ConfigError("--max-bytes must be at least 256")
    if args.session_expiry is not None and not (0 <= args.session_expiry <= 0xFFFFFFFF):
        raise ConfigError("--session-expiry must be between 0 and 4294967295 seconds")
    if args.dead_letter_max_rows < 0:
        raise ConfigError("--dead-letter-max-rows must be 0 (no cap) or more")
    if args.reject_log_max < 0:
        raise ConfigError("--reject-log-max must be 0 or more")
    duration_s(args.dead_letter_max_age)
    duration_s(args.raw_retention, "--raw-retention")


def run_collect(args) -> int:
    from edgekit.fleet.collector.budgets import Budgets
    from edgekit.fleet.collector.ingest import Collector, CollectorConfig, default_client_id
    from edgekit.fleet.messages import broker_config_from_args
    from edgekit.fleet.mqtt import DEFAULT_SESSION_EXPIRY_S
    from edgekit.fleet.collector.metrics import CollectorMetrics
    from edgekit.fleet.collector.retention import DeadLetterRetention
    from edgekit.fleet.collector.store import open_store
    from edgekit.fleet.collector.validate import DEFAULT_MAX_BYTES, Validator

    _check_args(args)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    broker = broker_config_from_args(args)
    budgets = Budgets.from_path(args.budgets, targets_dir=args.targets_dir)
    validator = Validator(max_bytes=args.max_bytes or DEFAULT_MAX_BYTES)
    metrics = CollectorMetrics()
    config = CollectorConfig(
        broker=broker, fleet=args.fleet, share=args.share, client_id=args.client_id or default_client_id(),
        session_expiry_s=DEFAULT_SESSION_EXPIRY_S if args.session_expiry is None else args.session_expiry,
        batch_max=args.batch_max, batch_wait_s=args.batch_wait_ms / 1000.0, reject_log_max=args.reject_log_max,
        dead_letters=DeadLetterRetention(max_rows=args.dead_letter_max_rows or None,
                                         max_age_s=duration_s(args.dead_letter_max_age) or None))
    store = open_store(args.db)
    server = pruner = None
    try:
        raw_age_s = duration_s(args.raw_retention, "--raw-retention")
        if raw_age_s:  # its own connection: deleting old rows never waits on, or holds, the ingest worker's
            from edgekit.fleet.collector.rawretention import RawRetention, RawTelemetryPruner
            pruner = RawTelemetryPruner(open_store(args.db, migrate=False), RawRetention(max_age_s=raw_age_s))
            pruner.start()
        if args.metrics_port:
            try:
                server = metrics.serve(args.metrics_port, args.metrics_addr)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on port {args.metrics_port} ({exc.strerror}); "
                                  "choose a free --metrics-port") from None
        collector = Collector(config, store, budgets=budgets, validator=validator, metrics=metrics)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        collector.start()
        logging.getLogger("edgekit.fleet.collector").info(
            "collecting %s into %s (store id %s)%s", ", ".join(config.subscriptions()), store.url_redacted,
            collector.store_id,
            f", metrics on :{args.metrics_port}/metrics" if args.metrics_port else "")
        error = collector.wait(stop)
        collector.stop()
        if error:
            print(f"edgekit: error: {error}", file=sys.stderr)
            return 1
        return 0
    finally:
        if pruner is not None:
            pruner.stop()
            pruner.store.close()
        if server is not None:
            server.shutdown()
        store.close()
