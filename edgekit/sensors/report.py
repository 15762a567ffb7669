"""What a power source tells the result document about itself beyond name/scope/rails.

Kept here (not in the bench) so every bench path adds the same fields with one call:
``power_json(...)`` spreads :func:`source_json`, the settings carry :func:`decision_json`.
"""

from __future__ import annotations


def source_json(info) -> dict:
    """``rail_set``, ``update_interval_s``, ``skipped`` and ``decisions`` of a SourceInfo (absent ones left out)."""
    out: dict = {}
    if getattr(info, "rail_set", ""):
        out["rail_set"] = info.rail_set
    if getattr(info, "update_interval_s", None) is not None:
        out["update_interval_s"] = float(info.update_interval_s)
    if getattr(info, "skipped", ()):
        out["skipped"] = list(info.skipped)
    if getattr(info, "decisions", ()):
        out["decisions"] = list(info.decisions)
    return out


def decision_json(info) -> list[dict] | None:
    """``--power auto``'s record: every source tried, in order, chosen or refused and why; None for a named kind."""
    steps = getattr(info, "auto_decision", ())
    return [a.to_json() for a in steps] if steps else None
