"""Reading single-value sysfs/procfs files with one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.errors import SensorError


def read_attr(path: Path) -> str:
    """The stripped content of a small sysfs/procfs file; OSError as raised."""
    # os.open/os.read: a sysfs attribute is one small page; about 10x cheaper than Path.read_text
    # (python tests/sensors/read_cost.py)
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 65536).decode("ascii", errors="replace").strip()
    finally:
        os.close(fd)


def read_text(path: Path, *, fix: str = "check the sensor driver is loaded and --sysfs-root points at /sys") -> str:
    """The stripped content of a sysfs attribute; SensorError naming the file otherwise."""
    try:
        return read_attr(path)
    except PermissionError:
        raise SensorError(f"cannot read {path}: permission denied; run as root or make it readable") from None
    except FileNotFoundError:
        raise SensorError(f"cannot read {path}: no such file; {fix}") from None
    except OSError as exc:
        raise SensorError(f"cannot read {path}: {exc.strerror or exc}; {fix}") from None


def read_int(path: Path, **kw) -> int:
    text = read_text(path, **kw)
    try:
        return int(text)
    except ValueError:
        raise SensorError(f"{path} holds {text!r}, not an integer; the driver reports nonsense") from None


def read_optional_text(path: Path) -> str | None:
    """The attribute's content, or None when it is absent or unreadable."""
    try:
        return read_attr(path)
    except OSError:
        return None


def read_optional_int(path: Path) -> int | None:
    text = read_optional_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None
