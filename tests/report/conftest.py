"""Fixtures: a real bench result, and a fleet database seeded with known figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgekit.bench.runner import run_bench
from edgekit.bench.settings import BenchSettings
from edgekit.fleet.collector.budgets import Budgets
from fleet_seed import DAY1, DAY2, REPO, Seeder, result_doc, telemetry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet" / "collector"))  # PgSchema
from helpers_collector import PgSchema  # noqa: E402


@pytest.fixture(scope="session")
def real_result_doc() -> dict:
    """One real bench result of the bundled model (estimate source), whose figures the tests then set."""
    settings = BenchSettings(iterations=30, warmup_s=0.0, idle_s=0.0, power="estimate", target="rpi5")
    return run_bench(REPO / "models" / "digits_cnn.onnx", settings, log=lambda m: None)


@pytest.fixture
def seeded_db(tmp_path, real_result_doc) -> str:
    """pi-1 (FR) and pi-2 (DE), two UTC days; figures chosen so the report's sums are exact."""
    return seed(f"sqlite:///{tmp_path / 'fleet.db'}", tmp_path, real_result_doc)


@pytest.fixture(params=["sqlite", "postgres"])
def seeded_any_db(request, tmp_path, real_result_doc):
    """The seeded fleet on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        yield seed(f"sqlite:///{tmp_path / 'fleet.db'}", tmp_path, real_result_doc)
        return
    schema = PgSchema()
    try:
        yield seed(schema.url, tmp_path, real_result_doc)
    finally:
        schema.drop()


@pytest.fixture
def large_fleet_db(tmp_path) -> str:
    """40 devices on two targets, two 10-minute windows each: dev-i at 1 + i % 7 W and 40 + i °C."""
    url = f"sqlite:///{tmp_path / 'large.db'}"
    seeder = Seeder(url, Budgets())
    for i in range(40):
        for k in range(2):
            seeder.send("telemetry", f"dev-{i:02d}", telemetry(600.0, energy_j=600.0 * (1 + i % 7), power_w=1.0 + i % 7,
                                                              temp_c=40 + i), DAY1 + 600 * k,
                        target="rpi5" if i % 2 else "jetson-orin-nano")
    seeder.store.close()
    return url


def seed(url: str, tmp_path, real_result_doc) -> str:
    budgets_file = tmp_path / "budgets.toml"
    budgets_file.write_text('[device."pi-1"]\navg_power_w = 4.5\n')
    s = Seeder(url, Budgets.from_path(budgets_file))
    h = 3600.0
    # pi-1: 5 W on day 1, 6 W on day 2 (two one-hour windows a day); int8 results 10 then 8 mJ/inference
    for i in range(2):
        s.send("telemetry", "pi-1", telemetry(h, energy_j=5 * h, power_w=5.0, temp_c=50 + i), DAY1 + i * h)
        s.send("telemetry", "pi-1", telemetry(h, energy_j=6 * h, power_w=6.0, temp_c=60 + i), DAY2 + i * h)
    s.send("result", "pi-1", result_doc(real_result_doc, precision="int8", energy_mj=10, p50_ms=2, p99_ms=3), DAY1 + 100)
    s.send("result", "pi-1", result_doc(real_result_doc, precision="int8", energy_mj=8, p50_ms=1.5, p99_ms=2.5), DAY2 + 100)
    # pi-2: 4 W, energy_j missing on day 1 (power x window is used), fp32 results 20 mJ/inference
    s.send("telemetry", "pi-2", telemetry(h, energy_j=None, power_w=4.0, temp_c=45), DAY1)
    s.send("telemetry", "pi-2", telemetry(h, energy_j=4 * h, power_w=4.0, temp_c=46), DAY2)
    s.send("result", "pi-2", result_doc(real_result_doc, precision="fp32", energy_mj=20, p50_ms=4, p99_ms=6), DAY1 + 200)
    s.store.close()
    (tmp_path / "carbon.toml").write_text('[fleet]\nregion = "DE"\n\n[device."pi-1"]\nregion = "FR"\n')
    return url
