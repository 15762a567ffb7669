"""`edgekit bench --report`: a real run of the bundled model, through a real broker, stored by the collector."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgekit.fleet.collector.store import open_store
from helpers_collector import InProcessCollector, wait_until

REPO = Path(__file__).resolve().parents[3]


def _bench(url: str, spool: Path, device: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgekit", "bench", str(REPO / "models" / "digits_cnn.onnx"), "--iterations", "50",
         "--warmup", "0", "--idle", "0", "--power", "estimate", "--target", "rpi5", "--report", url,
         "--fleet", "lab", "--device-id", device, "--spool", str(spool), "--report-timeout", str(timeout_s), "--json"],
        capture_output=True, text=True, timeout=180)


def test_bench_report_is_stored_once_and_confirmed(mosquitto, tmp_path):
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    with InProcessCollector(mosquitto.port, db), open_store(db) as reader:  # the collector's store is its own
        proc = _bench(mosquitto.url, tmp_path / "spool.db", "bench-dev")
        assert proc.returncode == 0, proc.stderr[-2000:]
        wait_until(lambda: len(reader.results()) == 1, what="the result stored")
        row = reader.results()[0]
    assert row.device_id == "bench-dev" and row.fleet == "lab" and row.target == "rpi5"
    assert row.estimated is True and row.document["power"]["scope"] == "estimate"
    assert row.model == "digits_cnn"


def test_bench_report_without_collector_stays_spooled_and_goes_out_next_time(mosquitto, tmp_path):
    spool = tmp_path / "spool.db"
    # no collector yet: the broker takes the message, nobody confirms it -> exit 3, kept in the spool
    first = _bench(mosquitto.url, spool, "late-dev", timeout_s=3)
    assert first.returncode == 3, first.stderr[-2000:]
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    with InProcessCollector(mosquitto.port, db), open_store(db) as reader:
        second = _bench(mosquitto.url, spool, "late-dev")
        assert second.returncode == 0, second.stderr[-2000:]
        wait_until(lambda: len(reader.results()) == 2, what="both results stored")
        assert len({r.message_id for r in reader.results()}) == 2
