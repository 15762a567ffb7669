"""Hostile input from a plain MQTT client: every message is rejected or deduplicated, the collector lives on."""

from __future__ import annotations

import json

from edgekit.fleet.collector.store import open_store
from helpers_collector import (InProcessCollector, Publisher, envelope, telemetry_body, wait_until, wire)

T = "edgekit/v1/lab/pi-09/telemetry"


def _good(seq: int, **kw) -> dict:
    return envelope("telemetry", "pi-09", seq, telemetry_body(), **kw)


def test_malformed_messages_go_to_dead_letters_with_their_reason(mosquitto, tmp_path):
    good = _good(1)
    text = json.dumps(good)
    wrong_type = _good(2)
    wrong_type["seq"] = "two"
    missing = _good(3)
    del missing["message_id"]
    missing_body_field = _good(4)
    del missing_body_field["body"]["window_s"]
    deep = _good(5)
    node = deep["body"]
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    cases = [
        (T, b"\xff\xfe not utf-8 \xc3\x28", "not_utf8"),
        (T, bytes(range(256)) * 4, "not_utf8"),
        (T, b'{"schema": "edgekit.message", ', "not_json"),
        (T, b"x" * (1024 * 1024 + 1), "too_large"),
        (T, ("[" * 100000 + "]" * 100000).encode(), "too_deep"),
        (T, json.dumps(deep).encode(), "too_deep"),
        (T, text.replace('"power_w_avg": 3.0', '"power_w_avg": NaN').encode(), "non_finite"),
        (T, text.replace('"power_w_avg": 3.0', '"power_w_avg": Infinity').encode(), "non_finite"),
        (T, text.replace('"power_w_avg": 3.0', '"power_w_avg": 1e999').encode(), "non_finite"),
        (T, text.replace('"power_w_avg": 3.0', '"power_w_avg": -3.0').encode(), "schema"),
        (T, json.dumps(wrong_type).encode(), "schema"),
        (T, json.dumps(missing).encode(), "schema"),
        (T, json.dumps(missing_body_field).encode(), "schema"),
        (T, b"[1, 2, 3]", "schema"),
        (T, text.replace('"scope": "board"', '"scope": "bo\\u0000ard"').encode(), "bad_string"),
        (T, text.replace('"scope": "board"', '"scope": "\\ud800"').encode(), "bad_string"),
        ("edgekit/v1/lab/pi-10/telemetry", text.encode(), "topic_mismatch"),   # pi-09's payload on pi-10's topic
        ("edgekit/v1/lab/pi-09/result", text.encode(), "topic_mismatch"),      # telemetry on the result topic
        ("edgekit/v1/other/pi-09/telemetry", text.encode(), "topic_mismatch"),  # wrong fleet
    ]
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db) as c:
        pub.publish_many((t, p) for t, p, _ in cases)
        wait_until(lambda: sum(c.metric("messages_rejected_total", reason=r) for r in {r for *_, r in cases})
                   == len(cases), what="every reject")
        # replayed message ids: stored once
        pub.publish_many([wire(good)] * 3)
        wait_until(lambda: c.metric("messages_duplicate_total") == 2, what="2 duplicates")
        # still healthy: a good message afterwards is stored
        pub.publish_many([wire(_good(2))])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 2, what="the later good message")
        assert c.collector.healthy
        assert c.metric("messages_rejected_total", reason="internal_error") == 0

    store = open_store(db)
    letters = sorted(store.dead_letters(), key=lambda d: d.id)
    assert [d.reason for d in letters] == [r for *_, r in cases]
    huge = next(d for d in letters if d.reason == "too_large")
    assert huge.payload_bytes == 1024 * 1024 + 1 and len(huge.payload_head) == 1024   # a truncated copy
    assert letters[0].payload_head.startswith(b"\xff\xfe")
    assert "pi-10" in next(d for d in letters if d.topic.endswith("pi-10/telemetry")).detail
    assert store.counts()["telemetry"] == 2
    store.close()
    pub.close()
