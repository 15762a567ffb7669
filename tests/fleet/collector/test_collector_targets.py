"""The envelope's `target` names a profile; it never becomes a path, and a broken profile is refused once."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet.collector.budgets import Budgets
from edgekit.fleet.collector.store import open_store
from edgekit.targets import DEFAULT_TARGETS_DIR, load_target
from helpers_collector import InProcessCollector, Publisher, db_url, envelope, telemetry_body, wait_until  # noqa: F401


@pytest.fixture
def dirs(tmp_path):
    """A profiles directory (rpi5 and a non-UTF-8 `broken.toml`) and, beside it, a profile it must not reach."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copy(DEFAULT_TARGETS_DIR / "rpi5.toml", profiles / "rpi5.toml")
    (profiles / "broken.toml").write_bytes(b'name = "broken"\n\xff\xfe\xfd = 1\n')
    outside = tmp_path / "outside"
    outside.mkdir()
    text = (DEFAULT_TARGETS_DIR / "rpi5.toml").read_text(encoding="utf-8").replace('name = "rpi5"', 'name = "bin"')
    (outside / "bin.toml").write_text(text, encoding="utf-8")
    return profiles, outside


def test_load_target_picks_from_the_listing_never_a_built_path(dirs):
    profiles, outside = dirs
    assert (profiles / "../outside/bin.toml").is_file()  # the file a built path would reach
    with pytest.raises(ConfigError, match="unknown target"):
        load_target("../outside/bin", profiles)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_target("broken", profiles)
    assert load_target("rpi5", profiles).name == "rpi5"


def test_budgets_refuse_bad_target_names_and_broken_profiles_once(dirs, caplog):
    profiles, _ = dirs
    b = Budgets(targets_dir=profiles)
    with caplog.at_level(logging.WARNING, logger="edgekit.fleet.budgets"):
        for _ in range(3):
            for name in ("../outside/bin", "/etc/passwd", "broken", "rpi5/../rpi5", "nope"):
                limits = b.limits(fleet="lab", device_id="d", target=name)
                assert limits.avg_power_w is None and limits.source("avg_power_w") == "default"
    refusals = [r.getMessage() for r in caplog.records]
    assert len([m for m in refusals if "'broken'" in m]) == 1, refusals  # logged once, not per message
    assert any("not UTF-8" in m for m in refusals)
    assert b.limits(fleet="lab", device_id="d", target="rpi5").avg_power_w is not None


def test_hostile_targets_through_the_collector(mosquitto, db_url, dirs):  # noqa: F811
    profiles, _ = dirs
    pub = Publisher(mosquitto.port)
    traversal = envelope("telemetry", "t-1", 1, telemetry_body(), target="../../../outside/bin")
    broken = envelope("telemetry", "t-2", 1, telemetry_body(), target="broken")
    with InProcessCollector(mosquitto.port, db_url, budgets=Budgets(targets_dir=profiles)) as c:
        pub.publish_many([("edgekit/v1/lab/t-1/telemetry", json.dumps(traversal).encode())])
        wait_until(lambda: c.metric("messages_rejected_total", reason="schema") == 1, 10, "the traversal rejected")
        pub.publish_many([("edgekit/v1/lab/t-2/telemetry", json.dumps(broken).encode())])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 1, 10,
                   "the message naming a broken profile stored (without target limits)")
        pub.publish_many([("edgekit/v1/lab/t-3/telemetry",
                           json.dumps(envelope("telemetry", "t-3", 1, telemetry_body())).encode())])
        wait_until(lambda: c.metric("messages_stored_total", kind="telemetry") == 2, 5, "a valid message")
        assert c.metric("store_errors_total") == 0
    store = open_store(db_url)
    [letter] = store.dead_letters()
    assert letter.topic == "edgekit/v1/lab/t-1/telemetry" and "target" in letter.detail
    store.close()
    pub.close()
