"""Hand-built ONNX / QONNX graphs for the import and CLI tests (needs the onnx package)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"


def qonnx_graph(
    w1: int,
    a1: int,
    w2: int,
    a2: int,
    bipolar: bool,
    *,
    x_signed: int = 1,
    w1_signed: int = 1,
    bipolar_act: bool = False,
):
    """input -> Quant(a1) -> Conv(Quant(W, w1)) -> Relu -> Quant(a2) -> MaxPool -> Flatten
    -> MatMul(Quant(W2, w2) or BipolarQuant(W2)) -> MatMul(float weight), as Brevitas exports
    a QuantConv2d / QuantReLU / QuantLinear chain. ``x_signed`` / ``w1_signed`` are the first
    two Quant nodes' ``signed`` attributes; ``bipolar_act`` puts a BipolarQuant in place of
    Quant(a2) (a binary activation, as FINN's CNV has)."""
    rng = np.random.default_rng(1)
    inits = []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def quant(x, bits, out, signed=1):
        node = helper.make_node(
            "Quant",
            [x, const(f"{out}_s", 0.1), const(f"{out}_z", 0.0), const(f"{out}_b", float(bits))],
            [out],
            domain=QONNX_DOMAIN,
            signed=signed,
            narrow=0,
            rounding_mode="ROUND",
        )
        return node

    const("conv.weight", rng.standard_normal((8, 3, 3, 3)))
    const("fc.weight", rng.standard_normal((8 * 3 * 3, 10)))
    const("head.weight", rng.standard_normal((10, 4)))
    bipolar_node = helper.make_node(
        "BipolarQuant", ["fc.weight", const("bq_s", 1.0)], ["fq"], domain=QONNX_DOMAIN
    )
    nodes = [
        quant("x", a1, "xq", signed=x_signed),
        quant("conv.weight", w1, "wq", signed=w1_signed),
        helper.make_node("Conv", ["xq", "wq"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        (
            helper.make_node("BipolarQuant", ["r", const("rq_s", 1.0)], ["rq"], domain=QONNX_DOMAIN)
            if bipolar_act
            else quant("r", a2, "rq", signed=0)
        ),
        helper.make_node("MaxPool", ["rq"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        bipolar_node if bipolar else quant("fc.weight", w2, "fq"),
        helper.make_node("MatMul", ["f", "fq"], ["y"]),
        helper.make_node("MatMul", ["y", "head.weight"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qonnx",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(QONNX_DOMAIN, 1)],
    )
