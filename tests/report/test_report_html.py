"""The HTML report in a real headless browser: it renders, plots are there, the console stays clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgekit.commands.main import main
from headless import Browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
# each drill-down link of the top-N tables names a section that exists and holds power and temperature plots
DRILL_DOWN_OK = """(() => { const links = [...document.querySelectorAll('table.top a.drill')];
  return links.length > 0 && links.every(a => { const s = document.getElementById(a.getAttribute('href').slice(1));
    return s !== null && s.matches('section.device') && s.querySelectorAll('svg.chart[data-chart=line]').length == 2; });
})()"""


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
    # fleet panels: energy per day stacked by target, power per target against budget, violations over time;
    # then power and temperature per device (2 + 2), energy bars, one Pareto scatter
    assert kinds.count("stacked") == 1 and kinds.count("box") == 1
    assert kinds.count("line") == 5 and kinds.count("bar") == 1 and kinds.count("scatter") == 1
    assert page.evaluate("document.querySelectorAll('svg.chart polyline.series').length") >= 4
    assert page.evaluate("document.querySelectorAll('svg[data-chart=stacked] rect.bar').length") == 2  # 2 days, 1 target
    assert page.evaluate("document.querySelectorAll('svg[data-chart=stacked] polyline.trend').length") == 1
    assert page.evaluate("document.querySelectorAll('table.top-energy tbody tr').length") == 2
    assert page.evaluate("document.querySelectorAll('table.top-violations tbody tr').length") == 1  # pi-1 only
    assert page.evaluate("document.querySelectorAll('table.variants tbody tr').length") == 2
    # every top-N row links to its device's section, which holds that device's plots
    assert page.evaluate(DRILL_DOWN_OK) is True
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


def test_large_fleet_html_details_only_the_top_devices(large_fleet_db, tmp_path, browser):
    """40 devices, top 3: fleet panels for all, sections only for the top devices and --device."""
    url = large_fleet_db
    html = tmp_path / "fleet.html"
    assert main(["fleet", "report", "--db", url, "--html", str(html), "--top", "3", "--device", "dev-00"]) == 0
    page = browser.open(html.as_uri())
    sections = page.evaluate("[...document.querySelectorAll('section.device h3')].map(h => h.firstChild.textContent.trim())")
    # top 3 by energy (i % 7 == 6: dev-06, dev-13, dev-20), by temperature (dev-39, 38, 37); no violations; dev-00
    assert sections == ["dev-06", "dev-13", "dev-20", "dev-39", "dev-38", "dev-37", "dev-00"]
    assert page.evaluate("document.querySelectorAll('svg[data-chart=box] g.box').length") == 2  # two targets
    assert "40 devices on 2 target(s)" in page.evaluate("document.getElementById('totals').textContent")
    assert page.evaluate(DRILL_DOWN_OK) is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(ARTIFACTS / "fleet-report-large.png")
    assert page.errors == []


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
