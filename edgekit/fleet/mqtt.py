"""The one paho-mqtt client builder both ends of the fleet use (device reporter and collector).

Both keep a persistent session: MQTT 5 with ``clean_start=False`` and a session
expiry sent at connect, or MQTT 3.1.1 with ``clean_session=False`` for a broker
URL with ``?protocol=3.1.1`` (the embedded amqtt). TLS and credentials come
from the :class:`~edgekit.fleet.messages.BrokerConfig`.
"""

from __future__ import annotations

import socket
import ssl
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


def describe_connect_error(exc: BaseException) -> str:
    """Which check failed when connecting to a broker, in one line (TLS failures name the TLS check)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS: the broker's certificate did not verify: {exc.verify_message or exc.reason} "
                "(check --ca-file and that the URL's host is the name in the certificate)")
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        hint = (" (the broker wants a client certificate: give --cert-file and --key-file)"
                if "CERTIFICATE_REQUIRED" in reason.upper() else "")
        return f"TLS handshake failed: {reason}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens on that port"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def probe_broker(broker: BrokerConfig, timeout_s: float = 3.0) -> str:
    """Connect as paho would (TCP, then TLS for mqtts://) and say which step fails: paho reports only that
    the connection failed. ``"reachable"`` when both steps pass."""
    try:
        with socket.create_connection((broker.host, broker.port), timeout=timeout_s) as sock:
            if broker.tls:
                with broker.ssl_context().wrap_socket(sock, server_hostname=broker.host):
                    pass
    except Exception as exc:  # noqa: BLE001 - every failure is described, none raised
        return describe_connect_error(exc)
    return "reachable"
