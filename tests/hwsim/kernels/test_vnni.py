"""The VNNI kernel (unpack to bytes, ``vpdpbusd``) against torch integer matmul, exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hwsim.kernels.vnni as vnni
from hwsim import HwsimError
from hwsim.kernels import bitserial_linear, pack_operand
from hwsim.kernels.vnni import vnni_linear, vnni_weights
from tests.hwsim.kernels.test_weight_stream import torch_matmul
from tests.strategies import encoded

a_encodings = st.sampled_from(["unsigned", "signed"])


@given(
    data=st.data(),
    n=st.integers(1, 70),
    k=st.integers(1, 300),
    w_bits=st.integers(1, 4),
    a_enc=a_encodings,
)
def test_portable_loop_equals_vector_kernel(data, n, k, w_bits, a_enc):
    # The loop taken on CPUs without VNNI computes the same sums.
    a = data.draw(encoded((2, k), a_enc, 8))
    w = data.draw(encoded((n, k), "signed", w_bits))
    packed = pack_operand(w, w_bits, signed=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vnni, "_run_tile", vnni.portable_tile)
        vw = vnni_weights(packed)
        codes = a.astype(np.int8 if a_enc == "signed" else np.uint8)
        act, sums, bad = vnni._activation_words(codes, np.uint8(0), np.uint8(0), vw.k_pad)
        assert not bad
        out = np.empty((2, n), dtype=np.int64)
        vnni._vnni_tiles.py_func(vw.data, vw.slot, a_enc == "signed", act, sums, vw.scale,
                                 vw.shift, out, 0, vw.data.shape[0])  # fmt: skip
    np.testing.assert_array_equal(out, torch_matmul(a, w))


@pytest.mark.parametrize("w_bits", [1, 2, 3, 4])
def test_extreme_values_fill_the_int32_lanes(w_bits):
    # The largest products over the longest K the int32 lanes allow, and one past it refused.
    k = (2**31 - 1) // vnni.MAX_PRODUCT
    a = np.full((1, k), 255, dtype=np.uint8)
    w = np.full((2, k), 2**w_bits - 1)
    got = vnni_linear(a, pack_operand(w, w_bits, signed=False), 8)
    np.testing.assert_array_equal(got, np.full((1, 2), 255 * (2**w_bits - 1) * k))
    a = np.full((1, k), -128, dtype=np.int8)
    low = -(2 ** (w_bits - 1)) if w_bits > 1 else -1
    enc = "signed" if w_bits > 1 else "bipolar"
    got = vnni_linear(a, pack_operand(np.full((2, k), low), w_bits, encoding=enc), 8, a_signed=True)
    np.testing.assert_array_equal(got, np.full((1, 2), -128 * low * k))
    with pytest.raises(HwsimError) as err:
        vnni_linear(np.ones((1, k + 1), np.uint8), pack_operand(np.ones((2, k + 1), int), 2), 8)
    assert err.value.field == "K"


def test_auto_takes_vnni_where_it_pays():
    # bitserial_linear's choice follows use_vnni; every choice is exact.
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, (64, 512))
    packed = pack_operand(w, 2, signed=True)
    for m, a_bits in ((1, 2), (1, 3), (1, 8), (4, 3), (4, 4), (17, 8)):
        a = rng.integers(0, 2**a_bits, (m, 512)).astype(np.uint8)
        taken = vnni.use_vnni(m, packed, a_bits, "unsigned")
        want = vnni.HAS_VNNI and m <= vnni.MAX_ROWS and 2 * a_bits >= (6 if m == 1 else 8)
        assert taken == want
        np.testing.assert_array_equal(
            bitserial_linear(a, packed, a_bits), torch_matmul(a.astype(np.int64), w)
        )
    # 1-bit weights go to the table kernel (or the binary decomposition), never here.
    w1 = rng.integers(0, 2, (64, 512))
    assert not vnni.use_vnni(1, pack_operand(w1, 1, signed=False), 8, "signed")


@pytest.mark.parametrize("w_bits", [2, 3, 4])
@pytest.mark.parametrize("extra", [0, 1])
def test_slots_masked_in_place_reach_their_bound_exactly(w_bits, extra):
    # Signed activations mask each slot where it lies: the top slot's sum is 2^(slot q) times
    # the slot's, so the longest K is shorter. At that K the largest products are exact, and
    # one block past it the kernel shifts the slots down instead, exact too.
    block_k = 4 * (8 // vnni.slot_bits(w_bits))
    k = vnni.MAX_IN_PLACE_K // block_k * block_k + extra * block_k
    assert vnni.in_place_slots(vnni.slot_bits(w_bits), True, k) == (extra == 0)
    top = 2 ** (w_bits - 1) - 1  # the signed code whose slot code is all ones
    a = np.full((1, k), -128, dtype=np.int8)
    w = np.array([[top] * k, [-top - 1] * k])
    got = vnni_linear(a, pack_operand(w, w_bits, signed=True), 8, a_signed=True)
    np.testing.assert_array_equal(got, [[-128 * top * k, 128 * (top + 1) * k]])
