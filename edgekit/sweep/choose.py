"""The sweep's verdict, as pure functions over measurement records: floors, the Pareto front, the recommendation.

No I/O and no measuring here: :class:`Variant` holds what the build and the bench found, and
:func:`recommend` decides. The energy ranked is the *net* energy per inference (above the sweep's shared idle
baseline) when every candidate has it, else the total.

Accuracy floor (``max_accuracy_drop_pts``): with labelled eval data, a variant's drop is measured from the best
fp32 accuracy among the swept models (so a smaller model is held to the original's accuracy, not its own);
without labels, the drop is bounded by the share of samples whose top-1 differs from its own fp32 original
(a changed prediction is the only way accuracy can fall), and the table says it is a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    model: str
    precision: str
    gate_passed: bool
    gate_reason: str = ""
    size_bytes: int | None = None
    accuracy: float | None = None          # task accuracy on labelled eval data (0..1)
    agreement: float | None = None         # top-1 agreement with the model's own fp32 original (0..1)
    p50_ms: float | None = None
    p99_ms: float | None = None
    energy_total_mj: float | None = None   # per inference
    energy_net_mj: float | None = None     # per inference, above the shared idle baseline
    energy_uncertainty_mj: float | None = None

    @property
    def key(self) -> str:
        return f"{self.model}/{self.precision}"

    @property
    def measured(self) -> bool:
        return self.gate_passed and self.p50_ms is not None


@dataclass(frozen=True)
class Floors:
    max_accuracy_drop_pts: float | None = None
    max_p99_ms: float | None = None


@dataclass(frozen=True)
class Recommendation:
    choice: Variant | None
    runner_up: Variant | None
    energy_basis: str                      # "net" or "total"
    margin_mj: float | None                # runner_up's energy - choice's
    margin_frac: float | None              # margin / runner_up's energy
    significant: bool | None               # margin larger than the combined uncertainty
    excluded: dict[str, str]               # variant key -> why it does not meet the floors
    text: str


def reference_accuracy(variants: list[Variant]) -> float | None:
    """The best fp32 accuracy among the swept models (labelled eval data), or None without labels."""
    accs = [v.accuracy for v in variants if v.precision == "fp32" and v.accuracy is not None]
    return max(accs) if accs else None


def accuracy_drop(v: Variant, reference: float | None) -> tuple[float | None, str]:
    """(drop in points, "measured" or "bound") of ``v`` against ``reference``."""
    if v.accuracy is not None and reference is not None:
        return (reference - v.accuracy) * 100.0, "measured"
    if v.agreement is not None:
        return (1.0 - v.agreement) * 100.0, "bound"
    return None, "unknown"


def energy_basis(variants: list[Variant]) -> str:
    return "net" if variants and all(v.energy_net_mj is not None for v in variants) else "total"


def _energy(v: Variant, basis: str) -> float | None:
    return v.energy_net_mj if basis == "net" else v.energy_total_mj


def pareto_front(variants: list[Variant]) -> set[str]:
    """Keys of the measured variants that no other measured variant beats on energy, accuracy and p99 at once."""
    pool = [v for v in variants if v.measured]
    basis = energy_basis(pool)
    ref = reference_accuracy(variants)

    def point(v: Variant) -> tuple[float, float, float]:
        drop, _ = accuracy_drop(v, ref)
        e = _energy(v, basis)
        return (math.inf if e is None else e, math.inf if drop is None else drop,
                math.inf if v.p99_ms is None else v.p99_ms)

    front = set()
    for v in pool:
        pv = point(v)
        dominated = any(all(a <= b for a, b in zip(point(o), pv)) and point(o) != pv for o in pool if o is not v)
        if not dominated:
            front.add(v.key)
    return front


def _misses(v: Variant, floors: Floors, ref: float | None) -> str | None:
    if not v.gate_passed:
        return f"failed its accuracy gate ({v.gate_reason})" if v.gate_reason else "failed its accuracy gate"
    if v.p50_ms is None:
        return "not measured"
    if floors.max_accuracy_drop_pts is not None:
        drop, how = accuracy_drop(v, ref)
        if drop is None:
            return "no accuracy or agreement figure to check the accuracy floor with"
        if drop > floors.max_accuracy_drop_pts + 1e-9:
            word = "drop" if how == "measured" else "possible drop (top-1 disagreement)"
            return f"accuracy {word} {drop:.2f} pts > {floors.max_accuracy_drop_pts:g} pts"
    if floors.max_p99_ms is not None and (v.p99_ms is None or v.p99_ms > floors.max_p99_ms):
        return f"p99 {v.p99_ms:.3f} ms > {floors.max_p99_ms:g} ms"
    return None


def recommend(variants: list[Variant], floors: Floors = Floors()) -> Recommendation:
    """The least-energy variant that passed its gate and meets the floors, and how far ahead it is."""
    ref = reference_accuracy(variants)
    excluded = {v.key: why for v in variants if (why := _misses(v, floors, ref))}
    ok = [v for v in variants if v.key not in excluded]
    basis = energy_basis(ok)
    ok = [v for v in ok if _energy(v, basis) is not None]
    if not ok:
        return Recommendation(None, None, basis, None, None, None, excluded,
                              "no variant meets the floors: " + "; ".join(f"{k}: {w}" for k, w in excluded.items()))
    ranked = sorted(ok, key=lambda v: (_energy(v, basis), v.p99_ms or 0.0, v.key))
    best = ranked[0]
    if len(ranked) == 1:
        return Recommendation(best, None, basis, None, None, None, excluded,
                              f"{best.key}: the only variant that meets the floors "
                              f"({_energy(best, basis):.4g} mJ {basis} per inference)")
    second = ranked[1]
    e1, e2 = _energy(best, basis), _energy(second, basis)
    margin = e2 - e1
    frac = margin / e2 if e2 else None
    unc = math.hypot(best.energy_uncertainty_mj or 0.0, second.energy_uncertainty_mj or 0.0)
    significant = margin > unc
    pct = f" ({frac * 100:.0f} % less)" if frac is not None else ""
    verdict = (f"larger than the combined uncertainty ±{unc:.2g} mJ" if significant
               else f"within the combined uncertainty ±{unc:.2g} mJ: the two are not told apart by this run")
    text = (f"{best.key}: {e1:.4g} mJ {basis} per inference, {margin:.3g} mJ below the next, "
            f"{second.key}{pct}; the difference is {verdict}")
    return Recommendation(best, second, basis, margin, frac, significant, excluded, text)
