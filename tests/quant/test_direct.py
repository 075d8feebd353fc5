"""Direct Quantization: channel-aware activation ranges and direct weight updates."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from quant.baseline import load_data, pretrained
from quant.direct import (
    ChannelAwareQuantizer,
    DirectConfig,
    DirectOptimizer,
    DirectWeightQuantizer,
    train_direct,
)
from quant.model import quantize_model, quantized_layers
from quant.quantizers import UniformQuantizer
from quant.train import evaluate


def _median_relative_error(x: np.ndarray, scale: float, bits: int) -> float:
    """Independent numpy reference: per-channel MSE / mean square, median over channels."""
    q = np.clip(np.round(x / scale), 0, 2**bits - 1) * scale
    err = ((q - x) ** 2).mean(axis=0) / (x**2).mean(axis=0)
    return float(np.median(err))


@settings(max_examples=6)
@given(seed=st.integers(0, 1000), n_loud=st.integers(1, 4), spread=st.sampled_from([30, 100]))
def test_channel_aware_beats_layer_wide_ranges_at_2_bits(seed, n_loud, spread):
    rng = np.random.default_rng(seed)
    channels = 32
    # Unsigned (post-ReLU-like) activations; a few channels have a far larger scale.
    scales = np.ones(channels)
    scales[rng.choice(channels, n_loud, replace=False)] = spread
    x = np.abs(rng.standard_normal((256, channels))) * scales
    xt = torch.from_numpy(x)
    aware = ChannelAwareQuantizer(2)
    aware.calibrate(xt)
    errors = {}
    for init in ("maxabs", "mse"):
        q = UniformQuantizer(2, None, init=init, batch_axis=0)
        q.calibrate(xt)
        errors[init] = _median_relative_error(x, q.scale.item(), 2)
    mine = _median_relative_error(x, aware.scale.item(), 2)
    assert mine < errors["maxabs"]
    assert mine < errors["mse"]


def test_direct_weights_stay_on_their_levels():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    x = torch.randn(64, 8)
    y = torch.randint(0, 3, (64,))
    q = quantize_model(net, DirectConfig(3, 4), calibration=x)
    opt = DirectOptimizer(q, lr=0.9, warmup=0)
    before = {n: m.weight.clone() for n, m in quantized_layers(q).items()}
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(q(x), y).backward()
        opt.step()
    moved = 0
    for name, layer in quantized_layers(q).items():
        assert isinstance(layer.weight_quantizer, DirectWeightQuantizer)
        step = layer.weight_quantizer.scale.reshape(-1, 1)
        codes = layer.weight / step
        # Every weight is exactly an integer level of its channel, within the 3-bit range.
        torch.testing.assert_close(codes, torch.round(codes), rtol=0, atol=1e-4)
        assert float(codes.abs().max()) <= 3 + 1e-4
        moved += int((layer.weight != before[name]).sum())
    assert moved > 0


@pytest.mark.parametrize("bits", [2])
def test_direct_training_improves_on_the_quantized_start(bits):
    data = load_data("digits", seed=0)
    net = pretrained("mlp_digits", "digits", seed=0, epochs=3)
    q = quantize_model(net, DirectConfig(bits, bits), calibration=data)
    start = evaluate(q, data)
    train_direct(q, data, epochs=3, seed=0)
    assert evaluate(q, data) > start + 0.02
