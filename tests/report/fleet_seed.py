"""Helpers that seed a fleet database with known figures through the collector's own validator and store."""

from __future__ import annotations

import copy
import time
from datetime import datetime, timezone
from pathlib import Path

from edgekit.fleet.collector.budgets import BudgetChecker, Budgets
from edgekit.fleet.messages import build_envelope, encode, utc_timestamp
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator

REPO = Path(__file__).resolve().parents[2]
DAY1 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc).timestamp()
DAY2 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc).timestamp()


def result_doc(base: dict, *, precision: str, energy_mj: float, p50_ms: float, p99_ms: float) -> dict:
    doc = copy.deepcopy(base)
    doc["artifact"]["precision"] = precision
    doc["latency"]["p50_ms"] = p50_ms
    doc["latency"]["p99_ms"] = p99_ms
    doc["energy"]["total_mj_per_inference"] = energy_mj
    doc["energy"]["net_mj_per_inference"] = energy_mj / 2
    return doc


def telemetry(window_s: float, *, energy_j: float | None, power_w: float, temp_c: float, estimated=False) -> dict:
    return {"window_s": window_s, "power_w_avg": power_w, "power_w_peak": power_w * 1.2, "energy_j": energy_j,
            "temp_c_max": temp_c, "throttled": False, "battery_pct": None, "battery_drain_pct_h": None,
            "power_source": "rpi5-pmic", "scope": "board", "estimated": estimated}


class Seeder:
    def __init__(self, db_url: str, budgets: Budgets):
        self.store = open_store(db_url)
        self.validator = Validator()
        self.checker = BudgetChecker(budgets)
        self.seq: dict[str, int] = {}

    def send(self, kind: str, device: str, body: dict, at_s: float, target: str = "rpi5") -> None:
        seq = self.seq[device] = self.seq.get(device, 0) + 1
        env = build_envelope(kind, body, fleet="lab", device_id=device, seq=seq, target=target,
                             sent_at=utc_timestamp(datetime.fromtimestamp(at_s, timezone.utc)))
        topic = f"edgekit/v1/lab/{device}/{kind}"
        verdict = self.validator.validate(topic, encode(env))
        assert hasattr(verdict, "sent_at_s"), f"seed message rejected: {verdict}"

        def write(tx):
            out = tx.store_batch([verdict], [], time.time())
            self.checker.evaluate(tx, out.new)

        self.store.run(write)
