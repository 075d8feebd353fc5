"""Every mix of unsigned, signed (two's complement) and bipolar (+-1) operands, exactly against
torch integer math on the decoded values, through the public kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hwsim.kernels.conv as conv_module
from hwsim import HwsimError
from hwsim.kernels import (
    BitserialConv2d,
    bitserial_act_matmul,
    bitserial_conv2d,
    bitserial_linear,
    bitserial_matmul,
    bitserial_matmul_packed,
    pack_operand,
)
from tests.strategies import conv2d_geometry, encoded, gemm_m, gemm_n, long_gemm_k, small_bits

encodings = st.sampled_from(["unsigned", "signed", "bipolar"])


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def width(enc: str, bits: int) -> int:
    return 1 if enc == "bipolar" else bits


def torch_matmul(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (torch.from_numpy(a) @ torch.from_numpy(w).T).numpy()


def torch_conv(x: np.ndarray, w: np.ndarray, **conv) -> np.ndarray:
    # float64 holds these integer sums exactly (far below 2^53).
    return (
        torch.nn.functional.conv2d(
            torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)), **conv
        )
        .round()
        .to(torch.int64)
        .numpy()
    )


@given(data=st.data(), m=gemm_m, n=gemm_n, k=long_gemm_k, a_enc=encodings, w_enc=encodings,
       a_bits=small_bits, w_bits=small_bits)  # fmt: skip
def test_matmul_every_encoding_pair(data, m, n, k, a_enc, w_enc, a_bits, w_bits):
    a_bits, w_bits = width(a_enc, a_bits), width(w_enc, w_bits)
    a = data.draw(encoded((m, k), a_enc, a_bits))
    w = data.draw(encoded((n, k), w_enc, w_bits))
    expect = torch_matmul(a, w)
    got = bitserial_matmul(a, w, a_bits, w_bits, a_encoding=a_enc, w_encoding=w_enc)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expect)
    # Both operands packed (act x act), and narrow one-byte activations against packed weights.
    wp = pack_operand(w, w_bits, encoding=w_enc)
    ap = pack_operand(a, a_bits, encoding=a_enc)
    np.testing.assert_array_equal(bitserial_matmul_packed(ap, wp), expect)
    if a_bits <= 8:
        narrow = a.astype(np.uint8 if a_enc == "unsigned" else np.int8)
        np.testing.assert_array_equal(
            bitserial_linear(narrow, wp, a_bits, a_encoding=a_enc), expect
        )


@given(data=st.data(), m=st.integers(1, 40), n=st.integers(1, 70), k=st.integers(1, 700))
def test_xnor_popcount_identity(data, m, n, k):
    # +-1 x +-1: sum = K - 2 * popcount(a XOR w), the XNOR-Net product, on larger shapes.
    a = data.draw(encoded((m, k), "bipolar", 1))
    w = data.draw(encoded((n, k), "bipolar", 1))
    got = bitserial_matmul(a, w, 1, 1, a_encoding="bipolar", w_encoding="bipolar")
    differ = (a[:, None, :] != w[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(got, k - 2 * differ)


@pytest.mark.parametrize("mode", ["direct", "im2col"])
@given(data=st.data(), geo=conv2d_geometry(), a_enc=encodings, w_enc=encodings,
       a_bits=small_bits, w_bits=small_bits)  # fmt: skip
def test_conv_every_encoding_pair(mode, data, geo, a_enc, w_enc, a_bits, w_bits):
    a_bits, w_bits = width(a_enc, a_bits), width(w_enc, w_bits)
    x = data.draw(encoded(geo["x_shape"], a_enc, a_bits))
    w = data.draw(encoded(geo["w_shape"], w_enc, w_bits))
    conv = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    waste = {"direct": float("inf"), "im2col": 0.0}[mode]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "DIRECT_MAX_WASTE", waste)
        layer = BitserialConv2d(w, w_bits, a_bits, a_encoding=a_enc, w_encoding=w_enc, **conv)
    expect = torch_conv(x, w, **conv)
    np.testing.assert_array_equal(layer(x), expect)
    narrow = x.astype(np.uint8 if a_enc == "unsigned" else np.int8)
    if a_bits <= 8:
        # Channels-last one-byte codes, the layout the direct packer reads in place.
        last = np.ascontiguousarray(narrow.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(layer(last), expect)


def test_signed_shorthands_agree_with_encodings():
    rng = np.random.default_rng(0)
    a = rng.integers(-4, 4, (3, 90))
    w = rng.integers(0, 8, (5, 90))
    expect = torch_matmul(a, w)
    np.testing.assert_array_equal(
        bitserial_matmul(a, w, 3, 3, a_signed=True, w_signed=False), expect
    )
    np.testing.assert_array_equal(
        bitserial_matmul(a, w, 3, 3, a_encoding="signed", w_encoding="unsigned"), expect
    )
    # w_signed=True is compatible with bipolar (+-1 takes negative values).
    wb = np.where(w > 3, 1, -1)
    np.testing.assert_array_equal(
        bitserial_matmul(a, wb, 3, 1, a_signed=True, w_signed=True, w_encoding="bipolar"),
        torch_matmul(a, wb),
    )


@pytest.mark.parametrize(
    ("call", "field", "value"),
    [
        (
            lambda: bitserial_matmul(
                np.zeros((2, 3), int),
                np.ones((2, 3), int),
                1,
                1,
                a_encoding="bipolar",
                w_encoding="unsigned",
            ),
            "a_codes",
            0,
        ),
        (
            lambda: bitserial_matmul(
                np.ones((2, 3), int), np.full((2, 3), 2), 1, 1, w_encoding="bipolar"
            ),
            "w_codes",
            2,
        ),
        (
            lambda: bitserial_linear(
                np.array([[1, 0, -1]], np.int8),
                pack_operand(np.ones((2, 3), int), 1, encoding="bipolar"),
                1,
                a_encoding="bipolar",
            ),
            "a_codes",
            0,
        ),
        (
            lambda: bitserial_matmul(
                np.ones((2, 3), int), np.ones((2, 3), int), 2, 1, a_encoding="bipolar"
            ),
            "a_encoding",
            "bipolar",
        ),
        (
            lambda: bitserial_matmul(
                np.ones((2, 3), int), np.ones((2, 3), int), 1, 1, w_encoding="ternary"
            ),
            "w_encoding",
            "ternary",
        ),
        (
            lambda: bitserial_matmul(
                np.ones((2, 3), int),
                np.ones((2, 3), int),
                1,
                1,
                a_signed=False,
                a_encoding="bipolar",
            ),
            "a_encoding",
            "bipolar",
        ),
        (
            lambda: bitserial_conv2d(
                np.full((1, 2, 4, 4), 3),
                np.ones((1, 2, 3, 3), int),
                1,
                1,
                a_encoding="bipolar",
                w_encoding="bipolar",
                padding=1,
            ),
            "x_codes",
            3,
        ),
    ],
)
def test_bad_codes_name_the_field_and_value(call, field, value):
    with pytest.raises(HwsimError) as err:
        call()
    assert err.value.field == field
    assert err.value.value == value


@given(data=st.data(), g=st.integers(1, 3), m=st.integers(1, 9), n=st.integers(1, 9),
       k=st.integers(1, 130), a_enc=encodings, b_enc=encodings, a_bits=small_bits,
       b_bits=small_bits)  # fmt: skip
def test_act_matmul_every_encoding_pair(data, g, m, n, k, a_enc, b_enc, a_bits, b_bits):
    a_bits, b_bits = width(a_enc, a_bits), width(b_enc, b_bits)
    a = data.draw(encoded((g, m, k), a_enc, a_bits))
    b = data.draw(encoded((g, k, n), b_enc, b_bits))
    got = bitserial_act_matmul(a, b, a_bits, b_bits, a_encoding=a_enc, b_encoding=b_enc)
    np.testing.assert_array_equal(got, (torch.from_numpy(a) @ torch.from_numpy(b)).numpy())
