"""extract_workload against an independent count: run the layers by hand and count MACs from
the real output tensors and weight shapes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim import HwsimError, Workload
from models import extract_workload


@st.composite
def conv_stacks(draw, conv: type[nn.Conv1d | nn.Conv2d] = nn.Conv2d):
    """A random stack of convs (groups, stride, padding incl. strings, dilation) that keeps
    at least one output pixel, then Flatten and one or two Linear layers; and its input."""
    spatial = 2 if conv is nn.Conv2d else 1
    batch = draw(st.integers(1, 3))
    channels = in_channels = draw(st.integers(1, 6))
    size = in_size = [draw(st.integers(1, 12)) for _ in range(spatial)]
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        groups = draw(st.sampled_from([g for g in (1, 2, 3, channels) if channels % g == 0]))
        out = groups * draw(st.integers(1, 3))
        kernel = [draw(st.integers(1, 4)) for _ in range(spatial)]
        dilation = [draw(st.integers(1, 2)) for _ in range(spatial)]
        stride = [draw(st.integers(1, 3)) for _ in range(spatial)]
        padding: str | list[int] = [draw(st.integers(0, 2)) for _ in range(spatial)]
        if all(s == 1 for s in stride) and draw(st.booleans()):
            padding = draw(st.sampled_from(["same", "valid"]))
        if padding != "same":
            pad = [0] * spatial if padding == "valid" else padding
            span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
            if any(n + 2 * p < e for n, p, e in zip(size, pad, span, strict=True)):
                continue  # this conv would have no output pixel
        layer = conv(channels, out, kernel, stride, padding, dilation, groups)
        layers.append(layer)
        with torch.no_grad():
            size = list(layer(torch.zeros(1, channels, *size)).shape[2:])
        channels = out
    hidden = draw(st.integers(1, 8))
    layers += [nn.Flatten(), nn.Linear(channels * math.prod(size), hidden)]
    if draw(st.booleans()):
        layers += [nn.ReLU(), nn.Linear(hidden, draw(st.integers(1, 5)), bias=False)]
    return nn.Sequential(*layers), torch.randn(batch, in_channels, *in_size)


def reference_layers(model: nn.Sequential, x: torch.Tensor) -> list[dict]:
    """Run the stack layer by layer; for each compute layer count MACs as output elements
    times one output's reduction (a weight row), straight from the tensors."""
    rows = []
    for i, layer in enumerate(model):
        y = layer(x)
        if isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Linear):
            rows.append(
                {
                    "name": str(i),
                    "macs": y.numel() * layer.weight[0].numel(),
                    "in": tuple(x.shape),
                    "out": tuple(y.shape),
                }
            )
        x = y
    return rows


@settings(max_examples=30)
@given(conv_stacks(nn.Conv2d))
def test_conv2d_stack_matches_tensor_count(stack):
    model, x = stack
    w = extract_workload(model, x)
    ref = reference_layers(model, x)
    assert list(w.layer_names) == [r["name"] for r in ref]
    assert w.macs.tolist() == [r["macs"] for r in ref]
    for i, r in enumerate(ref):
        if len(r["out"]) == 4:  # conv: geometry is that of the real tensors
            assert (w.batch[i], w.in_channels[i], w.in_h[i], w.in_w[i]) == r["in"]
            assert (w.batch[i], w.out_channels[i], w.out_h[i], w.out_w[i]) == r["out"]
    assert w.first.tolist() == [1] + [0] * (len(ref) - 1)


@settings(max_examples=30)
@given(conv_stacks(nn.Conv1d))
def test_conv1d_stack_is_a_height_one_conv(stack):
    model, x = stack
    w = extract_workload(model, x)
    ref = reference_layers(model, x)
    assert w.macs.tolist() == [r["macs"] for r in ref]
    convs = [i for i, r in enumerate(ref) if len(r["out"]) == 3]
    for i in convs:
        assert (w.in_h[i], w.out_h[i], w.kernel_h[i], w.stride_h[i], w.pad_h[i]) == (1,) * 4 + (0,)
        assert (w.in_w[i], w.out_w[i]) == (ref[i]["in"][2], ref[i]["out"][2])


@given(st.lists(st.integers(1, 4), min_size=0, max_size=3), st.integers(1, 9), st.integers(1, 9))
def test_linear_rows_are_all_leading_dims(lead, d_in, d_out):
    x = torch.randn(*lead, d_in)
    w = extract_workload(nn.Linear(d_in, d_out), x)
    assert w.kinds == ("linear",)
    assert int(w.M[0]) == math.prod(lead)
    assert (int(w.N[0]), int(w.K[0])) == (d_out, d_in)
    assert w.total_macs == nn.Linear(d_in, d_out)(x).numel() * d_in


def test_kinds_depthwise_grouped_and_plain():
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, groups=4),  # depthwise with channel multiplier 2
        nn.Conv2d(8, 8, 1, groups=2),  # grouped, not depthwise
        nn.Conv2d(8, 8, 3, padding=1, groups=8),
        nn.Conv2d(8, 2, 1),
    )
    w = extract_workload(model, torch.zeros(1, 4, 6, 6))
    assert w.kinds == ("depthwise", "conv", "depthwise", "conv")
    assert w.groups.tolist() == [4, 2, 8, 1]
    assert w.K.tolist() == [9, 4, 9, 8]


def test_same_padding_and_dilation_are_recorded():
    conv = nn.Conv2d(2, 3, (4, 3), padding="same", dilation=(1, 2))
    w = extract_workload(conv, torch.zeros(1, 2, 9, 10))
    # total padding d*(k-1): 3 rows (1 before, 2 after) and 4 columns (2 and 2)
    assert (w.pad_h[0], w.pad_w[0]) == (1, 2)
    assert (w.out_h[0], w.out_w[0]) == (9, 10)
    assert (w.dilation_h[0], w.dilation_w[0]) == (1, 2)


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(5, 5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):  # Python control flow: no tracing needed
            x = self.shared(x)
        return self.head(x)


def test_repeated_calls_get_numbered_names_and_default_name():
    w = extract_workload(_Twice(), torch.zeros(2, 5))
    assert w.layer_names == ("shared", "shared#1", "shared#2", "head")
    assert w.first.tolist() == [1, 0, 0, 0]
    assert w.name == "_Twice"
    assert extract_workload(_Twice(), torch.zeros(2, 5), name="twice").name == "twice"


class _Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 1)
        self.b = nn.Conv2d(1, 2, 1)
        self.c = nn.Conv2d(1, 2, 1)
        self.d = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x) + self.c(x + 0) + self.d(x.flatten(1)).sum()


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_first_marks_layers_reading_the_input_or_a_view_of_it(device):
    with torch.device(device):
        model, x = _Branches(), torch.zeros(1, 1, 4, 4)
    w = extract_workload(model, x)
    assert dict(zip(w.layer_names, w.first.tolist(), strict=True)) == {
        "a": 1,
        "b": 1,
        "c": 0,
        "d": 1,
    }


def test_meta_device_gives_the_same_workload():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 7 * 7, 3))
    on_cpu = extract_workload(model, torch.zeros(2, 3, 16, 16))
    on_meta = extract_workload(model.to("meta"), torch.zeros(2, 3, 16, 16, device="meta"))
    assert on_cpu == on_meta


def test_training_flags_are_restored_and_eval_is_used():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, torch.is_grad_enabled()))
            return x

    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(), Probe(), nn.Linear(3, 1))
    model.train()
    model[1].eval()
    extract_workload(model, torch.ones(1, 3))
    assert seen == [(False, False)]
    assert [m.training for m in model.modules()] == [True, True, False, True, True]


class _ByKeyword(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(input=x[0])  # unbatched C x H x W, passed by keyword


def test_unbatched_input_passed_by_keyword():
    w = extract_workload(_ByKeyword(), torch.zeros(1, 2, 5, 6))
    assert (w.batch[0], w.in_h[0], w.in_w[0], w.out_h[0], w.out_w[0]) == (1, 5, 6, 3, 4)
    assert w.M[0] == 3 * 4 and w.first[0] == 1


def test_root_layer_is_named_after_its_class():
    assert extract_workload(nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 2, 2)).layer_names == ("Conv2d",)


def test_result_is_a_workload_that_round_trips(tmp_path):
    w = extract_workload(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)), torch.zeros(1, 1, 4, 4)
    )
    assert isinstance(w, Workload)
    assert Workload.load(w.save(tmp_path / "w.npz")) == w


class _Distances(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cdist(x, x)  # MACs with no GEMM mapping


@pytest.mark.parametrize(
    ("model", "x", "field"),
    [
        (lambda t: t, torch.zeros(1), "model"),
        (nn.ReLU(), torch.zeros(1), "model"),
        (nn.Linear(3, 1), [1.0, 2.0, 3.0], "example_input[0]"),
        (nn.Linear(3, 1), torch.zeros(1, 4), "example_input"),
        (_Distances(), torch.zeros(1, 3, 2), "model"),
    ],
    ids=["not-a-module", "no-compute-layer", "not-a-tensor", "wrong-shape", "unsupported"],
)
def test_unusable_input_is_an_hwsim_error(model, x, field):
    with pytest.raises(HwsimError) as err:
        extract_workload(model, x)
    assert err.value.field == field


class _Refuses(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise HwsimError("policy[fc].w_bits", 40, "bit width must be in 1..16")


def test_hwsim_errors_from_the_model_pass_through():
    with pytest.raises(HwsimError) as err:
        extract_workload(_Refuses(), torch.zeros(1, 2))
    assert err.value.field == "policy[fc].w_bits"


def test_hooks_are_removed_after_an_error():
    model = nn.Linear(3, 1)
    with pytest.raises(HwsimError):
        extract_workload(model, torch.zeros(1, 4))
    assert not model._forward_hooks
