"""Quantizer codes, straight-through gradients and per-channel steps against plain math."""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from hwsim.errors import HwsimError
from quant.quantizers import (
    UniformQuantizer,
    binarize,
    fake_quantize,
    mse_scale,
    quantizer_range,
    round_ste,
)
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
        return  # binary: test_binary_quantizer_matches_sign_and_hardtanh_ste
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
    signed = UniformQuantizer(4, True, init="maxabs")
    signed.calibrate(torch.tensor([-3.0, 3.0]))
    signed.bits = 1  # binary: the step is half the clip (mean |x| of an even spread)
    assert signed.bipolar and signed.scale.item() * 2 == pytest.approx(3.0)
    signed.bits = 4
    assert signed.scale.item() * 7 == pytest.approx(3.0)


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


# ---------------------------------------------------------------- binary (+-1)
@given(values=st.lists(floats, min_size=1, max_size=40), scale=st.floats(1e-3, 10.0))
@example(values=[-1.4e-45], scale=2.0)  # x / step underflows to -0.0: the sign is still x's
def test_binary_quantizer_matches_sign_and_hardtanh_ste(values, scale):
    """Signed 1 bit is binary: sign(x) (0 counts as +1) times the step, gradient 1 inside
    the hardtanh window |x| <= step and 0 outside; the step gets sign(x) - x/step inside and
    sign(x) outside."""
    assert quantizer_range(1, True) == (-1, 1)
    xn = np.asarray(values, dtype=np.float32)
    s = np.float32(scale)
    x = torch.tensor(xn, requires_grad=True)
    step = torch.tensor(scale, dtype=torch.float32, requires_grad=True)
    out = fake_quantize(x, step, 1, True)
    sign = np.where(xn >= 0, 1.0, -1.0).astype(np.float32)
    np.testing.assert_array_equal(out.detach().numpy(), sign * s)
    with torch.no_grad():
        np.testing.assert_array_equal(fake_quantize(x, step, 1, True).numpy(), sign * s)
    out.sum().backward()
    inside = np.abs(xn / s) <= 1
    np.testing.assert_array_equal(x.grad.numpy(), inside.astype(np.float32))
    expect = np.where(inside, sign - (xn / s), sign).astype(np.float64).sum()
    assert step.grad.item() == pytest.approx(expect, rel=1e-4, abs=1e-4)


@given(out_ch=st.integers(1, 6), k=st.integers(1, 20), seed=st.integers(0, 1000))
def test_binarize_is_xnor_net(out_ch, k, seed):
    """XNOR-Net (Rastegari et al., 2016): W ~ sign(W) * alpha with alpha = mean |W| per
    output channel; dC/dW = dC/dW~ * (1/n + alpha * 1{|W| <= 1}) summed as XNOR-Net's chain
    rule gives it (here checked against autograd on the plain formula)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out_ch, k, generator=g) * 0.7
    wn = w.numpy()
    alpha = np.abs(wn).mean(1, keepdims=True)
    sign = np.where(wn >= 0, 1.0, -1.0)
    x = w.clone().requires_grad_(True)
    out = binarize(x, axis=0)
    np.testing.assert_allclose(out.detach().numpy(), sign * alpha, rtol=1e-6)
    # Optimal: no other per-channel step gives a smaller squared error with these signs.
    for f in (0.9, 1.1):
        worse = ((sign * alpha * f - wn) ** 2).sum()
        assert ((sign * alpha - wn) ** 2).sum() <= worse + 1e-9
    up = torch.randn(out_ch, k, generator=g)
    (out * up).sum().backward()
    # Reference gradient from XNOR-Net's formula, in numpy.
    un = up.numpy()
    through_sign = un * alpha * (np.abs(wn) <= 1)
    through_alpha = (un * sign).sum(1, keepdims=True) * sign / k
    np.testing.assert_allclose(x.grad.numpy(), through_sign + through_alpha, rtol=1e-5, atol=1e-6)


@given(out_ch=st.integers(1, 5), k=st.integers(1, 12), seed=st.integers(0, 1000))
def test_weight_quantizer_at_one_bit_is_binary_with_mean_abs_steps(out_ch, k, seed):
    from quant.layers import default_weight_quantizer

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(out_ch, k, generator=g)
    q = default_weight_quantizer(1)
    q.calibrate(w)
    assert q.bipolar and q.encoding == "bipolar"
    codes, step = q.codes(w)
    np.testing.assert_array_equal(codes.numpy(), np.where(w.numpy() >= 0, 1, -1))
    np.testing.assert_allclose(step.reshape(-1).numpy(), np.abs(w.numpy()).mean(1), rtol=1e-6)
    with torch.no_grad():
        np.testing.assert_array_equal(q(w).numpy(), (codes * step).numpy())
    # The step follows the weights as they train (recomputed, not the calibrated one).
    w2 = w * 3
    got = q.codes(w2)[1].reshape(-1).numpy()
    np.testing.assert_allclose(got, 3 * step.reshape(-1).numpy(), rtol=1e-6)


def test_activation_quantizer_is_binary_only_on_signed_data():
    q = UniformQuantizer(1, None, batch_axis=0)
    q.calibrate(torch.randn(64, 5))
    assert q.bipolar and q.encoding == "bipolar"
    x = torch.randn(64, 5)
    codes, step = q.codes(x)
    # The fitted step is mean |x| of the calibration data, the least-squares step of sign(x).
    assert step.reshape(()).item() > 0
    assert set(codes.unique().tolist()) <= {-1, 1}
    relu = UniformQuantizer(1, None, batch_axis=0)
    relu.calibrate(torch.rand(64, 5))
    assert not relu.bipolar and relu.encoding == "unsigned"
    assert set(relu.codes(torch.rand(8, 5))[0].unique().tolist()) <= {0, 1}
