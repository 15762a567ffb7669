"""Hostile messages through a real mosquitto into SQLite and PostgreSQL (issue 10).

Each case: the message is dead-lettered once (with its reason) and PUBACKed, no ack goes to an invalid
topic, a valid message from another device is stored within seconds afterwards, the collector restarts
cleanly (nothing redelivered, nothing retried) and `fleet status` / `fleet report` work on the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edgekit.fleet.collector.budgets import Budgets, load_budgets_file
from edgekit.fleet.collector.store import open_store
from helpers_collector import (REPO, InProcessCollector, Publisher, Subscriber, db_url, envelope,  # noqa: F401
                               result_body, telemetry_body, wait_until, wire)

MID = "0123456789abcdef0123456789abcdef"


def _tele(device: str, seq, **over) -> dict:
    doc = envelope("telemetry", device, 1, telemetry_body())
    doc["seq"] = seq
    doc.update(over)
    return doc


def _raw(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def _hostile_cases() -> list[tuple[str, str, bytes, str]]:
    """(name, topic, payload, reason)."""
    far = _tele("far-1", 1, sent_at="9999-12-31T23:59:59-05:00")
    early = _tele("far-2", 1, sent_at="0001-01-01T00:00:00+05:00")
    future = _tele("far-3", 1, sent_at="2999-01-01T00:00:00Z")
    old = _tele("far-4", 1, sent_at="1999-12-31T23:59:59Z")
    bad_fleet = _tele("dev-a", 1)
    bad_fleet["fleet"] = "bad fleet!"
    big_result = envelope("result", "big-1", 1, result_body())
    big_result["body"]["device"]["cpu_features"] = [1] * 340_000
    huge_int = envelope("result", "int-1", 1, result_body())
    huge_int["body"]["artifact"]["bytes"] = 2 ** 70
    negative = envelope("result", "int-2", 1, result_body())
    negative["body"]["latency"]["count"] = -5
    return [
        ("poison topic", "edgekit/v1/bad fleet!/dev-a/telemetry", json.dumps({"message_id": MID}).encode(),
         "bad_topic"),
        ("poison topic, full envelope", "edgekit/v1/bad fleet!/dev-a/telemetry", _raw(bad_fleet), "bad_topic"),
        ("reserved device id", "edgekit/v1/lab/alerts/telemetry", _raw(_tele("x", 1, device_id="alerts")),
         "bad_topic"),
        ("reserved device id ack", "edgekit/v1/lab/ack/result", _raw(_tele("x", 1, device_id="ack", kind="result")),
         "bad_topic"),
        ("year 9999 -05:00", "edgekit/v1/lab/far-1/telemetry", _raw(far), "value_range"),
        ("year 0001 +05:00", "edgekit/v1/lab/far-2/telemetry", _raw(early), "value_range"),
        ("far future", "edgekit/v1/lab/far-3/telemetry", _raw(future), "value_range"),
        ("before 2000", "edgekit/v1/lab/far-4/telemetry", _raw(old), "value_range"),
        ("seq 2.0", "edgekit/v1/lab/seq-1/telemetry", _raw(_tele("seq-1", 2.0)), "schema"),
        ("seq beyond BIGINT", "edgekit/v1/lab/seq-2/telemetry", _raw(_tele("seq-2", 2 ** 63)), "schema"),
        ("seq true", "edgekit/v1/lab/seq-3/telemetry", _raw(_tele("seq-3", True)), "schema"),
        ("integer beyond BIGINT in a result", "edgekit/v1/lab/int-1/result", _raw(huge_int), "schema"),
        ("negative count", "edgekit/v1/lab/int-2/result", _raw(negative), "schema"),
        ("340,000 bad array items", "edgekit/v1/lab/big-1/result", _raw(big_result), "over_limit"),
    ]


CASES = _hostile_cases()


def _budgets(tmp_path) -> Budgets:
    path = tmp_path / "budgets.toml"
    path.write_text("[defaults]\navg_power_w = 1.0\n")  # every telemetry message raises an alert
    return Budgets(load_budgets_file(path), file_name="budgets.toml")


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env=env)


def _check_cli_works(db: str) -> None:
    for args in (("fleet", "status", "--db", db), ("fleet", "status", "--db", db, "--json"),
                 ("fleet", "report", "--db", db), ("fleet", "report", "--db", db, "--json")):
        out = _cli(*args)
        assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
        assert "Traceback" not in out.stderr


def test_each_hostile_message_is_dead_lettered_once_and_the_fleet_carries_on(mosquitto, db_url, tmp_path):  # noqa: F811
    budgets = _budgets(tmp_path)
    everything = Subscriber(mosquitto.port, "edgekit/v1/#")
    pub = Publisher(mosquitto.port)
    client_id = "hostile-collector"
    with InProcessCollector(mosquitto.port, db_url, client_id=client_id, budgets=budgets) as c:
        for n, (name, topic, payload, reason) in enumerate(CASES, 1):
            before = c.metric("messages_rejected_total", reason=reason)
            pub.publish_many([(topic, payload)])
            wait_until(lambda: c.metric("messages_rejected_total", reason=reason) == before + 1, 10,
                       f"{name!r} rejected as {reason}")
            # then a valid message from another device is stored within a few seconds
            pub.publish_many([wire(envelope("telemetry", f"good-{n}", 1, telemetry_body()))])
            wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == n, 5,
                       f"the valid message after {name!r}")
        assert c.metric("messages_rejected_total", reason="internal_error") == 0
        assert c.metric("store_errors_total") == 0
        assert c.metric("after_commit_errors_total", step="ack") == 0
        assert c.metric("after_commit_errors_total", step="alerts") == 0
        assert c.metric("after_commit_errors_total", step="batch") == 0
        assert c.collector.healthy

    store = open_store(db_url)
    letters = sorted(store.dead_letters(), key=lambda d: d.id)
    assert [(d.topic, d.reason) for d in letters] == [(t, r) for _, t, _, r in CASES]
    store.close()
    # no ack (nor anything else) was published to an invalid topic; the poison's device got no ack at all
    acks = [t for t, _ in everything.messages if t.endswith("/ack")]
    assert not [t for t in acks if "bad fleet!" in t or t in ("edgekit/v1/lab/alerts/ack", "edgekit/v1/lab/ack/ack")], acks
    assert "edgekit/v1/lab/good-1/ack" in acks and "edgekit/v1/lab/alerts/good-1" in {t for t, _ in everything.messages}

    # a restart with the same persistent session: nothing comes back (everything was PUBACKed), nothing retried
    with InProcessCollector(mosquitto.port, db_url, client_id=client_id, budgets=budgets) as c:
        pub.publish_many([wire(envelope("telemetry", "good-after-restart", 1, telemetry_body()))])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 5, "the message after restart")
        assert sum(c.metric("messages_rejected_total", reason=r) for *_, r in CASES) == 0
        assert c.metric("messages_received_total", kind="invalid") == 0
    store = open_store(db_url)
    assert len(store.dead_letters()) == len(CASES)
    assert store.counts()["telemetry"] == len(CASES) + 1
    store.close()
    _check_cli_works(db_url)
    pub.close()
    everything.close()


def _install_refusing_trigger(db_url: str, device_id: str) -> None:
    """A real database trigger that refuses one device's rows: a store failure the validator cannot foresee."""
    if db_url.startswith("sqlite"):
        import sqlite3
        con = sqlite3.connect(db_url[len("sqlite:///"):])
        con.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.device_id = '{device_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END")
        con.commit()
        con.close()
    else:
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as con:
            con.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                        f"IF NEW.device_id = '{device_id}' THEN RAISE EXCEPTION 'refused by the test trigger'; "
                        "END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            con.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()")


def test_a_row_the_database_refuses_is_split_out_of_its_batch_and_dead_lettered(mosquitto, db_url):  # noqa: F811
    open_store(db_url).close()  # the schema, then the trigger on it
    _install_refusing_trigger(db_url, "bad-row")
    acks = Subscriber(mosquitto.port, "edgekit/v1/lab/bad-row/ack")
    pub = Publisher(mosquitto.port)
    client_id = "split-collector"
    with InProcessCollector(mosquitto.port, db_url, client_id=client_id):
        pass  # the persistent session exists: what follows is queued by the broker and arrives as one burst
    good = [envelope("telemetry", f"dev-{i}", 1, telemetry_body()) for i in range(20)]
    bad = envelope("telemetry", "bad-row", 1, telemetry_body())
    pub.publish_many([wire(d) for d in good[:10]] + [wire(bad)] + [wire(d) for d in good[10:]])
    with InProcessCollector(mosquitto.port, db_url, client_id=client_id) as c:
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 20, 10, "the 20 good messages")
        wait_until(lambda: c.metric("messages_rejected_total", reason="store_failed") == 1, 10, "the bad row")
        wait_until(lambda: acks.messages, 5, "the bad row's ack")
        assert c.metric("store_errors_total") == 0  # not mistaken for an outage
        assert c.collector.healthy
    ack = json.loads(acks.messages[0][1])
    assert ack["message_ids"] == [] and ack["rejected"] == [{"message_id": bad["message_id"],
                                                             "reason": "store_failed"}]
    with InProcessCollector(mosquitto.port, db_url, client_id=client_id) as c:  # nothing redelivered
        pub.publish_many([wire(envelope("telemetry", "dev-after", 1, telemetry_body()))])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 5, "the message after restart")
        assert c.metric("messages_rejected_total", reason="store_failed") == 0
    store = open_store(db_url)
    letters = store.dead_letters()
    assert [(d.reason, d.topic) for d in letters] == [("store_failed", "edgekit/v1/lab/bad-row/telemetry")]
    assert "refused by the test trigger" in letters[0].detail
    assert store.counts()["telemetry"] == 21
    store.close()
    pub.close()
    acks.close()


@pytest.mark.parametrize("sent_at", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_an_existing_database_with_far_dates_still_works(mosquitto, db_url, tmp_path, sent_at):  # noqa: F811
    """Rows stored before the sent_at window existed: start-up alerts, status and report do not raise."""
    from edgekit.fleet.collector.budgets import BudgetChecker
    from edgekit.fleet.records import message_from_document

    budgets = _budgets(tmp_path)
    doc = envelope("telemetry", "old-1", 1, telemetry_body(), sent_at=sent_at)
    msg = message_from_document("edgekit/v1/lab/old-1/telemetry", doc, payload_bytes=500, received_at_s=1.8e9)
    store = open_store(db_url)

    def write(tx):
        out = tx.store_batch([msg], [], 1.8e9)
        return BudgetChecker(budgets).evaluate(tx, out.new)

    events = store.run(write)
    assert [e.state for e in events] == ["raised"]  # an alert left unpublished: published at start-up
    store.close()
    alerts = Subscriber(mosquitto.port, "edgekit/v1/lab/alerts/#")
    with InProcessCollector(mosquitto.port, db_url, budgets=budgets) as c:
        wait_until(lambda: alerts.messages, 5, "the pending alert")
        pub = Publisher(mosquitto.port)
        pub.publish_many([wire(envelope("telemetry", "new-1", 1, telemetry_body()))])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 5, "a new message")
        pub.close()
    alert = json.loads(alerts.messages[0][1])
    assert alert["at"].startswith("9999-12-31" if sent_at.startswith("9999") else "0001-01-01")
    _check_cli_works(db_url)
    alerts.close()


def test_edgekit_collect_survives_the_poison_topic_and_restarts_cleanly(mosquitto, db_url, tmp_path):  # noqa: F811
    """The issue's reproduction, against the real `edgekit collect` process."""
    from helpers_collector import CollectorProcess

    proc = CollectorProcess(mosquitto.url, db_url, tmp_path, client_id="poison-cli")
    pub = Publisher(mosquitto.port)
    proc.start()
    try:
        pub.publish_many([("edgekit/v1/bad fleet!/dev-a/telemetry", json.dumps({"message_id": MID}).encode())])
        pub.publish_many([wire(envelope("telemetry", "dev-b", 1, telemetry_body()))])
        store = open_store(db_url)
        wait_until(lambda: store.counts()["telemetry"] == 1, 10, "the valid message after the poison")
        assert proc.stop() == 0
        proc.start()  # the same persistent session: the poison was PUBACKed, nothing comes back
        pub.publish_many([wire(envelope("telemetry", "dev-b", 2, telemetry_body()))])
        wait_until(lambda: store.counts()["telemetry"] == 2, 10, "the valid message after the restart")
        assert proc.stop() == 0
        assert [d.reason for d in store.dead_letters()] == ["bad_topic"]
        store.close()
        log = proc.log()
        assert "retrying" not in log and "Traceback" not in log, log
        assert log.count("rejected a message") == 1, log
    finally:
        proc.kill()
        pub.close()
    _check_cli_works(db_url)


def test_an_alert_that_cannot_be_published_is_counted_once_and_never_retried(mosquitto, db_url, tmp_path):  # noqa: F811
    """A violation stored before topic segments were checked (fleet 'bad fleet!'): its alert has no valid topic.
    The collector starts, counts the failure once, marks the alert done, and the next start does not retry it."""
    from edgekit.fleet.collector.budgets import BudgetChecker
    from edgekit.fleet.records import message_from_document

    budgets = _budgets(tmp_path)
    doc = envelope("telemetry", "dev-a", 1, telemetry_body())
    doc["fleet"] = "bad fleet!"
    msg = message_from_document("edgekit/v1/bad fleet!/dev-a/telemetry", doc, payload_bytes=500, received_at_s=None)
    store = open_store(db_url)
    store.run(lambda tx: BudgetChecker(budgets).evaluate(tx, tx.store_batch([msg], [], msg.sent_at_s).new))
    assert len(store.violations(open_only=True)) == 1
    store.close()
    for expected in (1, 0):
        with InProcessCollector(mosquitto.port, db_url, budgets=budgets) as c:
            assert c.metric("after_commit_errors_total", step="alert") == expected
            pub = Publisher(mosquitto.port)
            pub.publish_many([wire(envelope("telemetry", f"good-{expected}", 1, telemetry_body()))])
            wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 5, "a valid message")
            pub.close()
            assert c.collector.healthy
    _check_cli_works(db_url)


def _rename_messages_table(db_url: str, old: str, new: str) -> None:
    if db_url.startswith("sqlite"):
        import sqlite3
        con = sqlite3.connect(db_url[len("sqlite:///"):], timeout=30)
        con.execute(f"ALTER TABLE {old} RENAME TO {new}")
        con.commit()
        con.close()
    else:
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as con:
            con.execute(f"ALTER TABLE {old} RENAME TO {new}")


def test_a_database_outage_is_waited_out_not_mistaken_for_bad_rows(mosquitto, db_url):  # noqa: F811
    """The messages table missing for a while (an operator's mistake): every message waits and is stored after,
    none is split out and dead-lettered as store_failed."""
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db_url) as c:
        pub.publish_many([wire(envelope("telemetry", "dev-0", 1, telemetry_body()))])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 5, "the first message")
        _rename_messages_table(db_url, "messages", "messages_away")
        try:
            pub.publish_many([wire(envelope("telemetry", f"dev-{i}", 1, telemetry_body())) for i in range(1, 6)])
            wait_until(lambda: c.metric("store_errors_total") >= 2, 10, "the outage noticed and retried")
        finally:
            _rename_messages_table(db_url, "messages_away", "messages")
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 6, 20, "all six stored after it")
        assert c.metric("messages_rejected_total", reason="store_failed") == 0
    store = open_store(db_url)
    assert store.dead_letters() == [] and store.counts()["telemetry"] == 6
    store.close()
    pub.close()
