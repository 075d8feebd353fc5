"""BSQ: bit representation, straight-through gradient, re-quantization, pruning, regularizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from hwsim import HwsimError
from quant import bsq

seeds = st.integers(0, 2**31 - 1)


def _linear(seed: int, n_in: int = 6, n_out: int = 5) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_out)


def _reference_quant(w: np.ndarray, n: int) -> np.ndarray:
    """Plain numpy: n-bit sign-magnitude codes of w on the max-abs grid, back to floats."""
    s = np.abs(w).max()
    levels = 2**n - 1
    return np.sign(w) * np.round(np.abs(w) / s * levels) * s / levels


@given(seeds, st.integers(1, 9), st.integers(1, 9))
def test_8bit_round_trip_is_exact_on_the_grid(seed: int, n_in: int, n_out: int) -> None:
    lin = _linear(seed, n_in, n_out)
    layer = bsq.BitLayer(lin, 8)
    w = lin.weight.detach().double().numpy()
    got = layer.quantized_weight().detach().double().numpy()
    np.testing.assert_allclose(got, _reference_quant(w, 8), rtol=0, atol=1e-6)
    # Bits are exact binary digits, and float -> bits -> float is the identity on the grid.
    assert set(torch.unique(layer.bits_pos).tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        again_lin = nn.Linear(n_in, n_out)
        again_lin.weight.copy_(torch.from_numpy(got).float())
        again = bsq.BitLayer(again_lin, 8)
    np.testing.assert_allclose(again.quantized_weight().detach().numpy(), got, atol=1e-6)


@given(seeds, st.integers(2, 8))
def test_ste_gradient_is_scale_times_place_value(seed: int, n: int) -> None:
    layer = bsq.BitLayer(_linear(seed), n)
    g = torch.randn(layer.weight_shape, generator=torch.Generator().manual_seed(seed))
    (layer.quantized_weight() * g).sum().backward()
    s = float(layer.scale.detach())
    for b in range(n):
        want = s * 2**b / (2**n - 1) * g
        torch.testing.assert_close(layer.bits_pos.grad[b], want)
        torch.testing.assert_close(layer.bits_neg.grad[b], -want)


def _layer_from_codes(codes: np.ndarray, n: int, scale: float) -> bsq.BitLayer:
    layer = bsq.BitLayer(nn.Linear(codes.shape[1], codes.shape[0]), n)
    c = torch.from_numpy(codes)
    layer._set_codes(c.clamp_min(0).float(), (-c).clamp_min(0).float(), n, scale)
    return layer


@given(seeds, st.integers(3, 8), st.data())
def test_removing_zero_lsb_and_msb_planes_keeps_weights(seed: int, n: int, data) -> None:
    k = data.draw(st.integers(0, n - 1), label="zero LSB planes")
    m = data.draw(st.integers(0, n - 1 - k), label="zero MSB planes")
    rng = np.random.default_rng(seed)
    top = 2 ** (n - k - m) - 1
    codes = rng.integers(-top, top + 1, size=(4, 7)) * 2**k
    codes[0, 0] = top * 2**k  # the highest remaining plane is used
    codes[0, 1] = 2**k  # so is the lowest
    layer = _layer_from_codes(codes, n, 0.7)
    before = layer.quantized_weight().detach().clone()
    assert layer.prune_planes() == n - k - m
    torch.testing.assert_close(layer.quantized_weight().detach(), before)


@given(seeds, st.integers(2, 7))
def test_overflow_grows_precision_and_keeps_weights(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    layer = bsq.BitLayer(_linear(seed), n)
    with torch.no_grad():
        layer.bits_pos.copy_(torch.from_numpy(rng.uniform(0, 2, layer.bits_pos.shape)))
        layer.bits_neg.zero_()
        layer.bits_pos[n - 1, 0, 0] = 2.0  # |W_hat| > 1 somewhere: an overflow
    # Reference in numpy: the unclipped value on the old grid.
    place = 2.0 ** np.arange(n) / (2**n - 1)
    w_hat = np.tensordot(place, layer.bits_pos.detach().double().numpy(), axes=1)
    want = float(layer.scale) * np.round(w_hat * (2**n - 1)) / (2**n - 1)
    assert layer.requantize(max_bits=8)
    assert layer.n_bits == n + 1
    np.testing.assert_allclose(layer.quantized_weight().detach().numpy(), want, rtol=1e-5)


def test_overflow_at_the_ceiling_clips() -> None:
    layer = bsq.BitLayer(_linear(0), 8)
    with torch.no_grad():
        layer.bits_pos.fill_(2.0)
        layer.bits_neg.zero_()
    assert not layer.requantize(max_bits=8)
    assert layer.n_bits == 8
    torch.testing.assert_close(
        layer.quantized_weight().detach(), torch.full(layer.weight_shape, float(layer.scale))
    )


def test_all_zero_layer_keeps_one_zero_plane() -> None:
    layer = _layer_from_codes(np.zeros((3, 4), dtype=np.int64), 6, 1.0)
    assert layer.prune_planes() == 1
    assert torch.count_nonzero(layer.quantized_weight()) == 0


def test_pruning_needs_exact_bits() -> None:
    layer = bsq.BitLayer(_linear(0), 4)
    with torch.no_grad():
        layer.bits_pos.add_(0.3)
    with pytest.raises(HwsimError, match="requantize"):
        layer.prune_planes()


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 9), nn.ReLU(), nn.Linear(9, 3))


@given(seeds)
def test_regularizer_is_cost_weighted_group_lasso(seed: int) -> None:
    model = bsq.convert(_model(seed), 8)
    layers = list(bsq.bit_layers(model).values())
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in layers:
            m.bits_pos.copy_(torch.from_numpy(rng.uniform(0, 2, m.bits_pos.shape)))
    total = sum(m.num_params for m in layers)
    want = 0.0
    for m in layers:
        p = m.bits_pos.detach().double().numpy().reshape(m.n_bits, -1)
        q = m.bits_neg.detach().double().numpy().reshape(m.n_bits, -1)
        lasso = np.sqrt((p**2).sum(1) + (q**2).sum(1) + 1e-8).sum()
        want += m.num_params * m.n_bits / total * lasso
    assert float(bsq.regularizer(model)) == pytest.approx(want, rel=1e-5)
    # A custom cost only re-shares the same total between layers.
    costs = [3.0, 1.0]
    default_total = sum(m.num_params * m.n_bits / total for m in layers)
    lassos = [float(m.group_lasso()) for m in layers]
    want_custom = sum(
        c / sum(costs) * default_total * g for c, g in zip(costs, lassos, strict=True)
    )
    assert float(bsq.regularizer(model, costs)) == pytest.approx(want_custom, rel=1e-5)
    named = {"0": 3.0, "2": 1.0}
    assert float(bsq.regularizer(model, lambda bits: named)) == pytest.approx(want_custom, rel=1e-5)


@pytest.mark.parametrize("costs", [[1.0], [1.0, -1.0], [0.0, 0.0], {"0": 1.0}])
def test_bad_layer_costs_raise(costs) -> None:
    model = bsq.convert(_model(0), 4)
    with pytest.raises(HwsimError, match="layer_costs"):
        bsq.regularizer(model, costs)


def test_policy_names_match_the_float_model() -> None:
    float_model = _model(0)
    model = bsq.convert(_model(0), 5, act_bits=3)
    from quant import current_policy

    pol = current_policy(model)
    assert set(pol.bits) == {n for n, m in float_model.named_modules() if isinstance(m, nn.Linear)}
    assert all(bits == (5, 3) for bits in pol.bits.values())


def test_larger_alpha_compresses_more_on_digits() -> None:
    from models.data import load_dataset
    from quant.baseline import pretrained

    data = load_dataset("digits", seed=0)
    fp = pretrained("mlp_digits", seed=0, epochs=8)
    comp = []
    for alpha in (0.0, 0.05):
        model = bsq.bsq_search(
            fp, data, alpha=alpha, epochs=3, requant_every=3, lr=1e-2, progress=False
        ).model
        comp.append(bsq.compression(model))
    assert comp[0] < comp[1]
    _, pol = bsq.finetune(model, data, epochs=0)
    assert all(1 <= w <= 8 for w, _ in pol.bits.values())


def test_registered_as_a_method() -> None:
    from types import SimpleNamespace

    from quant import current_policy, quantize_model

    gen = torch.Generator().manual_seed(0)
    data = SimpleNamespace(
        x_train=torch.randn(32, 6, generator=gen), y_train=torch.randint(0, 3, (32,), generator=gen)
    )
    config = bsq.BSQConfig(alpha=0.01, epochs=2, requant_every=1, finetune_epochs=1)
    model = quantize_model(_model(0), config, calibration=data)
    assert set(current_policy(model).bits) == {"0", "2"}
    with pytest.raises(HwsimError, match="calibration"):
        quantize_model(_model(0), "bsq")
