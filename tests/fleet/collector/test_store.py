"""Storage semantics on real SQLite and the local PostgreSQL: idempotence, gaps, violations, reads, migrations."""

from __future__ import annotations

import time

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet.collector.store import DeadLetter, open_store
from edgekit.fleet.collector.store.migrations import LATEST_VERSION
from edgekit.fleet.collector.validate import Validator
from helpers_collector import db_url, envelope, iso, open_old_store, result_body, telemetry_body, wire  # noqa: F401

V = Validator()
T0 = 1_800_000_000.0


def msg(kind="telemetry", device="d1", seq=1, body=None, t=T0, **kw):
    body = body if body is not None else (telemetry_body() if kind == "telemetry" else result_body())
    m = V.validate(*wire(envelope(kind, device, seq, body, sent_at=iso(t), **kw)), received_at_s=t + 1)
    assert m.accepted, m
    return m


def batch(store, messages, rejects=()):
    return store.run(lambda tx: tx.store_batch(list(messages), list(rejects), time.time()))


def test_redelivery_never_double_counts(db_url):  # noqa: F811
    with open_store(db_url) as s:
        a, b = msg(seq=1), msg(seq=2)
        out = batch(s, [a, b, a])
        assert [m.seq for m in out.new] == [1, 2] and [m.seq for m in out.duplicates] == [1]
        out = batch(s, [b, a])
        assert out.new == [] and len(out.duplicates) == 2
        assert s.counts()["telemetry"] == 2
        (d,) = s.devices()
        assert d.messages == 2 and d.max_seq == 2 and d.target == "rpi5" and d.fleet == "lab"


def test_gaps_recorded_and_filled_by_late_messages(db_url):  # noqa: F811
    with open_store(db_url) as s:
        out = batch(s, [msg(seq=1), msg(seq=2), msg(seq=6)])
        assert [(g.first_seq, g.last_seq, g.missing) for g in out.gaps] == [(3, 5, 3)]
        out = batch(s, [msg(seq=4)])
        assert out.gaps_filled == 1 and out.gaps == []
        (g,) = s.gaps(open_only=True)
        assert g.missing == 2 and g.closed_at_s is None
        batch(s, [msg(seq=3), msg(seq=5), msg(seq=7)])
        assert s.gaps(open_only=True) == []
        (g,) = s.gaps()
        assert g.closed_at_s is not None
        # a device first heard at seq 10 misses 1..9 in this database
        out = batch(s, [msg(device="d2", seq=10)])
        assert [(g.device_id, g.first_seq, g.last_seq) for g in out.gaps] == [("d2", 1, 9)]


def test_result_rows_keep_figures_and_document(db_url):  # noqa: F811
    with open_store(db_url) as s:
        batch(s, [msg("result", seq=1, body=result_body(energy_mj=7.25, throttled=True, max_temp_c=81.5))])
        (r,) = s.results()
        assert (r.model, r.precision, r.energy_mj_per_inference, r.energy_mj_per_inference_net) == \
            ("digits", "int8", 7.25, 3.625)
        assert r.throttled is True and r.estimated is False and r.temp_c_max == 81.5
        assert r.latency_ms_p50 == 2.0 and r.latency_ms_p99 == 2.4 and r.power_w_avg == 4.0
        assert r.document["artifact"]["sha256"] == "0" * 64


def test_time_ranges_on_device_clock(db_url):  # noqa: F811
    with open_store(db_url) as s:
        batch(s, [msg(seq=i + 1, t=T0 + 10 * i) for i in range(10)])
        rows = s.telemetry(since_s=T0 + 20, until_s=T0 + 50)
        assert [r.seq for r in rows] == [3, 4, 5]
        assert [r.seq for r in s.telemetry(device_id="nope")] == []
        assert rows[0].throttled is False and rows[0].power_source == "rpi5-pmic"


def test_violations_open_once_and_clear(db_url):  # noqa: F811
    with open_store(db_url) as s:
        m = msg(seq=1)
        kw = dict(device_id="d1", fleet="lab", kind="max_temp", subject="", unit="degC", limit_value=70.0,
                  source="test", value=75.0, at_s=T0, message_id=m.message_id)
        v = s.run(lambda tx: tx.open_violation(**kw))
        with pytest.raises(Exception):   # the partial unique index: one open violation per device/kind/subject
            s.run(lambda tx: tx.open_violation(**kw))
        s.run(lambda tx: tx.update_worst(v.id, 80.0))
        s.run(lambda tx: tx.update_worst(v.id, 77.0))
        assert s.violations(open_only=True)[0].worst_value == 80.0
        assert s.run(lambda tx: tx.unpublished_violations())[0].id == v.id
        s.run(lambda tx: tx.mark_published([v.id], []))
        s.run(lambda tx: tx.clear_violation(v.id, value=60.0, at_s=T0 + 100, message_id="x"))
        assert s.violations(open_only=True) == []
        assert [x.id for x in s.run(lambda tx: tx.unpublished_violations())] == [v.id]   # the clear is unpublished
        assert [x.id for x in s.violations(since_s=T0 + 50)] == [v.id]    # cleared inside the range
        assert s.violations(since_s=T0 + 200) == []
        s.run(lambda tx: tx.open_violation(**{**kw, "at_s": T0 + 300}))   # a new one may open after the clear
        assert len(s.violations()) == 2


def test_dead_letters_keep_reason_and_a_truncated_copy(db_url):  # noqa: F811
    with open_store(db_url) as s:
        batch(s, [], [DeadLetter("edgekit/v1/x/y/telemetry", "not_utf8", "invalid UTF-8 at byte 0",
                                 b"\x00\xff" * 2000, T0)])
        (d,) = s.dead_letters()
        assert d.reason == "not_utf8" and d.payload_bytes == 4000 and d.payload_head == (b"\x00\xff" * 512)


def test_migrations_are_recorded_and_idempotent(db_url):  # noqa: F811
    with open_store(db_url) as s:
        assert s.schema_version() == LATEST_VERSION
        assert s.migrate() == LATEST_VERSION
        s.run(lambda tx: tx.execute("INSERT INTO schema_version (version, description, applied_at_s) "
                                    "VALUES (?, ?, ?)", (LATEST_VERSION + 1, "from the future", 0.0)))
    with pytest.raises(ConfigError, match="newer than this edgekit"):
        open_store(db_url)


def test_a_version_1_database_is_upgraded_in_place(db_url):  # noqa: F811
    """A fleet database made by the first release keeps its rows and gains the measured_by/estimated columns."""
    with open_old_store(db_url, 1) as s:
        s.run(lambda tx: tx.execute(
            "INSERT INTO violations (device_id, fleet, kind, subject, unit, limit_value, source, value, "
            "worst_value, raised_at_s, raised_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("d1", "lab", "avg_power", "", "W", 5.0, "target rpi5", 6.0, 6.0, T0, "m1")))
    with open_store(db_url) as s:
        assert s.schema_version() == LATEST_VERSION
        (v,) = s.violations()
        assert v.value == 6.0 and v.measured_by is None and v.estimated is None


def test_bad_urls_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown database URL"):
        open_store("mysql://x/y")
    with pytest.raises(ConfigError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/f.db")
    with pytest.raises(ConfigError, match="synchronous"):
        open_store(f"sqlite:///{tmp_path}/f.db?synchronous=sometimes")
    with pytest.raises(ConfigError, match="cannot connect to PostgreSQL"):
        open_store("postgresql://postgres@127.0.0.1:1/none")
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="cannot open the SQLite database"):
        open_store(f"sqlite:///{tmp_path}/junk.db")
