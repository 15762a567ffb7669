"""``edgekit fleet status``: which devices report, when they were last seen, what is wrong.

A device is *online* or *offline* as its last retained status message says
(the device publishes ``online`` when it connects; the broker publishes its
last will, ``offline``, when the connection dies). A device that never sent a
status message is judged by when the collector last heard from it: online if
within ``stale_after_s``, else offline. ``basis`` says which rule applied.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from edgekit.fleet.records import iso_utc
from edgekit.fleet.collector.store.base import SqlStore
from edgekit.termsafe import markup

DEFAULT_STALE_AFTER_S = 120.0


@dataclass(frozen=True)
class OpenViolation:
    kind: str
    subject: str
    value: float
    worst_value: float
    limit_value: float
    unit: str
    since: str


@dataclass(frozen=True)
class DeviceStatus:
    device_id: str
    fleet: str
    target: str | None
    state: str            # online | offline
    basis: str            # status message | last seen
    last_seen: str        # collector's clock, UTC
    last_seen_age_s: float
    messages: int
    max_seq: int | None
    missing_messages: int  # in open sequence gaps
    open_violations: tuple[OpenViolation, ...]


def fleet_status(store: SqlStore, *, now_s: float | None = None,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[DeviceStatus]:
    now_s = time.time() if now_s is None else now_s
    open_v: dict[tuple[str, str], list[OpenViolation]] = {}
    for v in store.violations(open_only=True):
        open_v.setdefault((v.fleet, v.device_id), []).append(OpenViolation(
            v.kind, v.subject, v.value, v.worst_value, v.limit_value, v.unit, iso_utc(v.raised_at_s)))
    missing: dict[tuple[str, str], int] = {}  # a device is (fleet, device_id)
    for g in store.gaps(open_only=True):
        missing[g.fleet, g.device_id] = missing.get((g.fleet, g.device_id), 0) + g.missing
    out = []
    for d in store.devices():
        age = max(0.0, now_s - d.last_seen_s)
        if d.state in ("online", "offline"):
            state, basis = d.state, "status message"
        else:
            state, basis = ("online" if age <= stale_after_s else "offline"), "last seen"
        out.append(DeviceStatus(d.device_id, d.fleet, d.target, state, basis, iso_utc(d.last_seen_s), round(age, 1),
                                d.messages, d.max_seq, missing.get((d.fleet, d.device_id), 0),
                                tuple(open_v.get((d.fleet, d.device_id), ()))))
    return out


def status_json(rows: list[DeviceStatus]) -> str:
    return json.dumps({"schema": "edgekit.fleet-status", "schema_version": 1,
                       "devices": [asdict(r) for r in rows]}, indent=2)


ID_WIDTH_MAX = 40


SHOW_ALL_UP_TO = 20


def needing_attention(rows: list[DeviceStatus], n: int) -> list[DeviceStatus]:
    """The ``n`` devices to look at first: open violations, then offline, then missing messages, then silence."""
    return sorted(rows, key=lambda r: (-len(r.open_violations), r.state != "offline", -r.missing_messages,
                                       -r.last_seen_age_s, r.fleet, r.device_id))[:n]


def print_status(rows: list[DeviceStatus], console=None, *, all_rows: bool = False) -> None:
    """A table of the devices; a fleet of more than ``SHOW_ALL_UP_TO`` gets counts and the devices that need
    attention most, unless ``all_rows``."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not rows:
        console.print("no devices have reported to this database yet")
        return
    every = rows
    if not all_rows and len(rows) > SHOW_ALL_UP_TO:
        targets: dict[str, int] = {}
        for r in rows:
            targets[r.target or "-"] = targets.get(r.target or "-", 0) + 1
        console.print("by target: " + ", ".join(f"{markup(t)} {n}" for t, n in sorted(targets.items())))
        rows = needing_attention(rows, SHOW_ALL_UP_TO)
    title = "fleet status" if rows is every else f"fleet status: the {len(rows)} devices that need attention most"
    table = Table(title=title, title_justify="left")
    # fleet and device ids are what a user looks up: never shortened (up to ID_WIDTH_MAX), the rest wraps
    for col, ids in (("fleet", [r.fleet for r in rows]), ("device", [r.device_id for r in rows])):
        table.add_column(col, no_wrap=True, min_width=min(ID_WIDTH_MAX, max(len(i) for i in ids)))
    for col in ("target", "state", "last seen (UTC)", "messages", "missing", "open violations"):
        table.add_column(col, justify="right" if col in ("messages", "missing") else "left")
    for r in rows:
        state = f"[green]{r.state}[/]" if r.state == "online" else f"[red]{r.state}[/]"
        violations = "; ".join(
            f"{v.kind}{f' ({v.subject})' if v.subject else ''} {v.worst_value:.4g} > {v.limit_value:.4g} {v.unit}"
            if v.unit != "bool" else f"{v.kind}{f' ({v.subject})' if v.subject else ''}"
            for v in r.open_violations) or "-"
        table.add_row(markup(r.fleet), markup(r.device_id), markup(r.target or "-"), f"{state} [dim]({r.basis})[/]",
                      f"{r.last_seen[:19]} ({_age(r.last_seen_age_s)} ago)", str(r.messages),
                      str(r.missing_messages), markup(violations))
    console.print(table)
    online = sum(r.state == "online" for r in every)
    console.print(f"{len(every)} devices, {online} online, "
                  f"{sum(bool(r.open_violations) for r in every)} with open budget violations, "
                  f"{sum(r.missing_messages for r in every)} messages missing")
    if rows is not every:
        console.print(f"[dim]{len(every) - len(rows)} more devices: --all lists every one[/dim]")


def _age(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.0f} h"
    return f"{s / 86400:.0f} d"
