"""The table-lookup kernel (T-MAC's method) against torch integer matmul, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hwsim.kernels.lut as lut
from hwsim import HwsimError
from hwsim.encoding import value_range
from hwsim.kernels import bitserial_linear, pack_operand
from hwsim.kernels.lut import lut_linear, lut_weights

w_encodings = st.sampled_from(["unsigned", "signed", "bipolar"])
a_encodings = st.sampled_from(["unsigned", "signed"])


@st.composite
def operand(draw, shape, enc: str, bits: int) -> np.ndarray:
    if enc == "bipolar":
        return draw(hnp.arrays(np.int64, shape, elements=st.sampled_from([-1, 1])))
    lo, hi = value_range(enc, bits)
    return draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))


def torch_matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (torch.from_numpy(a) @ torch.from_numpy(w).T).numpy()


@given(
    data=st.data(),
    m=st.integers(1, 5),
    n=st.integers(1, 140),
    k=st.one_of(st.integers(1, 70), st.sampled_from([255, 256, 257, 1100])),
    w_enc=w_encodings,
    w_bits=st.integers(1, lut.MAX_WEIGHT_BITS),
    a_enc=a_encodings,
    a_bits=st.integers(1, 8),
)
def test_lut_equals_integer_matmul(data, m, n, k, w_enc, w_bits, a_enc, a_bits):
    w_bits = 1 if w_enc == "bipolar" else w_bits
    a = data.draw(operand((m, k), a_enc, a_bits))
    w = data.draw(operand((n, k), w_enc, w_bits))
    packed = pack_operand(w, w_bits, encoding=w_enc)
    expect = torch_matmul(a, w)
    got = lut_linear(a, packed, a_bits, a_encoding=a_enc)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expect)
    narrow = a.astype(np.int8 if a_enc == "signed" else np.uint8)
    np.testing.assert_array_equal(
        lut_linear(narrow, lut_weights(packed), a_bits, a_encoding=a_enc), expect
    )
    # The public entry point, whichever kernel it picks.
    np.testing.assert_array_equal(
        bitserial_linear(narrow, packed, a_bits, a_encoding=a_enc), expect
    )


@given(data=st.data(), n=st.integers(1, 70), k=st.integers(1, 300), w_bits=st.integers(1, 4))
def test_portable_loop_equals_vector_kernel(data, n, k, w_bits):
    # The loop taken on CPUs without AVX-512BW computes the same sums.
    a = data.draw(operand((2, k), "unsigned", 8))
    w = data.draw(operand((n, k), "signed", w_bits))
    packed = pack_operand(w, w_bits, signed=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lut, "_run_tile", lut.portable_tile)
        lw = lut_weights(packed)
        tab, sums, _ = lut.build_tables(a, np.uint8(0), np.uint8(0), lw.idx.shape[2] * 8)
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


def test_bad_inputs_name_the_field():
    packed = pack_operand(np.ones((4, 10), int), 2, signed=True)
    with pytest.raises(HwsimError) as err:
        lut_linear(np.full((1, 10), 16, dtype=np.uint8), packed, 4)
    assert err.value.field == "a_codes" and err.value.value == 16
    with pytest.raises(HwsimError) as err:
        lut_linear(np.ones((1, 10), dtype=np.uint8), pack_operand(np.ones((4, 10), int), 5), 8)
    assert err.value.field == "w.bits"
    with pytest.raises(HwsimError) as err:
        lut_linear(np.ones((1, 10), dtype=np.int8), packed, 1, a_encoding="bipolar")
    assert err.value.field == "a_encoding"
