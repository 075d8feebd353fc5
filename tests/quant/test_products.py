"""Quantized attention products: both operands fake-quantized at the policy's bits, the
quantized model keeps the float model's workload rows, and the integer model runs the products
through hwsim.kernels exactly as the fake-quantized torch model computes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import models
from hwsim import BitPolicy, HwsimError
from quant.export import export, integer_model
from quant.model import current_policy, quantize_model, quantized_layers
from quant.products import QProduct, product_slots


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    model = models.build("vit_digits").eval()
    x = torch.rand(64, 1, 8, 8)
    return model, x, models.extract_workload(model, models.example_input("vit_digits"))


def test_every_attention_product_is_a_quantizable_slot(vit):
    model, _, workload = vit
    act = {
        n for n, k in zip(workload.layer_names, workload.kinds, strict=True) if k == "act_matmul"
    }
    assert set(product_slots(model)) == act


def test_quantized_model_keeps_the_workload_and_reports_its_bits(vit):
    model, x, workload = vit
    bits = {n: ((3, 5) if "#" in n else (4, 4)) for n in workload.layer_names}
    q = quantize_model(model, BitPolicy(bits), calibration=x)
    assert current_policy(q).bits == bits
    got = models.extract_workload(q, models.example_input("vit_digits"))
    assert got.layer_names == workload.layer_names
    assert got.macs.tolist() == workload.macs.tolist()
    assert got.kinds == workload.kinds


@settings(max_examples=6, deadline=None)
@given(scores=st.integers(2, 8), values=st.integers(2, 8), other=st.integers(2, 8))
def test_both_operands_are_quantized_at_their_bits(vit, scores, values, other):
    """Each product's operands, as the product sees them, lie on their quantizer's grid with
    at most 2^bits levels (the policy's a_bits for the first, w_bits for the second)."""
    model, x, workload = vit
    bits = {
        n: ((scores, other) if n.endswith("#scores") else (values, other) if "#" in n else (8, 8))
        for n in workload.layer_names
    }
    q = quantize_model(model, BitPolicy(bits), calibration=x).eval()
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def spy(module, args, out):
        a, b = args
        seen[module.policy_name] = (module.act_quantizer(a), module.weight_quantizer(b))

    for m in quantized_layers(q).values():
        if isinstance(m, QProduct):
            m.register_forward_hook(spy)
    with torch.no_grad():
        q(x)
    for name, (a, b) in seen.items():
        w_bits, a_bits = bits[name]
        for t, n in ((a, a_bits), (b, w_bits)):
            step = t[t != 0].abs().min() if (t != 0).any() else torch.tensor(1.0)
            levels = torch.unique(torch.round(t / step))
            assert len(levels) <= 2**n


def test_integer_model_runs_the_products_on_the_kernels(vit):
    model, x, workload = vit
    bits = {n: ((4, 6) if "#" in n else (3, 4)) for n in workload.layer_names}
    q = quantize_model(model, BitPolicy(bits), calibration=x).eval()
    exported = export(q, x[:16])
    products = [
        m for m in exported.integer_model.module.modules() if type(m).__name__ == "IntegerProduct"
    ]
    assert len(products) == 4
    # The fake-quantized model's inference computes what the integer model computes: equal.
    with torch.no_grad():
        fake = q(x).double().numpy()
    np.testing.assert_array_equal(exported.integer_model(x), fake)
    # Independent of that inference path: the straight-through formula (fake-quantized values
    # into float products) in float64 against the float64 integer model, to float rounding.
    q64 = q.double()
    with torch.enable_grad():
        ref = q64(x.double().requires_grad_(True)).detach().numpy()
    np.testing.assert_allclose(integer_model(q64)(x), ref, rtol=0, atol=1e-9)
    assert set(exported.policy.bits) == set(workload.layer_names)


def test_unknown_product_name_is_refused(vit):
    model, _, _ = vit
    with pytest.raises(HwsimError):
        quantize_model(model, BitPolicy({"layers.0.attn#keys": (4, 4)}))
