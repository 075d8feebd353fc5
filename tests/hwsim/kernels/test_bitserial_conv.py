"""hwsim.kernels conv2d against torch conv2d on integer-valued float64 tensors, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hwsim.kernels.conv as conv_module
import hwsim.kernels.gemm as gemm_module
from hwsim import HwsimError
from hwsim.kernels import BitserialConv2d, bitserial_conv2d
from tests.strategies import codes, conv2d_geometry, signedness, small_bits


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Tiny reference convolutions: torch's thread pool only adds wake-up cost on 2 shared cores.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torch_conv(x: np.ndarray, w: np.ndarray, **conv) -> np.ndarray:
    # float64 holds these sums exactly (far below 2^53).
    return torch.nn.functional.conv2d(
        torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)), **conv
    ).numpy()


@pytest.mark.parametrize("mode", ["direct", "im2col"])
@given(
    data=st.data(),
    geo=conv2d_geometry(),
    a_bits=small_bits,
    w_bits=small_bits,
    a_signed=signedness,
    w_signed=signedness,
)
def test_conv2d_equals_torch(mode, data, geo, a_bits, w_bits, a_signed, w_signed):
    x = data.draw(codes(geo["x_shape"], a_bits, a_signed))
    w = data.draw(codes(geo["w_shape"], w_bits, w_signed))
    conv = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    waste = {"direct": float("inf"), "im2col": 0.0}[mode]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "DIRECT_MAX_WASTE", waste)
        got = bitserial_conv2d(x, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed, **conv)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, torch_conv(x, w, **conv))


@pytest.mark.parametrize("direct", [True, False])
@given(
    data=st.data(),
    geo=conv2d_geometry(max_channels=80),
    a_bits=small_bits,
    w_bits=small_bits,
    a_signed=signedness,
)
def test_layer_on_narrow_channels_last_codes_equals_torch(
    direct, data, geo, a_bits, w_bits, a_signed
):
    # The deployed path: weights packed once, uint8/int8 codes in channels-last memory read in
    # place (one byte per code, range-checked by the packer), several inputs per layer.
    w = data.draw(codes(geo["w_shape"], w_bits, True))
    conv = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "DIRECT_MAX_WASTE", float("inf") if direct else 0.0)
        layer = BitserialConv2d(w, w_bits, a_bits, a_signed=a_signed, **conv)
    for _ in range(2):
        x = data.draw(codes(geo["x_shape"], a_bits, a_signed))
        narrow = x.astype(np.int8 if a_signed else np.uint8).transpose(0, 2, 3, 1).copy()
        got = layer(narrow.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(got, torch_conv(x, w, **conv))


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize(
    ("value", "bits", "signed"), [(4, 2, False), (255, 7, False), (-3, 2, True), (2, 2, True)]
)
def test_out_of_range_narrow_codes_are_refused(direct, value, bits, signed):
    w = np.ones((3, 70, 1, 1), dtype=np.int64)
    x = np.zeros((1, 70, 2, 3), dtype=np.int8 if signed else np.uint8)
    x[0, 69, 1, 2] = value
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "DIRECT_MAX_WASTE", float("inf") if direct else 0.0)
        layer = BitserialConv2d(w, 2, bits, a_signed=signed)
    with pytest.raises(HwsimError) as info:
        layer(x)
    assert info.value.field == "x_codes"


@pytest.mark.parametrize("direct", [True, False])
def test_threaded_conv_equals_torch(direct):
    rng = np.random.default_rng(9)
    x = rng.integers(0, 4, (2, 70, 9, 11))
    w = rng.integers(-2, 2, (40, 70, 3, 3))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "PARALLEL_MIN_WORDS", 0)
        mp.setattr(gemm_module, "PARALLEL_MIN_WORDS", 0)
        mp.setattr(conv_module, "DIRECT_MAX_WASTE", float("inf") if direct else 0.0)
        got = bitserial_conv2d(x, w, 2, 2, stride=(1, 2), padding=1)
    np.testing.assert_array_equal(got, torch_conv(x, w, stride=(1, 2), padding=1))


def test_threaded_im2col_equals_torch():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, (2, 4, 7, 7))
    w = rng.integers(-2, 2, (6, 2, 3, 3))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "PARALLEL_MIN_ELEMENTS", 0)
        got = bitserial_conv2d(x, w, 2, 2, stride=2, padding=1, groups=2)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(x.astype(np.float64)),
        torch.from_numpy(w.astype(np.float64)),
        stride=2,
        padding=1,
        groups=2,
    ).numpy()
    np.testing.assert_array_equal(got, want)


def test_conv2d_long_reduction_equals_torch():
    rng = np.random.default_rng(3)
    x = rng.integers(-8, 8, (1, 40, 6, 6))
    w = rng.integers(0, 16, (5, 40, 3, 3))  # K = 360 spans six words
    got = bitserial_conv2d(x, w, 4, 4, padding=1, a_signed=True, w_signed=False)
    want = torch.nn.functional.conv2d(
        torch.from_numpy(x.astype(np.float64)), torch.from_numpy(w.astype(np.float64)), padding=1
    ).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"stride": 0}, "stride"),
        ({"stride": (1, 2, 3)}, "stride"),
        ({"padding": -1}, "padding"),
        ({"dilation": 0}, "dilation"),
        ({"groups": 3}, "groups"),
        ({"groups": 0}, "groups"),
        ({"x": np.ones((2, 4, 4), int)}, "x_codes.shape"),
        ({"w": np.ones((2, 3, 3, 3), int)}, "w_codes.shape"),
        ({"w": np.ones((2, 2, 7, 7), int)}, "x_codes.shape"),
        ({"x": np.full((1, 2, 4, 4), 16)}, "x_codes"),
        ({"w": np.full((2, 2, 3, 3), 1.5)}, "w_codes.dtype"),
        ({"a_bits": 17}, "a_bits"),
    ],
)
def test_bad_conv_input_raises_hwsim_error_naming_the_field(kwargs, field):
    args = {"x": np.ones((1, 2, 4, 4), int), "w": np.ones((2, 2, 3, 3), int), "a_bits": 4}
    args.update(kwargs)
    x, w, a_bits = args.pop("x"), args.pop("w"), args.pop("a_bits")
    with pytest.raises(HwsimError) as info:
        bitserial_conv2d(x, w, a_bits, 4, **args)
    assert info.value.field == field
