from edgekit.builder.verify import ArtifactCheck, _agreement_failure, _drop_failure


def test_agreement_failure_names_the_count_and_when_the_eval_set_is_too_small():
    small = _agreement_failure(17 / 18, 18, 0.98)
    assert "17/18 samples agree" in small
    assert "a single disagreement fails this gate" in small and "at least 50 samples" in small
    large = _agreement_failure(190 / 200, 200, 0.98)
    assert "190/200 samples agree" in large and "single disagreement" not in large
    strict = _agreement_failure(0.5, 2, 1.0)
    assert "1/2 samples agree" in strict and "at least" not in strict


def _check(fp32: float, got: float) -> ArtifactCheck:
    return ArtifactCheck("m.onnx", "onnx", "onnxruntime", [], 96, 1.0, 0.0, 99.0, accuracy_fp32=fp32,
                         accuracy=got, accuracy_drop_pts=(fp32 - got) * 100)


def test_drop_failure_says_when_one_sample_is_more_than_the_tolerance():
    one = _drop_failure(_check(94 / 96, 93 / 96), 96, 1.0)  # the PP-OCR classifier's case in the corpus
    assert one.startswith("accuracy drop 1.04 pts > 1 pts")
    assert "one sample moves accuracy by 1.04 pts" in one and "at least 100 samples" in one
    many = _drop_failure(_check(94 / 96, 90 / 96), 96, 1.0)  # four samples: a real drop, no excuse
    assert "one sample" not in many
    big = _drop_failure(_check(0.98, 0.96), 400, 1.0)
    assert "one sample" not in big
