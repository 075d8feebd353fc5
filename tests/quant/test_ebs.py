"""EBS (reconstruction): expected cost, the one-convolution aggregation, budget pressure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from hwsim import HwsimError
from hwsim.hardware.report import CostTable
from quant import ebs

seeds = st.integers(0, 2**31 - 1)
candidate_sets = st.lists(st.integers(2, 8), min_size=1, max_size=3, unique=True)


def _tiny(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )


def _random_table(rng, names, w, a) -> CostTable:
    values = rng.uniform(0, 100, (len(names), len(w), len(a)))
    return CostTable(tuple(names), tuple(w), tuple(a), {"cost": values})


@given(seeds, candidate_sets, candidate_sets)
# A near-zero gradient whose float32 rounding (1.4e-5 at costs up to 100) broke a fixed 1e-5 bound.
@example(141, [2, 3, 4], [2])
def test_expected_cost_is_the_brute_force_expectation(seed, w_cands, a_cands) -> None:
    model = ebs.convert(_tiny(seed), w_cands, a_cands)
    layers = ebs.ebs_layers(model)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in layers.values():
            m.w_logits.copy_(torch.from_numpy(rng.normal(0, 2, len(w_cands))))
            m.a_logits.copy_(torch.from_numpy(rng.normal(0, 2, len(a_cands))))
    table = _random_table(rng, layers, w_cands, a_cands)
    costs = torch.tensor(table.metrics["cost"], dtype=torch.float64)
    got = ebs.expected_cost(model, costs)
    # Enumerate every joint assignment of (w, a) options to all layers.
    probs = [
        (torch.softmax(m.w_logits.double(), 0), torch.softmax(m.a_logits.double(), 0))
        for m in layers.values()
    ]
    per_layer = [list(itertools.product(range(len(w_cands)), range(len(a_cands))))] * len(probs)
    brute = torch.zeros((), dtype=torch.float64)
    for joint in itertools.product(*per_layer):
        p = torch.ones((), dtype=torch.float64)
        cost = 0.0
        for l, (i, j) in enumerate(joint):
            p = p * probs[l][0][i] * probs[l][1][j]
            cost += float(table.metrics["cost"][l, i, j])
        brute = brute + p * cost
    # The model computes the strengths in float32.
    torch.testing.assert_close(got.double(), brute, rtol=1e-5, atol=1e-6)
    # Differentiable: its gradient is the brute-force expectation's.
    params = [p for m in layers.values() for p in (m.w_logits, m.a_logits)]
    g_got = torch.autograd.grad(got, params)
    g_brute = torch.autograd.grad(brute, params)
    # float32 strengths: the gradient's rounding scales with the costs it weighs (up to 100 here).
    atol = 1e-6 * float(costs.abs().max())
    for a, b in zip(g_got, g_brute, strict=True):
        torch.testing.assert_close(a.double(), b.double(), rtol=1e-5, atol=atol)


@given(seeds, candidate_sets, candidate_sets)
@settings(max_examples=20)
def test_one_convolution_equals_the_mixture_of_all_candidates(seed, w_cands, a_cands) -> None:
    conv = _tiny(seed)[0]
    layer = ebs.EBSLayer(conv, w_cands, a_cands)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.w_logits.normal_(generator=gen)
        layer.a_logits.normal_(generator=gen)
    x = torch.randn(2, 1, 4, 4, generator=gen)
    y = layer(x).detach()  # also fits each activation quantizer's step on this batch
    pw, pa = (p.detach() for p in layer.strengths())
    want = torch.zeros_like(y)
    w = conv.weight.detach()
    for i, bw in enumerate(w_cands):
        hi = 2 ** (bw - 1) - 1
        step = w.abs().max() / hi
        w_q = torch.clamp(torch.round(w / step), -hi, hi) * step
        for j, q in enumerate(layer.act_quantizers):
            x_q = q(x).detach()
            want += pw[i] * pa[j] * F.conv2d(x_q, w_q, conv.bias.detach(), padding=1)
    torch.testing.assert_close(y, want, rtol=1e-4, atol=1e-5)


def test_choose_fixes_the_argmax_bits() -> None:
    model = ebs.convert(_tiny(0), (2, 4, 8), (3, 8))
    first = ebs.ebs_layers(model)["0"]
    with torch.no_grad():
        first.w_logits.copy_(torch.tensor([0.0, 5.0, 1.0]))
        first.a_logits.copy_(torch.tensor([2.0, 0.0]))
    first.choose()
    assert (first.w_bits, first.a_bits) == (4, 3)
    pw, pa = first.strengths()
    assert pw.tolist() == [0.0, 1.0, 0.0] and pa.tolist() == [1.0, 0.0]


def test_table_must_match_candidates_and_layers() -> None:
    model = ebs.convert(_tiny(0), (2, 4), (2, 4))
    rng = np.random.default_rng(0)
    with pytest.raises(HwsimError, match="w_bits"):
        ebs.aligned_table(model, _random_table(rng, ["0", "3"], (2, 8), (2, 4)))
    with pytest.raises(HwsimError, match="layer_names"):
        ebs.aligned_table(model, _random_table(rng, ["0", "x"], (2, 4), (2, 4)))
    # A simulated table (many metrics) is read at latency by default, rows in the model's order.
    shape = (2, 2, 2)
    hw = CostTable(
        ("3", "0"),
        (2, 4),
        (2, 4),
        {k: rng.random(shape) for k in ("latency_s", "energy_j", "weight_bits")},
    )
    table = ebs.aligned_table(model, hw)
    assert table.layer_names == ("0", "3")
    assert np.array_equal(table.metrics["latency_s"], hw.metrics["latency_s"][::-1])
    assert ebs.cost_metric(table) == "latency"
    with pytest.raises(HwsimError, match="metric"):
        ebs.cost_metric(table, "speed")


@pytest.mark.parametrize("kind", ebs.PENALTIES)
def test_penalty_forms(kind: str) -> None:
    r = torch.tensor([0.5, 1.0, 2.0])
    want = {"hinge": [0.0, 0.0, 1.0], "log": np.log([0.5, 1.0, 2.0]).tolist()}[kind]
    torch.testing.assert_close(ebs.penalty(r, kind), torch.tensor(want, dtype=torch.float32))


def test_tight_budget_selects_fewer_bits() -> None:
    from models import extract_workload
    from models.data import load_dataset
    from quant.baseline import pretrained
    from quant.costs import bitops_table

    data = load_dataset("digits", seed=0)
    fp = pretrained("mlp_digits", seed=0, epochs=8)
    table = bitops_table(extract_workload(fp, data.x_train[:1]), (2, 3, 4, 8), (2, 3, 4, 8))
    w4a4 = table.uniform_total("bitops", 4, 4)
    chosen = []
    for budget in (0.5 * w4a4, 100 * w4a4):
        result = ebs.ebs_search(
            fp, data, cost_table=table, budget=budget, lam=2.0, epochs=2, progress=False
        )
        policy, history = result.policy, result.extras["history"]
        chosen.append(table.total("bitops", policy.bits))
        assert len(history.expected_cost) == 2
    assert chosen[0] < chosen[1]


def test_registered_as_a_method() -> None:
    from types import SimpleNamespace

    from quant import current_policy, quantize_model

    gen = torch.Generator().manual_seed(0)
    data = SimpleNamespace(
        x_train=torch.rand(16, 1, 4, 4, generator=gen),
        y_train=torch.randint(0, 3, (16,), generator=gen),
    )
    model = quantize_model(_tiny(0), ebs.EBSConfig(epochs=1, finetune_epochs=1), calibration=data)
    bits = current_policy(model).bits
    assert set(bits) == {"0", "3"}
    assert all(w in (2, 3, 4, 8) and a in (2, 3, 4, 8) for w, a in bits.values())
