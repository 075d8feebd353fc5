"""Binary (+-1) weights as the 1-bit candidate of every search method: each method's 1-bit
weight is XNOR-Net's ``sign(W) * mean|W|`` per output channel (checked against numpy), and
the simulated costs price a 1-bit weight option as +-1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim import BitPolicy, Workload


def xnor_weights(w: np.ndarray) -> np.ndarray:
    """sign(W) (0 as +1) times mean |W| over each output channel, in numpy."""
    alpha = np.abs(w).reshape(w.shape[0], -1).mean(1).reshape(-1, *([1] * (w.ndim - 1)))
    return np.where(w >= 0, 1.0, -1.0) * alpha


@settings(max_examples=10, deadline=None)
@given(out_ch=st.integers(1, 6), in_ch=st.integers(1, 5), seed=st.integers(0, 999))
def test_ebs_layer_at_one_bit_runs_xnor_weights(out_ch, in_ch, seed):
    from quant.ebs import EBSConfig, EBSLayer

    assert EBSConfig(candidates=(1, 2, 4)).candidates == (1, 2, 4)
    torch.manual_seed(seed)
    conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
    layer = EBSLayer(conv, (1, 2), (8,))
    with torch.no_grad():
        layer.w_logits.copy_(torch.tensor([5.0, 0.0]))  # the 1-bit candidate wins
    layer.choose()
    x = torch.randn(2, in_ch, 5, 5)
    layer.act_quantizers[0].calibrate(x)
    with torch.no_grad():
        got = layer(x)
        want = F.conv2d(
            layer.act_quantizers[0](x),
            torch.from_numpy(xnor_weights(conv.weight.detach().numpy())).float(),
            conv.bias,
            padding=1,
        )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bottleneck_weights_at_one_bit_are_xnor_weights():
    from quant.wrapped import maxabs_weight_quant

    w = torch.randn(5, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    got = maxabs_weight_quant(w, 1).numpy()
    np.testing.assert_allclose(got, xnor_weights(w.numpy()), rtol=1e-6)


def test_bsq_layer_frozen_at_one_bit_fine_tunes_binary():
    from quant.bsq import BitLayer

    torch.manual_seed(0)
    layer = BitLayer(nn.Linear(7, 4), n_bits=1)
    layer.freeze()
    wt = layer.weight_tilde.detach().clamp(-1, 1).numpy()
    want = float(layer.scale) * xnor_weights(wt)
    np.testing.assert_allclose(layer.quantized_weight().detach().numpy(), want, rtol=1e-6)
    # Straight through: the loss reaches the float weight.
    layer.quantized_weight().sum().backward()
    assert layer.weight_tilde.grad is not None and layer.weight_tilde.grad.abs().sum() > 0


def test_direct_quantization_at_one_bit_keeps_binary_levels():
    from quant.direct import DirectConfig, DirectOptimizer, quantize_direct
    from quant.model import quantized_layers

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(32, 1, 3, 4), torch.randint(0, 3, (32,))
    floats = [net[1].weight.detach().numpy().copy(), net[3].weight.detach().numpy().copy()]
    q = quantize_direct(net, DirectConfig(w_bits=1, a_bits=4), x)
    layers = list(quantized_layers(q).values())
    for layer, w in zip(layers, floats, strict=True):
        np.testing.assert_allclose(layer.weight.detach().numpy(), xnor_weights(w), rtol=1e-6)
    opt = DirectOptimizer(q, warmup=0, lr=5.0)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(q(x), y).backward()
        opt.step()
    for layer in layers:
        w = layer.weight.detach()
        step = layer.weight_quantizer.scale.detach().reshape(-1, 1)
        # Every weight sits on its channel's two levels, +-step.
        np.testing.assert_allclose(w.abs().numpy(), step.expand_as(w).numpy(), rtol=1e-6)


@pytest.fixture(scope="module")
def mlp():
    import models
    from models.data import load_dataset

    torch.manual_seed(0)
    return models.build("mlp_digits").eval(), load_dataset("digits", seed=0)


def test_sensitivity_of_a_one_bit_weight_is_the_loss_with_xnor_weights(mlp):
    """The sensitivity table's 1-bit weight option: the reference model with that layer
    swapped for one computing with numpy's XNOR-Net weights (activation step refitted on
    what the layer sees, as the sensitivity defines it)."""
    from quant.layers import quantize_layer
    from quant.model import quantize_model, replace_module
    from quant.search.sensitivity import layer_sensitivity

    model, data = mlp
    names = ["fc1", "fc2", "fc3"]
    sens = layer_sensitivity(model, data, names, (1,), (8,), samples=64, progress=False)
    x, y = data.x_train[:64], data.y_train[:64]

    def loss(name=None):
        q = quantize_model(model, BitPolicy(dict.fromkeys(names, (8, 8))), calibration=x).eval()
        if name is not None:
            seen = []
            h = q.get_submodule(name).register_forward_pre_hook(lambda m, a: seen.append(a[0]))
            with torch.no_grad():
                q(x)
            h.remove()
            fresh = quantize_layer(model.get_submodule(name), 32, 8)  # weights as given
            binary = xnor_weights(model.get_submodule(name).weight.detach().numpy())
            with torch.no_grad():
                fresh.weight.copy_(torch.from_numpy(binary))
            fresh.act_quantizer.calibrate(seen[0])
            replace_module(q, name, fresh.eval())
        with torch.no_grad():
            return float(F.cross_entropy(q(x), y))

    base = loss()
    for i, name in enumerate(names):
        assert sens[i, 0, 0] == pytest.approx(loss(name) - base, abs=1e-5)


def test_hardware_costs_price_a_one_bit_weight_as_plus_minus_one():
    from quant.search.hardware_aware import hardware_costs

    w = Workload.from_layers(
        "fc", [{"name": "fc", "kind": "linear", "batch": 8, "in_channels": 512, "out_channels": 64}]
    )
    loom = hardware_costs(w, "loom", [1, 2], [4]).metric("latency_s")
    # Loom runs a +-1 weight as a 2-bit two's complement code (no activation-sum path).
    assert loom[0, 0, 0] == loom[0, 1, 0]
    stripes = hardware_costs(w, "stripes", [1, 2], [4]).metric("latency_s")
    assert stripes[0, 0, 0] == stripes[0, 1, 0]  # 16-bit parallel weights either way
    cpu = hardware_costs(w, "cpu-bitserial", [1, 2], [4]).metric("latency_s")
    assert cpu[0, 0, 0] < cpu[0, 1, 0]  # one XNOR / AND plane instead of two


@pytest.mark.slow
def test_codesign_searches_with_a_binary_candidate_within_the_simulated_budget():
    """Codesign with 1 among the candidates: the chosen policies' 1-bit weights are +-1 and
    fit the budget as the cost model prices +-1 weights (2-bit on Loom)."""
    import hwsim
    import models
    from quant.codesign import CodesignConfig, run_codesign

    cfg = CodesignConfig(
        model="mlp_digits",
        hardware="loom",
        budgets={"latency": 0.3},
        method="ebs",
        epochs=0,
        candidates=(1, 2, 8),
        uniform=(),
        samples=32,
    )
    result = run_codesign(cfg, progress=False)
    wl = models.extract_workload(
        models.build("mlp_digits"), models.example_input("mlp_digits", batch=None)
    )
    ref = hwsim.simulate(wl, BitPolicy.uniform(wl, 8, 8), "loom").totals["latency_s"]
    for label, policy in result.policies.items():
        for name, (w, _) in policy.bits.items():
            if w == 1:
                assert policy.encoding(name)[0] == "bipolar", label
    # The simulated-cost search and the repaired proxy search fit the budget (the proxy's
    # own policy need not: that is what the comparison shows).
    for label in (result.chosen, f"{result.chosen.split(' ')[0]} (proxy: bitops) + repair"):
        latency = hwsim.simulate(wl, result.policies[label], "loom").totals["latency_s"]
        assert latency <= 0.3 * ref * (1 + 1e-9), label
