"""Train the bundled small digits MLP (the second model `edgekit sweep` compares with the digits CNN).

The same data and split as ``models/train_digits.py`` (scikit-learn ``load_digits``, 75/25 stratified,
``random_state=0``, pixels / 16), so ``models/digits_eval.npz`` is its held-out set too. The network is
scikit-learn's ``MLPClassifier`` (one hidden layer of 32 ReLU units, Adam, seed 0), written to ONNX with
onnx.helper: ``input`` float32 [N,1,8,8] -> Flatten -> Gemm -> Relu -> Gemm -> ``logits`` [N,10].

    python models/train_digits_mlp.py     # needs scikit-learn; writes models/digits_mlp.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 32
SEED = 0


def main() -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "digits_mlp.onnx"
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=SEED, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), max_iter=400, random_state=SEED).fit(x_train, y_train)
    (w1, w2), (b1, b2) = clf.coefs_, clf.intercepts_
    f32 = lambda a, n: numpy_helper.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1, name="flatten"),
         helper.make_node("Gemm", ["flat", "w1", "b1"], ["h"], name="fc1"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], name="fc2")],
        "digits_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [f32(w1, "w1"), f32(b1, "b1"), f32(w2, "w2"), f32(b2, "b2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgekit")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    print(f"{out}: test accuracy {clf.score(x_test, y_test):.4f} (scikit-learn), {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
