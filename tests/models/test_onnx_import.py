"""ONNX / QONNX import: zoo networks exported by torch.onnx (dynamo) read back to the workload
``extract_workload`` gives; every product op's MACs against torch's own FLOP counter; QONNX
bits from a hand-built graph."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import models
from hwsim import HwsimError
from hwsim.workload import INT_COLUMNS

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.onnx_import import from_onnx, load_onnx  # noqa: E402
from tests.onnx_graphs import qonnx_graph  # noqa: E402


def export(net: nn.Module, x: torch.Tensor | tuple, path, **kwargs) -> None:
    """torch.onnx.export through the dynamo exporter (needs onnxscript)."""
    pytest.importorskip("onnxscript", reason="torch.onnx's dynamo exporter needs onnxscript")
    args = x if isinstance(x, tuple) else (x,)
    torch.onnx.export(net.eval(), args, str(path), dynamo=True, verbose=False, **kwargs)


def assert_same_workload(got, want) -> None:
    assert got.layer_names == want.layer_names
    for key in INT_COLUMNS:
        np.testing.assert_array_equal(got.columns[key], want.columns[key], err_msg=key)


# mlp_digits: Gemm; resnet_digits: convs with folded BatchNorm and a downsample;
# bitfusion_lstm: a 1-D input Linear; mobilenet_v2_cifar: depthwise and pointwise convs.
ZOO = [
    "mlp_digits",
    "resnet_digits",
    "bitfusion_lstm",
    pytest.param("mobilenet_v2_cifar", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Export a zoo network once per module, on first use; returns the file's path."""
    out = tmp_path_factory.mktemp("onnx")
    files = {}

    def get(name: str):
        if name not in files:
            torch.manual_seed(0)
            export(models.build(name), models.example_input(name, 2), out / f"{name}.onnx")
            files[name] = out / f"{name}.onnx"
        return files[name]

    return get


def extract_on_meta(name: str, batch: int):
    """extract_workload's answer, on the meta device (shapes only, no arithmetic)."""
    with torch.device("meta"):
        net = models.build(name)
    return models.extract_workload(net, models.example_input(name, batch).to("meta"), name=name)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_export_reads_back_as_extract_workload(exported, name):
    got = from_onnx(exported(name))
    assert_same_workload(got, extract_on_meta(name, 2))
    assert got.name == name  # the file's stem
    assert load_onnx(exported(name)).policy is None  # float graph: no quantizer


def test_symbolic_batch_needs_a_batch(tmp_path):
    net, path = models.build("resnet_digits"), tmp_path / "dyn.onnx"
    batch = torch.export.Dim("batch", min=2, max=64)
    export(net, models.example_input("resnet_digits", 2), path, dynamic_shapes=({0: batch},))
    with pytest.raises(HwsimError, match="symbolic batch") as err:
        from_onnx(path)
    assert err.value.field == "batch"
    assert_same_workload(from_onnx(path, batch=5), extract_on_meta("resnet_digits", 5))


class Products(nn.Module):
    """Every product op the importer maps, beside ops extract_workload cannot see."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(16, 12)
        self.proj = nn.Parameter(torch.randn(7, 12))
        self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
        self.up1 = nn.ConvTranspose1d(3, 5, 4, stride=3)
        self.seq = nn.Conv1d(3, 8, 5, padding="same", dilation=2)
        self.c3 = nn.Conv3d(2, 3, (2, 3, 3), stride=(1, 2, 1), padding=(1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(x)  # (2, 9, 12): a Linear on a 3-D input
        scores = torch.matmul(q, q.transpose(-1, -2))  # act x act, batched
        mixed = torch.einsum("bts,bsk->btk", scores, q)  # act x act einsum
        left = torch.einsum("ok,btk->bto", self.proj, mixed)  # weight on the left
        y = self.up(q[:, :8].reshape(2, 4, 12, 2))
        z = self.seq(q.reshape(2, 3, 36))
        u = self.up1(q.reshape(2, 3, 36))
        v = self.c3(q.reshape(2, 2, 3, 6, 3))
        return left.sum() + y.sum() + z.sum() + u.sum() + v.sum()


def test_every_product_op_counts_the_macs_torch_counts(tmp_path):
    torch.manual_seed(0)
    net, x = Products(), torch.randn(2, 9, 16)
    path = tmp_path / "products.onnx"
    export(net, x, path)
    w = from_onnx(path)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    # FlopCounterMode counts 2 FLOPs per MAC; transposed convs at the input's pixels.
    assert w.total_macs * 2 == counter.get_total_flops()
    # The same rows extract_workload captures from the running model: act x act products as
    # act_matmul rows named <module>#matmul, transposed convs as their GEMM, 3-D convs folded.
    # (Rows split between batch and pixels as torch's own decomposition happens to, so M is
    # compared, not batch and in_h.)
    want = models.extract_workload(net, x)
    assert w.layer_names == want.layer_names
    assert w.kinds == want.kinds and w.kinds.count("act_matmul") == 2
    for key in ("M", "N", "K", "groups", "in_channels", "out_channels", "kernel_h", "first"):
        np.testing.assert_array_equal(w.columns[key], want.columns[key], err_msg=key)


# numpy matmul shapes with broadcast batch dims, a 1-D operand or not.
@st.composite
def matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 4), max_size=3))
    a_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = [d if draw(st.booleans()) else 1 for d in batch]
    b_batch = b_batch[draw(st.integers(0, len(b_batch))) :]  # fewer dims: broadcast
    a = [k] if draw(st.booleans()) and not a_batch else [*a_batch, m, k]
    b = [k] if draw(st.booleans()) and not b_batch else [*b_batch, k, n]
    return a, b


def product_graph(op: str, a_shape, b_shape, weight: str, attrs=None):
    """A one-node graph; ``weight`` says which operand is an initializer ("a", "b", "")."""
    rng = np.random.default_rng(0)
    inputs, inits = [], []
    for name, shape in (("A", a_shape), ("B", b_shape)):
        if weight == name.lower():
            inits.append(numpy_helper.from_array(rng.random(shape, dtype=np.float32), name))
        else:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    node = helper.make_node(op, ["A", "B"], ["Y"], **(attrs or {}))
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", inputs, [out], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def count_products(fn, *shapes) -> int:
    """Multiplies a product op does, by definition: on all-ones operands every output element
    is the number of products summed into it."""
    return int(fn(*(np.ones(s, dtype=np.int64) for s in shapes)).sum())


@settings(max_examples=40)
@given(shapes=matmul_shapes(), weight=st.sampled_from(["", "a", "b"]))
def test_matmul_macs_match_torch_for_any_broadcast(tmp_path_factory, shapes, weight):
    a, b = shapes
    path = tmp_path_factory.mktemp("mm") / "mm.onnx"
    onnx.save(product_graph("MatMul", a, b, weight), str(path))
    w = from_onnx(path)
    assert w.total_macs == count_products(np.matmul, a, b)
    assert w.first[0] == 1  # reads a graph input, whichever operand it is


EQUATIONS = [
    "ij,jk->ik",
    "bij,bjk->bik",
    "bhqd,bhkd->bhqk",
    "...ij,...jk->...ik",
    "ij,kj",  # implicit output
    "bi,bi->b",
]


@settings(max_examples=30)
@given(eq=st.sampled_from(EQUATIONS), sizes=st.lists(st.integers(1, 5), min_size=5, max_size=5))
def test_einsum_macs_match_torch(tmp_path_factory, eq, sizes):
    lhs = eq.split("->")[0].replace("...", "Z")
    size = dict(zip("bhijkqdZ", [*sizes, *sizes], strict=False))
    a, b = ([size[c] for c in term] for term in lhs.split(","))
    path = tmp_path_factory.mktemp("es") / "es.onnx"
    onnx.save(product_graph("Einsum", a, b, "b", {"equation": eq}), str(path))
    assert from_onnx(path).total_macs == count_products(lambda x, y: np.einsum(eq, x, y), a, b)


def test_gemm_transposes_and_weight_names(tmp_path):
    path = tmp_path / "gemm.onnx"
    model = product_graph("Gemm", [5, 3], [7, 5], "b", {"transA": 1, "transB": 1})
    model.graph.initializer[0].name = "head.fc.weight"
    model.graph.node[0].input[1] = "head.fc.weight"
    onnx.save(model, str(path))
    w = from_onnx(path)
    assert w.layer_names == ("head.fc",)  # a PyTorch parameter names its module
    assert (w.M[0], w.N[0], w.K[0]) == (3, 7, 5)


# ----------------------------------------------------------------------------- QONNX


@settings(max_examples=25)
@given(
    w1=st.integers(1, 16),
    a1=st.integers(1, 16),
    w2=st.integers(1, 16),
    a2=st.integers(1, 16),
    bipolar=st.booleans(),
)
def test_qonnx_quantizers_read_into_the_policy(tmp_path_factory, w1, a1, w2, a2, bipolar):
    path = tmp_path_factory.mktemp("q") / "q.onnx"
    onnx.save(qonnx_graph(w1, a1, w2, a2, bipolar), str(path))
    got = load_onnx(path)
    assert got.workload.layer_names == ("conv", "fc", "head")
    assert got.workload.first.tolist() == [1, 0, 0]  # a quantized input is still the input
    # The activation quantizer is found through MaxPool and Flatten; the head has none.
    assert got.policy.bits == {
        "conv": (w1, a1),
        "fc": (1 if bipolar else w2, a2),
        "head": (32, 32),
    }
    # The QONNX ops are invisible to ONNX shape inference, yet shapes flow through them.
    assert (got.workload.M.tolist(), got.workload.N.tolist()) == ([36, 1, 1], [8, 10, 4])


@settings(max_examples=20)
@given(
    w1=st.integers(1, 16),
    a1=st.integers(1, 16),
    w2=st.integers(1, 16),
    x_signed=st.sampled_from([0, 1]),
    w1_signed=st.sampled_from([0, 1]),
    bipolar=st.booleans(),
    bipolar_act=st.booleans(),
)
def test_qonnx_signed_and_bipolar_read_as_encodings(
    tmp_path_factory, w1, a1, w2, x_signed, w1_signed, bipolar, bipolar_act
):
    path = tmp_path_factory.mktemp("q") / "q.onnx"
    graph = qonnx_graph(
        w1, a1, w2, 4, bipolar, x_signed=x_signed, w1_signed=w1_signed, bipolar_act=bipolar_act
    )
    onnx.save(graph, str(path))
    policy = load_onnx(path).policy
    name = {0: "unsigned", 1: "signed"}
    # Each operand's encoding is what its own quantizer node says, independently.
    assert policy.encoding("conv") == (name[w1_signed], name[x_signed])
    fc_w = "bipolar" if bipolar else "signed"  # the fc weight's Quant keeps QONNX's signed=1
    fc_a = "bipolar" if bipolar_act else "unsigned"  # Quant(a2) says signed=0
    assert policy.encoding("fc") == (fc_w, fc_a)
    assert policy["fc"] == (1 if bipolar else w2, 1 if bipolar_act else 4)
    # The head's operands are float: they keep the policy's defaults.
    assert policy.encoding("head") == ("signed", "unsigned")
    # The encodings survive the policy's JSON round trip.
    assert type(policy).from_dict(policy.to_dict()) == policy


def test_quant_without_signed_attribute_is_signed_and_dequantize_follows_its_type(tmp_path):
    model = qonnx_graph(4, 4, 4, 4, False)
    for node in model.graph.node:
        if node.output[0] == "xq":
            del node.attribute[:]  # QONNX's Quant is signed unless it says otherwise
    path = tmp_path / "q.onnx"
    onnx.save(model, str(path))
    assert load_onnx(path).policy.encoding("conv")[1] == "signed"
    for elem, want in ((TensorProto.UINT8, "unsigned"), (TensorProto.INT8, "signed")):
        q = helper.make_tensor_value_info("xq8", elem, [1, 4])
        graph = helper.make_graph(
            [
                helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq8"]),
                helper.make_node("DequantizeLinear", ["xq8", "s", "zp"], ["xd"]),
                helper.make_node(
                    "Quant",
                    ["w", "s", "z", "b"],
                    ["wq"],
                    domain="qonnx.custom_op.general",
                    signed=0,
                    narrow=0,
                    rounding_mode="ROUND",
                ),
                helper.make_node("MatMul", ["xd", "wq"], ["y"]),
            ],
            "qdq",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=[
                numpy_helper.from_array(np.float32(0.1), "s"),
                helper.make_tensor("zp", elem, [], [0]),
                numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
                numpy_helper.from_array(np.float32(0.0), "z"),
                numpy_helper.from_array(np.float32(3.0), "b"),
            ],
            value_info=[q],
        )
        p = tmp_path / f"qdq{elem}.onnx"
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("qonnx.custom_op.general", 1)]
        onnx.save(helper.make_model(graph, opset_imports=opsets), str(p))
        policy = load_onnx(p).policy
        assert policy["MatMul"] == (3, 8)
        assert policy.encoding("MatMul") == ("unsigned", want)


def test_qonnx_bitwidth_must_be_an_integer_constant(tmp_path):
    model = qonnx_graph(4, 4, 4, 4, False)
    for t in model.graph.initializer:
        if t.name == "wq_b":
            t.CopyFrom(numpy_helper.from_array(np.asarray(4.5, dtype=np.float32), "wq_b"))
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(HwsimError, match="bitwidth"):
        load_onnx(path)


def test_bad_files_name_the_field(tmp_path):
    with pytest.raises(HwsimError, match="no such file"):
        from_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf\xff" * 3)
    with pytest.raises(HwsimError) as err:
        from_onnx(junk)
    assert err.value.field == "onnx path"
    conv4d = helper.make_model(
        helper.make_graph(
            [helper.make_node("Conv", ["x", "w"], ["y"])],
            "c4",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=[numpy_helper.from_array(np.ones((3, 2, 1, 1, 1, 1), np.float32), "w")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    path = tmp_path / "c4.onnx"
    onnx.save(conv4d, str(path))
    with pytest.raises(HwsimError, match="1-D, 2-D and 3-D"):
        from_onnx(path)


def test_macs_of_the_workload_are_group_corrected(tmp_path):
    # A grouped 1x1 ConvTranspose as the GEMM form, against the plain count.
    cin, cout, g, k = 6, 9, 3, 2
    path = tmp_path / "ct.onnx"
    model = product_graph("ConvTranspose", [2, cin, 5, 4], [cin, cout // g, k, k], "b")
    model.graph.node[0].attribute.append(helper.make_attribute("group", g))
    model.graph.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))
    onnx.save(model, str(path))
    w = from_onnx(path)
    assert w.total_macs == 2 * 5 * 4 * cin * (cout // g) * math.prod((k, k))


# ---------------------------------------------------------------- Brevitas exports
BREVITAS = Path(__file__).parent / "data" / "brevitas"


def _brevitas(stem: str, tmp_path) -> Path:
    import gzip

    path = tmp_path / f"{stem}.onnx"
    path.write_bytes(gzip.decompress((BREVITAS / f"{stem}.onnx.gz").read_bytes()))
    return path


@pytest.mark.parametrize(
    ("stem", "first"),
    [
        # FINN's bnn_pynq networks binarize weights and activations (BipolarQuant) at 1 bit;
        # CNV's first layer reads the 8-bit signed input quantizer, TFC's the 1-bit one.
        ("cnv_w1a1_qonnx", ("bipolar", "signed")),
        ("tfc_w1a1_qonnx", ("bipolar", "bipolar")),
    ],
)
def test_brevitas_binary_networks_read_as_bipolar(stem, first, tmp_path):
    policy = load_onnx(_brevitas(stem, tmp_path), batch=1).policy
    names = list(policy)
    assert policy.encoding(names[0]) == first
    assert all(policy.encoding(n) == ("bipolar", "bipolar") for n in names[1:])
    assert all(policy[n][0] == 1 for n in names)


@pytest.mark.parametrize("net", ["cnv_w2a2", "tfc_w2a2", "mixed", "residual"])
def test_brevitas_qonnx_and_qcdq_exports_give_the_same_encodings(net, tmp_path):
    """The same network exported both ways: QONNX's signed attributes and QCDQ's integer
    types say the same thing about every operand (2-bit FINN networks: signed throughout)."""
    qonnx = load_onnx(_brevitas(f"{net}_qonnx", tmp_path), batch=1).policy
    qcdq = load_onnx(_brevitas(f"{net}_qcdq", tmp_path), batch=1).policy
    assert {n: qonnx.encoding(n) for n in qonnx} == {n: qcdq.encoding(n) for n in qcdq}
    if net.endswith("w2a2"):
        assert all(qonnx.encoding(n) == ("signed", "signed") for n in qonnx)
