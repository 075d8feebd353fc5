"""The act x act kernel (attention scores and values) against numpy int64 matmul, exactly:
both operands bit-serial, each at its own width and signedness, per batch element."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwsim import HwsimError
from hwsim.kernels import bitserial_act_matmul
from tests.strategies import codes, gemm_k, gemm_m, gemm_n, signedness, small_bits


@given(
    data=st.data(),
    g=st.integers(1, 4),
    m=gemm_m,
    n=gemm_n,
    k=gemm_k,
    a_bits=small_bits,
    b_bits=small_bits,
    a_signed=signedness,
    b_signed=signedness,
)
def test_batched_act_matmul_equals_integer_matmul(
    data, g, m, n, k, a_bits, b_bits, a_signed, b_signed
):
    a = data.draw(codes((g, m, k), a_bits, a_signed))
    b = data.draw(codes((g, k, n), b_bits, b_signed))
    got = bitserial_act_matmul(a, b, a_bits, b_bits, a_signed=a_signed, b_signed=b_signed)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.matmul(a, b))


@given(data=st.data(), m=gemm_m, n=gemm_n, k=gemm_k, bits=small_bits)
def test_one_product_stays_two_dimensional(data, m, n, k, bits):
    q = data.draw(codes((m, k), bits, True))
    kt = data.draw(codes((k, n), bits, True))
    np.testing.assert_array_equal(bitserial_act_matmul(q, kt, bits, bits), q @ kt)


@pytest.mark.parametrize(
    ("a", "b", "bits", "field"),
    [
        (np.zeros((2, 3, 4)), np.zeros((3, 4, 5)), (4, 4), "shapes"),
        (np.zeros((2, 3, 4)), np.zeros((2, 5, 5)), (4, 4), "shapes"),
        (np.zeros(4), np.zeros((4, 2)), (4, 4), "a_codes.shape"),
        (np.full((1, 2), 8), np.zeros((2, 1)), (4, 4), "a_codes"),  # 8 > 7: not 4-bit signed
        (np.zeros((1, 2)), np.zeros((2, 1)), (0, 4), "a_bits"),
    ],
)
def test_bad_operands_are_refused_before_the_kernel(a, b, bits, field):
    with pytest.raises(HwsimError) as err:
        bitserial_act_matmul(a.astype(np.int64), b.astype(np.int64), *bits)
    assert err.value.field == field
