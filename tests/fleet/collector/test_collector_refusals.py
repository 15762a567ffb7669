"""Messages the collector refuses for good are named in the device's ack, so the device stops re-sending them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from edgekit.fleet.messages import parse_ack_full, parse_broker_url
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool
from edgekit.fleet.collector.store import open_store
from helpers_collector import InProcessCollector, Publisher, Subscriber, envelope, telemetry_body, wait_until, wire

ACK_SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "edgekit" / "schemas" / "ack-1.json").read_text())


def test_refused_message_is_named_in_a_schema_valid_ack(mosquitto, tmp_path):
    good = envelope("telemetry", "pi-07", 1, telemetry_body())
    bad = envelope("telemetry", "pi-07", 2, telemetry_body(power_w_avg=-3.0))       # value out of range
    junk_topic = "edgekit/v1/lab/pi-07/telemetry"
    acks = Subscriber(mosquitto.port, "edgekit/v1/lab/pi-07/ack")
    db = f"sqlite:///{tmp_path / 'f.db'}"
    with InProcessCollector(mosquitto.port, db), open_store(db) as reader:
        pub = Publisher(mosquitto.port)
        pub.publish_many([wire(good), wire(bad), (junk_topic, b"\xff not json")])
        wait_until(lambda: reader.counts()["dead_letters"] == 2 and reader.counts()["telemetry"] == 1,
                   what="one stored, two dead letters")
        wait_until(lambda: sum(len(parse_ack_full(json.dumps(d).encode())[1]) for _, d in acks.json()) >= 1,
                   what="an ack naming the refused message")
        pub.close()
    docs = [d for _, d in acks.json()]
    acks.close()
    for d in docs:
        jsonschema.validate(d, ACK_SCHEMA)
    stored = [m for d in docs for m in d["message_ids"]]
    refused = [r for d in docs for r in d.get("rejected", [])]
    assert stored == [good["message_id"]]
    # the bad value is refused by id; the junk payload has no id to name
    assert [(r["message_id"], r["reason"]) for r in refused] == [(bad["message_id"], "schema")]


def test_reporter_drops_a_refused_message_from_its_spool_and_counts_it(mosquitto, tmp_path):
    spool = Spool(tmp_path / "spool.db")
    reporter = Reporter(parse_broker_url(mosquitto.url), spool, fleet="lab", device_id="pi-08", target="rpi5",
                        resend_after_s=1.0)
    with InProcessCollector(mosquitto.port, f"sqlite:///{tmp_path / 'f.db'}"):
        reporter.start()
        try:
            reporter.submit("telemetry", telemetry_body(power_w_avg=-1.0))
            reporter.submit("telemetry", telemetry_body())
            assert reporter.wait_drained(20)
        finally:
            reporter.stop()
    st = spool.stats()
    spool.close()
    assert st.pending == 0
    assert reporter.stats.rejected_by_collector == 1
