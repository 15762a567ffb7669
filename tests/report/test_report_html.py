"""The HTML report in a real headless browser: it renders, plots are there, the console stays clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekit.commands.main import main
from headless import Browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed; scripts/test installs Debian's chromium")
    b = Browser()
    yield b
    b.close()


def test_html_report_renders_offline_with_plots_and_no_console_errors(seeded_db, tmp_path, browser, capsys):
    html = tmp_path / "report" / "fleet.html"
    rc = main(["fleet", "report", "--db", seeded_db, "--html", str(html), "--carbon", str(tmp_path / "carbon.toml"),
               "--budgets", str(tmp_path / "budgets.toml")])
    assert rc == 0
    text = html.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<script" not in text  # opens offline: nothing to fetch
    assert "hours since 2026-11-01 08:00 UTC" in text  # a 25-hour span is plotted in hours
    page = browser.open(html.as_uri())
    assert page.evaluate("document.title") == "edgekit fleet report"
    kinds = page.evaluate("[...document.querySelectorAll('svg.chart')].map(s => s.dataset.chart)")
    # power and temperature per device (2 + 2), energy bars, one Pareto scatter, violations over time
    assert kinds.count("line") == 5 and kinds.count("bar") == 1 and kinds.count("scatter") == 1
    assert page.evaluate("document.querySelectorAll('svg.chart polyline.series').length") >= 4
    assert page.evaluate("document.querySelectorAll('table.devices tbody tr').length") == 2
    assert page.evaluate("document.querySelectorAll('table.variants tbody tr').length") == 2
    # budget line drawn on pi-1's power plot
    assert page.evaluate("[...document.querySelectorAll('svg.chart')].filter(s => s.textContent.includes('budget 4.5')).length") == 1
    # rendered at a real size
    assert page.evaluate("document.querySelector('svg.chart').getBoundingClientRect().width") > 300
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(ARTIFACTS / "fleet-report.png")
    assert (ARTIFACTS / "fleet-report.png").stat().st_size > 10_000
    assert page.errors == []
    out = capsys.readouterr().out
    assert "Devices" in out and "pi-1" in out


def test_console_check_can_fail(tmp_path, browser):
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><title>x</title><script>console.error('broken plot'); undefinedFn();</script>")
    page = browser.open(bad.as_uri())
    texts = [e.get("text", "") if isinstance(e, dict) else "" for e in page.errors]
    assert any("broken plot" in t for t in texts)
    assert len(page.exceptions) == 1


def test_report_cli_bad_input(tmp_path, capsys):
    assert main(["fleet", "report", "--db", "sqlite:///" + str(tmp_path / "x.db"), "--since", "yesterday"]) != 0
    assert "not a duration" in capsys.readouterr().err
