"""A real mosquitto of a test's own on a free loopback port, which the test may kill and restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.fleet.broker import free_port
from edgekit.fleet.broker import wait_port as _wait_port

REPO = Path(__file__).resolve().parent.parent


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    if not _wait_port(port, timeout_s):
        raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@dataclass
class Mosquitto:
    """A mosquitto broker of the test's own, which the test may kill and restart."""

    port: int
    workdir: Path
    extra_conf: str = ""
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def write_conf(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        log = self.workdir / "mosquitto.log"
        log.touch()
        conf = "\n".join([
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            "max_queued_messages 1000000",
            "max_inflight_messages 100",
            f"log_dest file {log}",
            "log_type error",
            "log_type warning",
            self.extra_conf,
            "",
        ])
        self.conf_path.write_text(conf)
        if os.geteuid() == 0:  # mosquitto drops to the mosquitto user when started as root
            shutil.chown(self.workdir, user="mosquitto")
            for p in (data, log):
                shutil.chown(p, user="mosquitto")
            os.chmod(self.workdir, 0o755)

    def start(self) -> None:
        if self.proc and self.proc.poll() is None:
            return
        self.write_conf()
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf_path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def kill(self) -> None:
        """SIGKILL: the broker loses whatever it had not saved."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


def make_broker_workdir() -> Path:
    """A folder the broker can enter after it drops to the mosquitto user.

    pytest's own temp folders are root-only (0700), so a broker started as root
    could neither save its persistence file nor read a password file there.
    """
    workdir = Path(tempfile.mkdtemp(prefix="edgekit-mosquitto-"))
    workdir.chmod(0o755)
    return workdir

__all__ = ["Mosquitto", "free_port", "make_broker_workdir", "wait_port"]
