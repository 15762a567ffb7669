"""The bench result document (result-1.json), the body of a ``result`` message, as typed structs.

Every object is closed (``forbid_unknown_fields``, the schema's ``additionalProperties: false``) except
``android``; a member that is optional in the schema defaults to ``UNSET``. The published schema is checked
against these structs by tests/fleet/test_structs.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from edgekit.fleet.structs.types import (
    MAX_ITEMS, MAX_PROPERTIES, Int, NonEmptyStr, NonNeg, NonNegInt, Num, PosInt, Positive, Str, StrList,
)

OptNum = Num | None
OptInt = Int | None
OptStr = Str | None


class _Closed(Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class Device(_Closed, kw_only=True):
    id: NonEmptyStr
    hostname: Str
    target: OptStr
    arch: Str
    cpu: OptStr | UnsetType = UNSET
    cpu_count: OptInt | UnsetType = UNSET
    cpu_features: StrList
    os: Str
    kernel: OptStr | UnsetType = UNSET
    model: OptStr | UnsetType = UNSET
    runtimes: Annotated[dict[str, OptStr], Meta(max_length=MAX_PROPERTIES)]


class Artifact(_Closed, kw_only=True):
    path: Str
    sha256: Annotated[str, Meta(max_length=4096, pattern="^[0-9a-f]{64}$")]
    bytes: NonNegInt
    format: Literal["onnx", "ort", "tflite"]
    precision: OptStr
    manifest: OptStr | UnsetType = UNSET


class Runtime(_Closed, kw_only=True):
    name: Str
    version: Str
    providers_requested: StrList
    providers: StrList
    missing_providers: StrList
    threads: OptInt | UnsetType = UNSET


class PowerDecision(_Closed, kw_only=True):
    source: Str
    outcome: Literal["chosen", "refused", "not tried"]
    reason: Str


class Settings(_Closed, kw_only=True):
    duration_s: OptNum
    iterations: OptInt
    warmup_s: NonNeg
    rate_hz: OptNum
    threads: OptInt
    idle_s: NonNeg
    power: Str
    sample_hz: OptNum
    input: Str
    input_samples: PosInt | UnsetType = UNSET
    sysfs_root: Str | UnsetType = UNSET
    adb_serial: OptStr | UnsetType = UNSET
    power_decision: Annotated[list[PowerDecision], Meta(max_length=MAX_ITEMS)] | None | UnsetType = UNSET


class Latency(_Closed, kw_only=True):
    count: PosInt
    mean_ms: NonNeg
    std_ms: NonNeg
    min_ms: NonNeg
    p50_ms: NonNeg | None
    p90_ms: NonNeg | None
    p99_ms: NonNeg | None
    max_ms: NonNeg
    throughput_ips: NonNeg
    window_s: Positive
    first_inference_ms: OptNum
    warmup_count: NonNegInt
    source: Str | UnsetType = UNSET


class Rate(_Closed, kw_only=True):
    rate_hz: Positive
    arrivals: NonNegInt
    missed_deadlines: NonNegInt
    dropped_arrivals: NonNegInt
    start_lag_ms_mean: OptNum | UnsetType = UNSET
    start_lag_ms_max: OptNum | UnsetType = UNSET


class Gap(_Closed, kw_only=True):
    start_s: Num
    end_s: OptNum
    reason: Str


class Power(_Closed, kw_only=True):
    source: Str
    scope: Literal["module", "board", "rail", "battery", "package", "wall", "estimate"]
    description: Str
    rails: StrList
    estimated: bool
    has_counter: bool | UnsetType = UNSET
    sample_hz: Positive
    achieved_hz: OptNum | UnsetType = UNSET
    samples: NonNegInt
    samples_read: NonNegInt | UnsetType = UNSET
    samples_kept: NonNegInt | UnsetType = UNSET
    decimation: PosInt | UnsetType = UNSET
    late_ticks: NonNegInt | UnsetType = UNSET
    resolution_w: NonNeg
    idle_w: OptNum
    idle_before_w: OptNum | UnsetType = UNSET
    idle_after_w: OptNum | UnsetType = UNSET
    avg_w: Num
    peak_w: OptNum
    rails_avg_w: Annotated[dict[str, Num], Meta(max_length=MAX_PROPERTIES)] | UnsetType = UNSET
    rail_set: Str | UnsetType = UNSET
    update_interval_s: Positive | UnsetType = UNSET
    skipped: StrList | UnsetType = UNSET
    decisions: StrList | UnsetType = UNSET
    implausible_readings: NonNegInt | UnsetType = UNSET
    implausible_thermal: NonNegInt | UnsetType = UNSET
    implausible_examples: StrList | UnsetType = UNSET
    gaps: Annotated[list[Gap], Meta(max_length=MAX_ITEMS)] | UnsetType = UNSET
    jittered: bool | UnsetType = UNSET


class Window(_Closed, kw_only=True):
    """One integration window (the run, or an idle baseline)."""

    duration_s: Positive
    energy_j: Num
    avg_power_w: Num
    peak_power_w: OptNum | UnsetType = UNSET
    samples: NonNegInt
    mean_interval_s: OptNum | UnsetType = UNSET
    max_interval_s: OptNum | UnsetType = UNSET
    uncertainty_j: NonNeg
    covered: bool | UnsetType = UNSET
    undersampled: bool | UnsetType = UNSET
    basis: Str | UnsetType = UNSET


class Energy(_Closed, kw_only=True):
    method: Literal["trapezoid", "counter", "battery-counter"]
    estimated: bool
    inferences: PosInt
    total_mj_per_inference: Num
    net_mj_per_inference: OptNum
    uncertainty_mj_per_inference: NonNeg
    net_uncertainty_mj_per_inference: OptNum
    uncertainty_frac: OptNum | UnsetType = UNSET
    idle_drift_frac: OptNum | UnsetType = UNSET
    run: Window
    idle_before: Window | None | UnsetType = UNSET
    idle_after: Window | None | UnsetType = UNSET


class Zone(_Closed, kw_only=True):
    name: Str
    path: Str | UnsetType = UNSET
    start_c: Num | UnsetType = UNSET
    max_c: Num
    end_c: Num


class Thermal(_Closed, kw_only=True):
    zones: Annotated[list[Zone], Meta(max_length=MAX_ITEMS)]
    start_temp_c: OptNum | UnsetType = UNSET
    max_temp_c: OptNum
    end_temp_c: OptNum
    snapshots: NonNegInt | UnsetType = UNSET
    throttled: bool
    reasons: StrList
    throttled_bits: OptInt | UnsetType = UNSET
    cooling_states_max: Annotated[dict[str, Int], Meta(max_length=MAX_PROPERTIES)] | UnsetType = UNSET
    cpu_freq_khz_max: OptInt | UnsetType = UNSET
    cpu_freq_khz_end: OptInt | UnsetType = UNSET


class Battery(_Closed, kw_only=True):
    source: Str
    window_s: Positive
    status: OptStr | UnsetType = UNSET
    capacity_pct_start: OptNum | UnsetType = UNSET
    capacity_pct_end: OptNum | UnsetType = UNSET
    drain_pct_per_h: OptNum
    drain_mah: OptNum
    avg_current_ma: OptNum | UnsetType = UNSET
    mah_per_1000_inferences: OptNum
    capacity_mah: OptNum | UnsetType = UNSET
    projected_life_h: OptNum
    method: Str | UnsetType = UNSET


FlagCode = Literal[
    "window_short", "sparse_sampling", "estimated_source", "no_power_sensor", "throttled", "idle_drift",
    "no_idle_baseline", "window_not_covered", "high_uncertainty", "missed_deadlines", "provider_fallback",
    "samples_decimated", "sampler_late", "charging", "battery_unknown", "implausible_readings", "sensor_gap",
    "undersampled", "emulated",
]


class Flag(_Closed, kw_only=True):
    code: FlagCode
    severity: Literal["invalid", "warning"]
    message: Str


class Validity(_Closed, kw_only=True):
    energy_valid: bool
    flags: Annotated[list[Flag], Meta(max_length=MAX_ITEMS)]


class Android(Struct, kw_only=True):
    """On-phone runs (``edgekit bench --adb``); open to new members, as in the schema."""

    serial: OptStr | UnsetType = UNSET
    binary: Str | UnsetType = UNSET
    command: Str | UnsetType = UNSET
    timings_line: OptStr | UnsetType = UNSET


class ResultBody(_Closed, kw_only=True):
    schema: Literal["edgekit.result"]
    schema_version: Literal[1]
    measured_at: Str
    device: Device
    artifact: Artifact
    runtime: Runtime
    settings: Settings
    latency: Latency
    rate: Rate | None
    power: Power | None
    energy: Energy | None
    thermal: Thermal | None
    battery: Battery | None
    validity: Validity
    android: Android | None | UnsetType = UNSET
