import json
import sqlite3
import subprocess
import sys

import pytest

from edgekit.errors import ConfigError, EdgekitError
from edgekit.fleet.device.spool import Spool


def test_seq_and_messages_survive_reopen(tmp_path):
    path = tmp_path / "spool.db"
    with Spool(path) as sp:
        a = sp.enqueue("telemetry", {"n": 1}, fleet="f", device_id="d1")
        b = sp.enqueue("result", {"n": 2}, fleet="f", device_id="d1")
        other = sp.enqueue("result", {"n": 3}, fleet="f", device_id="d2")
    assert (a.seq, b.seq, other.seq) == (1, 2, 1)
    with Spool(path) as sp:
        c = sp.enqueue("telemetry", {"n": 4}, fleet="f", device_id="d1")
        assert c.seq == 3
        assert sp.last_seq("f", "d1") == 3
        pend = sp.pending()
        assert [m.message_id for m in pend] == [a.message_id, b.message_id, other.message_id, c.message_id]
        env = json.loads(pend[1].payload)
        assert env["seq"] == 2 and env["kind"] == "result" and env["body"] == {"n": 2}
        assert env["message_id"] == b.message_id and pend[1].topic == "edgekit/v1/f/d1/result"


def test_seq_survives_confirming_everything_and_a_killed_process(tmp_path):
    path = tmp_path / "spool.db"
    code = (
        "import os, sys\n"
        "from edgekit.fleet.device.spool import Spool\n"
        "sp = Spool(sys.argv[1])\n"
        "for i in range(5): sp.enqueue('telemetry', {'i': i}, fleet='f', device_id='d')\n"
        "os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)])
    assert proc.returncode == -9
    with Spool(path) as sp:
        ids = [m.message_id for m in sp.pending()]
        assert len(ids) == 5
        assert sp.confirm(ids) == 5
        assert sp.stats().pending == 0
        assert sp.enqueue("telemetry", {}, fleet="f", device_id="d").seq == 6


def test_confirm_is_idempotent_and_ignores_unknown_ids(tmp_path):
    with Spool(tmp_path / "s.db") as sp:
        m = sp.enqueue("result", {}, fleet="f", device_id="d")
        assert sp.confirm([m.message_id, "0" * 32]) == 1
        assert sp.confirm([m.message_id]) == 0
        st = sp.stats()
        assert (st.pending, st.pending_bytes, st.confirmed_total) == (0, 0, 1)


def test_row_bound_drops_oldest_telemetry_first_and_counts(tmp_path):
    with Spool(tmp_path / "s.db", max_rows=5) as sp:
        r1 = sp.enqueue("result", {"r": 1}, fleet="f", device_id="d")
        tel = [sp.enqueue("telemetry", {"t": i}, fleet="f", device_id="d") for i in range(4)]
        r2 = sp.enqueue("result", {"r": 2}, fleet="f", device_id="d")  # drops tel[0]
        r3 = sp.enqueue("result", {"r": 3}, fleet="f", device_id="d")  # drops tel[1]
        kept = [m.message_id for m in sp.pending()]
        assert kept == [r1.message_id, tel[2].message_id, tel[3].message_id, r2.message_id, r3.message_id]
        st = sp.stats()
        assert st.dropped_by_kind == {"telemetry": 2} and st.dropped_total == 2
        for i in range(3):
            sp.enqueue("result", {"r": 10 + i}, fleet="f", device_id="d")
        # telemetry gone first, then the oldest result
        assert [json.loads(m.payload)["body"] for m in sp.pending()] == [
            {"r": 2}, {"r": 3}, {"r": 10}, {"r": 11}, {"r": 12}]
        assert sp.stats().dropped_by_kind == {"telemetry": 4, "result": 1}
    with Spool(tmp_path / "s.db", max_rows=5) as sp:  # counters persist
        assert sp.dropped_total() == 5


def test_byte_bound(tmp_path):
    with Spool(tmp_path / "s.db", max_bytes=4096) as sp:
        for i in range(20):
            sp.enqueue("telemetry", {"pad": "x" * 400, "i": i}, fleet="f", device_id="d")
        st = sp.stats()
        assert st.pending_bytes <= 4096
        assert st.pending + st.dropped_total == 20 and st.dropped_total > 0
        with pytest.raises(Exception, match="larger than the spool limit"):
            sp.enqueue("result", {"pad": "x" * 5000}, fleet="f", device_id="d")
        assert sp.stats().pending == st.pending  # nothing changed by the refused message
        assert sp.last_seq("f", "d") == 20  # and its seq was not consumed


def test_wal_and_synchronous_full(tmp_path):
    Spool(tmp_path / "s.db").close()
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_spool_is_a_one_line_error(tmp_path):
    bad = tmp_path / "s.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="move the file aside"):
        Spool(bad)


def test_processes_opening_one_spool_at_once_share_its_seq_counter(tmp_path):
    path = tmp_path / "s.db"
    code = ("import sys\nfrom edgekit.fleet.device.spool import Spool\nsp = Spool(sys.argv[1])\n"
            "for i in range(50): sp.enqueue('telemetry', {}, fleet='f', device_id='d')\n")
    # four processes open the new spool at once (the agent and `bench --report` share one): none may fail
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    with Spool(path) as sp:
        seqs = sorted(m.seq for m in sp.pending(limit=1000))
    assert seqs == list(range(1, 201))


def test_unwritable_spool_is_a_one_line_error(tmp_path):
    path = tmp_path / "s.db"
    with Spool(path) as sp:
        sp.enqueue("telemetry", {}, fleet="f", device_id="d")
        sp._db.execute("PRAGMA query_only=1")  # what a read-only mount looks like to SQLite
        with pytest.raises(EdgekitError, match="free disk space"):
            sp.enqueue("telemetry", {}, fleet="f", device_id="d")
