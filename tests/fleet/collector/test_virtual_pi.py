"""The virtual Pi: a bench in the emulated arm64 root, reported from inside that root over MQTT, through a real
mosquitto, to the collector on the host, into its SQLite store, with the emulated provenance intact.

The device side is edgekit's own reporter (``edgekit.fleet.device.deliver``, what ``edgekit bench --report``
runs) on the root's aarch64 Python 3.11: the root's /venv has no edgekit and no paho-mqtt, so the run directory
gets a copy of the edgekit tree and of the host's paho-mqtt (pure Python) on its PYTHONPATH; the cached root is
not changed. The unshare'd chroot shares the host's network, so 127.0.0.1 is the host's broker.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import paho

import edgekit
from edgekit.bench.emulated import run_emulated_bench
from edgekit.bench.provenance import EMULATED_SOURCE
from edgekit.bench.settings import BenchSettings
from edgekit.builder.arm64root import VENV_PYTHON
from edgekit.fleet.collector.store import open_store
from helpers_collector import InProcessCollector, wait_until

REPO = Path(__file__).resolve().parents[3]
DIGITS = REPO / "models" / "digits_cnn.onnx"

DEVICE_SCRIPT = '''
import json, platform, sys
work, url = sys.argv[1], sys.argv[2]
sys.path.insert(0, work + "/lib")
import edgekit, paho
from edgekit.fleet.device.deliver import report_result
with open(work + "/result.json") as f:
    doc = json.load(f)
out = report_result(url, doc, fleet="lab", device_id="virtual-pi", spool_path=work + "/spool.db", timeout_s=60)
print(json.dumps({"arch": platform.machine(), "python": platform.python_version(), "edgekit": edgekit.__file__,
                  "paho": paho.__file__, "confirmed": out.confirmed, "summary": out.summary(),
                  "message_id": out.message_id}))
'''


def _device_tree(lib: Path) -> None:
    """edgekit and paho-mqtt, as source, for the root's Python (no compiled files of the host's)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(Path(edgekit.__file__).parent, lib / "edgekit", ignore=skip)
    shutil.copytree(Path(paho.__path__[0]), lib / "paho", ignore=skip)


def test_virtual_pi_reports_an_emulated_bench_to_the_collector(arm64, mosquitto, tmp_path):
    doc = run_emulated_bench(DIGITS, BenchSettings(iterations=20, warmup_s=0.2, target="rpi5",
                                                   device_id="virtual-pi"))
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    with InProcessCollector(mosquitto.port, db) as c:
        with arm64.private_dir() as (host_dir, root_dir):
            _device_tree(host_dir / "lib")
            (host_dir / "result.json").write_text(json.dumps(doc))
            (host_dir / "device.py").write_text(DEVICE_SCRIPT)
            out = arm64.run([VENV_PYTHON, "-I", f"{root_dir}/device.py", root_dir,
                             f"mqtt://127.0.0.1:{mosquitto.port}"], cpu="cortex-a76", timeout_s=300)
        sent = json.loads(out.strip().splitlines()[-1])
        # the reporter ran as the device: aarch64 Python 3.11, edgekit and paho from the run directory
        assert sent["arch"] == "aarch64" and sent["python"].startswith("3.11"), sent
        assert sent["edgekit"].startswith(root_dir) and sent["paho"].startswith(root_dir), sent
        assert sent["confirmed"], sent["summary"]
        wait_until(lambda: c.metric("messages_stored_total", kind="result") == 1, what="the stored result")

    store = open_store(db)
    try:
        (row,) = store.results()
    finally:
        store.close()
    assert row.device_id == "virtual-pi" and row.fleet == "lab" and row.target == "rpi5"
    assert row.message_id == sent["message_id"].replace("-", "")
    stored = row.document
    assert stored["latency"]["source"] == EMULATED_SOURCE and stored["latency"]["count"] == 20
    assert stored["device"]["arch"] == "aarch64" and "qemu-user" in stored["device"]["cpu"]
    assert any(f["code"] == "emulated" and f["severity"] == "invalid" for f in stored["validity"]["flags"])
    assert stored["power"] is None and stored["energy"] is None
    # emulated time stays in the document, never in the store's latency figures; no power, no estimate
    assert row.latency_ms_p50 is None and row.latency_ms_p99 is None
    assert row.power_w_avg is None and row.energy_mj_per_inference is None and row.estimated is None
