"""The fleet message envelope (v1), topic names, and broker connection settings.

Both ends of the fleet use this module: the device side (spool, reporter,
agent) to build envelopes and acks' topics, the collector to parse topics and
acks it publishes, and both to turn ``--broker URL`` plus the TLS/auth options
into a :class:`BrokerConfig` that configures a paho client.

Topics (``<fleet>`` and ``<device_id>`` are single topic levels)::

    edgekit/v1/<fleet>/<device_id>/result      bench results        (spooled, acked)
    edgekit/v1/<fleet>/<device_id>/telemetry   periodic summaries   (spooled, acked)
    edgekit/v1/<fleet>/<device_id>/status      retained online/offline (last will)
    edgekit/v1/<fleet>/<device_id>/ack         collector -> device acknowledgements
    edgekit/v1/<fleet>/alerts/<device_id>      budget alerts from the collector

Credentials never leave :class:`BrokerConfig`: its ``repr`` and
:meth:`BrokerConfig.redacted_url` omit the password, and nothing here writes
them into a payload.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from edgekit.errors import ConfigError

TOPIC_ROOT = "edgekit/v1"
MESSAGE_SCHEMA = "edgekit.message"
ACK_SCHEMA = "edgekit.ack"
SCHEMA_VERSION = 1

#: Every kind an envelope may carry.
KINDS = ("result", "telemetry", "status")
#: Kinds that go through the device's spool and that the collector acknowledges once stored.
ACKED_KINDS = ("result", "telemetry")

#: A collector database's id (``store_id`` in acks): made once with the database, never changed.
STORE_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

#: A fleet or device id: one topic level, no wildcards, no separators.
SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
#: Device ids the collector's own topics use (``edgekit/v1/<fleet>/alerts/<device>``, ``.../<device>/ack``).
RESERVED_DEVICE_IDS = frozenset(("alerts", "ack"))

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
#: ``?protocol=`` values of a broker URL. MQTT 5 is the default; 3.1.1 exists for
#: brokers that speak nothing else (the embedded amqtt), and cannot report ACL refusals.
PROTOCOLS = {"5": "5", "5.0": "5", "3.1.1": "3.1.1", "311": "3.1.1"}


# --------------------------------------------------------------------- topics

def check_segment(value: str, what: str) -> str:
    """Return ``value`` if it is a valid fleet/device id, else raise ConfigError."""
    if not isinstance(value, str) or not SEGMENT_RE.match(value):
        raise ConfigError(
            f"invalid {what} {value!r}: use 1-128 characters from A-Z a-z 0-9 _ . : - "
            f"starting with a letter or digit (it becomes one MQTT topic level)")
    if what == "device id" and value in RESERVED_DEVICE_IDS:
        raise ConfigError(f"device id {value!r} is reserved (it would collide with the collector's "
                          f"{value} topics); choose another --device-id")
    return value


def topic(fleet: str, device_id: str, kind: str) -> str:
    """``edgekit/v1/<fleet>/<device_id>/<kind>`` for result, telemetry, status, ack."""
    if kind not in KINDS and kind != "ack":
        raise ValueError(f"unknown topic kind {kind!r}")
    return f"{TOPIC_ROOT}/{check_segment(fleet, 'fleet')}/{check_segment(device_id, 'device id')}/{kind}"


def ack_topic(fleet: str, device_id: str) -> str:
    return topic(fleet, device_id, "ack")


def alert_topic(fleet: str, device_id: str) -> str:
    return f"{TOPIC_ROOT}/{check_segment(fleet, 'fleet')}/alerts/{check_segment(device_id, 'device id')}"


class TopicParts(NamedTuple):
    fleet: str
    device_id: str
    kind: str


def parse_topic(name: str) -> TopicParts | None:
    """``(fleet, device_id, kind)`` of a device topic (kind: result, telemetry, status or ack), or None.

    Alert topics (``.../alerts/<device>``) are not device topics and give None, nor are the reserved
    device ids (``alerts``, ``ack``); fleet and device id must match ``SEGMENT_RE``. The collector's
    validator uses this check too: what passes can be answered on its ack topic.
    """
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        return None
    fleet, device_id, kind = parts[2], parts[3], parts[4]
    if device_id in RESERVED_DEVICE_IDS or kind not in KINDS + ("ack",):
        return None
    if not (SEGMENT_RE.match(fleet) and SEGMENT_RE.match(device_id)):
        return None
    return TopicParts(fleet, device_id, kind)


def device_topics_filter(fleet: str = "+") -> list[str]:
    """Subscription filters a collector needs for one fleet (or all with '+')."""
    return [f"{TOPIC_ROOT}/{fleet}/+/{kind}" for kind in KINDS]


# ------------------------------------------------------------------ envelopes

def utc_timestamp(now: datetime | None = None) -> str:
    """``2026-11-30T09:00:00.000Z`` (milliseconds, UTC)."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_message_id() -> str:
    return uuid.uuid4().hex


def build_envelope(kind: str, body: dict[str, Any], *, fleet: str, device_id: str, seq: int,
                   message_id: str | None = None, target: str | None = None,
                   sent_at: str | None = None) -> dict[str, Any]:
    """One v1 envelope. ``seq`` is the device's sequence number (>= 1 for spooled kinds)."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    check_segment(fleet, "fleet")
    check_segment(device_id, "device id")
    return {
        "schema": MESSAGE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "message_id": message_id or new_message_id(),
        "fleet": fleet,
        "device_id": device_id,
        "seq": int(seq),
        "sent_at": sent_at or utc_timestamp(),
        "target": target,
        "body": body,
    }


def encode(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (the collector rejects them)."""
    try:
        return json.dumps(doc, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode("utf-8")
    except ValueError as exc:
        raise ConfigError(f"message holds a value JSON cannot carry ({exc}); "
                          "replace NaN/Infinity with null before reporting") from exc


def build_ack(message_ids: list[str], rejected: list[tuple[str, str]] = (), *,
              store_id: str | None = None) -> dict[str, Any]:
    """An ack for stored ``message_ids``; ``rejected`` lists ``(message_id, reason)`` refused for good;
    ``store_id`` names the database that holds them (devices release messages only on their store's acks)."""
    ack: dict[str, Any] = {"schema": ACK_SCHEMA, "schema_version": SCHEMA_VERSION, "message_ids": list(message_ids)}
    if store_id is not None:
        ack["store_id"] = store_id
    if rejected:
        ack["rejected"] = [{"message_id": mid, "reason": reason} for mid, reason in rejected]
    return ack


def parse_ack(payload: bytes) -> list[str]:
    """Message ids named by an ack payload; ``[]`` for anything that is not a v1 ack."""
    return parse_ack_full(payload)[0]


def parse_ack_full(payload: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """``(stored_ids, rejected)`` of an ack (see :func:`parse_ack_doc`)."""
    return parse_ack_doc(payload)[:2]


def parse_ack_doc(payload: bytes) -> tuple[list[str], list[tuple[str, str]], str | None]:
    """``(stored_ids, rejected, store_id)`` of an ack; ``rejected`` is ``[(message_id, reason)]``.

    ``rejected`` comes from an optional ``"rejected": [{"message_id", "reason"}]``
    list: messages the collector refused for good (kept in its dead-letter
    table), which the device must stop re-sending. ``store_id`` is the collector database's id (None when
    the ack carries none or a malformed one: a collector from before store ids).
    """
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return [], [], None
    if not isinstance(doc, dict) or doc.get("schema") != ACK_SCHEMA or doc.get("schema_version") != SCHEMA_VERSION:
        return [], [], None
    ids = doc.get("message_ids")
    ids = [i for i in ids if isinstance(i, str) and 0 < len(i) <= 64] if isinstance(ids, list) else []
    rejected = []
    items = doc.get("rejected")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("message_id"), str) and 0 < len(item["message_id"]) <= 64:
            rejected.append((item["message_id"], str(item.get("reason", "rejected"))[:200]))
    store = doc.get("store_id")
    return ids, rejected, store if isinstance(store, str) and STORE_ID_RE.fullmatch(store) else None


def check_store_id(value: str) -> str:
    """A ``--store-id`` value: what ``edgekit collect`` logs at start-up and names in its acks."""
    if not isinstance(value, str) or not STORE_ID_RE.fullmatch(value):
        raise ConfigError(f"bad store id {value!r}: 1-64 characters from A-Z a-z 0-9 _ . : - "
                          "(the id `edgekit collect` logs at start-up: 'store id ...')")
    return value


def default_device_id() -> str:
    """The host name, reduced to what a topic level may hold."""
    name = socket.gethostname().split(".")[0].lower()
    name = re.sub(r"[^a-z0-9_.:-]+", "-", name).strip("-._:")[:128]
    return name or "device"


# --------------------------------------------------------- broker connection

@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect. The password is kept out of repr and logs."""

    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: str = "5"  # "5" or "3.1.1"

    @property
    def paho_protocol(self) -> int:
        import paho.mqtt.client as mqtt

        return mqtt.MQTTv5 if self.protocol == "5" else mqtt.MQTTv311

    def redacted_url(self) -> str:
        """The URL for logs: scheme, user (if any), host and port, never the password."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "" if self.protocol == "5" else f"?protocol={self.protocol}"
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}{query}"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return ctx

    def configure(self, client) -> None:
        """Apply TLS and credentials to a paho ``Client`` before connecting."""
        if self.tls:
            client.tls_set_context(self.ssl_context())
        if self.username is not None:
            client.username_pw_set(self.username, self.password)


def _read_password(password_file: str | Path | None, password_env: str | None) -> str | None:
    if password_file and password_env:
        raise ConfigError("give the broker password either with --password-file or with --password-env, not both")
    if password_file:
        path = Path(password_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the password file {path} ({exc.strerror}); "
                              "create it with the broker password on its first line") from exc
        pw = text.splitlines()[0] if text else ""
        if not pw:
            raise ConfigError(f"the password file {path} is empty; put the broker password on its first line")
        return pw
    if password_env:
        pw = os.environ.get(password_env)
        if not pw:
            raise ConfigError(f"the environment variable {password_env} (from --password-env) is not set or "
                              "empty; export it with the broker password")
        return pw
    return None


def parse_broker_url(url: str, *, ca_file: str | Path | None = None, cert_file: str | Path | None = None,
                     key_file: str | Path | None = None, username: str | None = None,
                     password_file: str | Path | None = None, password_env: str | None = None) -> BrokerConfig:
    """``mqtt://host[:port]`` or ``mqtts://[user@]host[:port]`` plus TLS/auth options.

    ``?protocol=3.1.1`` selects MQTT 3.1.1 for brokers without MQTT 5 (default 5).

    A password inside the URL is refused: it would show in process lists and
    shell history. It comes from ``password_file`` or the environment variable
    named by ``password_env``.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad broker URL {url!r} ({exc}); use mqtt://host:1883 or mqtts://host:8883") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ConfigError(f"bad broker URL scheme {parts.scheme or '(none)'!r}; "
                          "use mqtt://host:1883 or mqtts://host:8883")
    if not parts.hostname:
        raise ConfigError(f"the broker URL names no host; use {scheme}://HOST:PORT")
    if parts.password is not None:
        raise ConfigError("the broker URL holds a password; remove it and pass --password-file FILE "
                          "or --password-env VARIABLE instead")
    if parts.path not in ("", "/"):
        raise ConfigError(f"the broker URL has a path; use {scheme}://HOST:PORT")
    query = parse_qs(parts.query, keep_blank_values=True) if parts.query else {}
    if set(query) - {"protocol"} or len(query.get("protocol", [])) > 1 or (
            query and query["protocol"][0] not in PROTOCOLS):
        raise ConfigError(f"the broker URL query {parts.query!r} is not understood; the only option is "
                          "?protocol=5 (default) or ?protocol=3.1.1")
    protocol = PROTOCOLS[query["protocol"][0]] if query else "5"
    tls = scheme == "mqtts"
    if not tls and (ca_file or cert_file or key_file):
        raise ConfigError("TLS files were given for a plain mqtt:// broker; use an mqtts:// URL")
    if key_file and not cert_file:
        raise ConfigError("--key-file needs --cert-file (the client certificate it belongs to)")
    files = {}
    for name, value in (("CA file", ca_file), ("certificate file", cert_file), ("key file", key_file)):
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise ConfigError(f"the {name} {p} does not exist; give the path of a PEM file")
            files[name] = p
        else:
            files[name] = None
    user = username if username is not None else (unquote(parts.username) if parts.username else None)
    password = _read_password(password_file, password_env)
    if password is not None and user is None:
        raise ConfigError("a broker password was given without a user name; add --username NAME "
                          "or put it in the URL as mqtts://NAME@host")
    return BrokerConfig(host=parts.hostname, port=port or DEFAULT_PORTS[scheme], tls=tls,
                        ca_file=files["CA file"], cert_file=files["certificate file"], key_file=files["key file"],
                        username=user, password=password, protocol=protocol)


def add_broker_arguments(parser, *, required: bool = True) -> None:
    """The ``--broker`` URL and its TLS/auth options, shared by agent and collector commands."""
    parser.add_argument("--broker", required=required, metavar="URL",
                        help="mqtt://host:1883 or mqtts://[user@]host:8883")
    add_broker_auth_arguments(parser)


def add_broker_auth_arguments(parser) -> None:
    """The TLS and authentication options of a broker URL (``--broker``, or ``edgekit bench --report``)."""
    parser.add_argument("--ca-file", metavar="PEM", help="CA certificate(s) to verify an mqtts:// broker")
    parser.add_argument("--cert-file", metavar="PEM", help="client certificate for mqtts://")
    parser.add_argument("--key-file", metavar="PEM", help="private key of --cert-file")
    parser.add_argument("--username", metavar="NAME", help="broker user name")
    parser.add_argument("--password-file", metavar="FILE", help="file whose first line is the broker password")
    parser.add_argument("--password-env", metavar="VAR", help="environment variable holding the broker password")


def broker_config_from_args(args, url: str | None = None) -> BrokerConfig:
    """The broker of ``url`` (default ``args.broker``) with the options of :func:`add_broker_auth_arguments`."""
    return parse_broker_url(args.broker if url is None else url, ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file,
                            username=args.username, password_file=args.password_file,
                            password_env=args.password_env)
