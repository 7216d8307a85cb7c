"""fp16 variants of an exported model (`python3 -m pssr_trainer fp16 MODEL_DIR`).

`to_fp16` converts model.onnx into model.fp16.onnx for CUDA: every float initializer and constant in
float16, except Resize's scales (float32 by the ONNX spec), with a Cast after the input `lr` and before the
output `hr`, so callers still feed and read float32. The python `onnx` package has no float16 converter
(onnxconverter-common has one, Debian does not package it), and these networks use only Conv, Add, Mul, Relu,
Slice, Resize and DepthToSpace, so a small rewrite is enough; unknown op types are refused, not guessed.

Its accuracy against model.onnx is checked by packages/trainer/tools/check-fp16.ts (onnxruntime-node runs
the fp16 file on the CPU too) and recorded in the card's export.fp16; the GPU benchmark measures CUDA's.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FP16_FILE = "model.fp16.onnx"
SUPPORTED = {"Conv", "Add", "Mul", "Relu", "Slice", "Resize", "DepthToSpace", "Constant"}


def _check_ops(graph: onnx.GraphProto) -> None:
    unknown = sorted({n.op_type for n in graph.node} - SUPPORTED)
    if unknown:
        raise ValueError(f"fp16 conversion does not know op types {unknown}; supported: {sorted(SUPPORTED)}")


def _float32_only(graph: onnx.GraphProto) -> set[str]:
    """Tensors that must stay float32: Resize's roi and scales inputs."""
    keep: set[str] = set()
    for n in graph.node:
        if n.op_type == "Resize":
            keep.update(x for x in n.input[1:3] if x)
    return keep


def _half(t: TensorProto) -> TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    _check_ops(g)
    keep = _float32_only(g)
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            g.initializer[i].CopyFrom(_half(t))
    for n in g.node:
        if n.op_type == "Constant" and n.output[0] not in keep:
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(_half(a.t))
    (inp,), (out,) = g.input, g.output
    inner_in, inner_out = f"{inp.name}_fp16", f"{out.name}_fp16"
    for n in g.node:
        n.input[:] = [inner_in if x == inp.name else x for x in n.input]
        n.output[:] = [inner_out if x == out.name else x for x in n.output]
    g.node.insert(0, helper.make_node("Cast", [inp.name], [inner_in], to=TensorProto.FLOAT16, name="cast_input_fp16"))
    g.node.append(helper.make_node("Cast", [inner_out], [out.name], to=TensorProto.FLOAT, name="cast_output_fp32"))
    del g.value_info[:]
    onnx.checker.check_model(model)
    return model



def convert_dir(model_dir: str) -> str:
    """Writes MODEL_DIR/model.fp16.onnx from MODEL_DIR/model.onnx; returns its path."""
    import os

    src, dst = os.path.join(model_dir, "model.onnx"), os.path.join(model_dir, FP16_FILE)
    onnx.save(to_fp16(onnx.load(src)), dst + ".partial")
    os.replace(dst + ".partial", dst)
    return dst
