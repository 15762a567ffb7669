"""Fixtures shared by every test package: a real mosquitto on a free port, the emulated arm64 root."""

from __future__ import annotations

import shutil

import pytest

from brokerkit import Mosquitto, free_port, make_broker_workdir


@pytest.fixture
def mosquitto() -> Mosquitto:
    if not shutil.which("mosquitto"):
        pytest.fail("mosquitto is not installed; run scripts/test, which installs it")
    broker = Mosquitto(port=free_port(), workdir=make_broker_workdir())
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(broker.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def arm64():
    """The emulated arm64 root in the default toolchain directory; skipped, saying why, where it is not installed."""
    from edgekit.builder.arm64root import find_arm64

    found = find_arm64()
    if found is None:
        pytest.skip("the emulated arm64 root is not installed (`edgekit toolchain install arm64`, as root)")
    return found
