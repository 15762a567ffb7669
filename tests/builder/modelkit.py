"""Small real models for the build tests, made with onnx.helper (fast, no torch).

* ``digits_features_cnn``: a convolution with fixed random filters + ReLU + pooling, and a linear read-out
  trained by ridge regression on scikit-learn's digits data set — a small CNN with real accuracy.
* ``outlier_cnn``: two 1x1 convolutions where the first one's output has one channel 10^4 times larger than
  the others, which the second one reads. Per-tensor activation quantization wipes out the small channels,
  so static int8 fails any sensible gate unless the damaged nodes are left in float.
* ``mlp``: MatMul/Add/Relu only (the dynamic-int8 case).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(model: onnx.ModelProto, path: Path, ir_version: int = 8) -> Path:
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    return train_test_split(x, d.target.astype(np.int64), test_size=0.25, stratify=d.target, random_state=0)


def _conv_features(x, w, b):
    # numpy reference of Conv(3x3, pad 1) + ReLU + 2x2 average pool, used only to train the read-out
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, 0, i:i + 8, j:j + 8] for i in range(3) for j in range(3)], axis=1)  # n,9,8,8
    y = np.einsum("nkhw,ck->nchw", cols, w.reshape(w.shape[0], 9)) + b[None, :, None, None]
    y = np.maximum(y, 0)
    y = y.reshape(n, w.shape[0], 4, 2, 4, 2).mean(axis=(3, 5))
    return y.reshape(n, -1)


def digits_features_cnn(path: Path, *, opset: int = 17, channels: int = 12) -> tuple[Path, dict]:
    """Write the model; returns (path, data) with data = x_train, y_train, x_test, y_test."""
    x_tr, x_te, y_tr, y_te = digits_split()
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.5, (channels, 1, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.05, channels).astype(np.float32)
    # ridge regression onto one-hot labels (closed form): a trained linear read-out in milliseconds
    f = _conv_features(x_tr, w, b)
    f1 = np.hstack([f, np.ones((len(f), 1), np.float32)]).astype(np.float64)
    onehot = np.eye(10)[y_tr]
    coef = np.linalg.solve(f1.T @ f1 + 1e-2 * np.eye(f1.shape[1]), f1.T @ onehot)
    fc_w = coef[:-1].T.astype(np.float32)         # [10, channels*16]
    fc_b = coef[-1].astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["conv"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
            helper.make_node("AveragePool", ["relu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
            helper.make_node("Flatten", ["pool"], ["flat"], name="flatten"),
            helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc"),
        ],
        "digits_features_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(w, "conv.w"), numpy_helper.from_array(b, "conv.b"),
         numpy_helper.from_array(fc_w, "fc.w"), numpy_helper.from_array(fc_b, "fc.b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return _save(model, path), {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


def outlier_cnn(path: Path, *, opset: int = 17, well_behaved_layers: bool = False) -> Path:
    """With ``well_behaved_layers``, ordinary 3x3 convolutions sit before and after the damaged pair,
    so leaving the pair in float still leaves an int8 model."""
    rng = np.random.default_rng(1)
    c = 8
    w1 = rng.normal(0, 1, (c, 4, 1, 1)).astype(np.float32)
    w1[0] *= 1e4                                   # one huge channel
    w2 = rng.normal(0, 1, (6, c, 1, 1)).astype(np.float32)
    w2[:, 0] = 1e-6                                # ... which the next layer barely reads
    nodes = [helper.make_node("Conv", ["x", "w1"], ["mid"], name="conv_wide"),
             helper.make_node("Conv", ["mid", "w2"], ["y"], name="conv_read")]
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
    if well_behaved_layers:
        w0 = rng.normal(0, 0.3, (4, 4, 3, 3)).astype(np.float32)
        w3 = rng.normal(0, 0.3, (6, 6, 3, 3)).astype(np.float32)
        nodes = [helper.make_node("Conv", ["input", "w0"], ["x"], pads=[1, 1, 1, 1], name="conv_in")] + nodes + [
            helper.make_node("Conv", ["y", "w3"], ["out"], pads=[1, 1, 1, 1], name="conv_out")]
        inits += [numpy_helper.from_array(w0, "w0"), numpy_helper.from_array(w3, "w3")]
    else:
        nodes[0].input[0] = "input"
        nodes[1].output[0] = "out"
    graph = helper.make_graph(
        nodes, "outlier_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4, 6, 6])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 6, 6, 6])],
        inits,
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def mlp(path: Path, *, opset: int = 17) -> Path:
    rng = np.random.default_rng(2)
    w1 = rng.normal(0, 0.3, (32, 64)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (64, 10)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "w1"], ["h"], name="mm1"),
            helper.make_node("Relu", ["h"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "w2"], ["logits"], name="mm2"),
        ],
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def scaled_by_scalar(path: Path, *, opset: int = 17) -> Path:
    """``out = MatMul(x, w) * gain``: a recurrent-style model whose second input ``gain`` is a scalar
    (shape ``[]``, like Silero VAD's sample rate), so each sample of it is fed as a 0-d array."""
    w = np.random.default_rng(3).normal(0, 0.3, (16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
         helper.make_node("Mul", ["h", "gain"], ["out"], name="scale")],
        "scaled_by_scalar",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16]),
         helper.make_tensor_value_info("gain", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)


def echoing_mlp(path: Path, *, opset: int = 17) -> Path:
    """The MLP, and its input handed back as a second output (some exports return their state this way).

    Valid ONNX that onnxruntime runs; onnxruntime's fp16 converter with float I/O kept declares the name twice,
    so the fp16 model does not load: a real converter failure inside one precision's attempt.
    """
    model = onnx.load(str(mlp(path, opset=opset)))
    model.graph.output.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 32]))
    return _save(model, path)


def skip_connection_cnn(path: Path, *, opset: int = 17) -> Path:
    """``Conv(x) + Resize(Conv_stride2(x), x2)`` on a dynamic H×W input: a detector/U-Net skip connection.

    Symbolic shape inference cannot prove floor(h/2)*2 == h, so onnxruntime's ``quant_pre_process`` writes
    ``sym_shape_infer_temp.onnx`` (and a ``<uuid>.data``) into the current directory before it falls back.
    """
    rng = np.random.default_rng(4)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w1", "b1"], ["a"], pads=[1, 1, 1, 1], name="conv_full"),
         helper.make_node("Conv", ["x", "w2", "b2"], ["b"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv_half"),
         helper.make_node("Resize", ["b", "", "scales"], ["up"], mode="nearest", name="upsample"),
         helper.make_node("Add", ["a", "up"], ["y"], name="skip")],
        "skip_connection_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, "h", "w"])],
        [numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w1"),
         numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b1"),
         numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w2"),
         numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b2"),
         numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
