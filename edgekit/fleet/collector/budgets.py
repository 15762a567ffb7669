"""Power and thermal budgets, and the check that turns figures into violations.

Limits come from the device's target profile (``edgekit.targets``: the
default power mode's ``budget_w`` as the average-power limit, ``thermal_limit_c``
as the temperature limit; throttling is not allowed) and are overridden, in
this order, by the sections of a TOML budgets file::

    [defaults]                    # every device
    avg_power_window_s = 300
    [fleet.lab]                   # devices of fleet "lab"
    avg_power_w = 6.5
    [model.mobilenet-v3]          # bench results of this model (telemetry is not per model)
    energy_per_inference_mj = 12.0
    [device."pi-07"]              # one device, last word
    max_temp_c = 70

Checks, each a violation *kind*:

* ``avg_power``      telemetry: window-weighted mean of ``power_w_avg`` over the
                     last ``avg_power_window_s`` (device clock) > ``avg_power_w``
* ``peak_power``     telemetry or result: peak power > ``peak_power_w``
* ``energy_per_inference``  result: energy per inference (mJ) > ``energy_per_inference_mj``
* ``max_temp``       telemetry or result: max temperature > ``max_temp_c``
* ``throttling``     telemetry or result: throttled while ``allow_throttling`` is false
* ``battery_drain``  telemetry or result: drain (%/h) > ``battery_drain_pct_h``

A violation is opened once per (device, kind, subject) — subject is the model
for result checks and empty for telemetry — and stays open, without new
alerts, until a later message shows the figure within its limit; then it is
cleared. A message that lacks a figure leaves that check as it was.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgekit.errors import ConfigError
from edgekit.fleet.records import Message
from edgekit.fleet.collector.retention import LruCache
from edgekit.fleet.collector.store.rows import ViolationRow
from edgekit.fleet.collector.store.tx import Tx

_log = logging.getLogger("edgekit.fleet.budgets")

DEFAULT_AVG_POWER_WINDOW_S = 300.0

UNITS = {"avg_power": "W", "peak_power": "W", "energy_per_inference": "mJ", "max_temp": "degC",
         "throttling": "bool", "battery_drain": "%/h"}
VIOLATION_KINDS = tuple(UNITS)


class BudgetSettings(BaseModel):
    """One section of a budgets file; every key optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    avg_power_w: float | None = Field(default=None, gt=0)
    avg_power_window_s: float | None = Field(default=None, gt=0, le=7 * 86400)
    peak_power_w: float | None = Field(default=None, gt=0)
    energy_per_inference_mj: float | None = Field(default=None, gt=0)
    max_temp_c: float | None = Field(default=None, gt=-50, lt=200)
    allow_throttling: bool | None = None
    battery_drain_pct_h: float | None = Field(default=None, gt=0)


class BudgetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: BudgetSettings = BudgetSettings()
    fleet: dict[str, BudgetSettings] = {}
    model: dict[str, BudgetSettings] = {}
    device: dict[str, BudgetSettings] = {}


def _key_name(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("fleet", "model", "device") and len(parts) >= 2:
        section = f'[{parts[0]}."{parts[1]}"]'
        rest = parts[2:]
    elif parts and parts[0] == "defaults":
        section, rest = "[defaults]", parts[1:]
    else:
        section, rest = "", parts
    return f"{section} {'.'.join(rest)}".strip() or "(top level)"


def load_budgets_file(path: Path) -> BudgetsFile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: budgets file not found; give the path of a TOML budgets file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the budgets file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the budgets file as UTF-8") from None
    try:
        return BudgetsFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        known = ", ".join(BudgetSettings.model_fields) if first["type"] == "extra_forbidden" else ""
        hint = f"; known keys: {known}" if known and len(first["loc"]) > 1 else \
            ("; sections are [defaults], [fleet.NAME], [model.NAME], [device.ID]" if known else "")
        raise ConfigError(f"{path}: key {_key_name(first['loc'])}: {msg}{more}{hint}") from None


@dataclass(frozen=True)
class Limits:
    """The limits for one device (and model), each with where it came from."""

    avg_power_w: float | None = None
    avg_power_window_s: float = DEFAULT_AVG_POWER_WINDOW_S
    peak_power_w: float | None = None
    energy_per_inference_mj: float | None = None
    max_temp_c: float | None = None
    allow_throttling: bool = True
    battery_drain_pct_h: float | None = None
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, key: str) -> str:
        return dict(self.sources).get(key, "default")


class Budgets:
    """Resolves limits per (fleet, device, target, model); target profiles are loaded once each.

    Both caches are bounded (least recently used out), so a device that sends endless distinct target or
    model names costs a lookup each, never memory without end."""

    def __init__(self, file: BudgetsFile | None = None, *, file_name: str = "budgets",
                 targets_dir: Path | None = None, max_cached: int = 4096, max_targets: int = 256):
        self.file = file or BudgetsFile()
        self.file_name = file_name
        self.targets_dir = targets_dir
        self._targets: LruCache[str, Any] = LruCache(max_targets)
        self._cache: LruCache[tuple, Limits] = LruCache(max_cached)

    @classmethod
    def from_path(cls, path: Path | None, *, targets_dir: Path | None = None) -> "Budgets":
        if path is None:
            return cls(targets_dir=targets_dir)
        return cls(load_budgets_file(path), file_name=Path(path).name, targets_dir=targets_dir)

    def _target(self, name: str | None):
        if not name:
            return None
        if name in self._targets:
            return self._targets.get(name)
        from edgekit.fleet.collector.limits import TARGET_NAME_RE
        from edgekit.targets import load_target
        try:
            if not TARGET_NAME_RE.match(name):
                raise ConfigError(f"target {name[:64]!r} is not a profile name")
            return self._targets.put(name, load_target(name, self.targets_dir))
        except Exception as exc:  # unknown or broken profile: no default limits, refused once (cached)
            if not isinstance(exc, ConfigError) or "unknown target" not in str(exc):
                _log.warning("no target limits for %r: %s", name[:64], str(exc).splitlines()[0][:300])
            return self._targets.put(name, None)  # an unknown target brings no default limits

    def limits(self, *, fleet: str, device_id: str, target: str | None, model: str | None = None) -> Limits:
        key = (fleet, device_id, target, model)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        values: dict[str, Any] = {"allow_throttling": False, "avg_power_window_s": DEFAULT_AVG_POWER_WINDOW_S}
        sources: dict[str, str] = {"allow_throttling": "default", "avg_power_window_s": "default"}
        profile = self._target(target)
        if profile is not None:
            values["avg_power_w"] = profile.default_budget_w
            values["max_temp_c"] = profile.thermal_limit_c
            sources["avg_power_w"] = f"target {profile.name} power mode {profile.default_power_mode}"
            sources["max_temp_c"] = f"target {profile.name} thermal_limit_c"
        layers = [("[defaults]", self.file.defaults), (f'[fleet."{fleet}"]', self.file.fleet.get(fleet))]
        if model is not None:
            layers.append((f'[model."{model}"]', self.file.model.get(model)))
        layers.append((f'[device."{device_id}"]', self.file.device.get(device_id)))
        for where, section in layers:
            if section is None:
                continue
            for name, value in section.model_dump(exclude_none=True).items():
                values[name] = value
                sources[name] = f"{self.file_name} {where}"
        limits = Limits(**values, sources=tuple(sorted(sources.items())))
        return self._cache.put(key, limits)


@dataclass(frozen=True)
class AlertEvent:
    state: str  # raised | cleared
    violation: ViolationRow


@dataclass(frozen=True)
class _Check:
    kind: str
    value: float
    limit: float
    source: str


def measured_by(m: Message) -> tuple[str, bool | None]:
    """How the figures of ``m`` were measured: ``("rpi5-pmic, board scope", False)``; ESTIMATE marked."""
    source, scope = m.power_source, m.power_scope
    estimated = m.telemetry.estimated if m.kind == "telemetry" else m.result.estimated
    if not source:
        return "no power source", estimated
    return f"{source}, {scope or '?'} scope" + (" (ESTIMATE)" if estimated else ""), estimated


def _checks_for(m: Message, limits: Limits, tx: Tx) -> list[_Check]:
    """The figures of one message against its limits (figures it lacks are skipped)."""
    checks: list[_Check] = []

    def add(kind: str, value: float | bool | None, limit: float | None, key: str):
        if value is None or limit is None:
            return
        checks.append(_Check(kind, float(value), float(limit), limits.source(key)))

    if m.kind == "telemetry":
        t = m.telemetry
        if limits.avg_power_w is not None and t.power_w_avg is not None:
            energy, window = tx.telemetry_power(m.fleet, m.device_id, m.sent_at_s - limits.avg_power_window_s,
                                                m.sent_at_s)
            if window > 0:
                add("avg_power", energy / window, limits.avg_power_w, "avg_power_w")
        peak, temp, throttled, drain = t.power_w_peak, t.temp_c_max, t.throttled, t.battery_drain_pct_h
    else:
        r = m.result
        add("energy_per_inference", r.energy_mj_per_inference, limits.energy_per_inference_mj,
            "energy_per_inference_mj")
        peak, temp, throttled, drain = r.power_w_peak, r.temp_c_max, r.throttled, r.battery_drain_pct_h
    add("peak_power", peak, limits.peak_power_w, "peak_power_w")
    add("max_temp", temp, limits.max_temp_c, "max_temp_c")
    if not limits.allow_throttling:
        add("throttling", throttled, 0.0, "allow_throttling")
    add("battery_drain", drain, limits.battery_drain_pct_h, "battery_drain_pct_h")
    return checks


class BudgetChecker:
    """Runs inside the collector's batch transaction, after the batch's rows are written."""

    def __init__(self, budgets: Budgets):
        self.budgets = budgets

    def evaluate(self, tx: Tx, new_messages: list[Message]) -> list[AlertEvent]:
        # the newest message per (device, subject): older ones in the batch are history already superseded
        newest: dict[tuple[str, str, str], Message] = {}
        for m in new_messages:
            if m.kind not in ("telemetry", "result"):
                continue
            subject = "" if m.kind == "telemetry" else (m.result.model or "(unknown model)")
            key = (m.fleet, m.device_id, subject)
            if key not in newest or m.sent_at_s >= newest[key].sent_at_s:
                newest[key] = m
        if not newest:
            return []
        open_now = tx.open_violations(sorted({(f, d) for f, d, _ in newest}))
        events: list[AlertEvent] = []
        for (fleet, device_id, subject), m in sorted(newest.items()):
            model = m.result.model if m.kind == "result" else None
            limits = self.budgets.limits(fleet=m.fleet, device_id=device_id, target=m.target, model=model)
            for c in _checks_for(m, limits, tx):
                key = (fleet, device_id, c.kind, subject)
                current = open_now.get(key)
                if c.value > c.limit:
                    if current is None:
                        basis, estimated = measured_by(m)
                        row = tx.open_violation(device_id=device_id, fleet=m.fleet, kind=c.kind, subject=subject,
                                                unit=UNITS[c.kind], limit_value=c.limit, source=c.source,
                                                value=c.value, at_s=m.sent_at_s, message_id=m.message_id,
                                                measured_by=basis, estimated=estimated)
                        open_now[key] = row
                        events.append(AlertEvent("raised", row))
                    elif c.value > current.worst_value:
                        tx.update_worst(current.id, c.value)
                elif current is not None:
                    row = tx.clear_violation(current.id, value=c.value, at_s=m.sent_at_s, message_id=m.message_id)
                    del open_now[key]
                    events.append(AlertEvent("cleared", row))
        return events


def alert_payload(event: AlertEvent) -> dict[str, Any]:
    """The JSON document published on ``edgekit/v1/<fleet>/alerts/<device_id>`` (alert-1.json)."""
    from edgekit.fleet.records import iso_utc

    v = event.violation
    raised = event.state == "raised"
    value = v.value if raised else v.cleared_value
    limit: float | bool = v.limit_value
    if v.kind == "throttling":
        value, limit = bool(value), False
    return {
        "schema": "edgekit.alert", "schema_version": 1, "state": event.state, "violation_id": v.id,
        "fleet": v.fleet, "device_id": v.device_id, "kind": v.kind, "subject": v.subject,
        "value": value, "limit": limit, "unit": v.unit,
        "at": iso_utc(v.raised_at_s if raised else v.cleared_at_s),
        "message_id": v.raised_message_id if raised else v.cleared_message_id,
        "source": v.source,
        "measured_by": v.measured_by, "estimated": v.estimated,
    }


__all__ = ["BudgetSettings", "BudgetsFile", "Budgets", "Limits", "BudgetChecker", "AlertEvent", "alert_payload",
           "load_budgets_file", "VIOLATION_KINDS", "UNITS"]
