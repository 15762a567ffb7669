"""Retention through a real mosquitto into SQLite and PostgreSQL: dead letters capped by rows and age
(pruned in short chunks between batches, drops counted), rejection log lines rate-limited, budget caches
bounded against a device that sends endless distinct names."""

from __future__ import annotations

import logging
import time

from edgekit.fleet.collector.budgets import Budgets, load_budgets_file
from edgekit.fleet.collector.retention import DeadLetterRetention, LruCache
from edgekit.fleet.collector.store import DeadLetter, open_store
from helpers_collector import (CollectorProcess, InProcessCollector, Publisher, db_url, envelope, iso,  # noqa: F401
                               result_body, telemetry_body, wait_until, wire)

T0 = 1_790_000_000.0
JUNK_TOPIC = "edgekit/v1/lab/junk-{n:03d}/telemetry"


def junk(n: int) -> tuple[str, bytes]:
    return JUNK_TOPIC.format(n=n), f"not json {n:03d}".encode()


def test_dead_letters_are_capped_by_rows_in_chunks_and_ingest_goes_on(mosquitto, db_url):  # noqa: F811
    policy = DeadLetterRetention(max_rows=50, max_age_s=None, interval_s=0.2, chunk_rows=20)
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db_url, dead_letters=policy) as c:
        pub.publish_many([junk(n) for n in range(300)])
        valid = envelope("telemetry", "pi-01", 1, telemetry_body(), sent_at=iso(T0))
        pub.publish_many([wire(valid)])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, what="the valid message")
        wait_until(lambda: c.metric("dead_letters_dropped_total", why="rows") == 250, timeout_s=30,
                   what="250 dead letters dropped")
        assert c.metric("messages_rejected_total", reason="not_json") == 300
        assert c.metric("dead_letters_dropped_total", why="age") == 0
    with open_store(db_url, migrate=False) as store:
        kept = store.dead_letters(limit=1000)
        assert len(kept) == 50 and store.counts()["dead_letters"] == 50
        # the newest are the ones kept
        assert sorted(d.payload_head for d in kept) == [f"not json {n:03d}".encode() for n in range(250, 300)]
        assert [t.message_id for t in store.telemetry()] == [valid["message_id"]]
    pub.close()


def test_dead_letters_older_than_the_age_cap_are_dropped(mosquitto, db_url):  # noqa: F811
    with open_store(db_url) as store:  # left by an earlier run, an hour ago
        old = [DeadLetter(f"edgekit/v1/lab/old-{n}/telemetry", "not_json", "", b"x", time.time() - 3600)
               for n in range(30)]
        store.run(lambda tx: tx.store_batch([], old, time.time()))
    policy = DeadLetterRetention(max_rows=None, max_age_s=600, interval_s=0.2, chunk_rows=10)
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db_url, dead_letters=policy) as c:
        pub.publish_many([junk(n) for n in range(5)])
        wait_until(lambda: c.metric("dead_letters_dropped_total", why="age") == 30, what="30 old ones dropped")
        wait_until(lambda: c.metric("messages_rejected_total", reason="not_json") == 5, what="the fresh junk")
    with open_store(db_url, migrate=False) as store:
        assert sorted(d.topic for d in store.dead_letters()) == [junk(n)[0] for n in range(5)]
    pub.close()


def test_rejection_log_is_rate_limited_with_a_summary(mosquitto, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="edgekit.fleet.collector")
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, f"sqlite:///{tmp_path / 'fleet.db'}", reject_log_max=3,
                            reject_log_window_s=1.0) as c:
        pub.publish_many([junk(n) for n in range(20)])
        wait_until(lambda: c.metric("messages_rejected_total", reason="not_json") == 20, what="20 rejected")
        wait_until(lambda: any("more rejected" in r.getMessage() for r in caplog.records), what="the summary")
        assert c.metric("rejections_not_logged_total") == 17
        # the next window logs again
        pub.publish_many([junk(99)])
        wait_until(lambda: any("junk-099" in r.getMessage() for r in caplog.records), what="a fresh window")
    lines = [r.getMessage() for r in caplog.records]
    rejected = [line for line in lines if line.startswith("rejected a message on")]
    assert len(rejected) == 4, lines
    (summary,) = [line for line in lines if "more rejected" in line]
    assert summary.startswith("... and 17 more rejected in the last ") and "(not_json: 17)" in summary
    pub.close()


def test_collect_cli_caps_dead_letters_and_log_lines(mosquitto, tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    proc = CollectorProcess(mosquitto.url, db, tmp_path, client_id="retention-cli",
                            extra=["--dead-letter-max-rows", "5", "--dead-letter-max-age", "1d",
                                   "--reject-log-max", "2"])
    proc.start()
    pub = Publisher(mosquitto.port)
    try:
        pub.publish_many([junk(n) for n in range(40)])
        with open_store(db, migrate=False) as store:  # the first prune runs at most 10 s after the junk
            wait_until(lambda: store.counts()["dead_letters"] == 5, timeout_s=40, what="5 dead letters kept")
    finally:
        pub.close()
        assert proc.stop() == 0
    log = proc.log()
    assert log.count("rejected a message on") == 2, log


def test_budget_caches_stay_bounded_under_endless_distinct_names(mosquitto, tmp_path):
    budgets_file = tmp_path / "budgets.toml"
    budgets_file.write_text('[model.digits]\nenergy_per_inference_mj = 10.0\n')
    budgets = Budgets(load_budgets_file(budgets_file), file_name="budgets.toml", max_cached=16, max_targets=8)
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    pub = Publisher(mosquitto.port)
    with InProcessCollector(mosquitto.port, db, budgets=budgets) as c:
        docs = [envelope("result", "pi-01", n + 1, result_body(model=f"m{n}", target=f"t{n}"), target=f"t{n}",
                         sent_at=iso(T0 + n)) for n in range(200)]
        pub.publish_many([wire(d) for d in docs])
        wait_until(lambda: c.metric("messages_stored_total", kind="result") == 200, what="200 results")
        assert len(budgets._cache) <= 16 and len(budgets._targets) <= 8
        # evicted entries are looked up again, not lost: rpi5's profile and digits' limit still apply
        over = envelope("result", "pi-01", 201, result_body(energy_mj=12.0, max_temp_c=99.0), sent_at=iso(T0 + 300))
        pub.publish_many([wire(over)])
        wait_until(lambda: c.metric("budget_violations_total", kind="max_temp") == 1
                   and c.metric("budget_violations_total", kind="energy_per_inference") == 1, what="two violations")
    pub.close()


def test_lru_cache_forgets_the_least_recently_used():
    cache = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # refreshes a
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    assert cache.get("b", "gone") == "gone"


def test_collect_cli_prunes_raw_telemetry_and_keeps_rollups(mosquitto, tmp_path):
    from edgekit.fleet.collector.validate import Validator

    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    now = time.time()
    v = Validator()
    old = [v.validate(*wire(envelope("telemetry", "pi-01", n + 1, telemetry_body(), sent_at=iso(now - 3 * 86400 + n))))
           for n in range(30)]
    with open_store(db) as store:  # stored by an earlier run of the collector
        store.run(lambda tx: tx.store_batch(old, [], now))
    proc = CollectorProcess(mosquitto.url, db, tmp_path, client_id="raw-retention-cli",
                            extra=["--raw-retention", "1d"])
    proc.start()
    pub = Publisher(mosquitto.port)
    try:
        pub.publish_many([wire(envelope("telemetry", "pi-01", 31, telemetry_body(), sent_at=iso(now)))])
        with open_store(db, migrate=False) as store:
            wait_until(lambda: [t.seq for t in store.telemetry()] == [31], timeout_s=40,
                       what="the old rows pruned, the new one stored")
            samples = store.query("SELECT SUM(samples), SUM(energy_j) FROM telemetry_hour")[0]
    finally:
        pub.close()
        assert proc.stop() == 0
    assert samples == (31, 31 * 30.0)  # every window still counted, 30 J each


def test_collect_cli_refuses_a_bad_raw_retention(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "edgekit", "collect", "--broker", "mqtt://127.0.0.1:1", "--db",
                           f"sqlite:///{tmp_path / 'f.db'}", "--raw-retention", "forever"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--raw-retention 'forever' is not a duration" in proc.stderr
