"""Settings of one bench run (what the command line says), checked before anything runs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ConfigError

DEFAULT_DURATION_S = 10.0
DEFAULT_WARMUP_S = 1.0
DEFAULT_IDLE_S = 3.0


@dataclass
class BenchSettings:
    duration_s: float | None = None        # None with iterations None -> DEFAULT_DURATION_S
    iterations: int | None = None
    warmup_s: float = DEFAULT_WARMUP_S
    rate_hz: float | None = None
    threads: int | None = None
    idle_s: float = DEFAULT_IDLE_S
    power: str = "auto"
    trace_file: Path | None = None
    adb_serial: str | None = None
    sample_hz: float | None = None
    thermal_hz: float = 1.0
    sysfs_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    target: str | None = None
    input_npz: Path | None = None
    device_id: str | None = None

    def checked(self) -> "BenchSettings":
        for flag, value in (("--duration", self.duration_s), ("--warmup", self.warmup_s), ("--rate", self.rate_hz),
                            ("--idle", self.idle_s), ("--sample-hz", self.sample_hz),
                            ("--thermal-hz", self.thermal_hz)):
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"{flag} must be a finite number, got {value}")
        if self.duration_s is not None and self.iterations is not None:
            raise ConfigError("give --duration or --iterations, not both")
        if self.duration_s is None and self.iterations is None:
            self.duration_s = DEFAULT_DURATION_S
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"--duration must be positive, got {self.duration_s:g}")
        if self.iterations is not None and self.iterations < 1:
            raise ConfigError(f"--iterations must be at least 1, got {self.iterations}")
        if self.warmup_s < 0:
            raise ConfigError(f"--warmup must be 0 or more seconds, got {self.warmup_s:g}")
        if self.idle_s < 0:
            raise ConfigError(f"--idle must be 0 or more seconds, got {self.idle_s:g}")
        if self.rate_hz is not None and not self.rate_hz > 0:
            raise ConfigError(f"--rate must be a positive rate in Hz, got {self.rate_hz:g}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.sample_hz is not None and not self.sample_hz > 0:
            raise ConfigError(f"--sample-hz must be positive, got {self.sample_hz:g}")
        if not Path(self.sysfs_root).is_dir():
            raise ConfigError(f"--sysfs-root {self.sysfs_root}: no such directory; point it at the host's /sys")
        if self.input_npz is not None and not Path(self.input_npz).is_file():
            raise ConfigError(f"--input {self.input_npz}: no such file; pass an .npz whose keys are the input names")
        if self.power == "trace" and self.trace_file is None:
            raise ConfigError("--power trace needs --trace FILE, the external meter's CSV export")
        if self.trace_file is not None and not Path(self.trace_file).is_file():
            raise ConfigError(f"--trace {self.trace_file}: no such file; pass the meter's CSV export")
        return self
