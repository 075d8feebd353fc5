"""The weight-stream kernels (table lookup, VNNI) against torch integer matmul, exactly, and
their shared refusals of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hwsim import HwsimError
from hwsim.kernels import bitserial_linear, pack_operand
from hwsim.kernels.lut import lut_linear, lut_weights
from hwsim.kernels.vnni import vnni_linear, vnni_weights
from tests.strategies import encoded

KERNELS = {"lut": (lut_linear, lut_weights), "vnni": (vnni_linear, vnni_weights)}
"""Each weight-stream kernel: its entry point and its view of packed weights."""


def torch_matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (torch.from_numpy(a) @ torch.from_numpy(w).T).numpy()


@pytest.mark.parametrize("kernel", list(KERNELS))
@given(
    data=st.data(),
    m=st.integers(1, 5),
    n=st.integers(1, 140),
    # Around the kernels' steps (8 to 32 activations) and longer.
    k=st.one_of(st.integers(1, 70), st.sampled_from([255, 256, 257, 1100])),
    w_enc=st.sampled_from(["unsigned", "signed", "bipolar"]),
    w_bits=st.integers(1, 4),
    a_enc=st.sampled_from(["unsigned", "signed"]),
    a_bits=st.integers(1, 8),
)
def test_kernel_equals_integer_matmul(kernel, data, m, n, k, w_enc, w_bits, a_enc, a_bits):
    linear, view = KERNELS[kernel]
    w_bits = 1 if w_enc == "bipolar" else w_bits
    a = data.draw(encoded((m, k), a_enc, a_bits))
    w = data.draw(encoded((n, k), w_enc, w_bits))
    packed = pack_operand(w, w_bits, encoding=w_enc)
    expect = torch_matmul(a, w)
    got = linear(a, packed, a_bits, a_encoding=a_enc)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expect)
    narrow = a.astype(np.int8 if a_enc == "signed" else np.uint8)
    np.testing.assert_array_equal(linear(narrow, view(packed), a_bits, a_encoding=a_enc), expect)
    for choice in (kernel, "auto"):  # forced, and whichever the public entry point picks
        np.testing.assert_array_equal(
            bitserial_linear(narrow, packed, a_bits, a_encoding=a_enc, kernel=choice), expect
        )


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_bad_inputs_name_the_field(kernel):
    linear = KERNELS[kernel][0]
    packed = pack_operand(np.ones((4, 10), int), 2, signed=True)
    with pytest.raises(HwsimError) as err:
        linear(np.full((1, 10), 16, dtype=np.uint8), packed, 4)
    assert err.value.field == "a_codes" and err.value.value == 16
    with pytest.raises(HwsimError) as err:
        linear(np.ones((1, 10), dtype=np.uint8), pack_operand(np.ones((4, 10), int), 5), 8)
    assert err.value.field == "w.bits"
    with pytest.raises(HwsimError) as err:
        linear(np.ones((1, 10), dtype=np.int8), packed, 1, a_encoding="bipolar")
    assert err.value.field == "a_encoding"
    with pytest.raises(HwsimError) as err:
        linear(np.ones((1, 10), dtype=np.uint8), packed, 9)
    assert err.value.field == "a_bits"
    with pytest.raises(HwsimError) as err:
        linear(np.ones((1, 11), dtype=np.uint8), packed, 4)
    assert err.value.field == "K"


def test_linear_refuses_an_unknown_kernel():
    packed = pack_operand(np.ones((4, 10), int), 2, signed=True)
    with pytest.raises(HwsimError) as err:
        bitserial_linear(np.ones((1, 10), dtype=np.uint8), packed, 4, kernel="fast")
    assert err.value.field == "kernel"
