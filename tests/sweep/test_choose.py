"""The recommendation over fixed measurement records: floors and budgets change the choice, exactly."""

from __future__ import annotations

import pytest

from edgekit.sweep.choose import Floors, Variant, accuracy_drop, pareto_front, recommend, reference_accuracy


def v(model, prec, acc, p99, net, unc=0.001, passed=True, total=None):
    return Variant(model, prec, passed, "" if passed else "accuracy drop 3.10 pts > 1 pts", size_bytes=1000,
                   accuracy=acc, agreement=None, p50_ms=p99 / 2, p99_ms=p99, energy_total_mj=total or net + 1.0,
                   energy_net_mj=net, energy_uncertainty_mj=unc)


# A big model and a small one, each at three precisions; the big model's fp32 accuracy (0.99) is the reference.
RECORDS = [
    v("big", "fp32", 0.990, 9.0, 0.90),
    v("big", "fp16", 0.990, 6.0, 0.60),
    v("big", "int8", 0.985, 4.0, 0.40),
    v("small", "fp32", 0.975, 3.0, 0.30),
    v("small", "int8", 0.960, 2.0, 0.20),
    v("small", "int4", 0.950, 1.5, 0.10, passed=False),   # failed its gate: never chosen, whatever its figures
]


@pytest.mark.parametrize("floors, expected", [
    (Floors(), "small/int8"),                                          # least energy among the gate-passed
    (Floors(max_accuracy_drop_pts=2.0), "small/fp32"),                 # 0.99 - 0.975 = 1.5 pts
    (Floors(max_accuracy_drop_pts=1.0), "big/int8"),                   # 0.5 pts
    (Floors(max_accuracy_drop_pts=0.0), "big/fp16"),
    (Floors(max_accuracy_drop_pts=0.0, max_p99_ms=5.0), None),         # the only exact ones are too slow
    (Floors(max_accuracy_drop_pts=1.0, max_p99_ms=3.5), None),
    (Floors(max_p99_ms=1.9), None),
    (Floors(max_p99_ms=2.5), "small/int8"),
    (Floors(max_accuracy_drop_pts=5.0, max_p99_ms=6.5), "small/int8"),
    (Floors(max_accuracy_drop_pts=0.0, max_p99_ms=6.0), "big/fp16"),   # the budget is inclusive
])
def test_recommendation_follows_the_floors(floors, expected):
    rec = recommend(RECORDS, floors)
    assert (rec.choice.key if rec.choice else None) == expected
    assert "small/int4" in rec.excluded and "gate" in rec.excluded["small/int4"]


def test_margin_and_whether_it_exceeds_the_uncertainty():
    rec = recommend(RECORDS, Floors(max_accuracy_drop_pts=1.0))
    assert rec.runner_up.key == "big/fp16" and rec.energy_basis == "net"
    assert rec.margin_mj == pytest.approx(0.20) and rec.margin_frac == pytest.approx(0.20 / 0.60)
    assert rec.significant is True and "larger than the combined uncertainty" in rec.text
    close = [v("a", "fp32", 0.99, 2.0, 0.50, unc=0.05), v("a", "int8", 0.99, 2.0, 0.48, unc=0.05)]
    rec = recommend(close)
    assert rec.choice.key == "a/int8" and rec.significant is False and "not told apart" in rec.text


def test_pareto_front_on_energy_accuracy_and_latency():
    # big/fp32 is beaten by big/fp16 on every axis; the failed int4 is not on any front
    assert pareto_front(RECORDS) == {"big/fp16", "big/int8", "small/fp32", "small/int8"}


def test_without_labels_the_drop_is_bounded_by_disagreement():
    a = Variant("m", "int8", True, agreement=0.97, p50_ms=1, p99_ms=2, energy_total_mj=1, energy_net_mj=0.5)
    b = Variant("m", "fp32", True, agreement=1.0, p50_ms=1, p99_ms=2, energy_total_mj=2, energy_net_mj=0.9)
    assert reference_accuracy([a, b]) is None
    assert accuracy_drop(a, None) == (pytest.approx(3.0), "bound")
    assert recommend([a, b], Floors(max_accuracy_drop_pts=1.0)).choice.key == "m/fp32"
    assert recommend([a, b], Floors(max_accuracy_drop_pts=3.5)).choice.key == "m/int8"


def test_total_energy_is_ranked_when_a_net_figure_is_missing():
    a = Variant("m", "fp32", True, p50_ms=1, p99_ms=2, energy_total_mj=1.0, energy_net_mj=None)
    b = Variant("m", "int8", True, p50_ms=1, p99_ms=2, energy_total_mj=0.8, energy_net_mj=0.7)
    rec = recommend([a, b])
    assert rec.energy_basis == "total" and rec.choice.key == "m/int8"
