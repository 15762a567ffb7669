"""Tiny LiteRT models written with LiteRT's own flatbuffer schema (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny_tflite(path: Path) -> Path:
    """A one-op LiteRT model (y = x + x, x float32 [1, 4]) written with LiteRT's own flatbuffer schema."""
    flatbuffers = pytest.importorskip("flatbuffers")
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    m = schema.ModelT()
    m.version = 3
    m.description = "edgekit test: y = x + x"
    m.buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    m.operatorCodes = [code]
    tensors = []
    for i, name in enumerate(("x", "y")):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], schema.TensorType.FLOAT32, i + 1, name
        tensors.append(t)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 0], [1]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [1], [op], "main"
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    path.write_bytes(b.Output())
    return path
