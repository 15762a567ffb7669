"""edgekit: build models for edge devices, measure their energy honestly, keep a fleet within budget."""

import os as _os

__version__ = "0.1.0"

# onnxruntime 1.32's Linux wheels carry a telemetry SDK that writes a session file ``$TMPDIR/.ses`` when the
# module is imported, and it is never removed. edgekit leaves nothing in /tmp, so it turns that telemetry off
# before any of its modules imports onnxruntime; a value the user set is kept.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
