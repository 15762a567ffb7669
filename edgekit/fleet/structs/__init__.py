"""The wire format as typed structs: one definition of the envelope and the bodies, decoded and validated in
one pass by msgspec (in C). The JSON Schema files in ``edgekit/schemas/`` are the published form of the same
rules; tests/fleet/test_structs.py checks that both say the same.
"""

from __future__ import annotations

from edgekit.fleet.structs.envelope import Envelope, StatusBody, TelemetryBody
from edgekit.fleet.structs.result import ResultBody

#: The body struct of each kind.
BODIES = {"result": ResultBody, "telemetry": TelemetryBody, "status": StatusBody}


def envelope_problem(env: Envelope) -> str | None:
    """The rule of message-1.json a struct cannot say: result and telemetry carry ``seq`` >= 1."""
    if env.kind in ("result", "telemetry"):
        seq = env.seq
        if seq.__class__ is not int:
            return "(top level): 'seq' is a required property"
        if seq < 1:
            return f"seq: {seq} is less than the minimum of 1"
    return None


__all__ = ["BODIES", "Envelope", "ResultBody", "StatusBody", "TelemetryBody", "envelope_problem"]
