"""Budget limits: target profile defaults, file overrides, validation errors; the checker in a real store."""

from __future__ import annotations

import time

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet.collector.budgets import AlertEvent, BudgetChecker, Budgets, alert_payload, load_budgets_file
from edgekit.fleet.collector.store import open_store
from edgekit.fleet.collector.validate import Validator
from edgekit.targets import load_target
from helpers_collector import db_url, envelope, iso, result_body, telemetry_body, wire  # noqa: F401

FILE = """
[defaults]
avg_power_window_s = 60
[fleet.lab]
peak_power_w = 9.0
battery_drain_pct_h = 20
[model.digits]
energy_per_inference_mj = 5.0
max_temp_c = 75
[device."pi-07"]
max_temp_c = 70
allow_throttling = true
"""


def write(tmp_path, text):
    p = tmp_path / "budgets.toml"
    p.write_text(text)
    return p


def test_precedence_target_then_defaults_fleet_model_device(tmp_path):
    b = Budgets(load_budgets_file(write(tmp_path, FILE)), file_name="budgets.toml")
    rpi5 = load_target("rpi5")
    lim = b.limits(fleet="lab", device_id="pi-01", target="rpi5")
    assert lim.avg_power_w == rpi5.default_budget_w and lim.source("avg_power_w").startswith("target rpi5")
    assert lim.max_temp_c == rpi5.thermal_limit_c
    assert lim.avg_power_window_s == 60 and lim.peak_power_w == 9.0 and lim.allow_throttling is False
    assert lim.energy_per_inference_mj is None            # model budgets apply to results of that model
    lim = b.limits(fleet="lab", device_id="pi-01", target="rpi5", model="digits")
    assert (lim.energy_per_inference_mj, lim.max_temp_c) == (5.0, 75)
    assert lim.source("max_temp_c") == 'budgets.toml [model."digits"]'
    lim = b.limits(fleet="lab", device_id="pi-07", target="rpi5", model="digits")
    assert lim.max_temp_c == 70 and lim.allow_throttling is True
    lim = b.limits(fleet="other", device_id="x", target="no-such-target")
    assert lim.avg_power_w is None and lim.peak_power_w is None and lim.max_temp_c is None


@pytest.mark.parametrize("text, where", [
    ("[fleet.lab]\npeak_power_w = -1\n", '[fleet."lab"] peak_power_w'),
    ("[device.x]\nmax_temp = 70\n", '[device."x"] max_temp: unknown key'),
    ("[devices.x]\nmax_temp_c = 70\n", "devices: unknown key"),
    ("[defaults]\nallow_throttling = 'maybe'\n", "[defaults] allow_throttling"),
    ("[defaults\n", "not valid TOML"),
])
def test_bad_budget_files_name_file_and_key(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_budgets_file(path)
    assert str(path) in str(exc.value) and where in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="budgets file not found"):
        load_budgets_file(tmp_path / "nope.toml")


def _run(store, checker, docs):
    v = Validator()
    msgs = [v.validate(*wire(d)) for d in docs]
    return store.run(lambda tx: checker.evaluate(tx, tx.store_batch(msgs, [], time.time()).new))


def test_each_kind_raises_once_and_clears(db_url, tmp_path):  # noqa: F811
    b = Budgets(load_budgets_file(write(tmp_path, FILE)), file_name="budgets.toml")
    checker = BudgetChecker(b)
    t0 = 1_790_000_000.0  # in the past: a sent_at more than a day ahead of the collector is refused
    with open_store(db_url) as s:
        budget = load_target("rpi5").default_budget_w
        hot = telemetry_body(power_w_avg=budget * 1.2, power_w_peak=budget * 1.3, temp_c_max=99.0, throttled=True,
                             battery_drain_pct_h=25.0, battery_pct=50.0)
        ev = _run(s, checker, [envelope("telemetry", "pi-01", 1, hot, sent_at=iso(t0))])
        assert sorted(e.violation.kind for e in ev) == ["avg_power", "battery_drain", "max_temp", "peak_power",
                                                        "throttling"]
        assert all(e.state == "raised" for e in ev)
        assert _run(s, checker, [envelope("telemetry", "pi-01", 2, hot, sent_at=iso(t0 + 10))]) == []  # persists
        ok = telemetry_body(power_w_avg=1.0, power_w_peak=2.0, temp_c_max=40.0, throttled=False,
                            battery_drain_pct_h=5.0)
        ev = _run(s, checker, [envelope("telemetry", "pi-01", 3, ok, sent_at=iso(t0 + 20))])
        # 60 s window average: (1.2 b * 10 + 1.2 b * 10 + 1 W * 10) / 30 = 0.8 b + 0.33 W, below the budget b
        assert {e.violation.kind for e in ev} == {"avg_power", "battery_drain", "max_temp", "peak_power",
                                                  "throttling"}
        assert all(e.state == "cleared" for e in ev)
        assert s.violations(open_only=True) == []
        avg = [e.violation for e in ev if e.violation.kind == "avg_power"][0]
        assert avg.value == pytest.approx(budget * 1.2) and avg.cleared_value == pytest.approx(0.8 * budget + 1 / 3)
        cleared = [e for e in ev if e.violation.kind == "max_temp"][0]
        payload = alert_payload(cleared)
        assert payload["state"] == "cleared" and payload["value"] == 40.0
        assert payload["limit"] == load_target("rpi5").thermal_limit_c
        # the alert says how the figure was measured (helpers' telemetry: the Pi 5 PMIC, board scope)
        raised_payload = alert_payload(AlertEvent("raised", cleared.violation))
        assert raised_payload["measured_by"] == "rpi5-pmic, board scope" and raised_payload["estimated"] is False
        thr = alert_payload([e for e in ev if e.violation.kind == "throttling"][0])
        assert thr["value"] is False and thr["limit"] is False and thr["unit"] == "bool"
        # results: energy per inference for the model, one violation per (device, model)
        ev = _run(s, checker, [envelope("result", "pi-01", 4, result_body(energy_mj=6.0), sent_at=iso(t0 + 30))])
        assert [(e.state, e.violation.kind, e.violation.subject) for e in ev] == \
            [("raised", "energy_per_inference", "digits")]
        ev = _run(s, checker, [envelope("result", "pi-01", 5, result_body(energy_mj=6.0, model="other"),
                                        sent_at=iso(t0 + 31))])
        assert ev == []   # no budget for model "other"
        # a message without a figure leaves that check alone
        ev = _run(s, checker, [envelope("telemetry", "pi-01", 6, telemetry_body(temp_c_max=None, power_w_avg=None,
                                                                                 power_w_peak=None, throttled=None),
                                        sent_at=iso(t0 + 40))])
        assert ev == []
