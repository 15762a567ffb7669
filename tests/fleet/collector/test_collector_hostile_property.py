"""Property: any sequence of hostile and valid messages, through a real mosquitto into SQLite and PostgreSQL,
leaves every valid message stored exactly once, accounts for every message, and never stalls the collector."""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import REASONS
from helpers_collector import (InProcessCollector, Publisher, db_url, envelope, result_body,  # noqa: F401
                               telemetry_body, wait_until, wire)

# what mosquitto lets a client publish on (it drops a client that uses control characters in a topic)
_SEGMENT_CHARS = st.characters(blacklist_characters="/+#", blacklist_categories=("Cs", "Cc", "Cn", "Co"))
_HOSTILE_VALUES = [2.0, 2 ** 63, -1, True, None, "x", [], {}, 1e308, -0.0, 10 ** 30, "\x1b[2J[red]",
                   "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "1999-01-01T00:00:00Z",
                   "../../../etc/passwd", "alerts", "ack", "bad fleet!", [1] * 5000, "x" * 5000]
_FIELDS = ["seq", "sent_at", "target", "fleet", "device_id", "message_id", "kind", "body", "schema_version"]
_BODY_FIELDS = ["window_s", "power_w_avg", "power_w_peak", "energy_j", "temp_c_max", "throttled", "power_source"]

_ids = itertools.count()


@st.composite
def hostile(draw) -> tuple[str, bytes]:
    n = next(_ids)
    choice = draw(st.integers(0, 3))
    if choice == 0:  # a poison topic, payload well-formed or not
        fleet = draw(st.text(_SEGMENT_CHARS, min_size=0, max_size=12))
        device = draw(st.text(_SEGMENT_CHARS, min_size=0, max_size=12))
        kind = draw(st.sampled_from(["telemetry", "result", "status", "ack", "x"]))
        doc = envelope("telemetry", f"h-{n}", 1, telemetry_body())
        doc.update(fleet=fleet, device_id=device)
        return f"edgekit/v1/{fleet}/{device}/{kind}", json.dumps(doc).encode()
    doc = envelope("telemetry", f"h-{n}", 1, telemetry_body()) if draw(st.booleans()) else \
        envelope("result", f"h-{n}", 1, result_body())
    topic = f"edgekit/v1/lab/h-{n}/{doc['kind']}"
    if choice == 1:  # one envelope field replaced
        doc[draw(st.sampled_from(_FIELDS))] = draw(st.sampled_from(_HOSTILE_VALUES))
    elif choice == 2:  # one body field replaced
        doc["body"][draw(st.sampled_from(_BODY_FIELDS))] = draw(st.sampled_from(_HOSTILE_VALUES))
    else:  # bytes
        return topic, draw(st.binary(max_size=300))
    return topic, json.dumps(doc).encode()


@st.composite
def valid(draw) -> tuple[str, bytes, str]:
    n = next(_ids)
    device = f"v-{n}"
    if draw(st.booleans()):
        doc = envelope("telemetry", device, 1, telemetry_body(power_w_avg=draw(st.floats(0, 100)), power_w_peak=200))
    else:
        doc = envelope("result", device, 1, result_body())
    topic, payload = wire(doc)
    return topic, payload, device


stream = st.lists(st.one_of(hostile(), valid()), min_size=1, max_size=25)


def _total(c, name: str, label: str, values) -> float:
    return sum(c.metric(name, **{label: v}) for v in values)


def test_any_sequence_of_hostile_and_valid_messages_stores_each_valid_one_once(mosquitto, db_url):  # noqa: F811
    pub = Publisher(mosquitto.port)
    published = 0
    valid_devices: list[str] = []
    with InProcessCollector(mosquitto.port, db_url) as c:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(stream)
        def run(items):
            nonlocal published
            batch = [(t, p) for t, p, *_ in items]
            # a valid message may come twice (a device re-sending): still stored once
            batch += [(i[0], i[1]) for i in items[:3] if len(i) == 3]
            pub.publish_many(batch)
            # what the collector subscribes to (edgekit/v1/+/+/<result|telemetry|status>) reaches it
            published += sum(t.rsplit("/", 1)[1] in ("result", "telemetry", "status") for t, _ in batch)
            valid_devices.extend(i[2] for i in items if len(i) == 3)

            def accounted():
                received = _total(c, "messages_received_total", "kind", ("result", "telemetry", "status", "invalid"))
                done = (_total(c, "messages_stored_total", "kind", ("result", "telemetry", "status"))
                        + c.metric("messages_duplicate_total")
                        + _total(c, "messages_rejected_total", "reason", REASONS))
                return received == published and done == published
            wait_until(accounted, 20, f"all {published} messages accounted for")
            assert c.collector.healthy
            assert c.metric("store_errors_total") == 0
            assert c.metric("messages_rejected_total", reason="internal_error") == 0

        run()
        store = c.store
        counts = {d.device_id: d.messages for d in store.devices()}
        assert {d: counts.get(d) for d in valid_devices} == {d: 1 for d in valid_devices}
    pub.close()
    store = open_store(db_url)
    assert len(store.dead_letters()) > 0
    store.close()
