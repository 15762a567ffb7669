"""The ACL of docs/mosquitto.md on a real mosquitto: devices write only their own topics; the collector works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edgekit.fleet.messages import parse_broker_url
from helpers_collector import envelope, telemetry_body, wait_until, wire

DOC = Path(__file__).resolve().parents[3] / "docs" / "mosquitto.md"


def _acl_from_docs() -> str:
    text = DOC.read_text()
    block = re.search(r"```conf\n(# /etc/mosquitto/acl\n.*?)```", text, re.S)
    assert block, "docs/mosquitto.md lost its ACL block"
    return block.group(1)


@pytest.fixture
def secured(mosquitto, tmp_path):
    # mosquitto reads these after dropping to its own user: they live in a folder that user can reach
    import tempfile
    conf_dir = Path(tempfile.mkdtemp(prefix="edgekit-acl-"))
    conf_dir.chmod(0o755)
    passwd = conf_dir / "passwd"
    for i, (user, pw) in enumerate((("collector", "c-pw"), ("pi-01", "p1-pw"), ("pi-02", "p2-pw"))):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd), user, pw], check=True,
                       capture_output=True)
    acl = conf_dir / "acl"
    acl.write_text(_acl_from_docs())
    if os.geteuid() == 0:
        for p in (passwd, acl):
            shutil.chown(p, user="mosquitto")
    mosquitto.extra_conf = f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
    mosquitto.restart()
    (tmp_path / "c.pw").write_text("c-pw\n")
    yield mosquitto
    shutil.rmtree(conf_dir, ignore_errors=True)


def _device(port: int, user: str, pw: str) -> tuple[mqtt.Client, dict]:
    codes: dict[int, int] = {}
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{user}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, pw)

    def on_publish(client, userdata, mid, reason_code, properties):
        codes[mid] = reason_code.value
        done.set()
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, codes


def test_device_cannot_write_another_devices_topic_and_collector_stores_own(secured, tmp_path):
    from helpers_collector import InProcessCollector
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    broker = parse_broker_url(secured.url, username="collector", password_file=tmp_path / "c.pw")
    c = InProcessCollector(secured.port, db, share="acl", client_id="collector-acl", broker=broker)
    with c:
        dev, codes = _device(secured.port, "pi-01", "p1-pw")
        own = dev.publish(*wire(envelope("telemetry", "pi-01", 1, telemetry_body())), qos=1)
        forged = dev.publish(*wire(envelope("telemetry", "pi-02", 1, telemetry_body())), qos=1)
        wait_until(lambda: len(codes) == 2, what="two PUBACKs")
        assert codes[forged.mid] == 135            # Not authorized
        assert codes[own.mid] in (0, 16)
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, what="the own message")
        dev.disconnect()
        dev.loop_stop()
    from edgekit.fleet.collector.store import open_store
    with open_store(db) as s:
        assert [r.device_id for r in s.telemetry()] == ["pi-01"]
