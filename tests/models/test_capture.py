"""Operator-level capture against MAC counts worked out by hand from the layer definitions:
functional ops, attention, recurrent layers, convs of every dimensionality."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim import HwsimError
from models import extract_workload


class _Functional(nn.Module):
    """No Linear module at all: ``F.linear``, ``torch.matmul`` of two activations, an
    ``einsum`` contraction with a weight and a batched ``einsum`` of two activations."""

    def __init__(self, c: int, hidden: int, out: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(hidden, c))
        self.u = nn.Parameter(torch.randn(hidden, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.linear(x, self.w)  # [b, t, hidden]
        gram = torch.matmul(h, h.transpose(-1, -2))  # [b, t, t]
        mixed = torch.einsum("bts,bsh->bth", gram, h)  # [b, t, hidden]
        return torch.einsum("bth,ho->bto", mixed, self.u)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 3), st.integers(1, 7), st.integers(1, 9), st.integers(1, 9), st.integers(1, 5)
)
def test_functional_ops_count_every_mac(b, t, c, hidden, out):
    w = extract_workload(_Functional(c, hidden, out), torch.randn(b, t, c))
    expected = [
        b * t * c * hidden,  # F.linear
        b * t * hidden * t,  # h @ h^T
        b * t * t * hidden,  # gram @ h
        b * t * hidden * out,  # @ u
    ]
    assert w.macs.tolist() == expected
    assert w.kinds == ("linear", "act_matmul", "act_matmul", "linear")
    # The module's weight GEMMs keep its name; its act x act matmuls are #matmul, #matmul#1.
    assert w.layer_names == (
        "_Functional",
        "_Functional#matmul",
        "_Functional#matmul#1",
        "_Functional#1",
    )
    # Batch becomes the act x act GEMM's batch; each batch element has its own operand.
    assert w.batch[1] == b and w.weight_elems[1] == b * hidden * t


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=5, max_size=5), st.booleans())
def test_einsum_chains_and_size_one_contractions(dims, implicit):
    """``...ij,jk,kl->...il`` left to right: ``i*j*k`` then ``i*k*l`` per batch element,
    size-1 dims (run by torch as broadcast multiplies) included."""
    b, i, j, k, l = dims
    x = torch.randn(b, i, j)

    class Chain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.u = nn.Parameter(torch.randn(j, k))
            self.v = nn.Parameter(torch.randn(k, l))

        def forward(self, x):
            eq = "...ij,jk,kl" if implicit else "...ij,jk,kl->...il"
            return torch.einsum(eq, x, self.u, self.v)

    w = extract_workload(Chain(), x)
    assert w.macs.tolist() == [b * i * j * k, b * i * k * l]
    assert w.kinds == ("linear", "linear")
    assert w.weight_elems.tolist() == [j * k, k * l]


def _rnn_macs(rnn: nn.RNNBase, steps: int, batch: int) -> int:
    """Per step, layer and direction: input GEMM + hidden GEMM (+ projection)."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[type(rnn).__name__]
    h = rnn.hidden_size
    proj = getattr(rnn, "proj_size", 0)
    out = proj or h
    dirs = 2 if rnn.bidirectional else 1
    total = 0
    for layer in range(rnn.num_layers):
        in_size = rnn.input_size if layer == 0 else out * dirs
        per_step = gates * h * (in_size + out) + (proj * h if proj else 0)
        total += dirs * steps * batch * per_step
    return total


@settings(max_examples=25, deadline=None)
@given(
    cell=st.sampled_from(["LSTM", "GRU", "RNN"]),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    proj=st.booleans(),
    steps=st.integers(1, 5),
    batch=st.integers(1, 3),
    unbatched=st.booleans(),
)
def test_recurrent_layers_are_their_gemms_at_each_step(
    cell, layers, bidirectional, batch_first, proj, steps, batch, unbatched
):
    kwargs = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    if cell == "LSTM" and proj:
        kwargs["proj_size"] = 2
    rnn = getattr(nn, cell)(3, 4, **kwargs)
    if unbatched:
        batch, x = 1, torch.randn(steps, 3)
    else:
        x = torch.randn(batch, steps, 3) if batch_first else torch.randn(steps, batch, 3)
    w = extract_workload(rnn, x)
    assert w.total_macs == _rnn_macs(rnn, steps, batch)
    per_step = 2 + (cell == "LSTM" and proj)
    assert len(w) == layers * (2 if bidirectional else 1) * steps * per_step
    assert w.layer_names[0] == f"{cell}#l0.t0.ih" and w.first[0] == 1


def test_packed_sequence_counts_each_step_at_its_batch():
    rnn = nn.GRU(3, 4)
    lengths = [5, 3, 1]
    seqs = [torch.randn(n, 3) for n in lengths]
    packed = nn.utils.rnn.pack_sequence(seqs)

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnn

        def forward(self, data: torch.Tensor) -> torch.Tensor:
            return self.rnn(nn.utils.rnn.PackedSequence(data, packed.batch_sizes))[1]

    w = extract_workload(Packed(), packed.data)
    active = sum(lengths)  # (sequence, step) pairs that run
    assert w.total_macs == active * 3 * 4 * (3 + 4)


def test_cells_one_step():
    w = extract_workload(nn.LSTMCell(3, 5), torch.randn(2, 3))
    assert w.layer_names == ("LSTMCell#ih", "LSTMCell#hh")
    assert w.macs.tolist() == [2 * 20 * 3, 2 * 20 * 5]


def test_lstm_beside_a_linear_is_not_dropped():
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 16, batch_first=True)
            self.head = nn.Linear(16, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.lstm(x)[0])

    w = extract_workload(Tagger(), torch.randn(2, 10, 8))
    assert w.total_macs == 2 * 10 * 4 * 16 * (8 + 16) + 2 * 10 * 16 * 4
    assert w.layer_names[-1] == "head"


@settings(max_examples=20, deadline=None)
@given(
    b=st.integers(1, 2),
    heads=st.sampled_from([1, 2, 4]),
    kv_div=st.sampled_from([1, 2]),
    length=st.integers(1, 6),
    source=st.integers(1, 6),
    e=st.integers(1, 5),
    ev=st.integers(1, 5),
)
def test_sdpa_is_scores_and_values(b, heads, kv_div, length, source, e, ev):
    kv_heads = max(1, heads // kv_div)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=kv_heads != heads)

    q = torch.randn(b, heads, length, e)
    k = torch.randn(b, kv_heads, source, e)
    v = torch.randn(b, kv_heads, source, ev)
    w = extract_workload(Attn(), (q, k, v))
    assert w.layer_names == ("Attn#scores", "Attn#values")
    assert w.kinds == ("act_matmul", "act_matmul")
    assert w.macs.tolist() == [b * heads * length * e * source, b * heads * length * source * ev]
    # A K/V head shared by a group of query heads is one operand for the group's rows.
    assert w.batch.tolist() == [b * kv_heads] * 2
    assert w.weight_elems.tolist() == [k.numel(), v.numel()]


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_and_encoder_layer(device, need_weights):
    e, heads, t, b, ff = 8, 2, 5, 3, 16
    with torch.device(device):
        mha = nn.MultiheadAttention(e, heads, batch_first=True)
        x = torch.randn(b, t, e)
        layer = nn.TransformerEncoderLayer(e, heads, ff, batch_first=True)

    class SelfAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=need_weights)[0]

    attention = b * t * e * 3 * e + 2 * b * t * t * e + b * t * e * e
    got = extract_workload(SelfAttention(), x)
    assert got.total_macs == attention
    assert got.kinds.count("act_matmul") == 2
    assert extract_workload(layer, x).total_macs == attention + 2 * b * t * e * ff


def _conv_macs(conv: nn.modules.conv._ConvNd, x: torch.Tensor, y: torch.Tensor) -> int:
    """Real multiply-accumulates: every (input pixel or output pixel) x kernel tap pair."""
    per_tap = conv.in_channels // conv.groups * math.prod(conv.kernel_size)
    if conv.transposed:  # each input element meets out/groups x kernel weights
        return x.numel() * conv.out_channels // conv.groups * math.prod(conv.kernel_size)
    return y.numel() * per_tap


@settings(max_examples=40, deadline=None)
@given(
    dims=st.sampled_from([1, 2, 3]),
    transposed=st.booleans(),
    groups=st.sampled_from([1, 2]),
    mult=st.integers(1, 2),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    pad=st.integers(0, 1),
    size=st.integers(5, 7),  # at least the dilated kernel span
    batch=st.integers(1, 2),
)
def test_convolutions_of_any_dimensionality(
    dims, transposed, groups, mult, k, stride, dilation, pad, size, batch
):
    name = f"Conv{'Transpose' if transposed else ''}{dims}d"
    cin, cout = 2 * groups, groups * mult
    conv = getattr(nn, name)(cin, cout, k, stride, pad, dilation=dilation, groups=groups)
    x = torch.randn(batch, cin, *[size] * dims)
    y = conv(x)
    w = extract_workload(conv, x)
    assert len(w) == 1 and w.layer_names == (name,)
    assert w.total_macs == _conv_macs(conv, x, y)
    assert w.input_elems[0] == x.numel()
    if not transposed:
        assert w.output_elems[0] == y.numel()
    assert w.weight_elems[0] == conv.weight.numel()


def test_depthwise_dilated_conv_is_depthwise():
    conv = nn.Conv2d(4, 8, 3, dilation=2, groups=4)
    w = extract_workload(conv, torch.randn(1, 4, 9, 9))
    assert w.kinds == ("depthwise",) and w.dilation_h[0] == 2


class _AtenGemms(nn.Module):
    """The GEMM ops called by name: ``mm`` and ``addmm`` with a weight, ``bmm`` and
    ``baddbmm`` of two activations, ``matmul`` of an activation by a weight."""

    def __init__(self, c: int, hidden: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(c, hidden))
        self.bias = nn.Parameter(torch.randn(hidden))
        self.u = nn.Parameter(torch.randn(hidden, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        flat = x.reshape(b * t, c)
        h = torch.mm(flat, self.w)  # [b t, hidden]
        h = torch.addmm(self.bias, flat, self.w).reshape(b, t, -1) + h.reshape(b, t, -1)
        gram = torch.bmm(h, h.transpose(1, 2))  # [b, t, t]
        mixed = torch.baddbmm(h, gram, h)  # [b, t, hidden]
        return mixed @ self.u  # [b, t, c]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7))
def test_aten_gemm_ops_count_every_mac(b, t, c, hidden):
    w = extract_workload(_AtenGemms(c, hidden), torch.randn(b, t, c))
    assert w.macs.tolist() == [
        b * t * c * hidden,  # mm
        b * t * c * hidden,  # addmm
        b * t * hidden * t,  # bmm
        b * t * t * hidden,  # baddbmm
        b * t * hidden * c,  # @ u
    ]
    assert w.kinds == ("linear", "linear", "act_matmul", "act_matmul", "linear")
    assert w.batch[2] == w.batch[3] == b


def test_meta_device_matches_cpu_for_functional_ops():
    torch.manual_seed(0)
    model = _Functional(4, 6, 3)
    on_cpu = extract_workload(model, torch.randn(2, 5, 4))
    on_meta = extract_workload(model.to("meta"), torch.randn(2, 5, 4, device="meta"))
    assert on_cpu == on_meta


def test_unmapped_op_names_itself_and_its_macs():
    class Pairwise(nn.Module):
        def forward(self, x):
            return torch.cdist(x, x)

    with pytest.raises(HwsimError) as err:
        extract_workload(Pairwise(), torch.randn(2, 5, 3))
    assert "cdist" in str(err.value.value) and "Pairwise" in str(err.value.value)
    assert f"{2 * 5 * 5 * 3} multiply-accumulates" in err.value.reason


def test_keyword_inputs():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x, scale=None):
            return self.fc(x) * scale

    w = extract_workload(Two(), {"x": torch.randn(4, 3), "scale": torch.ones(1)})
    assert w.total_macs == 4 * 3 * 2 and w.first.tolist() == [1]
    with pytest.raises(HwsimError) as err:
        extract_workload(Two(), {"x": torch.randn(4, 3), "scale": 1.0})
    assert err.value.field == "example_input['scale']"
