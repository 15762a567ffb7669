"""EfficientNet-Lite0 as an ONNX graph, built from its PyTorch state dict without torch.

The architecture is EfficientNet-Lite's (Tan and Le, 2019; the "lite" variant: ReLU6, no
squeeze-and-excitation, stem and head not scaled), as the ``efficientnet-lite-pytorch`` 0.1.0 package
lays out its weights: a 3x3 stride-2 stem, sixteen mobile inverted bottleneck blocks, a 1x1 head,
global average pooling and a linear classifier. Convolutions pad like TensorFlow's ``SAME`` for the
fixed input size; each batch norm (inference form) is folded into the convolution before it.

The graph is a pure function of the weights: the same file gives the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgekit.errors import ModelError
from edgekit.models.pth import read_state_dict

#: (repeats, kernel, stride, expand ratio, input filters, output filters) of EfficientNet-Lite0's stages.
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPS = 1e-3
ARCHITECTURES = {"efficientnet-lite0": (_LITE0_STAGES, 224)}


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow SAME padding for one spatial axis: (before, after, output size)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _Graph:
    def __init__(self, weights: dict[str, np.ndarray]):
        self.w = weights
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def take(self, name: str) -> np.ndarray:
        if name not in self.w:
            raise ModelError(f"the weights have no {name!r}; they are not EfficientNet-Lite0's")
        self.used.add(name)
        return self.w[name].astype(np.float32)

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def conv_bn(self, x: str, conv: str, bn: str, size: int, stride: int, groups: int, relu6: bool) -> tuple[str, int]:
        weight = self.take(f"{conv}.weight")
        gamma, beta = self.take(f"{bn}.weight"), self.take(f"{bn}.bias")
        mean, var = self.take(f"{bn}.running_mean"), self.take(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + _BN_EPS)
        folded = weight * scale[:, None, None, None]
        bias = beta - mean * scale
        kernel = int(weight.shape[-1])
        before, after, out_size = _same_pads(size, kernel, stride)
        name = conv.replace(".", "/").lstrip("_")
        y = f"{name}/out"
        self.nodes.append(helper.make_node(
            "Conv", [x, self.const(f"{name}/weight", folded), self.const(f"{name}/bias", bias)], [y],
            name=f"{name}/Conv", kernel_shape=[kernel, kernel], strides=[stride, stride], group=groups,
            pads=[before, before, after, after], dilations=[1, 1]))
        if relu6:
            z = f"{name}/relu6"
            self.nodes.append(helper.make_node(
                "Clip", [y, self.const(f"{name}/clip_min", np.array(0.0)), self.const(f"{name}/clip_max", np.array(6.0))],
                [z], name=f"{name}/Relu6"))
            y = z
        return y, out_size


def build(weights_path: Path | str, architecture: str, *, opset: int, ir_version: int,
          input_name: str = "input", output_name: str = "logits") -> onnx.ModelProto:
    """The ONNX model of ``architecture`` (only ``efficientnet-lite0``) with the weights of ``weights_path``."""
    if architecture not in ARCHITECTURES:
        raise ModelError(f"architecture {architecture!r} is not known; known: {', '.join(ARCHITECTURES)}")
    stages, image = ARCHITECTURES[architecture]
    size = image
    g = _Graph(read_state_dict(weights_path))

    x, size = g.conv_bn(input_name, "_conv_stem", "_bn0", size, 2, 1, relu6=True)
    block = 0
    for repeats, _kernel, stride, expand, filters_in, filters_out in stages:
        for r in range(repeats):
            inp = filters_in if r == 0 else filters_out
            s = stride if r == 0 else 1
            prefix = f"_blocks.{block}"
            y = x
            if expand != 1:
                y, _ = g.conv_bn(y, f"{prefix}._expand_conv", f"{prefix}._bn0", size, 1, 1, relu6=True)
            channels = inp * expand
            y, out_size = g.conv_bn(y, f"{prefix}._depthwise_conv", f"{prefix}._bn1", size, s, channels, relu6=True)
            y, _ = g.conv_bn(y, f"{prefix}._project_conv", f"{prefix}._bn2", out_size, 1, 1, relu6=False)
            if s == 1 and inp == filters_out:
                z = f"blocks/{block}/add"
                g.nodes.append(helper.make_node("Add", [y, x], [z], name=f"blocks/{block}/Add"))
                y = z
            x, size = y, out_size
            block += 1
    x, _ = g.conv_bn(x, "_conv_head", "_bn1", size, 1, 1, relu6=True)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["head/pool"], name="head/GlobalAveragePool"))
    g.nodes.append(helper.make_node("Flatten", ["head/pool"], ["head/flat"], name="head/Flatten", axis=1))
    fc_w, fc_b = g.take("_fc.weight"), g.take("_fc.bias")
    g.nodes.append(helper.make_node(
        "Gemm", ["head/flat", g.const("fc/weight", fc_w), g.const("fc/bias", fc_b)], [output_name],
        name="fc/Gemm", transB=1))

    unused = sorted(set(g.w) - g.used)
    if unused:
        raise ModelError(f"the weights hold {len(unused)} tensors EfficientNet-Lite0 does not use "
                         f"(first: {unused[0]!r}); they are of another architecture")
    classes = int(fc_w.shape[0])
    graph = helper.make_graph(
        g.nodes, architecture.replace("-", "_"),
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, image, image])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [1, classes])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="edgekit")
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model
