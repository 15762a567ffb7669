"""``edgekit targets``: list the device profiles."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.targets import ALIASES, list_targets


def register(sub) -> None:
    p = sub.add_parser("targets", help="list target device profiles")
    p.add_argument("--json", action="store_true", help="print the profiles as JSON")
    p.add_argument("--targets-dir", type=Path, default=None, help="read profiles from this directory")
    p.set_defaults(func=run)


def run(args) -> int:
    targets = list_targets(args.targets_dir)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in targets], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    aliases = {v: k for k, v in ALIASES.items() if k != "pi"}
    table = Table(title="edgekit targets")
    for col in ("name", "alias", "family", "cpu", "precisions (preferred first)", "formats", "power modes", "thermal °C", "sensor"):
        table.add_column(col)
    for t in targets:
        table.add_row(
            t.name,
            aliases.get(t.name, ""),
            t.family,
            t.cpu,
            ", ".join(t.preferred_precisions),
            ", ".join(t.formats),
            ", ".join(f"{m.name} {m.budget_w:g} W" for m in t.power_modes),
            f"{t.thermal_limit_c:g}",
            t.power_sensor,
        )
    Console().print(table)
    return 0
