"""The one-pass layer glue against the torch ops it replaces, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hwsim.kernels.glue as glue

shapes_4d = st.tuples(*(st.integers(1, 5) for _ in range(4)))
floats = st.floats(-50, 50, allow_nan=False, width=64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("threaded", [False, True])
@given(
    data=st.data(),
    shape=shapes_4d,
    step=st.floats(1e-3, 4.0),
    bits=st.integers(1, 8),
    signed=st.booleans(),
    channels_last=st.booleans(),
)
def test_quantize_equals_torch_round_clamp(
    dtype, threaded, data, shape, step, bits, signed, channels_last
):
    # In float32 torch divides and rounds in float32 (a step tensor of the input's dtype, as a
    # quantizer's is): the glue must too, or a float32 tie splits from its float64 quotient.
    x = torch.from_numpy(data.draw(hnp.arrays(np.float64, shape, elements=floats))).to(dtype)
    if data.draw(st.booleans()):  # exact ties of the float32 or float64 quotient
        k = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-300, 300)))
        x = (torch.from_numpy(k) + 0.5).to(dtype) * torch.tensor(step, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    lo, hi = (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    want = torch.clamp(torch.round(x / torch.tensor(step, dtype=dtype)), lo, hi).numpy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(glue, "PARALLEL_MIN_ELEMENTS", 0 if threaded else 1 << 30)
        got = glue.quantize_activations(x.numpy(), step, lo, hi, np.int8 if signed else np.uint8)
    assert got.shape == shape and got.transpose(0, 2, 3, 1).flags.c_contiguous
    np.testing.assert_array_equal(got.astype(np.float64), want)


@pytest.mark.parametrize("threaded", [False, True])
@given(data=st.data(), shape=shapes_4d, channels_last=st.booleans())
def test_rescale_equals_torch_multiply_add(threaded, data, shape, channels_last):
    acc = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-(2**40), 2**40)))
    if channels_last:
        acc = np.ascontiguousarray(acc.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    scale = data.draw(hnp.arrays(np.float64, shape[1], elements=st.floats(1e-6, 10.0)))
    bias = data.draw(hnp.arrays(np.float64, shape[1], elements=floats))
    want = torch.from_numpy(acc).to(torch.float64) * torch.from_numpy(scale).reshape(
        1, -1, 1, 1
    ) + torch.from_numpy(bias).reshape(1, -1, 1, 1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(glue, "PARALLEL_MIN_ELEMENTS", 0 if threaded else 1 << 30)
        got = glue.rescale_accumulators(acc, scale, bias)
    np.testing.assert_array_equal(got, want.numpy())
    # 2-D [rows, channels] (a linear layer): the same values, channels on the last axis.
    rows = np.ascontiguousarray(acc.transpose(0, 2, 3, 1)).reshape(-1, shape[1])
    got_rows = glue.rescale_accumulators(rows, scale, bias)
    np.testing.assert_array_equal(
        got_rows, want.numpy().transpose(0, 2, 3, 1).reshape(-1, shape[1])
    )
    # Stored as float32: torch's float64 result converted, bit for bit, in the same layout.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(glue, "PARALLEL_MIN_ELEMENTS", 0 if threaded else 1 << 30)
        got32 = glue.rescale_accumulators(acc, scale, bias, np.float32)
    assert got32.dtype == np.float32 and got32.strides == tuple(s // 2 for s in got.strides)
    np.testing.assert_array_equal(got32, want.to(torch.float32).numpy())
