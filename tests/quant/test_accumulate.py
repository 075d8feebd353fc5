"""The dtype a quantized layer's no-gradient pass accumulates its codes in: float32 only when
every partial sum is an exact float32 integer, judged from the actual weight codes."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.layers import integer_dtype, weight_accumulate_dtype

CPU = torch.device("cpu")


@settings(max_examples=60, deadline=None)
@given(
    out=st.integers(1, 6),
    terms=st.integers(1, 700),
    w_max=st.sampled_from([1, 7, 127, 2047]),
    a_max=st.sampled_from([1, 15, 255, 2047]),
    seed=st.integers(0, 999),
)
def test_float32_is_chosen_only_when_it_sums_exactly(out, terms, w_max, a_max, seed):
    rng = np.random.default_rng(seed)
    # Heavy-tailed codes, as trained weights are: most small, a few at the extremes.
    w = np.clip(np.round(rng.standard_t(3, (out, terms)) * w_max / 8), -w_max, w_max)
    w = w.astype(np.int64)
    dtype = weight_accumulate_dtype(a_max, torch.from_numpy(w), CPU)
    # The largest sums: every activation at its largest code, with the sign of its weight.
    a = np.where(w >= 0, a_max, 0).T
    exact = w @ a  # int64: the independent reference
    got = torch.from_numpy(w).to(dtype) @ torch.from_numpy(a).to(dtype)
    if dtype == torch.float32:
        np.testing.assert_array_equal(got.numpy().astype(np.int64), exact)
        assert np.abs(w).sum(1).max() * a_max < 2**24
    else:
        assert np.abs(w).sum(1).max() * a_max >= 2**24 or np.abs(w).max() > 2**11


def test_a_trained_8bit_conv_sums_in_float32_where_the_worst_case_would_not():
    torch.manual_seed(0)
    w = torch.randn(64, 64, 3, 3)
    codes = torch.round(w / w.abs().amax(dim=(1, 2, 3), keepdim=True) * 127).to(torch.int64)
    assert integer_dtype(codes[0].numel(), 255, 127, CPU) == torch.float64  # 576 x 255 x 127 > 2^24
    assert weight_accumulate_dtype(255, codes, CPU) == torch.float32
    x = torch.randint(0, 256, (8, 64, 8, 8))
    f32 = torch.nn.functional.conv2d(x.float(), codes.float(), padding=1)
    f64 = torch.nn.functional.conv2d(x.double(), codes.double(), padding=1)
    assert torch.equal(f32.double(), f64)
    # Every weight at its largest code: the bound is met, float64 it is.
    assert weight_accumulate_dtype(255, torch.full((4, 576), 127), CPU) == torch.float64
    # An accelerator's float32 convolutions are no integer sums: float64 there.
    assert weight_accumulate_dtype(1, codes, torch.device("cuda")) == torch.float64
