"""Quantizer codes, straight-through gradients and per-channel steps against plain math."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hwsim.errors import HwsimError
from quant.quantizers import UniformQuantizer, fake_quantize, mse_scale, quantizer_range, round_ste
from tests.strategies import small_bits

floats = st.floats(-50, 50, allow_nan=False, width=32)


@given(
    bits=small_bits,
    signed=st.booleans(),
    values=st.lists(floats, min_size=1, max_size=40),
    scale=st.floats(1e-3, 10.0),
)
def test_fake_quantize_matches_numpy_and_ste(bits, signed, values, scale):
    if signed and bits < 2:
        with pytest.raises(HwsimError):
            quantizer_range(bits, signed)
        return
    x = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    out = fake_quantize(x, torch.tensor(scale, dtype=torch.float32), bits, signed)
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    lo = -hi if signed else 0
    xn = np.asarray(values, dtype=np.float32)
    codes = np.clip(np.round(xn / np.float32(scale)), lo, hi)
    np.testing.assert_array_equal(out.detach().numpy(), codes * np.float32(scale))
    # Without a gradient to carry (inference), the short path gives the same values.
    with torch.no_grad():
        plain = fake_quantize(x, torch.tensor(scale, dtype=torch.float32), bits, signed)
    np.testing.assert_array_equal(plain.numpy(), codes * np.float32(scale))
    out.sum().backward()
    ratio = xn / np.float32(scale)
    inside = (ratio >= lo) & (ratio <= hi)
    np.testing.assert_array_equal(x.grad.numpy(), inside.astype(np.float32))


def test_round_ste_passes_gradient():
    x = torch.tensor([0.4, 1.6, -2.5], requires_grad=True)
    y = round_ste(x)
    assert y.tolist() == [0.0, 2.0, -2.0]
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0]


def test_float_bits_is_identity():
    x = torch.randn(10)
    assert torch.equal(fake_quantize(x, 0.1, 32, True), x)
    q = UniformQuantizer(32)
    assert torch.equal(q(x), x)


def test_lsq_step_gradient_is_the_lsq_formula():
    # LSQ: d out / d s = round(x/s) - x/s inside the range, lo or hi outside (times grad scale).
    x = torch.tensor([0.26, -0.74, 5.0, -5.0, 0.1])
    q = UniformQuantizer(3, True, learn_scale=True)
    q.calibrate(torch.tensor([1.0]))
    with torch.no_grad():
        q.scale.fill_(0.2)
    q.train()
    q(x).sum().backward()
    r = x / 0.2
    expect = torch.where(r.abs() <= 3, torch.round(r) - r, torch.sign(r) * 3).sum()
    expect = expect / np.sqrt(x.numel() * 3)
    assert q.scale.grad.item() == pytest.approx(expect.item(), rel=1e-5)


@given(bits=st.integers(2, 8), out_ch=st.integers(1, 6), k=st.integers(1, 5))
def test_per_channel_scale_shapes_and_codes(bits, out_ch, k):
    w = torch.randn(out_ch, 3, k, k) * torch.logspace(-2, 1, out_ch).reshape(-1, 1, 1, 1)
    q = UniformQuantizer(bits, True, per_channel=0, init="maxabs")
    q.calibrate(w)
    assert q.scale.shape == (out_ch,)
    hi = 2 ** (bits - 1) - 1
    np.testing.assert_allclose(
        q.scale.detach().numpy(), w.abs().amax(dim=(1, 2, 3)).numpy() / hi, rtol=1e-6
    )
    codes, step = q.codes(w)
    assert codes.dtype == torch.int64 and codes.shape == w.shape
    assert int(codes.abs().max()) <= hi
    # Max-abs calibration puts each channel's largest weight on the top code.
    assert torch.equal(codes.abs().amax(dim=(1, 2, 3)), torch.full((out_ch,), hi))
    q.eval()
    torch.testing.assert_close(q(w), codes * step, rtol=0, atol=0)


@given(bits=st.integers(2, 6), seed=st.integers(0, 100))
def test_mse_scale_beats_maxabs(bits, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2000, generator=g)
    s_mse = mse_scale(x, bits, True)
    s_max = x.abs().max() / (2 ** (bits - 1) - 1)

    def err(s):
        return float((fake_quantize(x, s, bits, True) - x).pow(2).mean())

    assert err(s_mse) <= err(s_max) + 1e-9


def test_bits_setter_keeps_clip_range_and_validates():
    q = UniformQuantizer(4, False, init="maxabs")
    q.calibrate(torch.tensor([0.0, 3.0]))
    clip = q.scale.item() * 15
    q.bits = 2
    assert q.scale.item() * 3 == pytest.approx(clip)
    with pytest.raises(HwsimError, match="bits"):
        q.bits = 0
    signed = UniformQuantizer(4, True)
    with pytest.raises(HwsimError, match="at least 2 bits"):
        signed.bits = 1


def test_activation_signedness_from_data():
    q = UniformQuantizer(4, None, batch_axis=0)
    q.calibrate(torch.rand(8, 5))
    assert q.signed is False
    q = UniformQuantizer(4, None, batch_axis=0)
    q.calibrate(torch.randn(8, 5))
    assert q.signed is True


def test_codes_need_calibration():
    with pytest.raises(HwsimError, match="calibrate"):
        UniformQuantizer(4).codes(torch.ones(3))
