"""Which collector acks may release a device's messages: only those of the store it reports to.

Every ack of ``edgekit collect`` names its database (``store_id``). A second collector on another
database (staging, a test rig) may see the device's messages too; if its ack released them, the
store that matters would never get them. So a device is pinned to one store id: given
(``edgekit agent --store-id ID``, ``bench --report ... --store-id ID``) or learned from the first ack
with a store id it sees, kept in the spool's ``state`` table (``store_id/<fleet>/<device>``) so that
a restart and ``bench --report`` on the same spool keep it. An ack from another store, or one
without a store id once the device is pinned, is ignored: logged once per store, counted, and the
messages stay spooled and are re-sent until the right store acks them.

An ack without a store id on a device that is not pinned (a collector from before store ids) is
honoured, as before.
"""

from __future__ import annotations

import logging

from edgekit.fleet import messages
from edgekit.fleet.device.spool import Spool

log = logging.getLogger("edgekit.fleet.device.reporter")

_LOGGED_MAX = 64  # distinct foreign stores logged by name; after that only counted


class StoreGate:
    """Decides, in the reporter's pump thread, whether an ack counts."""

    def __init__(self, spool: Spool, fleet: str, device_id: str, store_id: str | None = None):
        self.spool = spool
        self.key = f"store_id/{fleet}/{device_id}"
        self.pinned_by_option = store_id is not None
        self.store_id = messages.check_store_id(store_id) if store_id is not None else spool.get_state(self.key)
        self.ignored = 0  # acks ignored because another store (or no store) sent them
        self._logged: set[str | None] = set()

    def accept(self, ack_store: str | None) -> bool:
        """True when an ack from ``ack_store`` may release messages; learns the store on first contact."""
        if self.store_id is None:
            if ack_store is None:
                return True  # a collector from before store ids, and the device is not pinned
            self.store_id = self.spool.set_state_once(self.key, ack_store)
            if self.store_id == ack_store:
                log.info("reporting to store %s (learned from the first ack; kept in %s)", ack_store,
                         self.spool.path)
        if ack_store == self.store_id:
            return True
        self.ignored += 1
        if ack_store not in self._logged and len(self._logged) < _LOGGED_MAX:
            self._logged.add(ack_store)
            pinned = "--store-id" if self.pinned_by_option else f"learned, in the spool {self.spool.path}"
            log.warning("ignoring acks from store %s: this device reports to store %s (%s); the messages stay "
                        "spooled until that store acks them. A second collector on another database sees this "
                        "device's messages; if the device moved to a new database, pass --store-id",
                        ack_store or "(none named: an old collector)", self.store_id, pinned)
        return False
