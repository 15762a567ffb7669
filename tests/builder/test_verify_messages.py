from edgekit.builder.verify import _agreement_failure


def test_agreement_failure_names_the_count_and_when_the_eval_set_is_too_small():
    small = _agreement_failure(17 / 18, 18, 0.98)
    assert "17/18 samples agree" in small
    assert "a single disagreement fails this gate" in small and "at least 50 samples" in small
    large = _agreement_failure(190 / 200, 200, 0.98)
    assert "190/200 samples agree" in large and "single disagreement" not in large
    strict = _agreement_failure(0.5, 2, 1.0)
    assert "1/2 samples agree" in strict and "at least" not in strict
