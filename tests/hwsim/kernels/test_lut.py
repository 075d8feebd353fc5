"""The table-lookup kernel (T-MAC's method) against torch integer matmul, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwsim.kernels.lut as lut
from hwsim.kernels import pack_operand
from hwsim.kernels.lut import lut_linear, lut_weights
from tests.hwsim.kernels.test_weight_stream import torch_matmul
from tests.strategies import encoded


@given(data=st.data(), n=st.integers(1, 70), k=st.integers(1, 300), w_bits=st.integers(1, 4))
def test_portable_loop_equals_vector_kernel(data, n, k, w_bits):
    # The loop taken on CPUs without AVX-512BW computes the same sums.
    a = data.draw(encoded((2, k), "unsigned", 8))
    w = data.draw(encoded((n, k), "signed", w_bits))
    packed = pack_operand(w, w_bits, signed=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lut, "_run_tile", lut.portable_tile)
        lw = lut_weights(packed)
        tab, sums, _ = lut.build_tables(a, np.uint8(0), np.uint8(0), lw.k_pad)
        out = np.empty((2, n), dtype=np.int64)
        lut._lut_tiles.py_func(tab, sums, lw.idx, lw.coef, 0, out, 0, lw.idx.shape[0])
    np.testing.assert_array_equal(out, torch_matmul(a, w))


def test_extreme_values_fill_the_int16_lanes():
    # Every table entry at its largest for 2^15-ish int16 sums over 32 groups, then widened.
    k = 64 * 40
    a = np.full((1, k), 255, dtype=np.uint8)
    w = np.full((3, k), 15)
    np.testing.assert_array_equal(
        lut_linear(a, pack_operand(w, 4, signed=False), 8), torch_matmul(a.astype(np.int64), w)
    )
    a = np.full((1, k), -128, dtype=np.int8)
    w = np.full((3, k), -8)
    np.testing.assert_array_equal(
        lut_linear(a, pack_operand(w, 4, signed=True), 8, a_signed=True),
        torch_matmul(a.astype(np.int64), w),
    )
