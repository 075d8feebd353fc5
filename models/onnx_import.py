"""From an ONNX or QONNX file to a :class:`hwsim.Workload`, and to a :class:`hwsim.BitPolicy`.

Every ``Conv``, ``ConvTranspose``, ``Gemm``, ``MatMul`` and ``Einsum`` node becomes one row, in
graph order, with its shapes from ONNX shape inference. An operand is a *weight* when it is
computed from initializers and constants alone; a product of two activations (attention scores
and values) has none.

Rows are named as :func:`models.extract_workload` names them, by the module that ran the op:

1. a weight traced back to a PyTorch parameter ``<module>.weight`` names ``<module>`` (this
   survives BatchNorm folding, which rewrites the node's own metadata);
2. else the innermost module in the exporter's ``pkg.torch.onnx.name_scopes`` metadata (the root
   module is its class name, as in ``extract_workload``);
3. else the node's own name.

A name seen again gets ``#1``, ``#2``... as a module called twice does.

Bits: QONNX ``Quant`` / ``IntQuant`` nodes (their constant ``bitwidth`` input),
``BipolarQuant`` (1 bit) and ``Trunc`` (its output bit width: what ``TruncAvgPool2d`` exports),
as Brevitas exports them, and standard ``DequantizeLinear``, found on an operand through ops
that only move, select or take the largest / smallest of values (``MaxPool``, ``ReduceMax``,
``ReduceMin``, ``GlobalMaxPool``, ...). A ``DequantizeLinear`` whose integers come through a
``Clip`` (a QCDQ file: ``QuantizeLinear -> Clip -> DequantizeLinear``, how Brevitas exports
2- to 7-bit quantizers) has the width of the Clip's integer range (``[-2, 1]``: 2 bits), else
its integer type's (``int8``: 8). An operand with no quantizer is float (32): in a file whose
first layer reads the float input, that layer's activations are 32.

Encodings: a ``Quant`` / ``IntQuant`` operand is ``signed`` or ``unsigned`` as its ``signed``
attribute says (QONNX's default: signed), a ``BipolarQuant`` operand is ``bipolar`` (+-1), a
``DequantizeLinear`` operand follows its integer type (``int8`` signed, ``uint8`` unsigned, ...).
A float operand keeps the policy's default.

A product of two activations becomes an ``act_matmul`` row named ``<module>#matmul`` (its
second operand's bits stand as the policy's w_bits); a 3-D convolution folds its depth into the
height. ``ConvTranspose`` is counted as the GEMM it is computed as: every input pixel times the
``in_channels x (out_channels * kh * kw)`` weight matrix (the overlap-add that follows is
additions, not MACs). Its MACs are therefore the useful ones, with none on inserted zeros; its
output footprint is that GEMM's, larger than the final output where kernels overlap. All of
this is what ``extract_workload`` records for the same model.

Needs the optional ``onnx`` package (``pip install 'hwsim[onnx]'``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwsim.errors import HwsimError, check, check_bits
from hwsim.policy import FLOAT_BITS, BitPolicy
from hwsim.workload import Workload
from models.extract import conv_row

COMPUTE_OPS: tuple[str, ...] = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum")
"""The node types that become workload rows."""

QONNX_QUANT_OPS: tuple[str, ...] = ("Quant", "IntQuant", "BipolarQuant")
"""QONNX quantizers whose bit width is read into the policy."""

# QONNX ops that keep their first input's shape; ONNX shape inference does not know them.
_QONNX_SAME_SHAPE = (*QONNX_QUANT_OPS, "Trunc")
# QONNX ops that set a value's grid: the quantizers, and Trunc (a quantized sum cut back to a
# narrower width, e.g. the output of TruncAvgPool2d).
_QONNX_GRID_OPS = frozenset(_QONNX_SAME_SHAPE)

# Ops whose output holds the same values as (a rearrangement or selection of) their first input:
# an operand's quantizer, parameter and origin are found through them.
_VALUE_PRESERVING = frozenset(
    {"Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Cast", "Expand"}
)
# ... and, for bits only, ops that cannot widen a quantized tensor (each output value is one
# of the input's values, or zero).
_BITS_PRESERVING = _VALUE_PRESERVING | {
    "MaxPool",
    "GlobalMaxPool",
    "ReduceMax",
    "ReduceMin",
    "Pad",
    "Slice",
    "Relu",
    "Split",
    "Gather",
}

# Bits of the integer types DequantizeLinear reads (TensorProto enum values).
_INT_TYPE_BITS = {2: 8, 3: 8, 4: 16, 5: 16, 21: 4, 22: 4, 25: 2, 26: 2}
# ... and which of them are signed (INT8, INT16, INT4, INT2).
_SIGNED_INT_TYPES = frozenset({3, 5, 22, 26})


@dataclass(frozen=True)
class OnnxModel:
    """What one ONNX file says: its compute layers, and its bits when it has quantizers."""

    workload: Workload
    policy: BitPolicy | None
    """Per-layer bits from the file's quantizers (32 where an operand has none); ``None`` when
    the file has no quantizer at all."""


def from_onnx(path: str | Path, *, batch: int | None = None, name: str | None = None) -> Workload:
    """The compute layers of the ONNX file at ``path`` as a workload (see :func:`load_onnx`)."""
    return load_onnx(path, batch=batch, name=name).workload


def load_onnx(
    path: str | Path,
    *,
    batch: int | None = None,
    name: str | None = None,
    float_bits: int | None = None,
) -> OnnxModel:
    """Read an ONNX / QONNX file: its workload and, when it has quantizers, its bit policy.

    ``batch`` fixes a symbolic leading dimension of the graph inputs (a file exported with a
    dynamic batch); a file whose shapes are all fixed needs none. ``name`` defaults to the
    file's stem. ``float_bits`` (1..16) gives the operands the file leaves unquantized (32,
    e.g. a first layer reading the float input) that many bits instead.
    """
    onnx = _import_onnx()
    path = Path(path)
    if float_bits is not None:
        check_bits("float_bits", float_bits)
    if not path.is_file():
        raise HwsimError("onnx path", str(path), "no such file")
    check(
        batch is None or (isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1),
        "batch",
        batch,
        "must be an integer >= 1",
    )
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf raises its own DecodeError, not a subclass of ours
        raise HwsimError("onnx path", str(path), f"not an ONNX model: {exc}") from exc
    graph = _Graph(onnx, model, batch)
    rows: list[dict[str, Any]] = []
    bits: list[tuple[int, int]] = []
    encodings: list[tuple[str | None, str | None]] = []
    seen: dict[str, int] = {}
    for node in graph.nodes:
        if node.op_type not in COMPUTE_OPS or node.domain not in ("", "ai.onnx"):
            continue
        row, act, weight = _row(graph, node)
        if row is None:
            continue
        base = graph.layer_name(node, weight)
        if row["kind"] == "act_matmul":  # as extract_workload names a module's act x act ops
            base = f"{base}#matmul"
        n = seen.get(base, 0)
        seen[base] = n + 1
        row["name"] = base if n == 0 else f"{base}#{n}"
        row["first"] = int(graph.reads_input(act))
        rows.append(row)
        pair = (graph.bits(weight), graph.bits(act))
        if float_bits is not None:
            pair = tuple(float_bits if b == FLOAT_BITS else b for b in pair)
        bits.append(pair)
        encodings.append((graph.encoding(weight), graph.encoding(act)))
    if not rows:
        raise HwsimError("onnx path", str(path), f"the graph has no {', '.join(COMPUTE_OPS)} node")
    workload = Workload.from_layers(name or path.stem, rows)
    policy = None
    if graph.quantized:
        policy = BitPolicy(
            dict(zip(workload.layer_names, bits, strict=True)),
            encodings=dict(zip(workload.layer_names, encodings, strict=True)),
        )
    return OnnxModel(workload, policy)


def _import_onnx():
    try:
        import onnx
    except ModuleNotFoundError as exc:
        raise HwsimError(
            "onnx", None, "reading ONNX files needs the onnx package: pip install 'hwsim[onnx]'"
        ) from exc
    return onnx


class _Graph:
    """One inlined, shape-inferred graph, with the look-ups the rows need."""

    def __init__(self, onnx, model, batch: int | None) -> None:
        from onnx import inliner, shape_inference

        model = inliner.inline_local_functions(model)
        graph = model.graph
        for node in graph.node:
            for attr in node.attribute:
                if attr.g.node or any(g.node for g in attr.graphs):
                    raise HwsimError(
                        f"node {node.name or node.op_type}",
                        node.op_type,
                        "control flow (subgraphs) is not supported: export a flat graph",
                    )
        self.nodes = list(graph.node)
        self.producer = {out: n for n in self.nodes for out in n.output}
        self.initializers = {t.name: t for t in graph.initializer}
        self.inputs = {i.name for i in graph.input if i.name not in self.initializers}
        self._fix_batch(graph, batch)
        self.quantized = any(
            _is_quantizer(n) or n.op_type == "DequantizeLinear" for n in self.nodes
        )
        self.shapes, self.elem_types = self._infer_shapes(onnx, model, shape_inference)
        self.constant = self._constants()

    def _fix_batch(self, graph, batch: int | None) -> None:
        for value in graph.input:
            if value.name not in self.inputs:
                continue
            dims = value.type.tensor_type.shape.dim
            if not dims:
                continue
            d = dims[0]
            if d.HasField("dim_value"):
                check(
                    batch is None or d.dim_value == batch,
                    "batch",
                    batch,
                    f"input {value.name!r} is fixed at batch {d.dim_value} in the file",
                )
            elif batch is None:
                raise HwsimError(
                    "batch",
                    None,
                    f"input {value.name!r} has a symbolic batch dimension "
                    f"{d.dim_param or '?'!r}: give a batch size",
                )
            else:
                d.dim_value = batch

    def _infer_shapes(
        self, onnx, model, shape_inference
    ) -> tuple[dict[str, tuple[int, ...] | None], dict[str, int]]:
        """Every value's shape (``None`` where not fully known) and element type."""
        # QONNX quantizers keep their input's shape; ONNX inference does not know them, so infer
        # on a copy where they are Identity.
        probe = onnx.ModelProto()
        probe.CopyFrom(model)
        for node in probe.graph.node:
            if node.op_type in _QONNX_SAME_SHAPE and node.domain not in ("", "ai.onnx"):
                data = node.input[0]
                del node.input[:]
                node.input.append(data)
                del node.attribute[:]
                node.op_type, node.domain = "Identity", ""
        try:
            inferred = shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
        except Exception as exc:  # onnx raises InferenceError and friends
            raise HwsimError("onnx shapes", None, f"ONNX shape inference failed: {exc}") from exc
        shapes: dict[str, tuple[int, ...] | None] = {}
        elem_types: dict[str, int] = {}
        g = inferred.graph
        for value in (*g.input, *g.value_info, *g.output):
            t = value.type.tensor_type
            elem_types[value.name] = t.elem_type
            if not t.HasField("shape"):
                shapes[value.name] = None
                continue
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            shapes[value.name] = None if None in dims else tuple(dims)
        for t in g.initializer:
            shapes[t.name] = tuple(t.dims)
            elem_types[t.name] = t.data_type
        return shapes, elem_types

    def _constants(self) -> set[str]:
        """Values computed from initializers and constants alone (weights and their views)."""
        const = set(self.initializers)
        for node in self.nodes:  # ONNX graphs are topologically sorted
            if node.op_type == "Constant" or (
                node.input and all(i == "" or i in const for i in node.input)
            ):
                const.update(node.output)
        return const

    def shape(self, value: str, node) -> tuple[int, ...]:
        s = self.shapes.get(value)
        if s is None:
            raise HwsimError(
                f"node {node.name or node.op_type}.{value}",
                None,
                "shape unknown after ONNX shape inference (a symbolic or data-dependent "
                "dimension): export with static shapes",
            )
        return s

    def source(self, value: str) -> str:
        """The value ``value`` is a view, a cast or a quantization of (a parameter, a graph
        input, or the output of a computing op)."""
        while value in self.producer:
            node = self.producer[value]
            if not (
                node.op_type in _VALUE_PRESERVING
                or node.op_type in ("QuantizeLinear", "DequantizeLinear")
                or _is_quantizer(node)
            ):
                break
            value = node.input[0]
        return value

    def quantizer(self, value: str):
        """The quantizer that last set ``value``'s grid, if any: a QONNX quantizer or
        ``Trunc``, or a DequantizeLinear, reached through ops that cannot widen values."""
        while value in self.producer:
            node = self.producer[value]
            if _sets_grid(node) or node.op_type == "DequantizeLinear":
                return node
            if node.op_type not in _BITS_PRESERVING:
                return None
            value = node.input[0]
        return None

    def bits(self, value: str | None) -> int:
        if value is None:
            return FLOAT_BITS
        quantizer = self.quantizer(value)
        if quantizer is None:
            return FLOAT_BITS
        where = f"node {quantizer.name or quantizer.op_type}"
        if quantizer.op_type == "BipolarQuant":
            return 1
        if quantizer.op_type == "DequantizeLinear":
            clip = self.clip_range(quantizer)
            if clip is not None:  # QCDQ: the integers were clipped to a narrower range
                lo, hi = clip
                return max(1, math.ceil(math.log2(hi - lo + 1)))
            elem = self.elem_types.get(quantizer.input[0], 0)
            if elem not in _INT_TYPE_BITS:
                raise HwsimError(f"{where}.x", elem, "DequantizeLinear of a non-integer type")
            return _INT_TYPE_BITS[elem]
        # Quant / IntQuant: (x, scale, zeropt, bitwidth); Trunc: its output width comes last
        # ((x, scale, zeropt, in_bitwidth, out_bitwidth), and out_scale before it in v2).
        at = len(quantizer.input) - 1 if quantizer.op_type == "Trunc" else 3
        width = self._scalar(quantizer.input[at] if len(quantizer.input) > at else "", quantizer)
        if width != int(width) or not 1 <= width <= 16:
            raise HwsimError(f"{where}.bitwidth", width, "must be an integer in 1..16")
        return int(width)

    def encoding(self, value: str | None) -> str | None:
        """The encoding of ``value``'s quantizer (None: no quantizer, the policy's default)."""
        quantizer = None if value is None else self.quantizer(value)
        if quantizer is None:
            return None
        if quantizer.op_type == "BipolarQuant":
            return "bipolar"
        if quantizer.op_type == "DequantizeLinear":
            clip = self.clip_range(quantizer)
            if clip is not None:  # QCDQ: the Clip's range says the sign
                return "signed" if clip[0] < 0 else "unsigned"
            elem = self.elem_types.get(quantizer.input[0], 0)
            return "signed" if elem in _SIGNED_INT_TYPES else "unsigned"
        signed = _attrs(quantizer).get("signed", 1)  # QONNX Quant: signed unless it says not
        where = f"node {quantizer.name or quantizer.op_type}.signed"
        check(signed in (0, 1), where, signed, "must be 0 or 1")
        return "signed" if signed else "unsigned"

    def clip_range(self, dequantize) -> tuple[int, int] | None:
        """``(min, max)`` of the integers a DequantizeLinear reads when a ``Clip`` with constant
        bounds produced them (through casts and views), else None."""
        value = dequantize.input[0]
        while value in self.producer:
            node = self.producer[value]
            if node.op_type == "Clip":
                bounds = []
                attrs = _attrs(node)
                for i, key in ((1, "min"), (2, "max")):
                    name = node.input[i] if len(node.input) > i else ""
                    if name:
                        try:
                            bounds.append(self._scalar(name, node))
                        except HwsimError:
                            return None  # a bound computed at run time: not a fixed range
                    elif key in attrs:  # opset < 11 keeps the bounds as attributes
                        bounds.append(float(attrs[key]))
                    else:
                        return None
                lo, hi = bounds
                if lo != int(lo) or hi != int(hi) or hi < lo:
                    return None
                return int(lo), int(hi)
            if node.op_type not in _VALUE_PRESERVING:
                return None
            value = node.input[0]
        return None

    def _scalar(self, value: str, node) -> float:
        from onnx import numpy_helper

        tensor = self.initializers.get(value)
        if tensor is None and value in self.producer and self.producer[value].op_type == "Constant":
            attrs = {a.name: a for a in self.producer[value].attribute}
            tensor = attrs["value"].t if "value" in attrs else None
        if tensor is None:
            raise HwsimError(
                f"node {node.name or node.op_type}.bitwidth", value, "must be a constant"
            )
        arr = numpy_helper.to_array(tensor)
        check(arr.size == 1, f"node {node.name or node.op_type}.bitwidth", arr.shape, "a scalar")
        return float(arr.reshape(()))

    def reads_input(self, value: str) -> bool:
        return self.source(value) in self.inputs

    def layer_name(self, node, weight: str | None) -> str:
        if weight is not None:
            source = self.source(weight)
            if source in self.initializers and source.endswith(".weight"):
                return source.removesuffix(".weight")
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = _literal_list(meta.get("pkg.torch.onnx.name_scopes"))
        if len(scopes) >= 2:  # module scopes, then the op itself
            if scopes[-2]:
                return scopes[-2]
            classes = _literal_list(meta.get("pkg.torch.onnx.class_hierarchy"))
            if classes:
                return classes[0].rsplit(".", 1)[-1]
        return node.name or node.op_type


def _is_quantizer(node) -> bool:
    return node.op_type in QONNX_QUANT_OPS and node.domain not in ("", "ai.onnx")


def _sets_grid(node) -> bool:
    """A QONNX node that fixes its output's bits: a quantizer or ``Trunc``."""
    return node.op_type in _QONNX_GRID_OPS and node.domain not in ("", "ai.onnx")


def _literal_list(text: str | None) -> list[str]:
    if not text:
        return []
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _attrs(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _row(graph: _Graph, node) -> tuple[dict[str, Any] | None, str, str | None]:
    """The workload row of one compute node, its activation operand and its weight operand
    (``None`` for a product of two activations; then the second operand plays the weight's
    part, as its bits do in the policy)."""
    if node.op_type in ("Conv", "ConvTranspose"):
        return _conv_row(graph, node), node.input[0], node.input[1]
    if node.op_type == "Gemm":
        a = _attrs(node)
        sa, sb = graph.shape(node.input[0], node), graph.shape(node.input[1], node)
        sa = sa[::-1] if a.get("transA", 0) else sa
        sb = sb[::-1] if a.get("transB", 0) else sb
        spec = _Contraction.matmul(sa, sb)
        return _product_row(graph, node, spec, node.input[0], node.input[1])
    if node.op_type == "MatMul":
        sa, sb = graph.shape(node.input[0], node), graph.shape(node.input[1], node)
        spec = _Contraction.matmul(sa, sb)
        return _product_row(graph, node, spec, node.input[0], node.input[1])
    # Einsum
    equation = _attrs(node)["equation"]
    equation = equation.decode() if isinstance(equation, bytes) else equation
    if len(node.input) == 1:
        return None, node.input[0], None  # a rearrangement or a sum: additions, no products
    if len(node.input) != 2:
        raise HwsimError(
            f"node {node.name or 'Einsum'}.equation", equation, "only two-operand Einsum is mapped"
        )
    shapes = [graph.shape(v, node) for v in node.input]
    spec = _Contraction.einsum(equation, shapes, node)
    return _product_row(graph, node, spec, node.input[0], node.input[1])


def _conv_row(graph: _Graph, node) -> dict[str, Any]:
    where = f"node {node.name or node.op_type}"
    x = graph.shape(node.input[0], node)
    w = graph.shape(node.input[1], node)
    y = graph.shape(node.output[0], node)
    spatial = len(x) - 2
    check(spatial in (1, 2, 3), f"{where}.input", x, "only 1-D, 2-D and 3-D convolutions")
    a = _attrs(node)
    groups = int(a.get("group", 1))
    ones = [1] * spatial
    stride = list(a.get("strides", ones))
    dilation = list(a.get("dilations", ones))
    kernel = list(w[2:])
    in_hw, out_hw = list(x[2:]), list(y[2:])
    if node.op_type == "ConvTranspose":
        # The GEMM form (see the module docstring): a 1x1 "conv" over the input pixels, as
        # extract_workload counts it.
        pixels = [math.prod(in_hw)]
        return conv_row(
            batch=x[0],
            in_channels=x[1],
            out_channels=w[1] * groups * math.prod(kernel),
            groups=groups,
            in_hw=pixels,
            out_hw=pixels,
            kernel=[1],
            stride=[1],
            dilation=[1],
            pad=[0],
        )
    pad = _near_padding(a, in_hw, out_hw, kernel, stride, dilation)
    if spatial == 3:  # depth folded into height, as extract_workload does: MACs and sizes exact
        in_hw = [in_hw[0] * in_hw[1], in_hw[2]]
        out_hw = [out_hw[0] * out_hw[1], out_hw[2]]
        kernel = [kernel[0] * kernel[1], kernel[2]]
        stride, dilation, pad = stride[1:], dilation[1:], pad[1:]
    return conv_row(
        batch=x[0],
        in_channels=x[1],
        out_channels=w[0],
        groups=groups,
        in_hw=in_hw,
        out_hw=out_hw,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        pad=pad,
    )


def _near_padding(
    attrs: dict[str, Any],
    in_hw: Sequence[int],
    out_hw: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> list[int]:
    """Padding before each spatial axis (what the workload records, as extract_workload)."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    n = len(in_hw)
    if auto in ("NOTSET", ""):
        return [int(p) for p in list(attrs.get("pads", [0] * 2 * n))[:n]]
    if auto == "VALID":
        return [0] * n
    near = []
    for i, o, k, s, d in zip(in_hw, out_hw, kernel, stride, dilation, strict=True):
        total = max((o - 1) * s + (k - 1) * d + 1 - i, 0)
        # SAME_UPPER puts the odd extra row at the end, SAME_LOWER at the beginning.
        near.append(total // 2 if auto == "SAME_UPPER" else total - total // 2)
    return near


@dataclass(frozen=True)
class _Contraction:
    """A product of two tensors by the sizes of its index groups (in operand order):
    ``a_only``: in the first operand and the output (rows of a weight-on-the-right product),
    ``b_only``: in the second operand and the output, ``shared``: in both and the output
    (independent products, groups), ``reduced``: in both and not the output (the K of a GEMM).
    """

    a_only: tuple[int, ...]
    b_only: tuple[int, ...]
    shared: int
    reduced: int

    @classmethod
    def matmul(cls, sa: Sequence[int], sb: Sequence[int]) -> _Contraction:
        """numpy ``matmul`` semantics: 1-D operands are promoted, batch dimensions broadcast."""
        a = [1, *sa] if len(sa) == 1 else list(sa)
        b = [*sb, 1] if len(sb) == 1 else list(sb)
        batch_a, batch_b = a[:-2], b[:-2]
        n = max(len(batch_a), len(batch_b))
        batch_a = [1] * (n - len(batch_a)) + batch_a
        batch_b = [1] * (n - len(batch_b)) + batch_b
        a_only: list[int] = []
        b_only: list[int] = []
        shared = 1
        for i, (da, db) in enumerate(zip(batch_a, batch_b, strict=True)):
            # A dimension only the first operand has (a weight on the right) holds its rows.
            b_has = i >= n - (len(b) - 2)
            if db == 1 and (da != 1 or not b_has):
                a_only.append(da)
            elif da == 1 and db != 1:
                b_only.append(db)
            else:
                shared *= da
        return cls((*a_only, a[-2]), (*b_only, b[-1]), shared, a[-1])

    @classmethod
    def einsum(cls, equation: str, shapes: Sequence[Sequence[int]], node) -> _Contraction:
        where = f"node {node.name or 'Einsum'}.equation"
        eq = equation.replace(" ", "")
        lhs, _, rhs = eq.partition("->")
        terms = lhs.split(",")
        spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq)
        ellipsis = ""
        expanded = []
        for term, shape in zip(terms, shapes, strict=True):
            if "..." in term:
                n = len(shape) - (len(term) - 3)
                while len(ellipsis) < n:
                    ellipsis = next(spare) + ellipsis
                term = term.replace("...", ellipsis[len(ellipsis) - n :] if n else "")
            check(len(term) == len(shape), where, equation, f"operand rank {len(shape)} differs")
            expanded.append(term)
        if "->" not in eq:  # implicit output: the labels seen once, in alphabetical order
            labels = "".join(expanded)
            rhs = ellipsis + "".join(sorted(c for c in set(labels) if labels.count(c) == 1))
        else:
            rhs = rhs.replace("...", ellipsis)
        size: dict[str, int] = {}
        for term, shape in zip(expanded, shapes, strict=True):
            for c, d in zip(term, shape, strict=True):
                if d != 1 or c not in size:
                    size[c] = max(size.get(c, 1), d)
        ta, tb = expanded
        a_only = tuple(size[c] for c in dict.fromkeys(ta) if c in rhs and c not in tb)
        b_only = tuple(size[c] for c in dict.fromkeys(tb) if c in rhs and c not in ta)
        shared = math.prod(size[c] for c in set(ta) & set(tb) if c in rhs)
        # Labels summed inside one operand alone are additions before the product, not MACs.
        reduced = math.prod(size[c] for c in set(ta) & set(tb) if c not in rhs)
        return cls(a_only or (1,), b_only or (1,), shared, reduced)

    def swapped(self) -> _Contraction:
        return _Contraction(self.b_only, self.a_only, self.shared, self.reduced)


def _product_row(
    graph: _Graph, node, spec: _Contraction, a: str, b: str
) -> tuple[dict[str, Any], str, str | None]:
    """A GEMM-like product as a workload row: a linear row when one operand is a weight
    (groups = independent products), else an act x act row."""
    a_const, b_const = a in graph.constant, b in graph.constant
    if a_const and not b_const:  # W @ X: rows are X's columns; transpose the product
        spec, a, b = spec.swapped(), b, a
    if not (a_const or b_const):
        # Two activations (attention scores and values): ``shared`` independent products, each
        # with its own second operand; dimensions only the first operand has are more rows.
        return (
            {
                "kind": "act_matmul",
                "batch": spec.shared,
                "in_channels": spec.reduced,
                "out_channels": math.prod(spec.b_only),
                "in_h": math.prod(spec.a_only),
                "out_h": math.prod(spec.a_only),
            },
            a,
            b,  # plays the weight's part in the policy: the bits of the second operand
        )
    rows = spec.a_only
    row = {
        "kind": "linear",
        # As extract_workload counts a Linear: the first leading dimension is the batch, the
        # rest (tokens, positions) are output pixels.
        "batch": rows[0],
        "in_channels": spec.shared * spec.reduced,
        "out_channels": spec.shared * math.prod(spec.b_only),
        "groups": spec.shared,
        "in_h": math.prod(rows[1:]),
        "out_h": math.prod(rows[1:]),
    }
    return row, a, b
