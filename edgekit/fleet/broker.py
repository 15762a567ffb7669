"""The embedded default broker for `edgekit demo` and single-machine trials.

Production fleets bring their own broker. With no broker URL, edgekit starts
one of its own on a free loopback port:

1. ``mosquitto`` when it is on PATH (MQTT 5, persistence in a private folder), else
2. ``amqtt`` in-process (pure Python, installed with edgekit). It speaks MQTT
   3.1.1 only, keeps nothing on disk and drops anonymous persistent sessions,
   so the URL it hands out carries ``?protocol=3.1.1`` and clients downgrade.

Either way the broker lives only as long as the ``EmbeddedBroker`` context.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from edgekit.errors import EdgekitError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float) -> bool:
    """True once something accepts connections on 127.0.0.1:``port``; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """``with EmbeddedBroker() as b: b.url`` — a loopback broker for this process's lifetime."""

    def __init__(self, *, prefer: str = "auto", port: int | None = None):
        if prefer not in ("auto", "mosquitto", "amqtt"):
            raise EdgekitError(f"unknown embedded broker {prefer!r}; use auto, mosquitto or amqtt")
        self.prefer = prefer
        self.port = port or free_port()
        self.kind: str | None = None
        self._proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        suffix = "?protocol=3.1.1" if self.kind == "amqtt" else ""
        return f"mqtt://127.0.0.1:{self.port}{suffix}"

    @property
    def description(self) -> str:
        if self.kind == "mosquitto":
            return f"embedded mosquitto on 127.0.0.1:{self.port} (MQTT 5)"
        return f"embedded amqtt on 127.0.0.1:{self.port} (MQTT 3.1.1, in-process, nothing kept on disk)"

    def start(self) -> "EmbeddedBroker":
        mosquitto = shutil.which("mosquitto")
        if self.prefer == "mosquitto" and not mosquitto:
            raise EdgekitError("mosquitto is not on PATH; install it (apt-get install mosquitto) or use --broker-kind amqtt")
        if mosquitto and self.prefer in ("auto", "mosquitto"):
            self._start_mosquitto(mosquitto)
        else:
            self._start_amqtt()
        return self

    def _start_mosquitto(self, exe: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="edgekit-broker-")
        work = Path(self._tmp.name)
        (work / "data").mkdir()
        conf = work / "mosquitto.conf"
        conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {work / 'data'}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "log_dest none",
            "",
        ]))
        if os.geteuid() == 0:  # mosquitto drops to its own user when started as root
            try:
                for p in (work, work / "data"):
                    shutil.chown(p, user="mosquitto")
            except (LookupError, PermissionError):
                conf.write_text(conf.read_text() + "user root\n")
        self._proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, 10):
            self.stop()
            raise EdgekitError(f"embedded mosquitto did not start on port {self.port}; pass --broker URL of a running broker")
        self.kind = "mosquitto"

    def _start_amqtt(self) -> None:
        try:
            from amqtt.broker import Broker
        except ImportError:
            raise EdgekitError("no broker available: install mosquitto or `pip install amqtt`, or pass --broker URL") from None
        ready = threading.Event()
        errors: list[BaseException] = []
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def serve() -> None:
            self._stop = asyncio.Event()
            broker = Broker(config)  # must be created inside the running loop
            try:
                await broker.start()
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            await self._stop.wait()
            await broker.shutdown()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(serve())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="edgekit-amqtt", daemon=True)
        self._thread.start()
        ready.wait(15)
        if errors or not wait_port(self.port, 5):
            raise EdgekitError(f"embedded amqtt broker did not start on port {self.port}: {errors[0] if errors else 'timeout'}")
        self.kind = "amqtt"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        if self._loop is not None and self._stop is not None and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
