"""``edgekit fleet status`` and ``edgekit fleet report``: read what a collector stored.

``status``: devices, last seen, online/offline, open budget violations.
``report``: tables per device and per model variant, totals, carbon, and an HTML file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

from edgekit.errors import ConfigError

ROLLUP_SCHEMA_VERSION = 5  # telemetry_minute and telemetry_hour
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration_s(text: str) -> float:
    m = _DURATION_RE.match(text.strip().lower())
    if not m:
        raise ConfigError(f"--since {text!r} is not a duration; use a number and a unit, e.g. 90m, 24h, 7d, 2w")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def register(subparsers) -> None:
    fleet = subparsers.add_parser("fleet", help="look at what the fleet reported",
                                  description="Inspect a collector's database.")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND")
    fleet.set_defaults(func=lambda args: _fleet_help(fleet))
    st = fleet_sub.add_parser("status", help="devices, last seen, online/offline, open budget violations")
    st.add_argument("--db", required=True, metavar="URL", help="sqlite:///fleet.db or postgresql://...")
    st.add_argument("--json", action="store_true", help="print JSON instead of a table")
    st.add_argument("--stale-after", type=float, default=120.0, metavar="S",
                    help="a device without status messages is offline after this many silent seconds")
    st.add_argument("--all", action="store_true",
                    help="list every device (default: a fleet of more than 20 gets counts and the 20 that need "
                         "attention most)")
    st.set_defaults(func=run_status)
    p = fleet_sub.add_parser("report", help="per-device and per-model tables, fleet energy and carbon, HTML plots")
    p.add_argument("--db", required=True, metavar="URL", help="sqlite:///fleet.db or postgresql://...")
    p.add_argument("--since", metavar="DURATION", help="only the last DURATION (e.g. 24h, 7d); default: everything")
    p.add_argument("--html", metavar="FILE", type=Path, help="also write a self-contained HTML report here")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    p.add_argument("--budgets", metavar="FILE", type=Path, help="budgets file, for the budget lines in the plots")
    p.add_argument("--carbon", metavar="FILE", type=Path,
                   help="TOML with [fleet] region and per-device region or gco2e_per_kwh (see docs)")
    p.add_argument("--region", metavar="CC", help="grid region of the whole fleet (ISO country code); default WORLD")
    p.add_argument("--top", type=int, default=10, metavar="N",
                   help="devices in each top list (energy, violations, temperature), plotted in the HTML (default 10)")
    p.add_argument("--device", action="append", default=[], metavar="ID",
                   help="also detail and plot this device (repeatable)")
    p.add_argument("--all", action="store_true", help="list every device in the terminal (JSON always does)")
    p.set_defaults(func=run_report)


def _fleet_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_status(args) -> int:
    from edgekit.fleet.collector.status import fleet_status, print_status, status_json
    from edgekit.fleet.collector.store import open_store

    if args.stale_after <= 0:
        raise ConfigError("--stale-after must be a positive number of seconds")
    store = open_store(args.db, migrate=False)
    try:
        _require_schema(store, args.db)
        rows = fleet_status(store, stale_after_s=args.stale_after)
    finally:
        store.close()
    if args.json:
        print(status_json(rows))
    else:
        print_status(rows, all_rows=args.all)
    return 0


def _require_schema(store, url: str) -> None:
    try:
        version = store.schema_version()
    except Exception:
        version = 0
    if version == 0:
        raise ConfigError(f"{store.url_redacted} holds no edgekit fleet data; point --db at the database "
                          "given to `edgekit collect --db`")


def report_json(report) -> dict:
    """The report as JSON values. Devices are turned into dicts field by field (``dataclasses.asdict`` deep-copies
    every value, seconds for 10,000 devices); the rest is small."""
    intensities: dict[int, dict] = {}
    device_fields = [f.name for f in dataclasses.fields(report.devices[0])] if report.devices else []

    def device(d) -> dict:
        row = {name: getattr(d, name) for name in device_fields}
        row["intensity"] = intensities.get(id(d.intensity)) or intensities.setdefault(
            id(d.intensity), dataclasses.asdict(d.intensity))
        return row

    doc = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    doc["devices"] = [device(d) for d in report.devices]
    for key in ("variants", "days", "violations"):
        doc[key] = [dataclasses.asdict(x) for x in doc[key]]
    doc["totals"] = {"energy_kwh": report.total_energy_kwh, "gco2e": report.total_gco2e,
                     "violations": report.violation_count, "devices": len(report.devices), **report.change()}
    for series_key in ("power_series", "temp_series"):
        doc[series_key] = {k: [list(p) for p in v] for k, v in doc[series_key].items()}
    doc["top"] = {by: [list(k) for k in keys] for by, keys in report.top.items()}
    doc["plotted"] = [list(k) for k in report.plotted]
    doc["violation_steps"] = [list(s) for s in report.violation_steps]
    return doc


def json_lines(doc: dict) -> str:
    """One top-level key per line, one list item per line: readable, and written by json's C encoder (an
    ``indent`` makes json fall back to its pure-Python encoder, seconds for a large fleet)."""
    def value(v) -> str:
        if isinstance(v, list) and v:
            return "[\n    " + ",\n    ".join(json.dumps(x, default=str) for x in v) + "\n  ]"
        return json.dumps(v, default=str)

    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {value(v)}" for k, v in doc.items()) + "\n}"


def run_report(args) -> int:
    from edgekit.atomicfile import write_atomic
    from edgekit.fleet.collector.budgets import Budgets
    from edgekit.fleet.collector.store import open_store
    from edgekit.report.carbon_config import load_carbon_config
    from edgekit.report.data import build_report
    from edgekit.report.html import render_html
    from edgekit.report.terminal import print_report

    if args.top < 1:
        raise ConfigError("--top must be at least 1")
    since_s = time.time() - parse_duration_s(args.since) if args.since else None
    carbon = load_carbon_config(args.carbon, region=args.region)
    budgets = Budgets.from_path(args.budgets)
    with open_store(args.db, migrate=False) as store:
        _require_schema(store, args.db)
        version = store.schema_version()
        if version < ROLLUP_SCHEMA_VERSION:
            raise ConfigError(f"{store.url_redacted} has schema version {version}; the report reads the telemetry "
                              f"rollups of version {ROLLUP_SCHEMA_VERSION}: start this edgekit's `edgekit collect "
                              "--db` on it once, which upgrades it (rollups built from the stored telemetry)")
        report = build_report(store, since_s=since_s, carbon=carbon, budgets=budgets, top_n=args.top,
                              devices=tuple(args.device))
    missing = sorted(set(args.device) - {d.device_id for d in report.devices})
    if missing:
        raise ConfigError(f"--device {missing[0]!r}: no such device reported in this period")
    if args.html:
        write_atomic(args.html, render_html(report))
    if args.json:
        print(json_lines(report_json(report)))
    else:
        print_report(report, all_devices=args.all)
        if args.html:
            print(f"HTML report: {args.html}")
    return 0
