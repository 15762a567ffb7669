"""`edgekit fleet report` in a terminal: a large fleet is summarised (counts and top-N), --all lists it."""

from __future__ import annotations

import dataclasses
import json

from edgekit.commands.main import main
from edgekit.fleet.collector.store import open_store
from edgekit.report.data import build_report
from helpers_collector import open_old_store  # on the path by conftest.py


def _devices_listed(out: str) -> set[str]:
    return {f"dev-{i:02d}" for i in range(40) if f"dev-{i:02d}" in out}


def test_large_fleet_terminal_report_is_counts_and_top_n(large_fleet_db, capsys):
    assert main(["fleet", "report", "--db", large_fleet_db, "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "40 devices (20 jetson-orin-nano, 20 rpi5), 0 with open budget violations" in out
    assert "Top 3 devices by energy" in out and "Top 3 devices by temperature" in out
    assert _devices_listed(out) == {"dev-06", "dev-13", "dev-20", "dev-39", "dev-38", "dev-37"}
    assert "34 more devices: --all lists every one" in out
    assert main(["fleet", "report", "--db", large_fleet_db, "--all"]) == 0
    assert len(_devices_listed(capsys.readouterr().out)) == 40


def test_json_lists_every_device_and_the_top_lists(large_fleet_db, capsys):
    assert main(["fleet", "report", "--db", large_fleet_db, "--json", "--top", "2", "--device", "dev-00"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["devices"]) == 40
    with open_store(large_fleet_db, migrate=False) as store:
        report = build_report(store, top_n=2, devices=("dev-00",))
    # field by field, the same as the dataclasses (JSON's lists for tuples)
    assert doc["devices"] == json.loads(json.dumps([dataclasses.asdict(d) for d in report.devices]))
    assert doc["days"] == json.loads(json.dumps([dataclasses.asdict(d) for d in report.days]))
    assert doc["top"]["energy"] == [["lab", "dev-06"], ["lab", "dev-13"]]
    assert sorted(doc["power_series"]) == ["dev-00", "dev-06", "dev-13", "dev-38", "dev-39"]
    assert doc["totals"]["violations"] == 0
    # 40 devices x 2 windows of 600 s at (1 + i % 7) W
    assert doc["totals"]["energy_kwh"] == sum(2 * 600.0 * (1 + i % 7) for i in range(40)) / 3.6e6


def test_an_unknown_device_is_an_error(large_fleet_db, capsys):
    assert main(["fleet", "report", "--db", large_fleet_db, "--device", "nope"]) != 0
    assert "--device 'nope': no such device" in capsys.readouterr().err


def test_a_database_before_rollups_is_refused_with_the_way_out(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    open_old_store(url, 4).close()
    assert main(["fleet", "report", "--db", url]) != 0
    assert "schema version 4; the report reads the telemetry rollups of version 5" in capsys.readouterr().err
