"""Which nodes a failed int8 build keeps in float, round by round (a bounded search, every round reported).

First the first compute layer on each input: its error travels through the whole network, and it is cheap to
keep in float. That trial stays only if it helps (the worst SNR of the verified artifacts gains at least
``FIRST_LAYER_MIN_GAIN_DB`` or the gate passes); otherwise those nodes go back to int8 and the round is not
spent. Then the qdq-debug ranking: 1, 2, 4 ... of the node groups that add the most error, among those adding
a real share of it. Each round re-quantizes the float model with the nodes listed (no surgery on a QDQ graph).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgekit.builder.outcome import Attempt
from edgekit.builder.qdq_debug import NodeDamage

RELATIVE_ERROR_SHARE = 0.1     # exclude a node group only if it adds >= 10% of the worst group's error
FIRST_LAYER_MIN_GAIN_DB = 0.5  # the first layers stay in float only if the worst SNR gains this much
FIRST_LAYER_WHY = "the first compute layer on each input"
RANKED_WHY = "the nodes that add the most error (qdq-debug ranking)"


def worst_snr_db(att: Attempt) -> float:
    """The lowest SNR of an attempt's verified artifacts."""
    snrs = [c.snr_db for c in att.checks if c.snr_db is not None]
    return min(snrs) if snrs else float("-inf")


class Search:
    """``excluded`` is what the next quantization keeps in float; ``again(att)`` decides the next round."""

    def __init__(self, first_layers: list[str], max_rounds: int,
                 rank: Callable[[Path, list[str]], list[NodeDamage]], warn: Callable[[str], None]):
        self.first = list(first_layers) if max_rounds > 0 else []
        self.max_rounds = max_rounds
        self.rank = rank
        self.warn = warn
        self.excluded: list[str] = []
        self.rounds: list[dict] = []
        self._trial: dict | None = None

    def _spent(self) -> int:
        return sum(1 for r in self.rounds if not r.get("outcome", "").startswith("reverted"))

    def settle(self, att: Attempt) -> None:
        """Judge the first-layer trial on the attempt that followed it (kept if it passes or helps)."""
        trial = self._trial
        if trial is None or trial["outcome"] != "pending":
            return
        gain = worst_snr_db(att) - trial["worst_snr_db_before"]
        if att.passed:
            trial["outcome"] = f"kept: the gate passes (worst SNR {gain:+.1f} dB)"
        elif gain >= FIRST_LAYER_MIN_GAIN_DB:
            trial["outcome"] = f"kept: worst SNR {gain:+.1f} dB"
        else:
            trial["outcome"] = f"reverted: worst SNR {gain:+.1f} dB, less than {FIRST_LAYER_MIN_GAIN_DB} dB"
            self.excluded = [n for n in self.excluded if n not in trial["excluded_now"]]

    def again(self, att: Attempt) -> bool:
        """After a failed attempt: True with ``excluded`` grown for the next round, or False to stop (the
        attempt's reason then says why no further round helps, where it is not the round limit)."""
        self.settle(att)
        trial = self._trial
        if self._spent() >= self.max_rounds:
            return False
        if trial is None and any(n not in self.excluded for n in self.first):
            self._trial = {"round": len(self.rounds) + 1, "failed_because": att.reason,
                           "excluded_now": [n for n in self.first if n not in self.excluded],
                           "why": FIRST_LAYER_WHY, "outcome": "pending",
                           "worst_snr_db_before": round(worst_snr_db(att), 2)}
            self.rounds.append(self._trial)
            self.excluded.extend(self._trial["excluded_now"])
            self.warn(f"int8 failed the gate ({att.reason}); retrying with the first layer "
                      f"({', '.join(self._trial['excluded_now'])}) kept in float")
            return True
        worst = self.rank(att.model, self.excluded)
        if not worst:
            att.reason += "; no quantized node left to exclude"
            return False
        take = 2 ** sum(1 for r in self.rounds if r is not self._trial)
        chosen = [d for d in worst[:take] if d.added_error >= RELATIVE_ERROR_SHARE * worst[0].added_error]
        new = list(dict.fromkeys(n for d in chosen for n in d.nodes if n not in self.excluded))
        if not new:  # a round that keeps nothing more in float would rebuild the same model
            att.reason += "; the nodes that hurt most are already kept in float"
            return False
        self.rounds.append({"round": len(self.rounds) + 1, "failed_because": att.reason, "excluded_now": new,
                            "why": RANKED_WHY, "ranking": [d.to_json() for d in worst[:max(take, 5)]]})
        self.excluded.extend(new)
        self.warn(f"int8 failed the gate ({att.reason}); retrying with {', '.join(new)} kept in float")
        return True
