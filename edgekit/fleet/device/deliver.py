"""One-shot delivery of a bench result: ``edgekit bench --report`` spools it and waits for the collector's ack.

:func:`report_result` runs a short-lived :class:`~edgekit.fleet.device.reporter.Reporter` over the
device's spool (the agent's, by default), so anything still unconfirmed from earlier goes out too, and
returns a :class:`ReportOutcome` that says whether the collector stored the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.fleet import messages
from edgekit.fleet.device.reporter import Reporter
from edgekit.fleet.device.spool import Spool
from edgekit.fleet.messages import BrokerConfig


@dataclass(frozen=True)
class ReportOutcome:
    """What happened to one reported result."""

    confirmed: bool            # the collector acked (stored) it
    message_id: str
    seq: int
    fleet: str
    device_id: str
    spool_path: str
    pending: int               # messages of this spool still unconfirmed afterwards
    broker_refusals: int = 0   # PUBACKs with reason >= 128 during this run
    last_refusal: str | None = None
    connect_error: str | None = None
    waited_s: float = 0.0

    def summary(self) -> str:
        if self.confirmed:
            return (f"result seq {self.seq} ({self.message_id}) stored by the collector "
                    f"(fleet {self.fleet}, device {self.device_id})")
        why = []
        if self.last_refusal:
            why.append(f"broker refused it: {self.last_refusal}")
        if self.connect_error:
            why.append(f"broker connection: {self.connect_error}")
        reason = "; ".join(why) or f"no collector ack within {self.waited_s:.0f} s"
        return (f"result seq {self.seq} ({self.message_id}) not confirmed ({reason}); it stays in the spool "
                f"{self.spool_path} and is re-sent by `edgekit agent` or the next `--report` run")


def report_result(broker_url: str | BrokerConfig, result_doc: dict, *, fleet: str = "default",
                  device_id: str | None = None, spool_path: str | Path | None = None, timeout_s: float = 30.0,
                  target: str | None = None, ca_file: str | None = None, cert_file: str | None = None,
                  key_file: str | None = None, username: str | None = None, password_file: str | None = None,
                  password_env: str | None = None, store_id: str | None = None) -> ReportOutcome:
    """Spool a bench result, deliver it (plus anything still unconfirmed), wait for the collector's ack.

    Returns a :class:`ReportOutcome`; ``confirmed`` is False when no ack came
    within ``timeout_s`` — the result then stays in the spool, and the agent or
    the next report re-sends it. ``store_id`` pins the collector store whose ack counts (default: the one
    the spool learned from its first ack). Raises ConfigError for bad URLs/options.
    """
    broker = broker_url if isinstance(broker_url, BrokerConfig) else messages.parse_broker_url(
        broker_url, ca_file=ca_file, cert_file=cert_file, key_file=key_file, username=username,
        password_file=password_file, password_env=password_env)
    device = messages.check_segment(device_id or messages.default_device_id(), "device id")
    messages.check_segment(fleet, "fleet")
    if target is None:
        dev = result_doc.get("device") if isinstance(result_doc, dict) else None
        target = dev.get("target") if isinstance(dev, dict) and isinstance(dev.get("target"), str) else None
    start = time.monotonic()
    with Spool(spool_path) as spool:
        reporter = Reporter(broker, spool, fleet=fleet, device_id=device, target=target,
                            client_id=f"edgekit-{fleet}-{device}-report", announce_status=False,
                            session_expiry_s=int(max(300, 4 * timeout_s)), resend_after_s=max(5.0, timeout_s / 3),
                            reconnect_max_s=max(1, int(timeout_s / 4)), store_id=store_id)
        msg = reporter.submit("result", result_doc)
        reporter.start()
        try:
            confirmed = reporter.wait_confirmed(msg.message_id, timeout_s)
        finally:
            reporter.stop()
        st = reporter.stats
        pending = spool.stats().pending
    return ReportOutcome(confirmed=confirmed, message_id=msg.message_id, seq=msg.seq, fleet=fleet,
                         device_id=device, spool_path=str(spool.path), pending=pending,
                         broker_refusals=st.puback_refusals, last_refusal=st.last_refusal,
                         connect_error=st.last_connect_error, waited_s=time.monotonic() - start)
