import threading
import time

import paho.mqtt.client as mqtt
import pytest

from edgekit.fleet.broker import EmbeddedBroker


def _round_trip(port: int, protocol) -> list[bytes]:
    got: list[bytes] = []
    done = threading.Event()

    def on_message(client, userdata, msg):
        got.append(msg.payload)
        if len(got) == 50:
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("edgekit/v1/t/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    for i in range(50):
        pub.publish("edgekit/v1/t/d/result", f"{i}".encode(), qos=1)
    done.wait(10)
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return got


@pytest.mark.parametrize("kind,protocol", [("mosquitto", mqtt.MQTTv5), ("amqtt", mqtt.MQTTv311)])
def test_embedded_broker_carries_messages_and_says_its_protocol(kind, protocol):
    with EmbeddedBroker(prefer=kind) as broker:
        assert broker.kind == kind
        assert broker.url.endswith("?protocol=3.1.1") == (kind == "amqtt")
        got = _round_trip(broker.port, protocol)
    assert [int(p) for p in got] == list(range(50))


def test_embedded_broker_stops_and_frees_its_port():
    with EmbeddedBroker(prefer="amqtt") as broker:
        port = broker.port
    import socket
    with pytest.raises(ConnectionRefusedError):  # nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
