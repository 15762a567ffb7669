"""A device is (fleet, device_id): the same id in two fleets is two devices, in SQLite and PostgreSQL alike.

Through a real mosquitto into both databases, and a database made by schema version 2 (device_id alone)
upgraded in place with its rows kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from edgekit.fleet.collector.budgets import Budgets, load_budgets_file
from edgekit.fleet.collector.status import fleet_status
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator
from helpers_collector import (REPO, InProcessCollector, Publisher, Subscriber, db_url, envelope, iso,  # noqa: F401
                               open_old_store, result_body, telemetry_body, wait_until, wire)

T0 = 1_790_000_000.0  # in the past: a sent_at more than a day ahead of the collector is refused


def test_same_device_id_in_two_fleets_is_two_devices(mosquitto, tmp_path, db_url):  # noqa: F811
    budgets_file = tmp_path / "budgets.toml"
    budgets_file.write_text('[fleet.field]\nenergy_per_inference_mj = 10.0\n')
    budgets = Budgets(load_budgets_file(budgets_file), file_name="budgets.toml")
    acks = Subscriber(mosquitto.port, "edgekit/v1/+/pi-01/ack")
    pub = Publisher(mosquitto.port)
    lab = [envelope("telemetry", "pi-01", s, telemetry_body(), fleet="lab", sent_at=iso(T0 + s)) for s in (1, 2, 3)]
    # field's pi-01 misses seq 2 (a gap only there), and one message reuses an id of lab's pi-01
    field = [envelope("telemetry", "pi-01", 1, telemetry_body(), fleet="field", sent_at=iso(T0 + 1),
                      message_id=lab[0]["message_id"]),
             envelope("result", "pi-01", 3, result_body(energy_mj=12.5), fleet="field", sent_at=iso(T0 + 3))]
    lab_result = envelope("result", "pi-01", 4, result_body(energy_mj=12.5), fleet="lab", sent_at=iso(T0 + 4))
    with InProcessCollector(mosquitto.port, db_url, budgets=budgets) as c:
        for doc in lab + field + [lab_result]:  # one by one: each device's order is kept
            pub.publish_many([wire(doc)])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 4
                   and c.metric("messages_stored_total", kind="result") == 2, what="all six stored")
        assert c.metric("messages_duplicate_total") == 0  # the reused id is another device's message
        wait_until(lambda: {t for t, _ in acks.messages} == {"edgekit/v1/lab/pi-01/ack",
                                                             "edgekit/v1/field/pi-01/ack"}, what="acks to both")

    with open_store(db_url, migrate=False) as store:
        devices = {(d.fleet, d.device_id): d for d in store.devices()}
        assert set(devices) == {("lab", "pi-01"), ("field", "pi-01")}
        assert (devices["lab", "pi-01"].max_seq, devices["lab", "pi-01"].messages) == (4, 4)
        assert (devices["field", "pi-01"].max_seq, devices["field", "pi-01"].messages) == (3, 2)
        gaps = store.gaps(open_only=True)
        assert [(g.fleet, g.device_id, g.first_seq, g.last_seq, g.missing) for g in gaps] == [
            ("field", "pi-01", 2, 2, 1)]
        (v,) = store.violations()  # the budget is field's only
        assert (v.fleet, v.device_id, v.kind) == ("field", "pi-01", "energy_per_inference")
        assert sorted((t.fleet, t.seq) for t in store.telemetry()) == [("field", 1), ("lab", 1), ("lab", 2),
                                                                        ("lab", 3)]
        status = {(r.fleet, r.device_id): r for r in fleet_status(store)}
        assert status["field", "pi-01"].missing_messages == 1 and status["lab", "pi-01"].missing_messages == 0
        assert [o.kind for o in status["field", "pi-01"].open_violations] == ["energy_per_inference"]
        assert status["lab", "pi-01"].open_violations == ()

    out = subprocess.run([sys.executable, "-m", "edgekit", "fleet", "status", "--db", db_url, "--json"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    shown = sorted((d["fleet"], d["device_id"], d["messages"]) for d in json.loads(out.stdout)["devices"])
    assert shown == [("field", "pi-01", 2), ("lab", "pi-01", 4)]
    acks.close()
    pub.close()


def test_a_version_2_database_is_upgraded_to_per_fleet_keys_in_place(db_url):  # noqa: F811
    """Rows written under device_id alone are kept, each under the fleet it was stored with."""
    from edgekit.fleet.collector.store.migrations import LATEST_VERSION

    with open_old_store(db_url, 2) as s:

        def old_rows(tx):
            tx.execute("INSERT INTO devices (device_id, fleet, target, first_seen_s, last_seen_s, "
                       "last_sent_at_s, max_seq, messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       ("pi-01", "lab", "rpi5", T0, T0 + 5, T0 + 4, 4, 2))
            for mid, seq in (("m1", 1), ("m4", 4)):
                tx.execute("INSERT INTO messages (device_id, message_id, kind, fleet, seq, sent_at_s, "
                           "received_at_s, stored_at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           ("pi-01", mid, "telemetry", "lab", seq, T0 + seq, T0 + seq, T0 + seq))
                tx.execute("INSERT INTO telemetry (device_id, message_id, fleet, target, seq, sent_at_s, "
                           "window_s, power_w_avg) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           ("pi-01", mid, "lab", "rpi5", seq, T0 + seq, 10.0, 4.0))
            tx.execute("INSERT INTO results (device_id, message_id, fleet, target, seq, sent_at_s, model, "
                       "document) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       ("pi-02", "r1", "lab", "rpi5", 1, T0, "digits", "{\"a\": 1}"))
            tx.execute("INSERT INTO gaps (device_id, first_seq, last_seq, missing, detected_at_s) "
                       "VALUES (?, ?, ?, ?, ?)", ("pi-01", 2, 3, 2, T0 + 4))
            tx.execute("INSERT INTO violations (device_id, fleet, kind, subject, unit, limit_value, source, "
                       "value, worst_value, raised_at_s, raised_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, ?)", ("pi-01", "lab", "avg_power", "", "W", 5.0, "target rpi5", 6.0, 6.0, T0, "m1"))
        s.run(old_rows)

    with open_store(db_url) as s:
        assert s.schema_version() == LATEST_VERSION
        (d,) = s.devices()
        assert (d.fleet, d.device_id, d.max_seq, d.messages, d.target) == ("lab", "pi-01", 4, 2, "rpi5")
        (g,) = s.gaps(open_only=True)
        assert (g.fleet, g.device_id, g.first_seq, g.missing) == ("lab", "pi-01", 2, 2)
        assert [(t.fleet, t.message_id) for t in s.telemetry()] == [("lab", "m1"), ("lab", "m4")]
        (r,) = s.results()
        assert (r.fleet, r.device_id, r.document) == ("lab", "pi-02", {"a": 1})
        (v,) = s.violations(open_only=True)
        assert (v.fleet, v.device_id, v.worst_value) == ("lab", "pi-01", 6.0)
        assert s.counts()["telemetry"] == 2

        # the upgraded database goes on per fleet: a late seq 2 fills lab's gap, field's pi-01 is new
        validator = Validator()

        def accepted(doc):
            verdict = validator.validate(*wire(doc), received_at_s=T0 + 10)
            assert verdict.accepted, verdict
            return verdict

        late = accepted(envelope("telemetry", "pi-01", 2, telemetry_body(), fleet="lab", sent_at=iso(T0 + 2)))
        other = accepted(envelope("telemetry", "pi-01", 1, telemetry_body(), fleet="field", sent_at=iso(T0 + 2),
                                  message_id="0" * 32))
        out = s.run(lambda tx: tx.store_batch([late, other], [], time.time()))
        assert len(out.new) == 2 and not out.duplicates and not out.gaps
        (g,) = s.gaps(open_only=True)
        assert g.missing == 1
        assert sorted((d.fleet, d.max_seq, d.messages) for d in s.devices()) == [("field", 1, 1), ("lab", 4, 3)]
