"""The collector's time per message, stage by stage, in one process without a broker.

Imports edgekit from ``PYTHONPATH`` (bench_collector.py runs it once on this checkout and once on the
``--before`` tree, side by side), builds N bench result messages from 100 devices and times, through the
collector's own public parts:

* ``decode_validate``: ``Validator().validate(topic, payload)`` for each message;
* ``store``: ``store.run(tx.store_batch + BudgetChecker.evaluate)`` in batches of 500 into a fresh SQLite
  database (what the collector's worker does per batch);
* ``ack``: the acks of each batch (one per device: ``build_ack``, ``encode``, ``ack_topic``), no publish.

Each stage is timed over all messages (best of ``--repeat``), and printed as JSON in microseconds per
message:

    PYTHONPATH=. python bench/collector_stages.py [--messages 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import edgekit  # first, from PYTHONPATH: the tree under test
from edgekit.fleet import messages as envelope
from edgekit.fleet.collector.budgets import BudgetChecker, Budgets
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collector import result_doc  # noqa: E402

BATCH = 500


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.messages
    items = []
    for i in range(n):
        dev = f"dev-{i % 100:05d}"
        doc = envelope.build_envelope("result", result_doc(i, dev), fleet="bench", device_id=dev,
                                      seq=i // 100 + 1, target="rpi5")
        items.append((f"edgekit/v1/bench/{dev}/result", envelope.encode(doc)))
    validator = Validator()
    best = {"decode_validate": float("inf"), "store": float("inf"), "ack": float("inf")}
    for _ in range(args.repeat):
        t = time.perf_counter()
        msgs = [validator.validate(topic, payload) for topic, payload in items]
        best["decode_validate"] = min(best["decode_validate"], time.perf_counter() - t)
        if not all(m.accepted for m in msgs):
            sys.exit(f"rejected: {next(m for m in msgs if not m.accepted)}")
        tmp = tempfile.mkdtemp(prefix="edgekit-bench-stages-")
        try:
            store = open_store(f"sqlite:///{tmp}/fleet.db")
            checker = BudgetChecker(Budgets())
            t = time.perf_counter()
            for k in range(0, n, BATCH):
                part = msgs[k:k + BATCH]
                store.run(lambda tx: checker.evaluate(tx, tx.store_batch(part, [], time.time()).new))
            best["store"] = min(best["store"], time.perf_counter() - t)
            store.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        t = time.perf_counter()
        for k in range(0, n, BATCH):
            acks: dict[tuple[str, str], list[str]] = {}
            for m in msgs[k:k + BATCH]:
                acks.setdefault((m.fleet, m.device_id), []).append(m.message_id)
            for (fleet, device), ids in acks.items():
                envelope.ack_topic(fleet, device)
                envelope.encode(envelope.build_ack(ids, [], store_id="0123456789abcdef"))
        best["ack"] = min(best["ack"], time.perf_counter() - t)
    print(json.dumps({"tree": str(Path(edgekit.__file__).parent.parent), "messages": n,
                      **{f"{k}_us": round(v / n * 1e6, 1) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
