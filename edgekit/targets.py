"""Target device profiles: one TOML file per device under ``targets/``.

A profile is validated on load; unknown keys and bad values raise a
:class:`~edgekit.errors.ConfigError` naming the file and the key.
The loaded profile is a frozen model, shared read-only by every stage.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgekit.errors import ConfigError

Precision = Literal["fp32", "fp16", "int8", "int4"]
Format = Literal["onnx", "ort", "tflite", "trt-engine"]
Family = Literal["jetson", "rpi", "phone"]
PowerSensor = Literal[
    "ina3221-iio",      # Jetson L4T <= 32 (Nano, TX2, Xavier on JetPack 4)
    "ina3221-hwmon",    # Jetson L4T >= 34 (Orin, Xavier on JetPack 5)
    "vcgencmd-pmic",    # Raspberry Pi 5 PMIC ADCs
    "external-meter",   # no on-board sensor: USB meter / lab monitor trace
    "android-battery",  # fuel gauge read over adb
    "ios-battery",      # no public API: external meter or Xcode Energy Gauge
]

#: Command-line shorthands for a family's reference device.
ALIASES = {"jetson": "jetson-orin-nano", "rpi": "rpi5", "pi": "rpi5", "phone": "android-arm64"}

#: The bundled profiles: ``targets/`` of the repository, shipped in the wheel as ``edgekit/_data/targets``
#: (a link in a checkout).
DEFAULT_TARGETS_DIR = Path(__file__).resolve().parent / "_data" / "targets"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerMode(_Strict):
    name: str
    budget_w: float = Field(gt=0, description="Module power budget of this mode, W")
    nvpmodel_id: int | None = Field(default=None, ge=0)


class Tolerances(_Strict):
    """Accuracy-gate thresholds, compared with the fp32 original."""

    max_accuracy_drop_pts: float = Field(default=1.0, ge=0, le=100)
    min_top1_agreement: float = Field(default=0.98, ge=0, le=1)
    min_cosine: float = Field(default=0.99, ge=-1, le=1)
    min_snr_db: float = Field(default=20.0)


class Estimate(_Strict):
    """Figures for a labelled power estimate when the device has no sensor."""

    idle_w: float = Field(ge=0)
    max_w: float = Field(gt=0)


class Target(_Strict):
    name: str
    family: Family
    description: str
    arch: Literal["aarch64", "armv7l", "x86_64"]
    cpu: str
    cpu_cores: int = Field(gt=0)
    cpu_features: tuple[str, ...] = ()
    accelerators: tuple[str, ...] = ()
    memory_mb: int = Field(gt=0)
    os: str
    runtimes: tuple[Literal["onnxruntime", "litert", "tensorrt"], ...]
    execution_providers: tuple[str, ...]
    precisions: tuple[Precision, ...]
    preferred_precisions: tuple[Precision, ...]
    formats: tuple[Format, ...]
    max_ir_version: int = Field(ge=3)
    max_opset: int = Field(ge=7)
    onnxruntime_version: str
    tensorrt_version: str | None = None
    power_modes: tuple[PowerMode, ...]
    default_power_mode: str
    thermal_limit_c: float = Field(gt=0, lt=150, description="Temperature where throttling starts, °C")
    thermal_critical_c: float | None = Field(
        default=None, gt=0, lt=150, description="Hard limit (heavy throttle or shutdown), °C"
    )
    battery_capacity_mah: float | None = Field(default=None, gt=0)
    battery_voltage_v: float | None = Field(default=None, gt=0)
    power_sensor: PowerSensor
    estimate: Estimate
    tolerances: Tolerances = Tolerances()
    verify_requires: tuple[Literal["arm64"], ...] = Field(
        default=(), description="platforms every build must be verified on besides the host (arm64: the emulated "
                                "device runtime of `edgekit toolchain install arm64`); a build without them fails")

    @model_validator(mode="after")
    def _consistent(self) -> "Target":
        if self.verify_requires and self.arch != "aarch64":
            raise ValueError("verify_requires = ['arm64'] needs arch = 'aarch64'")
        for p in self.preferred_precisions:
            if p not in self.precisions:
                raise ValueError(f"preferred precision {p!r} is not in precisions")
        if not self.preferred_precisions:
            raise ValueError("preferred_precisions must name at least one precision")
        names = [m.name for m in self.power_modes]
        if len(set(names)) != len(names):
            raise ValueError("power_modes names must be unique")
        if self.default_power_mode not in set(names):
            raise ValueError(f"default_power_mode {self.default_power_mode!r} is not one of power_modes")
        if self.thermal_critical_c is not None and self.thermal_critical_c < self.thermal_limit_c:
            raise ValueError("thermal_critical_c must not be below thermal_limit_c")
        if self.estimate.idle_w > self.estimate.max_w:
            raise ValueError("estimate.idle_w must not exceed estimate.max_w")
        if (self.battery_capacity_mah is None) != (self.battery_voltage_v is None):
            raise ValueError("battery_capacity_mah and battery_voltage_v go together")
        return self

    @property
    def default_budget_w(self) -> float:
        return next(m.budget_w for m in self.power_modes if m.name == self.default_power_mode)

    def has_feature(self, feature: str) -> bool:
        return feature in self.cpu_features


def _format_error(path: Path, exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: key '{key}': {msg}{more}; fix the profile"


def load_target_file(path: Path) -> Target:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: target profile not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (invalid byte at {exc.start}); fix the profile") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the target profile ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the profile") from None
    try:
        target = Target.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
    if target.name != path.stem:
        raise ConfigError(f"{path}: key 'name': {target.name!r} must match the file name {path.stem!r}")
    return target


def _profile_files(targets_dir: Path | None) -> tuple[Path, list[Path]]:
    """The profiles directory and its ``*.toml`` files; a directory without any is an error."""
    d = Path(targets_dir or DEFAULT_TARGETS_DIR)
    files = sorted(d.glob("*.toml")) if d.is_dir() else []
    if not files:
        what = "is not a directory" if not d.is_dir() else "holds no target profiles (*.toml)"
        raise ConfigError(f"{d}: {what}; pass a --targets-dir that holds profiles, or leave it out for the "
                          f"bundled ones")
    return d, files


def list_targets(targets_dir: Path | None = None) -> list[Target]:
    return [load_target_file(p) for p in _profile_files(targets_dir)[1]]


def resolve_name(name: str) -> str:
    return ALIASES.get(name, name)


def load_target(name: str, targets_dir: Path | None = None) -> Target:
    """Load a profile by name or family alias (``jetson``, ``rpi``, ``phone``)."""
    d, files = _profile_files(targets_dir)
    resolved = resolve_name(name)
    # the profile is picked from the directory's listing, never a path built from the name (a device's
    # envelope names its target: "../../x" must not reach a file outside the profiles directory)
    path = {p.stem: p for p in files}.get(resolved) if isinstance(resolved, str) else None
    if path is None or not path.is_file():
        known = [p.stem for p in files]
        raise ConfigError(
            f"unknown target {name!r}; choose one of {', '.join(known)} "
            f"or an alias ({', '.join(sorted(ALIASES))}); `edgekit targets` lists them"
        )
    return load_target_file(path)
