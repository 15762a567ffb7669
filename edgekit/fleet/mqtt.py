"""The one paho-mqtt client builder both ends of the fleet use (device reporter and collector).

Both keep a persistent session: MQTT 5 with ``clean_start=False`` and a session
expiry sent at connect, or MQTT 3.1.1 with ``clean_session=False`` for a broker
URL with ``?protocol=3.1.1`` (the embedded amqtt). TLS and credentials come
from the :class:`~edgekit.fleet.messages.BrokerConfig`.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgekit.fleet.messages import BrokerConfig

#: How long the broker keeps a session (and its queued QoS 1 messages) while the client is away.
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600


def make_client(broker: BrokerConfig, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """A paho 2.x client for ``broker``'s protocol, with TLS and credentials applied; not yet connected."""
    # 3.1.1 keeps its session with clean_session=False; MQTT 5 asks for it at connect (see connect_kwargs)
    session = {} if broker.protocol == "5" else {"clean_session": False}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=broker.paho_protocol,
                         manual_ack=manual_ack, **session)
    broker.configure(client)
    return client


def connect_kwargs(broker: BrokerConfig, *, session_expiry_s: int,
                   receive_maximum: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``client.connect``/``connect_async`` that resume the persistent session."""
    if broker.protocol != "5":
        return {}
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(session_expiry_s)
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return {"clean_start": False, "properties": props}
