"""Stored strings reach the terminal escaped (control characters, rich markup); reserved device ids."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet.messages import build_envelope, check_segment, parse_topic
from edgekit.fleet.records import message_from_document
from edgekit.fleet.collector.store import open_store
from edgekit.termsafe import markup, plain
from helpers_collector import REPO, db_url, envelope, result_body, telemetry_body  # noqa: F401

EVIL = "\x1b[2J\x1b]0;pwned\x07[red]EVIL[/red]\u202e"


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120, env=env)


def test_plain_and_markup_escape_what_a_terminal_would_act_on():
    assert plain("pi-01") == "pi-01"
    assert plain(EVIL) == "\\x1b[2J\\x1b]0;pwned\\x07[red]EVIL[/red]\\u202e"
    assert markup("[red]x[/red]") == "\\[red]x\\[/red]"
    assert all(c.isprintable() for c in markup(EVIL))


@pytest.mark.parametrize("device_id", ["alerts", "ack"])
def test_reserved_device_ids_are_refused_on_the_device_and_at_the_collector(device_id):
    with pytest.raises(ConfigError, match="reserved"):
        check_segment(device_id, "device id")
    with pytest.raises(ConfigError, match="reserved"):
        build_envelope("telemetry", telemetry_body(), fleet="lab", device_id=device_id, seq=1)
    assert parse_topic(f"edgekit/v1/lab/{device_id}/telemetry") is None
    assert check_segment(device_id, "fleet") == device_id  # only device ids are reserved


def test_status_and_report_print_stored_strings_escaped(db_url):  # noqa: F811
    """Rows written before the target pattern existed, or whose free-text fields carry escapes."""
    tele = envelope("telemetry", "pi-01", 1, telemetry_body(power_source=EVIL, scope=EVIL), target="rpi5")
    tele["target"] = EVIL
    res = envelope("result", "pi-02", 1, result_body(), target="rpi5")
    res["body"]["artifact"]["manifest"] = f"out/{EVIL}-rpi5/manifest.json"
    res["body"]["power"]["source"] = EVIL
    store = open_store(db_url)
    msgs = [message_from_document(f"edgekit/v1/lab/{d['device_id']}/{d['kind']}", d, payload_bytes=900,
                                  received_at_s=None) for d in (tele, res)]
    import time
    store.run(lambda tx: tx.store_batch(msgs, [], time.time()))
    store.close()
    for args in (("fleet", "status", "--db", db_url), ("fleet", "report", "--db", db_url)):
        out = _cli(*args)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "\u202e" not in out.stdout, out.stdout
        assert "\\x1b[2J" in out.stdout  # shown, visibly escaped
        assert "[red]EVIL[/red]" in out.stdout  # markup printed as text, not applied
