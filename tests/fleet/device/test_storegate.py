"""Which acks count: the device's store only, learned once and kept in a real spool file."""

from __future__ import annotations

import json

import pytest

from edgekit.errors import ConfigError
from edgekit.fleet import messages
from edgekit.fleet.device.spool import Spool
from edgekit.fleet.device.storegate import StoreGate


def test_ack_round_trip_carries_the_store_id():
    doc = messages.build_ack(["a" * 32], store_id="s1")
    assert messages.parse_ack_doc(json.dumps(doc).encode()) == (["a" * 32], [], "s1")
    assert messages.parse_ack_doc(json.dumps({**doc, "store_id": "bad id!"}).encode())[2] is None
    assert "store_id" not in messages.build_ack(["a" * 32])


def test_learned_once_kept_and_other_stores_ignored(tmp_path):
    with Spool(tmp_path / "s.db") as spool:
        gate = StoreGate(spool, "lab", "pi-01")
        assert gate.accept(None)  # an old collector, device not pinned: honoured as before
        assert gate.accept("A") and gate.store_id == "A"
        assert not gate.accept("B") and not gate.accept("B") and not gate.accept(None)
        assert gate.ignored == 3 and gate.accept("A")
    with Spool(tmp_path / "s.db") as spool:  # a restart keeps it; another device of the spool learns its own
        assert StoreGate(spool, "lab", "pi-01").store_id == "A"
        assert StoreGate(spool, "lab", "pi-02").store_id is None
        pinned = StoreGate(spool, "lab", "pi-01", "B")  # the option wins over the learned store
        assert pinned.accept("B") and not pinned.accept("A") and not pinned.accept(None)
        with pytest.raises(ConfigError, match="bad store id"):
            StoreGate(spool, "lab", "pi-01", "x y")
