"""End to end through a real mosquitto: message -> collector -> stored row -> ack -> budget alert."""

from __future__ import annotations

import json

from edgekit.fleet.collector.budgets import Budgets, load_budgets_file
from edgekit.fleet.collector.store import open_store
from helpers_collector import (InProcessCollector, Publisher, Subscriber, envelope, iso, result_body,
                               telemetry_body, wait_until, wire)


def test_result_is_stored_acked_and_raises_one_alert_then_clears(mosquitto, tmp_path):
    budgets_file = tmp_path / "budgets.toml"
    budgets_file.write_text('[model.digits]\nenergy_per_inference_mj = 10.0\n')
    budgets = Budgets(load_budgets_file(budgets_file), file_name="budgets.toml")
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    alerts = Subscriber(mosquitto.port, "edgekit/v1/+/alerts/#")
    acks = Subscriber(mosquitto.port, "edgekit/v1/lab/pi-01/ack")
    pub = Publisher(mosquitto.port)
    t0 = 1_790_000_000.0  # in the past: a sent_at more than a day ahead of the collector is refused
    with InProcessCollector(mosquitto.port, db, budgets=budgets) as c:
        over = [envelope("result", "pi-01", i + 1, result_body(energy_mj=12.5 + i), sent_at=iso(t0 + i))
                for i in range(3)]
        for n, d in enumerate(over, 1):  # one by one: each is checked in its own batch
            pub.publish_many([wire(d)])
            wait_until(lambda: c.metric("messages_stored_total", kind="result") == n, what=f"{n} stored results")
        wait_until(lambda: len(acks.messages) >= 1, what="an ack")
        within = envelope("result", "pi-01", 4, result_body(energy_mj=9.0), sent_at=iso(t0 + 10))
        pub.publish_many([wire(within)])
        wait_until(lambda: len(alerts.messages) >= 2, what="raise and clear alerts")
        # a replayed message (same id): deduplicated, acked again, no new alert
        pub.publish_many([wire(over[0])])
        wait_until(lambda: c.metric("messages_duplicate_total") == 1, what="the duplicate")
        wait_until(lambda: any(over[0]["message_id"] in json.loads(p)["message_ids"] for _, p in acks.messages[1:]),
                   what="the duplicate's ack")

    got = alerts.json()
    assert [a["state"] for _, a in got] == ["raised", "cleared"], got
    topic, raised = got[0]
    assert topic == "edgekit/v1/lab/alerts/pi-01"
    assert raised["kind"] == "energy_per_inference" and raised["subject"] == "digits"
    assert raised["value"] == 12.5 and raised["limit"] == 10.0 and raised["unit"] == "mJ"
    assert raised["message_id"] == over[0]["message_id"]
    assert "budgets.toml" in raised["source"]
    assert got[1][1]["value"] == 9.0 and got[1][1]["message_id"] == within["message_id"]

    acked = [i for _, p in acks.messages for i in json.loads(p)["message_ids"]]
    assert set(acked) == {d["message_id"] for d in over + [within]}
    for _, p in acks.messages:
        doc = json.loads(p)
        assert doc["schema"] == "edgekit.ack" and doc["schema_version"] == 1

    store = open_store(db)
    rows = store.results()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert rows[0].energy_mj_per_inference == 12.5 and rows[0].model == "digits" and rows[0].precision == "int8"
    assert rows[0].document["latency"]["p99_ms"] == 2.4
    (v,) = store.violations()
    assert v.worst_value == 14.5 and v.cleared_value == 9.0 and v.raised_published and v.cleared_published
    store.close()
    for s in (alerts, acks, pub):
        s.close()


def test_telemetry_average_power_over_window_from_target_profile(mosquitto, tmp_path):
    """No budgets file: the target profile's power budget applies to the window average."""
    from edgekit.targets import load_target
    budget_w = load_target("rpi5").default_budget_w
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    alerts = Subscriber(mosquitto.port, "edgekit/v1/+/alerts/#")
    pub = Publisher(mosquitto.port)
    t0 = 1_790_000_000.0  # in the past: a sent_at more than a day ahead of the collector is refused
    with InProcessCollector(mosquitto.port, db) as c:
        # one spike above the budget: the 300 s window average stays below it
        docs = [envelope("telemetry", "pi-02", i + 1,
                         telemetry_body(power_w_avg=budget_w * (1.5 if i == 5 else 0.5),
                                        power_w_peak=budget_w * 1.6),
                         sent_at=iso(t0 + 10 * i)) for i in range(10)]
        pub.publish_many(wire(d) for d in docs)
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 10, what="10 rows")
        assert alerts.messages == []
        # sustained load: the average crosses the budget once and stays raised
        docs = [envelope("telemetry", "pi-02", 11 + i, telemetry_body(power_w_avg=budget_w * 2.0,
                                                                     power_w_peak=budget_w * 2.1),
                         sent_at=iso(t0 + 100 + 10 * i)) for i in range(20)]
        for n, d in enumerate(docs, 11):  # one by one, so each is evaluated in its own batch
            pub.publish_many([wire(d)])
            wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == n, what=f"{n} rows")
        wait_until(lambda: c.metric("budget_violations_total", kind="avg_power") == 1, what="one violation")
    assert [(a["kind"], a["state"]) for _, a in alerts.json()] == [("avg_power", "raised")]
    assert alerts.json()[0][1]["limit"] == budget_w
    assert alerts.json()[0][1]["source"].startswith("target rpi5")
    alerts.close()
    pub.close()


def test_reporter_result_confirmed_by_collector_and_alerted(mosquitto, tmp_path):
    """edgekit's own reporter (spool + ack wait) against the collector: confirmed only once stored."""
    from edgekit.fleet.device.deliver import report_result

    budgets_file = tmp_path / "budgets.toml"
    budgets_file.write_text('[device."pi-05"]\nmax_temp_c = 60\n')
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    alerts = Subscriber(mosquitto.port, "edgekit/v1/+/alerts/#")
    with InProcessCollector(mosquitto.port, db, budgets=Budgets(load_budgets_file(budgets_file))):
        outcome = report_result(mosquitto.url, result_body(max_temp_c=71.0), fleet="lab", device_id="pi-05",
                                spool_path=tmp_path / "spool.db", timeout_s=20)
        assert outcome.confirmed, outcome.summary()
        assert outcome.pending == 0
        wait_until(lambda: alerts.messages, what="the alert")
    store = open_store(db)
    (row,) = store.results()
    assert row.message_id == outcome.message_id and row.target == "rpi5" and row.temp_c_max == 71.0
    ((topic, alert),) = alerts.json()
    assert topic == "edgekit/v1/lab/alerts/pi-05" and alert["kind"] == "max_temp" and alert["value"] == 71.0
    store.close()
    alerts.close()
