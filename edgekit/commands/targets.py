"""``edgekit targets``: list the device profiles."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("targets", help="list target device profiles")
    p.add_argument("--json", action="store_true", help="print the profiles as JSON")
    p.add_argument("--wide", action="store_true",
                   help="also show CPU, formats, power modes and thermal limit (needs a wide terminal)")
    p.add_argument("--targets-dir", type=Path, default=None, help="read profiles from this directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from edgekit.targets import ALIASES, list_targets  # pydantic: only when this command runs

    targets = list_targets(args.targets_dir)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in targets], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    aliases = {v: k for k, v in ALIASES.items() if k != "pi"}
    # the profile name is what a user types: it is never shortened; the other columns wrap around it
    name_width = max((len(t.name) for t in targets), default=4)
    table = Table(title="edgekit targets", caption="precisions: preferred first")
    table.add_column("name", no_wrap=True, min_width=name_width)
    for col in ("alias", "family", "precisions"):
        table.add_column(col)
    if args.wide:
        for col in ("cpu", "formats", "power modes", "thermal °C"):
            table.add_column(col)
    table.add_column("sensor", overflow="fold")
    for t in targets:
        row = [t.name, aliases.get(t.name, ""), t.family, ", ".join(t.preferred_precisions)]
        if args.wide:
            row += [t.cpu, ", ".join(t.formats), ", ".join(f"{m.name} {m.budget_w:g} W" for m in t.power_modes),
                    f"{t.thermal_limit_c:g}"]
        table.add_row(*row, t.power_sensor)
    console = Console()
    console.print(table)
    if not args.wide:
        console.print("--wide adds CPU, formats, power modes and thermal limits; --json has everything")
    return 0
