"""Open a page in real headless Chromium over the DevTools protocol.

Collects console messages and uncaught exceptions, evaluates expressions in
the page and takes a screenshot. Uses Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from edgekit.fleet.broker import free_port

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1800"]


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.console: list[dict] = []
        self.exceptions: list[dict] = []

    def call(self, method: str, params: dict | None = None, timeout_s: float = 30.0) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
        raise TimeoutError(method)

    def _event(self, msg: dict) -> None:
        method = msg.get("method")
        if method == "Runtime.consoleAPICalled":
            p = msg["params"]
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.console.append({"level": p.get("type"), "text": text})
        elif method == "Log.entryAdded":
            e = msg["params"]["entry"]
            self.console.append({"level": e.get("level"), "text": e.get("text", "")})
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(msg["params"]["exceptionDetails"])

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._event(json.loads(self.ws.recv(timeout=0.1)))
            except TimeoutError:
                pass

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return r["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    @property
    def errors(self) -> list:
        return [c for c in self.console if c["level"] in ("error", "assert")] + self.exceptions


class Browser:
    def __init__(self, exe: str | None = None):
        self.exe = exe or shutil.which("chromium") or "/usr/bin/chromium"
        self.profile = tempfile.TemporaryDirectory(prefix="edgekit-chromium-", ignore_cleanup_errors=True)
        self.port = free_port()
        self.proc = subprocess.Popen([self.exe, *FLAGS, f"--user-data-dir={self.profile.name}",
                                      f"--remote-debugging-port={self.port}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=1) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    self.ws_url = targets[0]["webSocketDebuggerUrl"]
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.2)

    def open(self, url: str) -> Page:
        ws = connect(self.ws_url, max_size=64 * 1024 * 1024, open_timeout=10)
        page = Page(ws)
        for domain in ("Runtime", "Log", "Page"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + 20
        while page.evaluate("document.readyState") != "complete" and time.monotonic() < deadline:
            time.sleep(0.1)
        page.drain(0.5)
        return page

    def close(self) -> None:
        """Stop Chromium and every helper process it started, then remove its profile."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        time.sleep(0.2)  # helpers exit after the browser process
        self.profile.cleanup()
