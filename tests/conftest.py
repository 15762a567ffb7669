"""Fixtures shared by every test package: a real mosquitto on a free port."""

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
