"""The Jetson's current nvpmodel power mode: ``nvpmodel -q``, or the files it keeps.

``nvpmodel -q`` prints ``NV Power Mode: <NAME>`` then ``<ID>``. Mode IDs differ between
boards and conf files, so callers should match modes by NAME.
Without the command, ``/var/lib/nvpmodel/status`` (``pmode:0000``) and
``/etc/nvpmodel.conf`` (``< POWER_MODEL ID=n NAME=... >``) give the same answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import SensorError
from edgekit.sensors.commands import require_command, run_command
from edgekit.sensors.sysfs import read_optional_text


@dataclass(frozen=True)
class NvpMode:
    name: str
    id: int | None


def parse_nvpmodel_query(text: str) -> NvpMode:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        m = re.match(r"NV Power Mode:\s*(.+)$", line)
        if m:
            mode_id = None
            if i + 1 < len(lines) and re.fullmatch(r"\d+", lines[i + 1]):
                mode_id = int(lines[i + 1])
            return NvpMode(m.group(1).strip(), mode_id)
    raise SensorError("nvpmodel -q printed no 'NV Power Mode:' line; check nvpmodel works (sudo nvpmodel -q)")


def query_power_mode(command: str | None = None) -> NvpMode:
    """Run ``nvpmodel -q`` (found on PATH unless given)."""
    return parse_nvpmodel_query(run_command([require_command("nvpmodel", command), "-q"]))


def parse_conf_modes(text: str) -> dict[int, str]:
    """``{ID: NAME}`` from an nvpmodel conf file's ``< POWER_MODEL ID=n NAME=... >`` lines."""
    return {int(i): name for i, name in re.findall(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)", text)}


def read_power_mode_files(root: Path = Path("/")) -> NvpMode:
    """The active mode from ``<root>/var/lib/nvpmodel/status`` and ``<root>/etc/nvpmodel.conf``."""
    root = Path(root)
    status = read_optional_text(root / "var/lib/nvpmodel/status")
    m = re.search(r"pmode:(\d+)", status or "")
    if not m:
        raise SensorError(f"no nvpmodel status in {root}/var/lib/nvpmodel/status; run `nvpmodel -q` on the Jetson")
    mode_id = int(m.group(1))
    modes = parse_conf_modes(read_optional_text(root / "etc/nvpmodel.conf") or "")
    if mode_id not in modes:
        raise SensorError(f"nvpmodel mode {mode_id} is not listed in {root}/etc/nvpmodel.conf; check the conf file")
    return NvpMode(modes[mode_id], mode_id)
